//! `xen-maskcalc`: the CPUID masks that let guests migrate across a whole pool
//! of hosts, explained by feature name. A drop-in replacement for
//! `xen_maskcalc.py` that reads every common dump format.

use std::path::PathBuf;
use std::process::ExitCode;

use maskcalc::model::Host;
use xenmig_cli::args::xen_maskcalc::{Args, NAME as TOOL};
use xenmig_cli::exit::warn;
use xenmig_cli::hosts::{load_dump, local_host};
use xenmig_cli::{Failure, exit, finish, parse_args, pool_masks, term, write_stdout};

fn main() -> ExitCode {
    match parse_args::<Args>() {
        Ok(args) => finish(TOOL, false, run(&args)),
        Err(code) => code,
    }
}

fn load_hosts(args: &Args) -> Result<Vec<Host>, Failure> {
    let mut hosts: Vec<Host> = Vec::new();
    let mut seen: std::collections::HashSet<&PathBuf> = std::collections::HashSet::new();
    for path in &args.node_files {
        // Like the original, the same file named twice is one host.
        if !seen.insert(path) {
            continue;
        }
        hosts.push(load_dump(
            TOOL,
            path,
            &path.display().to_string(),
            args.input_format.format(),
        )?);
    }
    if args.local {
        hosts.push(local_host()?);
    }
    Ok(hosts)
}

fn run(args: &Args) -> Result<u8, Failure> {
    let options = pool_masks::pool_options(args)?;
    let hosts = load_hosts(args)?;
    let printed = pool_masks::compute(args, &options, &hosts, term::stdout_wants_colour())?;
    for line in &printed.consumers {
        exit::write_stderr(&format!("{TOOL}: {line}\n"));
    }
    if printed.is_report {
        // A report: `--diff | head` is fine.
        write_stdout(&printed.stdout)?;
    } else {
        // The masks are data (a config to paste, a file to load): a closed
        // pipe is a failure.
        exit::write_stdout_data(&printed.stdout)?;
    }
    for note in &printed.notes {
        exit::write_stderr(&format!("{TOOL}: note: {note}\n"));
    }
    for warning in &printed.warnings {
        warn(TOOL, warning);
    }
    if let Some(explanation) = &printed.explanation {
        exit::write_stderr(explanation);
    }
    Ok(exit::OK)
}

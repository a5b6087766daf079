//! `xen-maskcalc`: the CPUID masks that let guests migrate across a whole pool
//! of hosts, explained by feature name. A drop-in replacement for
//! `xen_maskcalc.py` that reads every common dump format.

use std::path::PathBuf;
use std::process::ExitCode;

use maskcalc::consumer::{Consumer, GuestCpu};
use maskcalc::model::Host;
use maskcalc::plan;
use maskcalc::pool::{self, PoolOptions};
use maskcalc::render;
use xenmig_cli::args::xen_maskcalc::{Args, NAME as TOOL, OutputFormat};
use xenmig_cli::consumers::ConsumerSetup;
use xenmig_cli::exit::warn;
use xenmig_cli::hosts::{load_dump, local_host};
use xenmig_cli::{Failure, exit, finish, parse_args, term, write_stdout};

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

fn resolve_names(names: &[String]) -> Result<Vec<cpuid_defs::FeatureId>, Failure> {
    names
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| pool::resolve_feature(n).map_err(Failure::usage_or_io))
        .collect()
}

fn run(args: &Args) -> Result<u8, Failure> {
    let options = PoolOptions {
        nested_hvm: args.nested_hvm,
        hide: resolve_names(&args.hide)?,
        keep: resolve_names(&args.keep)?,
        allow_mixed_vendors: args.allow_mixed_vendors,
    };
    let hosts = load_hosts(args)?;
    if hosts.len() < 2 {
        return Err(Failure::bad_input(
            "Need at least 2 files to do the comparison!",
        ));
    }
    // The library's messages know no flags: the flags are named here.
    let pool_failure = |e: pool::PoolError| match e {
        pool::PoolError::HiddenAndKept(name) => Failure::usage_or_io(format!(
            "{name} is both hidden and kept; expected each feature in at most one of --hide and --keep"
        )),
        pool::PoolError::MixedVendors(_) => Failure::bad_input(format!(
            "{e}; pass --allow-mixed-vendors to compute a mask anyway"
        )),
        pool::PoolError::NoHosts => Failure::bad_input(e),
    };
    let format = if args.json {
        OutputFormat::Json
    } else {
        args.format
    };
    let plan_options = plan::PlanOptions {
        tier_threshold: args.tier_threshold,
    };
    // The plan computes the pool's masks too: with --plan, they are not computed twice.
    let planned = if args.plan && !args.diff {
        Some(plan::plan(&hosts, &options, &plan_options).map_err(pool_failure)?)
    } else {
        None
    };
    let computed;
    let masks = match &planned {
        Some(plan) => &plan.masks,
        None => {
            computed = pool::compute(&hosts, &options).map_err(pool_failure)?;
            &computed
        }
    };
    let needed: &[Consumer] = match format {
        _ if args.diff => &[],
        _ if args.plan => &[Consumer::Xl],
        OutputFormat::Xl => &[Consumer::Xl],
        OutputFormat::Qemu => &[Consumer::Qemu],
        OutputFormat::Libvirt => &[Consumer::Libvirt, Consumer::Qemu],
        OutputFormat::Html => &[Consumer::Xl, Consumer::Libvirt, Consumer::Qemu],
        _ => &[],
    };
    let setup = ConsumerSetup::new(&args.consumers, needed)?;
    if args.verbose {
        for consumer in needed {
            exit::write_stderr(&format!("{TOOL}: {}\n", setup.describe(*consumer)));
        }
    }
    let targets = setup.targets();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let text = if args.diff {
        if args.json {
            render::diff_json(masks)
        } else {
            render::diff(masks, term::stdout_wants_colour())
        }
    } else if let Some(plan) = &planned {
        if args.json {
            render::plan_json(plan, &targets)
        } else {
            render::plan_text(plan, &targets)
        }
    } else {
        if format == OutputFormat::Xend {
            warnings = render::xend_missing_leaves(masks, &hosts)
                .into_iter()
                .map(|w| format!("{w}; use --format xl"))
                .collect();
        }
        let guest = GuestCpu::from_masks(masks);
        let mut rendered = |r: render::Rendered| {
            if r.text.starts_with("cpuid = [") {
                // xl fell back to the xend list: it has xend's limits.
                warnings = render::xend_missing_leaves(masks, &hosts);
            }
            warnings.extend(
                r.omitted
                    .into_iter()
                    .map(|line| format!("not in the output: {line}")),
            );
            notes = r.notes;
            r.text
        };
        match format {
            OutputFormat::Xend if args.verbose => render::xend_verbose(masks),
            OutputFormat::Xend => render::xend(masks),
            OutputFormat::Xl => rendered(render::xl(masks, &targets)),
            OutputFormat::Libvirt => rendered(render::libvirt(masks, &guest, &targets)),
            OutputFormat::Qemu => rendered(render::qemu(masks, &guest, &targets)),
            OutputFormat::Firecracker => render::firecracker(masks),
            OutputFormat::Json => render::json(masks),
            OutputFormat::Html => {
                // The page shows the plan, whose own pool computation is the same as `masks`.
                let plan = plan::plan(&hosts, &options, &plan_options).map_err(pool_failure)?;
                let generator = format!("{TOOL} {}", env!("CARGO_PKG_VERSION"));
                render::html::pool_page(&plan, &hosts, &generator, &targets)
            }
        }
    };
    if args.diff {
        // A report: `--diff | head` is fine.
        write_stdout(&text)?;
    } else {
        // The masks are data (a config to paste, a file to load): a closed
        // pipe is a failure.
        exit::write_stdout_data(&text)?;
    }
    if !args.diff {
        for feature in masks.hidden_but_not_compared() {
            warnings.push(format!(
                "not in the output: {} (--hide): {} is not compared, as some dumps do not carry it",
                feature.name,
                feature.location.register().0
            ));
        }
    }
    for note in &notes {
        exit::write_stderr(&format!("{TOOL}: note: {note}\n"));
    }
    for warning in &warnings {
        warn(TOOL, warning);
    }
    let explain_elsewhere =
        args.verbose && (args.diff || args.json || args.format != OutputFormat::Xend);
    if explain_elsewhere && !args.diff {
        exit::write_stderr(&render::explain(masks));
    }
    Ok(exit::OK)
}

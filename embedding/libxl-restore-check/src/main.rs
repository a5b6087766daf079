//! How a toolstack such as libxl uses xenmig before restoring a saved
//! domain: open the saved stream (xl save file, libxl or libxc stream), read
//! the guest's CPUID policy without reading its memory, and say, by feature
//! name, whether this host can restore it.
//!
//! Usage: `libxl-restore-check SAVED [HOST-DUMP]`; without HOST-DUMP the CPU
//! it runs on is checked. Exit code 0 when the host can restore the domain,
//! 1 when it cannot, 2 on an error.

use std::fs::File;
use std::io::{self, Write};
use std::process::ExitCode;

use cpu_profile::check;
use cpu_profile::stream::{guest_profile, read_policy};
use maskcalc::model::Host;
use migration_stream::StreamReader;

fn host(dump: Option<&String>) -> Result<Host, String> {
    let cpuid = match dump {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            maskcalc::dump::parse(path, &bytes, None).map_err(|e| e.to_string())?
        }
        None => maskcalc::local::read().ok_or("this CPU has no CPUID instruction")?,
    };
    let name = dump.map_or("this host", |p| p.as_str()).to_owned();
    Ok(Host { name, cpuid })
}

fn run(out: &mut impl Write) -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let saved = args
        .first()
        .ok_or("usage: libxl-restore-check SAVED [HOST-DUMP]")?;
    let file = File::open(saved).map_err(|e| format!("{saved}: {e}"))?;
    // Seekable: the reader seeks over what it skips; it stops at
    // STATIC_DATA_END, before the domain's memory.
    let policy = read_policy(StreamReader::seekable(file)).map_err(|e| format!("{saved}: {e}"))?;
    let io = |e: io::Error| format!("standard output: {e}");
    let Some(cpuid) = policy.cpuid else {
        // A v2 stream carries no policy: Xen builds one on the destination.
        writeln!(out, "{saved}: no CPUID policy in the stream; any host can restore it").map_err(io)?;
        return Ok(true);
    };
    let profile = guest_profile(saved, &cpuid).ok_or("the guest's CPUID policy has no leaf 0")?;
    let host = host(args.get(1))?;
    let report = check::check(&profile, &host);
    if report.is_compatible() {
        writeln!(out, "{}: can restore {saved}", host.name).map_err(io)?;
    } else {
        let missing = report.missing_names();
        writeln!(out, "{}: cannot restore {saved}", host.name).map_err(io)?;
        if !missing.is_empty() {
            writeln!(out, "  the guest has {} which this host lacks", missing.join(", ")).map_err(io)?;
        }
        for problem in &report.problems {
            writeln!(out, "  {problem}").map_err(io)?;
        }
    }
    Ok(report.is_compatible())
}

fn main() -> ExitCode {
    match run(&mut io::stdout().lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            let _ = writeln!(io::stderr(), "libxl-restore-check: {message}");
            ExitCode::from(2)
        }
    }
}

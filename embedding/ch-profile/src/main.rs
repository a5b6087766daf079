//! How a VMM such as Cloud Hypervisor uses xenmig to move guests across a
//! pool of unlike hosts:
//!
//! 1. take each host's CPUID (here dumps named on the command line; on the
//!    host itself, `maskcalc::local::read()`),
//! 2. build the pool's profile,
//! 3. check a destination host against it, problem by problem,
//! 4. get the typed list of CPUID adjustments a guest of the pool is given.
//!
//! Usage: `ch-profile DUMP... --destination DUMP`. Exit code 0 when the
//! destination fits, 1 when it does not, 2 on an error.

use std::io::{self, Write};
use std::process::ExitCode;

use cpu_profile::check::{self, Problem};
use cpu_profile::{export, generate};
use maskcalc::dump;
use maskcalc::model::Host;

fn load(path: &str) -> Result<Host, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    // `None`: detect the dump's format (cpuid -r, xen-cpuid -p, AIDA64, ...).
    let cpuid = dump::parse(path, &bytes, None).map_err(|e| e.to_string())?;
    Ok(Host {
        name: path.to_owned(),
        cpuid,
    })
}

fn run(out: &mut impl Write) -> Result<bool, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: ch-profile DUMP... --destination DUMP";
    let split = args.iter().position(|a| a == "--destination").ok_or(usage)?;
    let destination = load(args.get(split + 1).ok_or(usage)?)?;
    let pool = args[..split]
        .iter()
        .map(|path| load(path))
        .collect::<Result<Vec<_>, _>>()?;

    let profile = generate::generate("pool", &pool).map_err(|e| e.to_string())?;
    let report = check::check(&profile, &destination);
    let io = |e: io::Error| format!("standard output: {e}");
    for problem in &report.problems {
        // Problem is #[non_exhaustive]: a new kind of problem in a later
        // xenmig is printed by the catch-all arm instead of breaking the build.
        match problem {
            Problem::MissingFeature {
                feature: Some(feature),
                ..
            } => writeln!(out, "missing feature {}", feature.name),
            Problem::Vendor { profile, host } => {
                writeln!(out, "vendor differs: pool {profile}, destination {host:?}")
            }
            other => writeln!(out, "{}: {other}", other.kind()),
        }
        .map_err(io)?;
    }
    let verdict = if report.is_compatible() { "fits" } else { "does not fit" };
    writeln!(out, "{}: {verdict} the pool's profile", destination.name).map_err(io)?;

    // What the VMM programs into the guest's CPUID, per leaf, subleaf range
    // and register: (host value & mask) | replacements.
    let adjustments = export::cloud_hypervisor_adjustments(&profile);
    writeln!(out, "{} CPUID adjustments, for example:", adjustments.len()).map_err(io)?;
    for adjustment in adjustments.iter().filter(|a| a.leaf == 7).take(3) {
        writeln!(
            out,
            "  leaf {:#x} subleaves {}..={} {:?}: replacements {:#010x}, mask {:#010x}",
            adjustment.leaf,
            adjustment.subleaves.start(),
            adjustment.subleaves.end(),
            adjustment.register,
            adjustment.replacements,
            adjustment.mask
        )
        .map_err(io)?;
    }
    Ok(report.is_compatible())
}

fn main() -> ExitCode {
    match run(&mut io::stdout().lock()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            let _ = writeln!(io::stderr(), "ch-profile: {message}");
            ExitCode::from(2)
        }
    }
}

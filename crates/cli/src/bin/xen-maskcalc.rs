//! `xen-maskcalc`: the CPUID masks that let guests migrate across a whole pool
//! of hosts, explained by feature name. A drop-in replacement for
//! `xen_maskcalc.py` that reads every common dump format.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use maskcalc::consumer::{Consumer, GuestCpu};
use maskcalc::dump::{self, Format};
use maskcalc::model::Host;
use maskcalc::pool::{self, PoolOptions};
use maskcalc::render;
use xenmig_cli::consumers::{ConsumerArgs, ConsumerSetup};
use xenmig_cli::hostcpu::{local_cpuid, read_capped};
use xenmig_cli::{Failure, exit, finish, parse_args, term, write_stdout};

const TOOL: &str = "xen-maskcalc";

const EXAMPLES: &str = "\
Examples:
  On every host (natively booted, not in dom0: Xen hides bits from dom0):
      cpuid -1r > node1
  Then, anywhere:
      xen-maskcalc node1 node2 node3          the xl.cfg `cpuid = [...]` lines (xend syntax)
      xen-maskcalc -v node1 node2             ... with each host's bits and why every bit is masked
      xen-maskcalc --format xl node*          cpuid = \"host,f16c=0,...\" (libxl syntax, Xen 4.18+)
      xen-maskcalc --format libvirt node*     a <cpu> element with policy='disable' features
      xen-maskcalc --diff node*               which features differ, per host
      xen-maskcalc --local node2              this machine and node2
      xen-maskcalc --hide avx512f --keep rdrand node*

Dumps may be `cpuid -1r`/`cpuid -r` output, `xen-cpuid -p` output, AIDA64/InstLatx64
text, libvirt cpu-gather XML or xenmig JSON; the format is detected per file.

Exit status: 0 ok; 1 bad input (a dump that does not parse, fewer than two hosts,
hosts of different vendors); 2 usage or I/O error.";

/// Output formats of the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// xl.cfg `cpuid = [ "LEAF:reg=…" ]` (the original tool's output)
    Xend,
    /// xl.cfg `cpuid = "host,NAME=0,…"` (libxl syntax)
    Xl,
    /// libvirt `<cpu>` element
    Libvirt,
    /// QEMU `-cpu host,-feat,…`
    Qemu,
    /// Firecracker custom CPU template
    Firecracker,
    /// masks, reasons and pool summary as JSON
    Json,
}

/// Input formats (`auto` detects per file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    /// detect the format of each file
    Auto,
    /// `cpuid -1r` / `cpuid -r`
    Cpuid,
    /// `xen-cpuid -p`
    XenCpuid,
    /// AIDA64 / InstLatx64 text
    Aida64,
    /// libvirt cpu-gather `<cpudata>` XML
    Libvirt,
    /// xenmig JSON dump
    Json,
}

impl InputFormat {
    fn format(self) -> Option<Format> {
        match self {
            InputFormat::Auto => None,
            InputFormat::Cpuid => Some(Format::CpuidTool),
            InputFormat::XenCpuid => Some(Format::XenCpuid),
            InputFormat::Aida64 => Some(Format::Aida64),
            InputFormat::Libvirt => Some(Format::Libvirt),
            InputFormat::Json => Some(Format::Json),
        }
    }
}

/// A utility that calculates a XEN CPUID difference mask.
///
/// Give it one CPUID dump per host of a migration pool; it prints the xl.cfg
/// `cpuid` setting that hides every feature some host lacks (and every feature
/// that depends on one), so guests can live-migrate between all of them.
#[derive(Debug, Parser)]
#[command(name = TOOL, version, after_help = EXAMPLES)]
struct Args {
    /// Filenames of XEN node CPUID outputs (one per host; `-` reads standard input)
    node_files: Vec<PathBuf>,

    /// Get detailed mask derivation information, and why each bit is masked
    #[arg(short, long)]
    verbose: bool,

    /// Enable nested HVM in mask (let guests see VMX/SVM)
    #[arg(long)]
    nested_hvm: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Xend)]
    format: OutputFormat,

    /// Show which features differ between the hosts instead of the mask
    #[arg(long)]
    diff: bool,

    /// Machine-readable output (with --diff: the differences; otherwise as --format json)
    #[arg(long)]
    json: bool,

    /// Also mask these features (names in any spelling: xl, Linux, QEMU, Xen)
    #[arg(long, value_name = "NAME[,NAME…]", value_delimiter = ',')]
    hide: Vec<String>,

    /// Never mask these features, whatever the hosts say
    #[arg(long, value_name = "NAME[,NAME…]", value_delimiter = ',')]
    keep: Vec<String>,

    /// Compute a mask even when hosts have CPUs of different vendors
    #[arg(long)]
    allow_mixed_vendors: bool,

    /// Add the CPU this tool runs on (read with the CPUID instruction) as one more host
    #[arg(long)]
    local: bool,

    /// Format of the dumps
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    input_format: InputFormat,

    #[command(flatten)]
    consumers: ConsumerArgs,
}

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
        let name = path.display().to_string();
        // Issue 6 and the original count a dump that cannot be read as bad input (1), like one
        // that cannot be parsed; only usage errors and a failing standard output exit 2.
        let bytes = read_capped(path, dump::MAX_DUMP_BYTES, "a CPUID dump")
            .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
        let cpuid =
            dump::parse(&name, &bytes, args.input_format.format()).map_err(Failure::bad_input)?;
        hosts.push(Host { name, cpuid });
    }
    if args.local {
        hosts.push(Host {
            name: "local".to_owned(),
            cpuid: local_cpuid()?,
        });
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
    let masks = pool::compute(&hosts, &options).map_err(|e| match e {
        pool::PoolError::HiddenAndKept(_) => Failure::usage_or_io(e),
        _ => Failure::bad_input(e),
    })?;
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let text = if args.diff {
        if args.json {
            render::diff_json(&masks)
        } else {
            render::diff(&masks, term::stdout_wants_colour())
        }
    } else {
        let format = if args.json {
            OutputFormat::Json
        } else {
            args.format
        };
        if format == OutputFormat::Xend {
            warnings = render::xend_missing_leaves(&masks, &hosts);
        }
        let needed: &[Consumer] = match format {
            OutputFormat::Xl => &[Consumer::Xl],
            OutputFormat::Qemu => &[Consumer::Qemu],
            OutputFormat::Libvirt => &[Consumer::Libvirt, Consumer::Qemu],
            _ => &[],
        };
        let setup = ConsumerSetup::new(&args.consumers, needed)?;
        if args.verbose {
            for consumer in needed {
                eprintln!("{TOOL}: {}", setup.describe(*consumer));
            }
        }
        let targets = setup.targets();
        let guest = GuestCpu::from_masks(&masks);
        let mut rendered = |r: render::Rendered| {
            if r.text.starts_with("cpuid = [") {
                // xl fell back to the xend list: it has xend's limits.
                warnings = render::xend_missing_leaves(&masks, &hosts);
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
            OutputFormat::Xend if args.verbose => render::xend_verbose(&masks),
            OutputFormat::Xend => render::xend(&masks),
            OutputFormat::Xl => rendered(render::xl(&masks, &targets)),
            OutputFormat::Libvirt => rendered(render::libvirt(&masks, &guest, &targets)),
            OutputFormat::Qemu => rendered(render::qemu(&masks, &guest, &targets)),
            OutputFormat::Firecracker => render::firecracker(&masks),
            OutputFormat::Json => render::json(&masks),
        }
    };
    write_stdout(&text)?;
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
        eprintln!("{TOOL}: note: {note}");
    }
    for warning in &warnings {
        eprintln!("{TOOL}: warning: {warning}");
    }
    let explain_elsewhere =
        args.verbose && (args.diff || args.json || args.format != OutputFormat::Xend);
    if explain_elsewhere && !args.diff {
        eprint!("{}", render::explain(&masks));
    }
    Ok(exit::OK)
}

//! `xen-maskcalc`: the original's arguments (dump files, `-v`) plus the
//! output formats, `--diff`, `--plan`, `--hide`/`--keep` and `--local`.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

use super::InputFormat;

/// The binary's name.
pub const NAME: &str = "xen-maskcalc";

const AFTER_HELP: &str = "\
On every host of the pool, booted natively (not in dom0: Xen hides bits from
dom0), save its CPUID with `cpuid -1r > node1`; then, anywhere, give the files.
Dumps may be `cpuid -1r`/`cpuid -r` output, `xen-cpuid -p` output, AIDA64 or
InstLatx64 text, libvirt cpu-gather XML or xenmig JSON; the format is detected
per file.

Examples (from the root of a xenmig checkout):
  # The xl.cfg lines (xend syntax), then also why each bit is masked:
  $ xen-maskcalc testdata/cpuid/readme-node1.txt testdata/cpuid/readme-node2.txt
  $ xen-maskcalc -v testdata/cpuid/readme-node*
  # cpuid = \"host,...\" (libxl syntax, Xen 4.18+), a libvirt <cpu> element:
  $ xen-maskcalc --format xl testdata/cpuid/amd-milan* testdata/cpuid/amd-genoa*
  $ xen-maskcalc --format libvirt testdata/cpuid/intel-*lake-sp*
  # Which features differ, per host:
  $ xen-maskcalc --diff testdata/cpuid/intel-haswell* testdata/cpuid/intel-sky*
  # What each host costs the pool, and compatibility tiers; all of it as a page:
  $ xen-maskcalc --plan testdata/cpuid/intel-*
  $ xen-maskcalc --format html testdata/cpuid/intel-* > pool.html
  $ xen-maskcalc --hide avx512f --keep rdrand testdata/cpuid/intel-*lake-sp*
  # This machine and a dump (exits 1 if this machine has another vendor):
  $ xen-maskcalc --local testdata/cpuid/amd-milan*  # exits 0 or 1

Exit status: 0 masks printed; 1 bad input (a dump that does not parse, fewer
than two hosts, hosts of different vendors); 2 usage or I/O error (a dump
that cannot be opened or read, an unknown --hide/--keep name).

Documentation: /usr/share/doc/xenmig/xen-maskcalc.md; the dump formats:
/usr/share/doc/xenmig/cpuid-dump-formats.md.";

/// A utility that calculates a XEN CPUID difference mask.
///
/// Give it one CPUID dump per host of a migration pool; it prints the xl.cfg
/// `cpuid` setting that hides every feature some host lacks (and every feature
/// that depends on one), so guests can live-migrate between all of them.
#[derive(Debug, Parser)]
#[command(name = NAME, version, after_help = AFTER_HELP)]
pub struct Args {
    /// Filenames of XEN node CPUID outputs (one per host; `-` reads standard input)
    pub node_files: Vec<PathBuf>,

    /// Get detailed mask derivation information, and why each bit is masked
    #[arg(short, long)]
    pub verbose: bool,

    /// Enable nested HVM in mask (let guests see VMX/SVM)
    #[arg(long)]
    pub nested_hvm: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Xend)]
    pub format: OutputFormat,

    /// Show which features differ between the hosts instead of the mask
    #[arg(long, conflicts_with = "plan")]
    pub diff: bool,

    /// Plan the pool instead: what each host costs it (the features the others
    /// would gain without it), ranked, and a split into compatibility tiers
    /// (`--json` for JSON; `--format html` has the plan on its page)
    #[arg(long, conflicts_with = "format")]
    pub plan: bool,

    /// With --plan and --format html: a host joins a tier only if the tier's
    /// baseline, with it, still lacks fewer than N of the features of the
    /// tier's first host
    #[arg(
        long,
        value_name = "N",
        default_value_t = maskcalc::plan::DEFAULT_TIER_THRESHOLD,
        value_parser = clap::builder::TypedValueParser::map(
            clap::value_parser!(u16).range(1..),
            usize::from
        )
    )]
    pub tier_threshold: usize,

    /// Machine-readable output (with --diff: the differences; otherwise as --format json)
    #[arg(long)]
    pub json: bool,

    /// Also mask these features (names in any spelling: xl, Linux, QEMU, Xen)
    #[arg(long, value_name = "NAME[,NAME…]", value_delimiter = ',')]
    pub hide: Vec<String>,

    /// Never mask these features, whatever the hosts say
    #[arg(long, value_name = "NAME[,NAME…]", value_delimiter = ',')]
    pub keep: Vec<String>,

    /// Compute a mask even when hosts have CPUs of different vendors
    #[arg(long)]
    pub allow_mixed_vendors: bool,

    /// Add the CPU this tool runs on (read with the CPUID instruction) as one more host
    #[arg(long)]
    pub local: bool,

    /// The format of the dumps.
    #[command(flatten)]
    pub input_format: InputFormat,

    /// The consumer releases the output is written for.
    #[command(flatten)]
    pub consumers: crate::consumers::ConsumerArgs,
}

/// `--format`: how the mask is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// xl.cfg `cpuid = [ "LEAF:reg=…" ]` (the original tool's output)
    Xend,
    /// xl.cfg `cpuid = "host,NAME=0,…"` (libxl syntax)
    Xl,
    /// libvirt `<cpu>` element (a named model, or host-passthrough with --cpu-mode passthrough)
    Libvirt,
    /// QEMU `-cpu MODEL,+feat,-feat` (or `-cpu host,-feat` with --cpu-mode passthrough)
    Qemu,
    /// Firecracker custom CPU template
    Firecracker,
    /// masks, reasons and pool summary as JSON
    Json,
    /// one self-contained HTML page: hosts, baseline in every format, plan, host × feature matrix
    Html,
}

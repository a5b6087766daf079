//! `cpu-profile`: generate, show, export, check and diff CPU profiles.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use super::InputFormat;

/// The binary's name.
pub const NAME: &str = "cpu-profile";

/// The first example of most pages: a profile of two hosts in `pool.json`.
macro_rules! generate_pool {
    () => {
        "  $ cpu-profile generate --name pool -o pool.json \\
        testdata/cpuid/intel-haswell* testdata/cpuid/intel-skylake*\n"
    };
}

const AFTER_HELP: &str = concat!(
    "\
On every host of the pool, booted natively (not in dom0: Xen hides bits from
dom0), save its CPUID with `cpuid -1r > node1`; then, anywhere, give the files.
Dumps may be `cpuid -1r`/`cpuid -r` output, `xen-cpuid -p` output, AIDA64 or
InstLatx64 text, libvirt cpu-gather XML or xenmig JSON; the format is detected
per file unless --input-format names it.

Documentation: /usr/share/doc/xenmig/cpu-profile.md; the profile format:
/usr/share/doc/xenmig/cpu-profile-format.md.

Examples (from the root of a xenmig checkout):
",
    generate_pool!(),
    "  $ cpu-profile show pool.json
  # Can this host run the pool's guests? Can this saved domain restore there?
  $ cpu-profile check --profile pool.json testdata/cpuid/intel-icelake*
  $ cpu-profile check --stream testdata/profile/xl-skylake-guest.bin \\
        testdata/cpuid/intel-skylake*
  # cpuid = \"host,...\" for xl.cfg:
  $ cpu-profile export --format xl pool.json
  $ cpu-profile diff pool.json testdata/cpuid/intel-icelake*  # exits 1

Exit status: 0 success (written, shown, compatible, no differences); 1 bad
input (a dump or profile that does not parse, hosts of different vendors), a
host that does not fit, or differences; 2 usage or I/O error (an input that
cannot be opened or read, an output that cannot be written), or a stream
without a CPUID policy."
);

const GENERATE_AFTER_HELP: &str = concat!(
    "Examples (from the root of a xenmig checkout):\n",
    generate_pool!(),
    "  $ cpu-profile generate -o - testdata/cpuid/amd-milan* testdata/cpuid/amd-gen*

Exit status: 0 written; 1 a dump does not parse or the hosts have different
vendors; 2 usage or I/O error."
);

const SHOW_AFTER_HELP: &str = concat!(
    "Examples (from the root of a xenmig checkout):\n",
    generate_pool!(),
    "  $ cpu-profile show pool.json
  # The same as one self-contained page, with every export format:
  $ cpu-profile show --format html pool.json > pool.html

Exit status: 0 shown; 1 the profile does not parse; 2 usage or I/O error."
);

const EXPORT_AFTER_HELP: &str = concat!(
    "Examples (from the root of a xenmig checkout):\n",
    generate_pool!(),
    "  $ cpu-profile export --format libvirt pool.json
  $ cpu-profile export --format cloud-hypervisor pool.json

Exit status: 0 written; 1 the profile does not parse; 2 usage or I/O error."
);

const CHECK_AFTER_HELP: &str = concat!(
    "Examples (from the root of a xenmig checkout):\n",
    generate_pool!(),
    "  $ cpu-profile check --profile pool.json testdata/cpuid/intel-icelake*
  $ cpu-profile check --profile pool.json testdata/cpuid/intel-ivy*  # exits 1
  $ cpu-profile check --stream testdata/profile/xl-skylake-guest.bin \\
        testdata/cpuid/intel-skylake*
  $ cpu-profile check --json --stream testdata/profile/libxc-skylake-guest.bin \\
        testdata/cpuid/intel-haswell*  # exits 1
  # This host (natively booted, not in dom0):
  $ cpu-profile check --profile pool.json --local  # exits 0 or 1

Exit status: 0 every host fits; 1 a host does not fit, or a dump, profile or
stream that does not parse; 2 usage or I/O error, or a stream without a CPUID
policy."
);

const DIFF_AFTER_HELP: &str = concat!(
    "Examples (from the root of a xenmig checkout):\n",
    generate_pool!(),
    "  $ cpu-profile diff pool.json testdata/cpuid/intel-icelake*  # exits 1
  $ cpu-profile diff --json testdata/cpuid/intel-sky* \\
        testdata/cpuid/intel-cas*  # exits 1

Exit status: 0 no differences; 1 differences, or an input that does not
parse; 2 usage or I/O error."
);

/// CPU profiles for migration pools, and compatibility checks by feature name.
///
/// A profile is the CPUID a guest may see on every host of a pool: per
/// register, a value and the bits it defines, built with the classes of the
/// feature table (hidden features cleared, host features left to the
/// destination, mitigation bits accumulated), plus the pool's limits.
#[derive(Debug, Parser)]
#[command(name = NAME, version, after_help = AFTER_HELP)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the profile of a pool from one CPUID dump per host.
    #[command(after_help = GENERATE_AFTER_HELP)]
    Generate {
        /// CPUID dumps, one per host (`-` reads standard input)
        dumps: Vec<PathBuf>,
        /// Add the CPU this tool runs on (read with the CPUID instruction) as one more host
        #[arg(long)]
        local: bool,
        /// The profile's name
        #[arg(long, default_value = "profile")]
        name: String,
        /// Where to write the profile (a path, `-` or a file descriptor number).
        /// A file appears (fsynced) only once the whole profile is written; a
        /// replaced file keeps its mode and owner, a new one is mode 0666 less
        /// the umask. A device, FIFO or /dev/stdout is written in place.
        #[arg(short, long, value_name = "PROFILE.json")]
        output: String,
        /// The format of the dumps.
        #[command(flatten)]
        input_format: InputFormat,
    },
    /// Print a profile: limits, then each register's features by name.
    #[command(after_help = SHOW_AFTER_HELP)]
    Show {
        /// Output format
        #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
        format: ShowFormat,
        /// The consumer releases the page's exports are written for (`--format html`).
        #[command(flatten)]
        consumers: crate::consumers::ConsumerArgs,
        /// The profile file
        profile: PathBuf,
    },
    /// Render a profile for a toolstack.
    ///
    /// The masking formats (xl, xend, libvirt, qemu, firecracker) print the
    /// pool masks recorded in the profile exactly as `xen-maskcalc` prints
    /// them for the same hosts; cloud-hypervisor writes a Cloud Hypervisor CPU
    /// profile (hypervisor, cpu_vendor, adjustments).
    #[command(after_help = EXPORT_AFTER_HELP)]
    Export {
        /// Output format
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Say which consumer releases the output is written for
        #[arg(short, long)]
        verbose: bool,
        /// The consumer releases the output is written for.
        #[command(flatten)]
        consumers: crate::consumers::ConsumerArgs,
        /// The profile file
        profile: PathBuf,
    },
    /// Check hosts against a profile or a saved domain's CPUID policy.
    ///
    /// For each host: compatible, or every problem (missing feature by name
    /// with its location and class, a max leaf or address size too small, a
    /// different vendor).
    #[command(after_help = CHECK_AFTER_HELP)]
    Check {
        /// The profile to check against
        #[arg(long, conflicts_with = "stream", required_unless_present = "stream")]
        profile: Option<PathBuf>,
        /// A saved domain or migration stream (libxc, libxl or xl; a path, `-` or a file descriptor number)
        #[arg(long, value_name = "SAVEFILE")]
        stream: Option<String>,
        /// Machine-readable report
        #[arg(long)]
        json: bool,
        /// Also check the CPU this tool runs on (read with the CPUID instruction)
        #[arg(long)]
        local: bool,
        /// CPUID dumps of the hosts to check
        #[arg(required_unless_present = "local")]
        dumps: Vec<PathBuf>,
        /// The format of the dumps.
        #[command(flatten)]
        input_format: InputFormat,
    },
    /// Show what changes between two profiles or dumps, by feature name.
    #[command(after_help = DIFF_AFTER_HELP)]
    Diff {
        /// Machine-readable list of changes
        #[arg(long)]
        json: bool,
        /// First profile or dump
        a: PathBuf,
        /// Second profile or dump
        b: PathBuf,
        /// The format of the dumps.
        #[command(flatten)]
        input_format: InputFormat,
    },
}

/// `show --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// limits, then each register's features by name
    Text,
    /// one self-contained HTML page: hosts, limits, every export format, features, pool masks
    Html,
}

/// `export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// xl.cfg `cpuid = "host,NAME=0,…"` (libxl syntax)
    Xl,
    /// xl.cfg `cpuid = [ "LEAF:reg=…" ]` (xend syntax)
    Xend,
    /// libvirt `<cpu>` element
    Libvirt,
    /// QEMU `-cpu host,-feat,…`
    Qemu,
    /// Firecracker custom CPU template
    Firecracker,
    /// Cloud Hypervisor CPU profile JSON
    CloudHypervisor,
}

impl From<ExportFormat> for cpu_profile::export::ExportFormat {
    fn from(format: ExportFormat) -> Self {
        use cpu_profile::export::ExportFormat as To;
        match format {
            ExportFormat::Xl => To::Xl,
            ExportFormat::Xend => To::Xend,
            ExportFormat::Libvirt => To::Libvirt,
            ExportFormat::Qemu => To::Qemu,
            ExportFormat::Firecracker => To::Firecracker,
            ExportFormat::CloudHypervisor => To::CloudHypervisor,
        }
    }
}

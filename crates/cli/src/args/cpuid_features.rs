//! `cpuid-features`: look-ups in the CPUID feature table.

use clap::{Parser, Subcommand};

/// The binary's name.
pub const NAME: &str = "cpuid-features";

const AFTER_HELP: &str = "\
Examples:
  $ cpuid-features list
  $ cpuid-features list --class accumulate
  $ cpuid-features list --json --class host
  $ cpuid-features show avx512f
  $ cpuid-features decode 7.0 ebx 0x37ab
  $ cpuid-features decode 0x80000001 ecx 0x75c237ff
  $ cpuid-features decode msr 0x10a 0x0c000069
  $ cpuid-features show avx512fx    # exits 1: did you mean AVX512F?

Exit status: 0 success; 1 an unknown feature name, or a register without
named bits; 2 usage error (a number or register that does not parse).

Documentation: /usr/share/doc/xenmig/cpuid-features.md.";

/// Look up x86 CPUID feature bits: where they live, what every ecosystem
/// calls them, how a migration pool combines them, and what they need.
///
/// Names are matched case-insensitively with `-` and `_` alike, in any
/// spelling: Xen's (`lahf-lm`), libxl's legacy names (`lahfsahf`), Linux
/// /proc/cpuinfo (`lahf_lm`) and macros (`XMM2`), QEMU (`lahf-lm`), libvirt
/// (`lahf_lm`).
#[derive(Debug, Parser)]
#[command(name = NAME, version, verbatim_doc_comment, after_help = AFTER_HELP)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every feature: name, location, class and description.
    ///
    /// With --json, an array of objects, one per feature, with the keys:
    ///   name                canonical name
    ///   xen_name            Xen's name (null when Xen has none)
    ///   leaf, subleaf       CPUID leaf and subleaf (subleaf null when the leaf has none;
    ///                       both null for MSR bits)
    ///   register            eax, ebx, ecx or edx (null for MSR bits)
    ///   msr                 the MSR index for MSR bits, else null
    ///   bit                 bit number in the register or MSR
    ///   class               intersect, accumulate, host, hidden or opt-in
    ///   vendors             vendors that define the bit
    ///   aliases             every other accepted spelling
    ///   depends             features this one needs
    ///   description         one line
    ///   reference           where the bit is defined (SDM, APM, ...)
    ///   xen_attrs           Xen's policy attribute characters (null when none)
    ///   linux_name          /proc/cpuinfo flag (null when none)
    ///   linux_macro         Linux X86_FEATURE_ suffix (null when none)
    ///   qemu_name           QEMU's name (null when none)
    ///   libvirt_name        libvirt's name (null when none)
    ///   libxl_legacy_names  libxl's older names
    #[command(
        verbatim_doc_comment,
        after_help = "Examples:\n  $ cpuid-features list --class host\n  $ cpuid-features list --json --class opt-in"
    )]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only features of this class: intersect, accumulate, host, hidden
        /// or opt-in.
        #[arg(long, value_name = "CLASS", value_parser = parse_class)]
        class: Option<cpuid_defs::Class>,
    },
    /// Show one feature, what it needs and what needs it.
    ///
    /// NAME may also be a multi-bit field (`cpuid-features fields` lists them).
    #[command(
        verbatim_doc_comment,
        after_help = "Examples:\n  $ cpuid-features show lahfsahf\n  $ cpuid-features show --json md-clear\n  $ cpuid-features show family"
    )]
    Show {
        /// Any name of the feature (canonical, xl, Linux, QEMU, libvirt, libxl legacy).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Name the feature bits set in a register value.
    ///
    /// LEAF is a leaf with an optional subleaf, decimal or 0x-hex
    /// (`7.0`, `0xd.1`, `0x80000001`); a missing subleaf is read as 0, as
    /// CPUID does (`7` is `7.0`), and Xen's leaves are found at 0x40000100
    /// too. REGISTER is eax, ebx, ecx or edx; VALUE is 0x-hex or decimal.
    /// For IA32_ARCH_CAPABILITIES write `decode msr 0x10a VALUE` with the
    /// 64-bit value.
    #[command(
        verbatim_doc_comment,
        after_help = "Examples:\n  $ cpuid-features decode 7.0 ebx 0x37ab\n  $ cpuid-features decode 1 ecx 2147344383\n  $ cpuid-features decode --json msr 0x10a 0x0c000069"
    )]
    Decode {
        /// Leaf[.subleaf], or `msr`.
        leaf: String,
        /// Register (eax, ebx, ecx, edx), or the MSR index after `msr`.
        register: String,
        /// The register's value (0x-hex or decimal).
        value: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the multi-bit fields (family, maximum leaves, APIC ids...).
    #[command(
        after_help = "Examples:\n  $ cpuid-features fields\n  $ cpuid-features fields --json"
    )]
    Fields {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// clap's parser for `--class`.
fn parse_class(s: &str) -> Result<cpuid_defs::Class, String> {
    s.parse()
        .map_err(|e: cpuid_defs::ParseClassError| e.to_string())
}

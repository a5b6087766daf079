//! `--input-format`, shared by the tools that read CPUID dumps.

use clap::builder::{PossibleValue, PossibleValuesParser};
use maskcalc::dump::Format;

/// `--input-format FORMAT`: the format of the CPUID dumps, or `auto` to
/// detect it per file. maskcalc's [`Format::ALL`] owns the list of formats.
#[derive(Debug, Clone, clap::Args)]
pub struct InputFormat {
    /// Format of the CPUID dumps (`auto` detects it per file)
    #[arg(
        long = "input-format",
        value_name = "FORMAT",
        default_value = "auto",
        value_parser = possible_values()
    )]
    input_format: String,
}

impl InputFormat {
    /// The forced format, or `None` for detection per file.
    pub fn format(&self) -> Option<Format> {
        Format::from_name(&self.input_format)
    }
}

fn possible_values() -> PossibleValuesParser {
    let auto = PossibleValue::new("auto").help("detect the format of each file");
    let formats = Format::ALL
        .iter()
        .map(|&f| PossibleValue::new(f.name()).help(describe(f)));
    PossibleValuesParser::new(std::iter::once(auto).chain(formats))
}

/// What produces each format, for `--help`.
fn describe(format: Format) -> &'static str {
    match format {
        Format::CpuidTool => "`cpuid -1r` / `cpuid -r`",
        Format::XenCpuid => "`xen-cpuid -p`",
        Format::Aida64 => "AIDA64 / InstLatx64 text",
        Format::Libvirt => "libvirt cpu-gather `<cpudata>` XML",
        Format::Json => "xenmig JSON dump",
    }
}

//! Writers for every dump format [`super::parse`] reads.
//!
//! They convert a dump from one format to another (for example to xenmig's
//! JSON, to keep in version control), and they let the tests check that the
//! same CPU gives the same masks whatever format it arrives in.
//!
//! ```
//! use maskcalc::dump::{parse, write, Format};
//! let text = "CPU:\n   0x00000000 0x00: eax=0x00000001 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   \
//!             0x00000001 0x00: eax=0x000306f2 ebx=0x00400800 ecx=0x7ffefbff edx=0xbfebfbff\n   \
//!             0x80000000 0x00: eax=0x80000000 ebx=0x00000000 ecx=0x00000000 edx=0x00000000\n";
//! let host = parse("a", text.as_bytes(), None).unwrap();
//! for format in Format::ALL {
//!     let again = parse("b", write::to_format(&host, format).as_bytes(), Some(format)).unwrap();
//!     assert_eq!(again, host);
//! }
//! ```

use std::fmt::Write as _;

use cpuid_defs::MsrHalf;

use super::Format;
use super::json::{DUMP_FORMAT_NAME, DUMP_FORMAT_VERSION, JsonDump, JsonLeaf, JsonMsr};
use crate::model::HostCpuid;

/// Writes `host` in `format`.
///
/// ```
/// use maskcalc::dump::{detect, parse, write, Format};
/// use maskcalc::model::{CpuidInput, HostCpuid};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(0, 0), [0, 0x756e6547, 0x6c65746e, 0x49656e69]);
/// host.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
/// let text = write::to_format(&host, Format::Libvirt);
/// assert_eq!(detect(&text), Some(Format::Libvirt));
/// assert_eq!(parse("again", text.as_bytes(), None)?, host);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn to_format(host: &HostCpuid, format: Format) -> String {
    match format {
        Format::CpuidTool => cpuid_tool(host),
        Format::XenCpuid => xen_cpuid(host),
        Format::Aida64 => aida64(host),
        Format::Libvirt => libvirt(host),
        Format::Json => json(host),
    }
}

/// `cpuid -1r` output.
///
/// ```
/// use maskcalc::model::{CpuidInput, HostCpuid};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(7, 0), [0, 0x20, 0, 0]);
/// assert_eq!(
///     maskcalc::dump::write::cpuid_tool(&host),
///     "CPU:\n   0x00000007 0x00: eax=0x00000000 ebx=0x00000020 ecx=0x00000000 edx=0x00000000\n"
/// );
/// ```
pub fn cpuid_tool(host: &HostCpuid) -> String {
    let mut out = String::from("CPU:\n");
    for (input, r) in &host.leaves {
        let _ = writeln!(
            out,
            "   0x{:08x} 0x{:02x}: eax=0x{:08x} ebx=0x{:08x} ecx=0x{:08x} edx=0x{:08x}",
            input.leaf, input.subleaf, r[0], r[1], r[2], r[3]
        );
    }
    out
}

/// `xen-cpuid -p` output with one `Host` policy.
///
/// ```
/// use maskcalc::model::{CpuidInput, HostCpuid};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(7, 0), [0, 0x20, 0, 0]);
/// host.msrs.insert(0x10a, 0x2);
/// let text = maskcalc::dump::write::xen_cpuid(&host);
/// assert!(text.starts_with("Host policy: 1 leaves, 1 MSRs\n"), "{text}");
/// assert!(text.contains("  00000007:00000000 -> 00000000:00000020:00000000:00000000\n"));
/// assert!(text.ends_with("  0000010a -> 0000000000000002\n"));
/// ```
pub fn xen_cpuid(host: &HostCpuid) -> String {
    let mut out = format!(
        "Host policy: {} leaves, {} MSRs\n CPUID:\n  leaf     subleaf  -> eax      ebx      ecx      edx     \n",
        host.leaves.len(),
        host.msrs.len()
    );
    for (input, r) in &host.leaves {
        let _ = writeln!(
            out,
            "  {:08x}:{:08x} -> {:08x}:{:08x}:{:08x}:{:08x}",
            input.leaf, input.subleaf, r[0], r[1], r[2], r[3]
        );
    }
    out.push_str(" MSRs:\n  index    -> value           \n");
    for (index, value) in &host.msrs {
        let _ = writeln!(out, "  {index:08x} -> {value:016x}");
    }
    out
}

/// An AIDA64 dump of one logical CPU.
///
/// ```
/// use maskcalc::model::{CpuidInput, HostCpuid};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(7, 0), [0, 0x20, 0, 0]);
/// host.msrs.insert(0x10a, 0x0000_0001_0000_0002);
/// let text = maskcalc::dump::write::aida64(&host);
/// assert!(text.contains("CPUID 00000007: 00000000-00000020-00000000-00000000 [SL 00]\n"), "{text}");
/// assert!(text.contains("MSR 0000010A: 0000-0001-0000-0002\n"), "{text}");
/// ```
pub fn aida64(host: &HostCpuid) -> String {
    let mut out = String::from(
        "------[ CPUID Registers / Logical CPU #0 ]------\n\nallcpu: Package 0 / Core 0 / Thread 0: Valid\n\n",
    );
    for (input, r) in &host.leaves {
        let _ = writeln!(
            out,
            "CPUID {:08X}: {:08X}-{:08X}-{:08X}-{:08X} [SL {:02X}]",
            input.leaf, r[0], r[1], r[2], r[3], input.subleaf
        );
    }
    if !host.msrs.is_empty() {
        out.push_str("\n------[ MSR Registers / Logical CPU #0 ]------\n\n");
        for (index, value) in &host.msrs {
            let _ = writeln!(
                out,
                "MSR {index:08X}: {:04X}-{:04X}-{:04X}-{:04X}",
                (value >> 48) & 0xffff,
                (value >> 32) & 0xffff,
                (value >> 16) & 0xffff,
                value & 0xffff
            );
        }
    }
    out
}

/// libvirt `<cpudata>` XML.
///
/// ```
/// use maskcalc::model::{CpuidInput, HostCpuid};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(7, 0), [0, 0x20, 0, 0]);
/// host.msrs.insert(0x10a, 0x0000_0001_0000_0002);
/// assert_eq!(
///     maskcalc::dump::write::libvirt(&host),
///     "<cpudata arch='x86'>\n  <cpuid eax_in='0x00000007' ecx_in='0x00' eax='0x00000000' ebx='0x00000020' \
///      ecx='0x00000000' edx='0x00000000'/>\n  <msr index='0x10a' edx='0x00000001' eax='0x00000002'/>\n</cpudata>\n"
/// );
/// ```
pub fn libvirt(host: &HostCpuid) -> String {
    let mut out = String::from("<cpudata arch='x86'>\n");
    for (input, r) in &host.leaves {
        let _ = writeln!(
            out,
            "  <cpuid eax_in='0x{:08x}' ecx_in='0x{:02x}' eax='0x{:08x}' ebx='0x{:08x}' ecx='0x{:08x}' edx='0x{:08x}'/>",
            input.leaf, input.subleaf, r[0], r[1], r[2], r[3]
        );
    }
    for (index, value) in &host.msrs {
        let _ = writeln!(
            out,
            "  <msr index='0x{index:x}' edx='0x{:08x}' eax='0x{:08x}'/>",
            MsrHalf::High.of(*value),
            MsrHalf::Low.of(*value)
        );
    }
    out.push_str("</cpudata>\n");
    out
}

/// xenmig's JSON dump.
///
/// ```
/// use maskcalc::model::{CpuidInput, HostCpuid};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(7, 0), [0, 0x20, 0, 0]);
/// let text = maskcalc::dump::write::json(&host);
/// let value: serde_json::Value = serde_json::from_str(&text)?;
/// assert_eq!(value["format"], maskcalc::dump::DUMP_FORMAT_NAME);
/// assert_eq!(value["version"], maskcalc::dump::DUMP_FORMAT_VERSION);
/// assert_eq!(value["leaves"][0]["ebx"], "0x00000020");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn json(host: &HostCpuid) -> String {
    let dump = JsonDump {
        format: DUMP_FORMAT_NAME.to_owned(),
        version: DUMP_FORMAT_VERSION,
        comment: None,
        leaves: host
            .leaves
            .iter()
            .map(|(input, r)| JsonLeaf {
                leaf: format!("0x{:08x}", input.leaf),
                subleaf: format!("0x{:08x}", input.subleaf),
                eax: format!("0x{:08x}", r[0]),
                ebx: format!("0x{:08x}", r[1]),
                ecx: format!("0x{:08x}", r[2]),
                edx: format!("0x{:08x}", r[3]),
            })
            .collect(),
        msrs: host
            .msrs
            .iter()
            .map(|(index, value)| JsonMsr {
                index: format!("0x{index:08x}"),
                value: format!("0x{value:016x}"),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&dump).unwrap_or_default();
    text.push('\n');
    text
}

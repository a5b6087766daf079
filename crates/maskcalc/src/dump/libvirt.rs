//! libvirt's `cpu-gather` XML (`tests/cputestdata/x86_64-cpuid-*.xml`).
//!
//! ```text
//! <cpudata arch='x86'>
//!   <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000010' ebx='0x68747541' ecx='0x444d4163' edx='0x69746e65'/>
//!   <msr index='0x10a' edx='0x00000000' eax='0x0c000069'/>
//! </cpudata>
//! ```
//!
//! A small scanner for exactly this shape: comments, the XML declaration,
//! `<cpuid/>` and `<msr/>` inside one `<cpudata>`. Other elements inside
//! `<cpudata>` are skipped, so newer files with extra data still load.

use cpuid_defs::MsrHalf;

use super::text::{hex_u32_prefixed, quote};
use super::xml::{attribute, walk};
use super::{LineError, insert_leaf, insert_msr};
use crate::model::{CpuidInput, HostCpuid};

fn hex_attribute(
    attributes: &[(&str, &str)],
    element: &str,
    name: &str,
    line: usize,
) -> Result<u32, LineError> {
    let value = attribute(attributes, name).ok_or_else(|| {
        LineError::at(
            line,
            format!("expected attribute `{name}` on <{element}>, found none"),
        )
    })?;
    hex_u32_prefixed(value).ok_or_else(|| {
        LineError::at(
            line,
            format!(
                "expected `{name}` to be `0x` and up to 8 hex digits, found {}",
                quote(value)
            ),
        )
    })
}

/// Parses a `<cpudata>` document.
pub(super) fn parse(text: &str) -> Result<HostCpuid, LineError> {
    let mut host = HostCpuid::default();
    let mut seen_cpudata = false;
    walk(text, |nesting, name, attributes, line| {
        match (nesting.parent(), name) {
            (None, _) => {
                if name != "cpudata" || seen_cpudata {
                    return Err(LineError::at(
                        line,
                        format!("expected one <cpudata> element, found <{name}>"),
                    ));
                }
                seen_cpudata = true;
            }
            (Some("cpudata"), "cpuid") => {
                let leaf = hex_attribute(&attributes, name, "eax_in", line)?;
                let subleaf = match attribute(&attributes, "ecx_in") {
                    None => 0,
                    Some(_) => hex_attribute(&attributes, name, "ecx_in", line)?,
                };
                let mut regs = [0u32; 4];
                for (slot, reg) in regs.iter_mut().zip(["eax", "ebx", "ecx", "edx"]) {
                    *slot = hex_attribute(&attributes, name, reg, line)?;
                }
                insert_leaf(&mut host, line, CpuidInput::new(leaf, subleaf), regs, false)?;
            }
            (Some("cpudata"), "msr") => {
                let index = hex_attribute(&attributes, name, "index", line)?;
                let low = hex_attribute(&attributes, name, "eax", line)?;
                let high = hex_attribute(&attributes, name, "edx", line)?;
                insert_msr(
                    &mut host,
                    line,
                    index,
                    MsrHalf::High.place(high) | MsrHalf::Low.place(low),
                )?;
            }
            // Anything else inside <cpudata> is newer data: skipped.
            _ => {}
        }
        Ok(())
    })?;
    if !seen_cpudata {
        return Err(LineError::whole("expected a <cpudata> element, found none"));
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpuid_and_msr() {
        let text = "<!-- Intel(R) Xeon(R) -->\n<cpudata arch='x86'>\n  \
<cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x0000000d' ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>\n  \
<cpuid eax_in='0x00000007' ecx_in='0x00' eax='0x00000000' ebx='0x000037ab' ecx='0x00000000' edx='0x9c000400'/>\n  \
<msr index='0x10a' edx='0x00000001' eax='0x0c000069'/>\n</cpudata>\n";
        let host = parse(text).unwrap();
        assert_eq!(host.register(7, 0, 1), 0x37ab);
        assert_eq!(host.msrs[&0x10a], 0x1_0c00_0069);
    }

    #[test]
    fn errors_point_at_the_line() {
        let err = parse("<cpudata arch='x86'>\n<cpuid eax_in='0x1' eax='0x0' ebx='0x0' ecx='zz' edx='0x0'/>\n</cpudata>").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("`ecx`"), "{}", err.message);
        assert_eq!(parse("<cpudata>\n<cpuid").unwrap_err().line, Some(2));
        assert!(parse("<foo/>").is_err());
        // Closing tags close what is open, inside <cpudata> too.
        let err = parse("<cpudata>\n<extra>\n</other>\n</cpudata>").unwrap_err();
        assert_eq!(err.line, Some(3));
        let err = parse("<cpudata>\n<extra>\n").unwrap_err();
        assert_eq!(err.message, "expected </extra>, found the end of the file");
    }
}

//! AIDA64 / EVEREST text dumps, as collected by InstLatx64.
//!
//! ```text
//! ------[ CPUID Registers / Logical CPU #0 ]------
//! CPUID 00000000: 00000020-756E6547-6C65746E-49656E69 [GenuineIntel]
//! CPUID 00000004: FC004121-02C0003F-0000003F-00000000 [SL 00] [L1D: 48 KB]
//! ------[ MSR Registers / Logical CPU #0 ]------
//! MSR 0000010A: 0000-0000-0C00-0069
//! ```
//!
//! Only `CPUID xxxxxxxx` data lines and the first `MSR` lines are read; the many
//! other sections (cache summary, motherboard, versions) are skipped. The
//! variants of the corpus are accepted: `: `, a single space, ` :` or spaces
//! and a tab after the leaf; registers separated by `-` or spaces; `[SL xx]`
//! for the subleaf (none means subleaf 0); one block per logical CPU, with or
//! without `------[ … Logical CPU #N ]------` headers.

use super::text::{hex_u32, hex_u64, quote};
use super::{CpuAgreement, CpuBlock, LineError, insert_msr};
use crate::model::{CpuidInput, HostCpuid};

/// True for a `CPUID xxxxxxxx…` data line (not `CPUID Revision : …` and the like).
pub(super) fn is_data_line(line: &str) -> bool {
    leaf_and_rest(line).is_some()
}

/// Splits a data line into its leaf and the text after the leaf's separator.
fn leaf_and_rest(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix("CPUID")?;
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start();
    let leaf_text = rest.get(..8)?;
    let leaf = hex_u32(leaf_text)?;
    let after = rest.get(8..)?;
    if !(after.starts_with(':') || after.starts_with([' ', '\t'])) {
        return None;
    }
    let after = after.trim_start();
    let after = after.strip_prefix(':').unwrap_or(after).trim_start();
    after
        .starts_with(|c: char| c.is_ascii_hexdigit())
        .then_some((leaf, after))
}

/// Parses the four registers and the `[SL xx]` annotation after the leaf.
fn parse_registers(rest: &str, lineno: usize, line: &str) -> Result<(u32, [u32; 4]), LineError> {
    let bad = |what: &str| {
        LineError::at(
            lineno,
            format!(
                "expected `CPUID LLLLLLLL: EAX-EBX-ECX-EDX` with 8 hex digits per register ({what}), found {}",
                quote(line)
            ),
        )
    };
    let mut regs = [0u32; 4];
    let mut text = rest;
    for (i, slot) in regs.iter_mut().enumerate() {
        if i > 0 {
            if text.trim().is_empty() {
                return Err(LineError::at(
                    lineno,
                    format!(
                        "expected 4 registers after the leaf, found {i}: {}",
                        quote(line)
                    ),
                ));
            }
            let trimmed = text.trim_start_matches([' ', '\t']);
            let trimmed = trimmed
                .strip_prefix('-')
                .unwrap_or(trimmed)
                .trim_start_matches([' ', '\t']);
            if trimmed.len() == text.len() {
                return Err(bad("a `-` or space between registers"));
            }
            text = trimmed;
        }
        let digits = text.get(..8).ok_or_else(|| bad("too short"))?;
        *slot = hex_u32(digits).ok_or_else(|| bad("bad hex digits"))?;
        text = text.get(8..).unwrap_or("");
    }
    let annotations = text;
    if annotations.starts_with(|c: char| c.is_ascii_hexdigit()) {
        return Err(bad("more than 8 digits"));
    }
    let mut subleaf = 0;
    if let Some(pos) = annotations.find("[SL ") {
        let after = annotations.get(pos + 4..).unwrap_or("");
        let digits = after.split(']').next().unwrap_or("").trim();
        subleaf = hex_u32(digits).ok_or_else(|| {
            LineError::at(
                lineno,
                format!(
                    "expected `[SL xx]` with a hex subleaf, found {}",
                    quote(after)
                ),
            )
        })?;
    }
    Ok((subleaf, regs))
}

fn parse_msr(line: &str, lineno: usize) -> Result<Option<(u32, u64)>, LineError> {
    let Some(rest) = line.strip_prefix("MSR ") else {
        return Ok(None);
    };
    let rest = rest.trim_start();
    let Some(index) = rest.get(..8).and_then(hex_u32) else {
        return Ok(None);
    };
    let value_text = rest.get(8..).unwrap_or("").trim_start();
    let value_text = value_text
        .strip_prefix(':')
        .unwrap_or(value_text)
        .trim_start();
    if value_text.starts_with('<') {
        return Ok(None); // `< FAILED >`: the MSR could not be read.
    }
    let digits: String = value_text
        .split(['[', ' ', '\t'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|&c| c != '-')
        .collect();
    let value = hex_u64(&digits).ok_or_else(|| {
        LineError::at(
            lineno,
            format!(
                "expected `MSR IIIIIIII: VVVV-VVVV-VVVV-VVVV`, found {}",
                quote(line)
            ),
        )
    })?;
    Ok(Some((index, value)))
}

/// Parses an AIDA64 dump.
pub(super) fn parse(text: &str) -> Result<HostCpuid, LineError> {
    let mut agreement = CpuAgreement::new();
    let mut current: Option<CpuBlock> = None;
    let mut msrs = HostCpuid::default();
    let mut in_first_msr_section = false;
    let mut msr_sections = 0usize;
    let mut cpus = 0usize;
    for (index, raw) in text.lines().enumerate() {
        let lineno = index + 1;
        let line = raw.trim();
        if line.starts_with("------[") {
            let is_msr = line.contains("MSR");
            in_first_msr_section = is_msr && msr_sections == 0;
            msr_sections += usize::from(is_msr);
            if line.contains("Logical CPU #") && !is_msr {
                if let Some(block) = current.take() {
                    agreement.add(block)?;
                }
                cpus += 1;
                current = Some(CpuBlock::new(header_name(line, cpus), lineno));
            }
            continue;
        }
        if let Some((leaf, rest)) = leaf_and_rest(line) {
            let (subleaf, regs) = parse_registers(rest, lineno, line)?;
            let input = CpuidInput::new(leaf, subleaf);
            let starts_new_cpu = input == CpuidInput::new(0, 0)
                && current
                    .as_ref()
                    .is_some_and(|block| block.cpu.leaves.contains_key(&input));
            if starts_new_cpu && let Some(block) = current.take() {
                agreement.add(block)?;
            }
            let block = current.get_or_insert_with(|| {
                cpus += 1;
                CpuBlock::new(format!("logical CPU #{}", cpus - 1), lineno)
            });
            // Old dumps without `[SL xx]` repeat a leaf per subleaf: the first is subleaf 0.
            block.insert(lineno, input, regs, true)?;
            continue;
        }
        if (in_first_msr_section || msr_sections == 0)
            && let Some((index, value)) = parse_msr(line, lineno)?
            && !msrs.msrs.contains_key(&index)
        {
            insert_msr(&mut msrs, lineno, index, value)?;
        }
    }
    if let Some(block) = current.take() {
        agreement.add(block)?;
    }
    let mut host = agreement.finish("AIDA64 dump")?;
    host.msrs = msrs.msrs;
    Ok(host)
}

fn header_name(line: &str, ordinal: usize) -> String {
    line.split("Logical CPU #")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|digits| !digits.is_empty())
        .map(|digits| format!("logical CPU #{digits}"))
        .unwrap_or_else(|| format!("logical CPU #{}", ordinal.saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_variants() {
        for line in [
            "CPUID 00000001: 000306F2-00400800-7FFEFBFF-BFEBFBFF [SL 00]",
            "CPUID 00000001  \t000306F2-00400800-7FFEFBFF-BFEBFBFF",
            "CPUID 00000001 000306F2 00400800 7FFEFBFF BFEBFBFF   ",
            "CPUID 00000001 :000306F2-00400800-7FFEFBFF-BFEBFBFF []",
        ] {
            let (leaf, rest) = leaf_and_rest(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(leaf, 1);
            let (sub, regs) = parse_registers(rest, 1, line).unwrap();
            assert_eq!((sub, regs[2]), (0, 0x7ffefbff), "{line}");
        }
        assert!(!is_data_line("CPUID Revision     : 00000500h"));
        assert!(!is_data_line("CPUID Manufacturer : GenuineIntel"));
        assert!(!is_data_line("CPUID Registers (CPU #1):"));
    }

    #[test]
    fn old_everest_layout() {
        // EVEREST 5 era: CPU Info section with `CPUID …:` text fields, `Logical CPU #N`
        // headers, subleaves repeated without `[SL xx]`, one MSR section at the end.
        let mut text = String::from(
            "------[ CPU Info ]------\n\nCPUID Manufacturer : GenuineIntel\nCPUID Revision     : 000106A2h\n\n",
        );
        for (cpu, apic) in [(0, "00"), (1, "02")] {
            text.push_str(&format!(
                "------[ Logical CPU #{cpu} ]------\n\nallcpu: Valid\n\n"
            ));
            text.push_str("CPUID 00000000: 0000000B-756E6547-6C65746E-49656E69\n");
            text.push_str(&format!(
                "CPUID 00000001: 000106A2-{apic}100800-00BCE3BD-BFEBFBFF\n"
            ));
            text.push_str("CPUID 00000004: 1C004121-01C0003F-0000003F-00000000\n");
            text.push_str("CPUID 00000004: 1C004122-00C0003F-0000007F-00000000\n");
            text.push_str(&format!(
                "CPUID 0000000B: 00000001-00000002-00000100-000000{apic}\n"
            ));
            text.push_str("\nL1    Data Cache:     32 KB,  8-way Associative, 64-byte Line\n\n");
        }
        text.push_str("------[ MSR Registers ]------\n\nMSR 0000001B: 0000-0000-FEE0-0900\n");
        let host = parse(&text).unwrap();
        assert_eq!(host.register(4, 0, 0), 0x1c004121);
        assert_eq!(host.register(1, 0, 2), 0x00bce3bd);
        assert_eq!(host.msrs.get(&0x1b), Some(&0xfee0_0900));
    }

    #[test]
    fn latin1_text_outside_data_lines_is_accepted() {
        let mut bytes = b"------[ Sensor ]------\nCPU 45 \xb0C\n".to_vec();
        bytes.extend_from_slice(
            b"CPUID 00000000: 00000000-756E6547-6C65746E-49656E69 [GenuineIntel]\n\
              CPUID 80000000: 80000000-00000000-00000000-00000000\n",
        );
        let host = crate::dump::parse("latin1", &bytes, None).unwrap();
        assert_eq!(host.vendor_string().as_deref(), Some("GenuineIntel"));
    }

    #[test]
    fn blocks_msrs_and_subleaves() {
        let text = "------[ CPUID Registers / Logical CPU #0 ]------\n\
allcpu: Package 0 / Core 0 / Thread 0: Valid\n\n\
CPUID 00000000: 00000007-756E6547-6C65746E-49656E69 [GenuineIntel]\n\
CPUID 00000007: 00000000-000037AB-00000000-9C000400 [SL 00]\n\
CPUID 00000007: 00000000-00000000-00000000-00000000 [SL 01]\n\
------[ CPUID Registers / Logical CPU #1 ]------\n\
CPUID 00000000: 00000007-756E6547-6C65746E-49656E69 [GenuineIntel]\n\
CPUID 00000007: 00000000-000037AB-00000000-9C000400 [SL 00]\n\
------[ MSR Registers / Logical CPU #0 Clock (TSC),3094 MHz ]------\n\
MSR 0000010A: 0000-0000-0C00-0069 [xx]\n\
MSR 00000049: < FAILED >\n";
        let host = parse(text).unwrap();
        assert_eq!(host.register(7, 0, 1), 0x37ab);
        assert_eq!(host.msrs.get(&0x10a), Some(&0x0c00_0069));
    }
}

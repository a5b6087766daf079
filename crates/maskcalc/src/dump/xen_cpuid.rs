//! `xen-cpuid -p` policy output.
//!
//! ```text
//! Host policy: 33 leaves, 2 MSRs
//!  CPUID:
//!   leaf     subleaf  -> eax      ebx      ecx      edx
//!   00000000:ffffffff -> 0000000d:756e6547:6c65746e:49656e69
//!  MSRs:
//!   index    -> value
//!   0000010a -> 0000000000000000
//! ```
//!
//! Several policies follow each other (Raw, Host, PV/HVM Max and Default, or
//! one `Domain N`). The Host policy is used (what Xen itself runs with, after
//! its command-line and errata adjustments), else Raw, else the first one.
//! Leaves Xen prints with subleaf `ffffffff` (no subleaf) are stored as subleaf 0.

use super::text::{hex_u32, hex_u64, quote};
use super::{LineError, insert_leaf, insert_msr};
use crate::model::{CpuidInput, HostCpuid};

/// True for a policy title line, `<Name> policy: N leaves, M MSRs`.
pub(super) fn is_policy_title(line: &str) -> bool {
    policy_title(line).is_some()
}

fn policy_title(line: &str) -> Option<&str> {
    let (name, rest) = line.split_once(" policy: ")?;
    (rest.contains(" leaves, ") && rest.ends_with(" MSRs")).then_some(name)
}

#[derive(PartialEq, Eq)]
enum Section {
    Outside,
    Cpuid,
    Msrs,
}

/// The policies worth keeping of those read so far: the first, Raw and Host.
#[derive(Default)]
struct Kept {
    first: Option<HostCpuid>,
    raw: Option<HostCpuid>,
    host: Option<HostCpuid>,
}

impl Kept {
    /// Keeps a policy read to its end, `(name, policy)`, if it is one of those.
    fn store(&mut self, done: Option<(String, HostCpuid)>) {
        if let Some((name, policy)) = done {
            match name.as_str() {
                "Host" => self.host = Some(policy),
                "Raw" => self.raw = Some(policy),
                _ if self.first.is_none() => self.first = Some(policy),
                _ => {}
            }
        }
    }

    /// The policy the dump stands for: Host, else Raw, else the first.
    fn chosen(self) -> Option<HostCpuid> {
        self.host.or(self.raw).or(self.first)
    }
}

/// Parses `xen-cpuid -p` output.
pub(super) fn parse(text: &str) -> Result<HostCpuid, LineError> {
    let mut kept = Kept::default();
    // The policy being read: (name, policy).
    let mut current: Option<(String, HostCpuid)> = None;
    let mut section = Section::Outside;
    for (index, raw_line) in text.lines().enumerate() {
        let lineno = index + 1;
        let line = raw_line.trim();
        if line.is_empty()
            || line.starts_with("Xen reports there are maximum")
            || line.ends_with(" policy not supported by Xen")
        {
            continue;
        }
        if let Some(name) = policy_title(line) {
            kept.store(current.take());
            current = Some((name.to_owned(), HostCpuid::default()));
            section = Section::Outside;
            continue;
        }
        match line {
            "CPUID:" => {
                section = Section::Cpuid;
                continue;
            }
            "MSRs:" => {
                section = Section::Msrs;
                continue;
            }
            _ => {}
        }
        if line.starts_with("leaf ") || line.starts_with("index ") {
            continue;
        }
        let Some((_, policy)) = current.as_mut() else {
            return Err(LineError::at(
                lineno,
                format!(
                    "expected a title `<Name> policy: N leaves, M MSRs`, found {}",
                    quote(line)
                ),
            ));
        };
        match section {
            Section::Cpuid => {
                let (input, regs) = parse_cpuid_row(line, lineno)?;
                insert_leaf(policy, lineno, input, regs, false)?;
            }
            Section::Msrs => {
                let (index, value) = parse_msr_row(line, lineno)?;
                insert_msr(policy, lineno, index, value)?;
            }
            Section::Outside => {
                return Err(LineError::at(
                    lineno,
                    format!("expected ` CPUID:` or ` MSRs:`, found {}", quote(line)),
                ));
            }
        }
    }
    kept.store(current.take());
    kept.chosen().ok_or_else(|| {
        LineError::whole(
            "expected at least one `<Name> policy: …` in this xen-cpuid output, found none",
        )
    })
}

fn parse_cpuid_row(line: &str, lineno: usize) -> Result<(CpuidInput, [u32; 4]), LineError> {
    let expected = "expected a row `LLLLLLLL:SSSSSSSS -> AAAAAAAA:BBBBBBBB:CCCCCCCC:DDDDDDDD`";
    let bad = || LineError::at(lineno, format!("{expected}, found {}", quote(line)));
    let (input, values) = line.split_once("->").ok_or_else(bad)?;
    let (leaf, subleaf) = input.trim().split_once(':').ok_or_else(bad)?;
    let leaf = hex_u32(leaf).ok_or_else(bad)?;
    let subleaf = hex_u32(subleaf).ok_or_else(bad)?;
    let subleaf = if subleaf == u32::MAX { 0 } else { subleaf };
    let mut regs = [0u32; 4];
    let mut parts = values.trim().split(':');
    for slot in &mut regs {
        *slot = parts.next().and_then(hex_u32).ok_or_else(bad)?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok((CpuidInput::new(leaf, subleaf), regs))
}

fn parse_msr_row(line: &str, lineno: usize) -> Result<(u32, u64), LineError> {
    let bad = || {
        LineError::at(
            lineno,
            format!(
                "expected a row `IIIIIIII -> VVVVVVVVVVVVVVVV`, found {}",
                quote(line)
            ),
        )
    };
    let (index, value) = line.split_once("->").ok_or_else(bad)?;
    let index = hex_u32(index.trim()).ok_or_else(bad)?;
    let value = hex_u64(value.trim()).ok_or_else(bad)?;
    Ok((index, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Xen reports there are maximum 120 leaves and 2 MSRs
Raw policy: 2 leaves, 1 MSRs
 CPUID:
  leaf     subleaf  -> eax      ebx      ecx      edx     
  00000000:ffffffff -> 0000000d:756e6547:6c65746e:49656e69
  00000001:ffffffff -> 000306e4:00200800:7fbee3ff:bfebfbff
 MSRs:
  index    -> value           
  0000010a -> 0000000000000001
Host policy: 2 leaves, 0 MSRs
 CPUID:
  leaf     subleaf  -> eax      ebx      ecx      edx     
  00000000:ffffffff -> 0000000d:756e6547:6c65746e:49656e69
  00000001:ffffffff -> 000306e4:00200800:77bee3ff:bfebfbff
 MSRs:
  index    -> value           
PV Max policy not supported by Xen
";

    #[test]
    fn host_policy_wins() {
        let host = parse(SAMPLE).unwrap();
        assert_eq!(host.register(1, 0, 2), 0x77bee3ff);
        assert!(host.msrs.is_empty());
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let text = SAMPLE.replace("000306e4:00200800:7fbee3ff", "000306e4:00200800");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, Some(6));
    }
}

//! Todd Allen's `cpuid -1r` and `cpuid -r` raw output.
//!
//! ```text
//! CPU:
//!    0x00000000 0x00: eax=0x00000010 ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65
//! ```
//!
//! `cpuid -r` repeats the lines under `CPU 0:`, `CPU 1:`, ... headers. Older
//! versions print a `Disclaimer:` line first, and `cpuid -f` also reads lines
//! without a subleaf (`0x00000001: eax=…`).

use super::text::{hex_u32_prefixed, quote};
use super::{CpuAgreement, CpuBlock, LineError};
use crate::model::{CpuidInput, HostCpuid};

const EXPECTED_LINE: &str = "expected a `CPU:` or `CPU n:` header or a line `0xLEAF 0xSUBLEAF: eax=0x… ebx=0x… ecx=0x… edx=0x…`";

/// True for `CPU:` and `CPU n:` headers.
pub(super) fn is_header(line: &str) -> bool {
    header_index(line).is_some()
}

/// The CPU number of a header (`CPU:` is CPU 0).
fn header_index(line: &str) -> Option<u32> {
    let rest = line.strip_prefix("CPU")?.strip_suffix(':')?;
    if rest.is_empty() {
        return Some(0);
    }
    let digits = rest.strip_prefix(' ')?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// True when a line has the shape of a raw data line (used by format detection).
pub(super) fn looks_like_data(line: &str) -> bool {
    line.starts_with("0x") && line.contains(": eax=0x")
}

/// Parses one data line into its input and registers.
fn parse_data(line: &str, lineno: usize) -> Result<(CpuidInput, [u32; 4]), LineError> {
    let (head, tail) = line
        .split_once(':')
        .ok_or_else(|| LineError::at(lineno, format!("{EXPECTED_LINE}, found {}", quote(line))))?;
    let mut numbers = head.split_ascii_whitespace();
    let leaf_text = numbers.next().unwrap_or("");
    let leaf = hex_u32_prefixed(leaf_text).ok_or_else(|| {
        LineError::at(
            lineno,
            format!(
                "expected a leaf such as `0x00000001`, found {}",
                quote(leaf_text)
            ),
        )
    })?;
    let subleaf = match numbers.next() {
        None => 0,
        Some(text) => hex_u32_prefixed(text).ok_or_else(|| {
            LineError::at(
                lineno,
                format!("expected a subleaf such as `0x00`, found {}", quote(text)),
            )
        })?,
    };
    if let Some(extra) = numbers.next() {
        return Err(LineError::at(
            lineno,
            format!("expected `:` after the subleaf, found {}", quote(extra)),
        ));
    }
    let mut regs = [0u32; 4];
    let mut fields = tail.split_ascii_whitespace();
    for (slot, name) in regs.iter_mut().zip(["eax", "ebx", "ecx", "edx"]) {
        let field = fields.next().ok_or_else(|| {
            LineError::at(
                lineno,
                format!(
                    "expected `{name}=0x…` after {}, found the end of the line",
                    quote(head)
                ),
            )
        })?;
        *slot = field
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .and_then(hex_u32_prefixed)
            .ok_or_else(|| {
                LineError::at(
                    lineno,
                    format!(
                        "expected `{name}=0x` and up to 8 hex digits, found {}",
                        quote(field)
                    ),
                )
            })?;
    }
    if let Some(extra) = fields.next() {
        return Err(LineError::at(
            lineno,
            format!(
                "expected the end of the line after edx, found {}",
                quote(extra)
            ),
        ));
    }
    Ok((CpuidInput::new(leaf, subleaf), regs))
}

/// Parses `cpuid -1r` or `cpuid -r` output.
pub(super) fn parse(text: &str) -> Result<HostCpuid, LineError> {
    let mut agreement = CpuAgreement::new();
    let mut current: Option<CpuBlock> = None;
    for (index, raw) in text.lines().enumerate() {
        let lineno = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with("Disclaimer:") {
            continue;
        }
        if let Some(cpu) = header_index(line) {
            if let Some(block) = current.take() {
                agreement.add(block)?;
            }
            current = Some(CpuBlock::new(format!("CPU {cpu}"), lineno));
            continue;
        }
        if !line.starts_with("0x") {
            let hint = if line.contains(" = ") {
                " (this looks like decoded `cpuid` output; run `cpuid -1r` for raw registers)"
            } else {
                ""
            };
            return Err(LineError::at(
                lineno,
                format!("{EXPECTED_LINE}, found {}{hint}", quote(line)),
            ));
        }
        let (input, regs) = parse_data(line, lineno)?;
        current
            .get_or_insert_with(|| CpuBlock::new("CPU 0".to_owned(), lineno))
            .insert(lineno, input, regs, false)?;
    }
    if let Some(block) = current.take() {
        agreement.add(block)?;
    }
    agreement.finish("`cpuid -r` dump")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(header_index("CPU:"), Some(0));
        assert_eq!(header_index("CPU 17:"), Some(17));
        assert_eq!(header_index("CPU x:"), None);
        assert_eq!(header_index("CPU  1:"), None);
    }

    #[test]
    fn old_lines_without_subleaf_and_disclaimer() {
        let text = "Disclaimer: cpuid may not support decoding of all cpuid registers.\nCPU:\n   \
                    0x00000000: eax=0x00000001 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n";
        let host = parse(text).unwrap();
        assert_eq!(host.register(0, 0, 0), 1);
    }

    #[test]
    fn a_junk_maximum_basic_leaf_is_no_leaf_0() {
        let text = "CPU:\n   0x00000000 0x00: eax=0xffffffff ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n";
        let err = crate::dump::parse("junk", text.as_bytes(), None).unwrap_err();
        assert!(err.message.contains("below 0x40000000"), "{err}");
    }

    #[test]
    fn errors_name_the_line_and_the_expectation() {
        let err = parse("CPU:\n   0x00000001 0x00: eax=0x1 ebx=0x2 ecx=0x3\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(
            err.message.contains("expected `edx=0x…`"),
            "{}",
            err.message
        );
        let err = parse("CPU:\n   0x00000001 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0xg\n").unwrap_err();
        assert!(err.message.contains("found `edx=0xg`"), "{}", err.message);
        let err = parse("CPU:\n  vendor_id = \"GenuineIntel\"\n").unwrap_err();
        assert!(err.message.contains("decoded"), "{}", err.message);
    }
}

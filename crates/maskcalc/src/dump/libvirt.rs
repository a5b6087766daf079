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

use super::text::{hex_u32_prefixed, quote};
use super::{LineError, insert_leaf, insert_msr};
use crate::model::{CpuidInput, HostCpuid};

/// Largest number of attributes one element may have.
const MAX_ATTRIBUTES: usize = 32;

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Scanner<'a> {
    fn advance_to(&mut self, end: usize) {
        let end = end.min(self.text.len());
        self.line += self
            .text
            .get(self.pos..end)
            .unwrap_or("")
            .matches('\n')
            .count();
        self.pos = end;
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// Skips to just after `needle`, or fails with `what` when it never comes.
    fn skip_past(&mut self, needle: &str, what: &str) -> Result<(), LineError> {
        match self.rest().find(needle) {
            Some(at) => {
                self.advance_to(self.pos + at + needle.len());
                Ok(())
            }
            None => Err(LineError::at(
                self.line,
                format!("expected `{needle}` to end this {what}, found the end of the file"),
            )
            .kind(super::DumpErrorKind::Truncated)),
        }
    }
}

enum Token<'a> {
    Open {
        name: &'a str,
        attributes: Vec<(&'a str, &'a str)>,
        empty: bool,
        line: usize,
    },
    Close {
        name: &'a str,
        line: usize,
    },
}

fn next_token<'a>(s: &mut Scanner<'a>) -> Result<Option<Token<'a>>, LineError> {
    loop {
        let rest = s.rest();
        let Some(lt) = rest.find('<') else {
            if let Some(stray) = rest.split_whitespace().next() {
                return Err(LineError::at(
                    s.line,
                    format!("expected an element, found text {}", quote(stray)),
                ));
            }
            s.advance_to(s.text.len());
            return Ok(None);
        };
        if let Some(stray) = rest.get(..lt).and_then(|t| t.split_whitespace().next()) {
            return Err(LineError::at(
                s.line,
                format!("expected an element, found text {}", quote(stray)),
            ));
        }
        s.advance_to(s.pos + lt);
        let rest = s.rest();
        if rest.starts_with("<!--") {
            s.skip_past("-->", "comment")?;
            continue;
        }
        if rest.starts_with("<?") {
            s.skip_past("?>", "declaration")?;
            continue;
        }
        let line = s.line;
        let Some(gt) = rest.find('>') else {
            return Err(LineError::at(
                line,
                "expected `>` to end this element, found the end of the file",
            )
            .kind(super::DumpErrorKind::Truncated));
        };
        let inner = rest.get(1..gt).unwrap_or("");
        s.advance_to(s.pos + gt + 1);
        if let Some(name) = inner.strip_prefix('/') {
            return Ok(Some(Token::Close {
                name: name.trim(),
                line,
            }));
        }
        let (inner, empty) = match inner.strip_suffix('/') {
            Some(body) => (body, true),
            None => (inner, false),
        };
        let name_end = inner
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inner.len());
        let name = inner.get(..name_end).unwrap_or("");
        if name.is_empty() {
            return Err(LineError::at(
                line,
                format!("expected an element name after `<`, found {}", quote(inner)),
            ));
        }
        let attributes = parse_attributes(inner.get(name_end..).unwrap_or(""), line)?;
        return Ok(Some(Token::Open {
            name,
            attributes,
            empty,
            line,
        }));
    }
}

fn parse_attributes(mut text: &str, line: usize) -> Result<Vec<(&str, &str)>, LineError> {
    let mut out = Vec::new();
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(out);
        }
        if out.len() == MAX_ATTRIBUTES {
            return Err(LineError::at(
                line,
                format!("expected at most {MAX_ATTRIBUTES} attributes, found more"),
            )
            .kind(super::DumpErrorKind::TooLarge));
        }
        let bad = |t: &str| {
            LineError::at(
                line,
                format!("expected an attribute `name='value'`, found {}", quote(t)),
            )
        };
        let (name, after) = text.split_once('=').ok_or_else(|| bad(text))?;
        let name = name.trim();
        let after = after.trim_start();
        let quote_char = after
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')
            .ok_or_else(|| bad(text))?;
        let body = after.get(1..).unwrap_or("");
        let end = body.find(quote_char).ok_or_else(|| bad(text))?;
        out.push((name, body.get(..end).unwrap_or("")));
        text = body.get(end + 1..).unwrap_or("");
    }
}

fn attribute<'a>(attributes: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    attributes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

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
    let mut scanner = Scanner {
        text,
        pos: 0,
        line: 1,
    };
    let mut host = HostCpuid::default();
    let mut depth_in_cpudata: Option<usize> = None;
    let mut seen_cpudata = false;
    while let Some(token) = next_token(&mut scanner)? {
        match token {
            Token::Open {
                name,
                attributes,
                empty,
                line,
            } => match depth_in_cpudata {
                None => {
                    if name != "cpudata" || seen_cpudata {
                        return Err(LineError::at(
                            line,
                            format!("expected one <cpudata> element, found <{name}>"),
                        ));
                    }
                    seen_cpudata = true;
                    if !empty {
                        depth_in_cpudata = Some(0);
                    }
                }
                Some(depth) => {
                    if depth == 0 && name == "cpuid" {
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
                    } else if depth == 0 && name == "msr" {
                        let index = hex_attribute(&attributes, name, "index", line)?;
                        let low = hex_attribute(&attributes, name, "eax", line)?;
                        let high = hex_attribute(&attributes, name, "edx", line)?;
                        insert_msr(
                            &mut host,
                            line,
                            index,
                            (u64::from(high) << 32) | u64::from(low),
                        )?;
                    }
                    if !empty {
                        depth_in_cpudata = Some(depth.saturating_add(1));
                    }
                }
            },
            Token::Close { name, line } => match depth_in_cpudata {
                Some(0) if name == "cpudata" => depth_in_cpudata = None,
                Some(depth) if depth > 0 => depth_in_cpudata = Some(depth - 1),
                _ => {
                    return Err(LineError::at(
                        line,
                        format!("expected no closing tag here, found </{name}>"),
                    ));
                }
            },
        }
    }
    if depth_in_cpudata.is_some() {
        return Err(LineError::at(
            scanner.line,
            "expected `</cpudata>`, found the end of the file",
        )
        .kind(super::DumpErrorKind::Truncated));
    }
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
    }
}

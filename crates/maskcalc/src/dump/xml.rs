//! A small XML scanner for the shapes libvirt writes: elements with quoted
//! attributes, comments and the XML declaration; no text content, no
//! entities, no DOCTYPE. Used by the `<cpudata>` dump parser and by
//! [`crate::consumer::cpu_map`] (libvirt's CPU model tables).

use super::LineError;
use super::text::quote;

/// Largest number of attributes one element may have.
const MAX_ATTRIBUTES: usize = 32;

pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    pub(crate) line: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`, line 1.
    pub(crate) fn new(text: &'a str) -> Self {
        Scanner {
            text,
            pos: 0,
            line: 1,
        }
    }

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

pub(crate) enum Token<'a> {
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

pub(crate) fn next_token<'a>(s: &mut Scanner<'a>) -> Result<Option<Token<'a>>, LineError> {
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

pub(crate) fn attribute<'a>(attributes: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    attributes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

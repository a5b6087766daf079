//! A small XML scanner for the shapes libvirt writes: elements with quoted
//! attributes, comments and the XML declaration; no text content, no
//! entities, no DOCTYPE. Used by the `<cpudata>` dump parser and by
//! [`crate::consumer::cpu_map`] (libvirt's CPU model tables).

use super::LineError;
use super::text::quote;

/// Largest number of attributes one element may have.
const MAX_ATTRIBUTES: usize = 32;

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`, line 1.
    fn new(text: &'a str) -> Self {
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

/// The elements open at the scanner's position, innermost last: the one
/// nesting check of every parser of libvirt's XML. Each closing tag must
/// close the innermost open element, and none may be open at the end.
#[derive(Default)]
pub(crate) struct Nesting<'a> {
    open: Vec<&'a str>,
}

impl<'a> Nesting<'a> {
    /// The innermost open element, `None` at the top of the document.
    pub(crate) fn parent(&self) -> Option<&'a str> {
        self.open.last().copied()
    }

    /// Where an element stands, for messages: `<parent>` or `the document`.
    pub(crate) fn place(&self) -> String {
        self.parent()
            .map_or_else(|| "the document".to_owned(), |p| format!("<{p}>"))
    }

    /// Records an opening tag; an empty element (`<x/>`) opens nothing.
    fn open(&mut self, name: &'a str, empty: bool) {
        if !empty {
            self.open.push(name);
        }
    }

    /// Checks a closing tag against the innermost open element.
    fn close(&mut self, name: &str, line: usize) -> Result<(), LineError> {
        if self.open.pop() == Some(name) {
            Ok(())
        } else {
            Err(LineError::at(line, format!("expected no </{name}> here")))
        }
    }

    /// At the end of the document (on `line`): no element may be open.
    fn finish(&self, line: usize) -> Result<(), LineError> {
        match self.parent() {
            None => Ok(()),
            Some(unclosed) => Err(LineError::at(
                line,
                format!("expected </{unclosed}>, found the end of the file"),
            )
            .kind(super::DumpErrorKind::Truncated)),
        }
    }
}

/// Walks the elements of `text` in order: `element` gets each opening tag
/// with the nesting around it (its parent, its place for messages), its
/// name, its attributes and its line; the nesting is checked as the walk
/// goes and at the end ([`Nesting`]). The one loop of every parser of
/// libvirt's XML.
pub(crate) fn walk<'a, E: From<LineError>>(
    text: &'a str,
    mut element: impl FnMut(&Nesting<'a>, &'a str, Vec<(&'a str, &'a str)>, usize) -> Result<(), E>,
) -> Result<(), E> {
    let mut scanner = Scanner::new(text);
    let mut nesting = Nesting::default();
    while let Some(token) = next_token(&mut scanner)? {
        match token {
            Token::Open {
                name,
                attributes,
                empty,
                line,
            } => {
                element(&nesting, name, attributes, line)?;
                nesting.open(name, empty);
            }
            Token::Close { name, line } => nesting.close(name, line)?,
        }
    }
    Ok(nesting.finish(scanner.line)?)
}

pub(crate) fn attribute<'a>(attributes: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    attributes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nesting errors of `text`, as every XML parser reports them.
    fn nesting_of(text: &str) -> Result<(), LineError> {
        walk(text, |_, _, _, _| Ok::<(), LineError>(()))
    }

    #[test]
    fn every_closing_tag_closes_the_innermost_element_and_none_stays_open() {
        assert!(nesting_of("<a>\n<b/>\n<c></c>\n</a>\n").is_ok());
        let err = nesting_of("<a>\n<b>\n</a>").unwrap_err();
        assert_eq!(
            (err.line, err.message.as_str()),
            (Some(3), "expected no </a> here")
        );
        let err = nesting_of("</a>").unwrap_err();
        assert_eq!(err.message, "expected no </a> here");
        let err = nesting_of("<a>\n<b>\n").unwrap_err();
        assert_eq!(
            (err.kind, err.line, err.message.as_str()),
            (
                super::super::DumpErrorKind::Truncated,
                Some(3),
                "expected </b>, found the end of the file"
            )
        );
    }

    #[test]
    fn the_place_of_an_element_is_its_parent_or_the_document() {
        let mut nesting = Nesting::default();
        assert_eq!(nesting.place(), "the document");
        nesting.open("cpus", false);
        nesting.open("feature", true);
        assert_eq!(
            (nesting.parent(), nesting.place()),
            (Some("cpus"), "<cpus>".to_owned())
        );
    }
}

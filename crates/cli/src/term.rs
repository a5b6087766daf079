//! Terminal decisions: colour and progress bars appear only on a terminal,
//! and bytes that came from an untrusted input are escaped before they reach
//! one.

use std::borrow::Cow;
use std::io::IsTerminal;

/// True when standard error is a terminal and progress bars may be drawn there.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// True when colour should be written to standard output: it is a terminal
/// and `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn stdout_wants_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `text` made safe to print: control characters (ESC, CR, BEL, newline, ...)
/// and the Unicode controls that reorder the display of a line (bidirectional
/// overrides and isolates) are written as Rust escapes (`\u{1b}`, `\r`), the
/// way xen-maskcalc quotes dump text in its messages. Everything else is kept.
///
/// Use it for every string a tool prints that came from an input (a physmap
/// name in a legacy image, a xenstore value in a stream): a saved guest is
/// untrusted, and raw escape sequences could retitle, recolour or rewrite the
/// reader's terminal. Lines built only from the tool's own text need not pass
/// through it, but may: they come out unchanged.
///
/// ```
/// use xenmig_cli::term::printable;
/// assert_eq!(printable("vga.vram"), "vga.vram");
/// assert_eq!(printable("a\x1b]0;owned\x07b"), "a\\u{1b}]0;owned\\u{7}b");
/// assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like [`printable`], for bytes that need not be UTF-8: each byte of an
/// invalid sequence is written as `\xNN`.
///
/// ```
/// use xenmig_cli::term::printable_bytes;
/// assert_eq!(printable_bytes(b"ok"), "ok");
/// assert_eq!(printable_bytes(b"a\xffb\x1b"), "a\\xffb\\u{1b}");
/// ```
pub fn printable_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return printable(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&printable(chunk.valid()));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Cow::Owned(out)
}

/// Characters that must not reach a terminal raw.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Arabic letter mark, left/right-to-left marks, embeddings and
            // overrides, isolates: each reorders how the rest of a line shows.
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_c0_c1_and_reordering_character_is_escaped() {
        for c in (0u32..0x20)
            .chain(0x7f..0xa0)
            .chain([0x202e, 0x2066, 0x200f])
        {
            let c = char::from_u32(c).unwrap();
            let shown = printable_bytes(c.to_string().as_bytes()).into_owned();
            assert!(shown.starts_with('\\'), "{c:?} shown as {shown:?}");
            assert!(!shown.chars().any(needs_escape), "{shown:?}");
        }
    }

    #[test]
    fn printable_text_is_borrowed_unchanged() {
        let line = "    'physmap/f0000000/name' = 'vga.vram ü'";
        assert!(matches!(printable(line), Cow::Borrowed(s) if s == line));
    }
}

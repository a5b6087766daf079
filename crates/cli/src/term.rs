//! Terminal decisions: colour and progress bars appear only on a terminal, and
//! bytes from an input are escaped before they reach one.

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

/// `text` made safe to print: control characters (C0, DEL and C1, which a
/// terminal would act on, e.g. ESC starting a colour or cursor sequence) and
/// the Unicode bidirectional overrides (which reorder what is shown) are
/// written as Rust escapes (`\u{1b}`, `\t`, `\u{202e}`), as xen-maskcalc quotes
/// a dump's bytes; everything else is kept. For text that came from an input
/// (a xenstore value, a physmap name) on its way to a terminal or a log.
///
/// ```
/// use xenmig_cli::term::printable;
/// assert_eq!(printable("vga: \x1b[2Jstd"), r"vga: \u{1b}[2Jstd");
/// assert_eq!(printable("plain ünïcode"), "plain ünïcode");
/// ```
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Bytes from an input made safe to print: valid UTF-8 as [`printable`] shows
/// it, and every byte that is not part of valid UTF-8 as `\xNN`.
///
/// ```
/// use xenmig_cli::term::printable_bytes;
/// assert_eq!(printable_bytes(b"rom\xff\x07"), r"rom\xff\u{7}");
/// ```
pub fn printable_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&printable(chunk.valid()));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_terminal_control_is_escaped_and_nothing_else() {
        for c in (0u32..0x110000).filter_map(char::from_u32) {
            let shown = printable(c.encode_utf8(&mut [0; 4])).into_owned();
            let escaped = shown != c.to_string();
            let control = c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c);
            if control {
                assert!(escaped, "{c:?} reaches the terminal raw");
                assert!(shown.chars().all(|s| s.is_ascii_graphic()), "{shown}");
            } else if !needs_escape(c) {
                assert!(!escaped, "{c:?} escaped without need");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_shown_byte_by_byte() {
        assert_eq!(printable_bytes(b"\xc3\xa9\xc3"), "é\\xc3");
        assert_eq!(printable_bytes(b"\x1b[31m"), "\\u{1b}[31m");
        assert_eq!(printable_bytes(b""), "");
    }
}

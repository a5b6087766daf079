//! Small text helpers shared by the dump parsers.

/// A piece of input quoted for an error message, cut to a readable length.
pub(crate) fn quote(found: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::from("`");
    for (count, c) in found.chars().enumerate() {
        if count == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// Parses `0x`-prefixed hexadecimal into a u32 (at most 8 digits).
pub(crate) fn hex_u32_prefixed(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    hex_u32(digits)
}

/// Parses bare hexadecimal digits into a u32 (1 to 8 digits, no sign).
pub(crate) fn hex_u32(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// Parses bare hexadecimal digits into a u64 (1 to 16 digits, no sign).
pub(crate) fn hex_u64(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing_is_bounded_and_strict() {
        assert_eq!(hex_u32_prefixed("0xffffffff"), Some(u32::MAX));
        assert_eq!(hex_u32_prefixed("0x1ffffffff"), None);
        assert_eq!(hex_u32_prefixed("ff"), None);
        assert_eq!(hex_u32("+1"), None);
        assert_eq!(hex_u64("00000000000000001"), None);
        assert_eq!(quote("a\tb"), "`a\\tb`");
    }
}

//! Reading C source as text, for the extractors of upstream facts
//! (`upstream`, `consumer_facts`): comments out, braces matched.

/// The text without its C comments (`/* … */`, and `// …` to the end of a
/// line unless a string starts before it).
pub fn uncomment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        match rest[i..].find("*/") {
            Some(j) => rest = &rest[i + j + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    let mut clean = String::with_capacity(out.len());
    for line in out.lines() {
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        clean.push_str(line);
        clean.push('\n');
    }
    clean
}

/// The text of the `{ … }` starting at byte `open` (which must be `{`),
/// without the braces, and the byte after the closing one.
pub fn braced(text: &str, open: usize) -> Option<(&str, usize)> {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some((&text[open + 1..open + i], open + i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_go_and_braces_match() {
        assert_eq!(
            uncomment("a /* b */ c // d\n\"e // f\"\n"),
            "a  c \n\"e // f\"\n"
        );
        let text = "x { a { b } c } y";
        let (inner, end) = braced(text, 2).unwrap();
        assert_eq!(inner, " a { b } c ");
        assert_eq!(&text[end..], " y");
        assert_eq!(braced("{ open", 0), None);
    }
}

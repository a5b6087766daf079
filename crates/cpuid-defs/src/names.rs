//! Name comparison without allocation: ASCII case is ignored and `-` equals
//! `_`, so `lahf-lm`, `LAHF_LM` and `Lahf_Lm` are one name.

use core::cmp::Ordering;

/// The byte as the name index stores it: lower case, `-` folded to `_`.
const fn fold(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b.to_ascii_lowercase()
    }
}

/// Compares `key` (already folded, as in the generated index) with `name`
/// folded on the fly.
pub(crate) fn cmp_normalised(key: &str, name: &str) -> Ordering {
    key.bytes().map(fold).cmp(name.bytes().map(fold))
}

/// True when the two names are the same name.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().map(fold).eq(b.bytes().map(fold))
}

/// Longest name considered by [`closest`]; longer input gets no suggestion
/// (no feature name comes close to this length).
const MAX_SUGGEST_LEN: usize = 48;

/// Edit distance (insert, delete, substitute, swap of neighbours) between
/// two folded names, with a fixed-size buffer; `None` when either is longer
/// than [`MAX_SUGGEST_LEN`].
fn distance(a: &[u8], b: &[u8]) -> Option<usize> {
    if a.len() > MAX_SUGGEST_LEN || b.len() > MAX_SUGGEST_LEN {
        return None;
    }
    // Three rows of the classic dynamic programme, enough for swaps.
    let mut before = [0usize; MAX_SUGGEST_LEN + 1];
    let mut prev = [0usize; MAX_SUGGEST_LEN + 1];
    let mut cur = [0usize; MAX_SUGGEST_LEN + 1];
    for (j, slot) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *slot = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let ai = fold(a[i - 1]);
            let bj = fold(b[j - 1]);
            let cost = usize::from(ai != bj);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && ai == fold(b[j - 2]) && fold(a[i - 2]) == bj {
                best = best.min(before[j - 2] + 1);
            }
            cur[j] = best;
        }
        before = prev;
        prev = cur;
    }
    Some(prev[b.len()])
}

/// The candidate closest to `name`, if close enough to be a plausible typo:
/// at most a third of the name's length (and at least 1) edits away. A
/// candidate that starts with the whole of `name` (at least 3 characters)
/// also counts, at the distance of its extra length.
pub(crate) fn closest<T: Copy>(
    name: &str,
    candidates: impl Iterator<Item = (&'static str, T)>,
) -> Option<(&'static str, T)> {
    let input = name.as_bytes();
    if input.is_empty() || input.len() > MAX_SUGGEST_LEN {
        return None;
    }
    let limit = (input.len() / 3).max(1);
    let mut best: Option<(usize, &'static str, T)> = None;
    for (candidate, value) in candidates {
        let cand = candidate.as_bytes();
        let is_prefix = input.len() >= 3
            && cand.len() > input.len()
            && cand.iter().zip(input).all(|(c, i)| fold(*c) == fold(*i));
        let d = if is_prefix {
            cand.len() - input.len()
        } else {
            // The length difference is a lower bound of the distance: most
            // candidates are ruled out without running the full programme.
            if cand.len().abs_diff(input.len()) > limit {
                continue;
            }
            match distance(input, cand) {
                Some(d) if d <= limit => d,
                _ => continue,
            }
        };
        if best.is_none_or(|(bd, _, _)| d < bd) {
            best = Some((d, candidate, value));
        }
    }
    best.map(|(_, n, v)| (n, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_dash() {
        assert_eq!(cmp_normalised("lahf_lm", "LAHF-LM"), Ordering::Equal);
        assert_eq!(cmp_normalised("abc", "abd"), Ordering::Less);
        assert!(same_name("Sse4-1", "SSE4_1"));
        assert!(!same_name("sse4.1", "sse4_1"));
    }

    #[test]
    fn distance_counts_edits_and_swaps() {
        assert_eq!(distance(b"avx", b"avx"), Some(0));
        assert_eq!(distance(b"avx", b"avx2"), Some(1));
        assert_eq!(distance(b"vax", b"avx"), Some(1));
        assert_eq!(distance(b"kitten", b"sitting"), Some(3));
        assert_eq!(distance(&[b'a'; 49], b"a"), None);
    }
}

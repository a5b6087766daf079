//! Xen: `cpufeatureset.h` (positions, attributes) and `gen-cpuid.py`
//! (prerequisites).

use super::{Loc, Row, WordSpec, feature_lines, number, reg_index, word_bit, word_number};
use std::collections::BTreeMap;

/// `0x0000000D:1.eax` / `0x80000001.edx` / `MSR_ARCH_CAPS 0x10a.eax` in a
/// Xen word comment: the word number and what it holds.
fn xen_word(line: &str) -> Option<(usize, WordSpec)> {
    let word = word_number(line)?;
    let (is_msr, rest) = if let Some(r) = line.split("CPUID level ").nth(1) {
        (false, r)
    } else {
        (true, line.split("MSR_ARCH_CAPS ").nth(1)?)
    };
    let spec = rest.split(',').next()?.trim();
    let (key, reg) = spec.rsplit_once('.')?;
    let (leaf, sub) = match key.split_once(':') {
        Some((l, s)) => (number(l)?, Some(number(s)?)),
        None => (number(key)?, None),
    };
    Some((word, (leaf, sub, reg_index(reg)?, is_msr)))
}

pub(super) fn xen(texts: &[String]) -> Result<Vec<Row>, String> {
    let (words, lines) = feature_lines(&texts[0], "XEN_CPUFEATURE(", xen_word);
    let mut rows = Vec::new();
    for (n, rest) in lines {
        let at = format!("cpufeatureset.h:{}", n + 1);
        let (name, rest) = rest.split_once(',').ok_or(format!("{at}: no comma"))?;
        let (pos, rest) = rest.split_once(')').ok_or(format!("{at}: no `)`"))?;
        let linear = word_bit(pos).ok_or(format!("{at}: bad position {pos:?}"))?;
        let attrs: String = rest
            .trim_start()
            .strip_prefix("/*")
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '!' || *c == '|')
            .collect();
        let (word, bit) = (linear / 32, (linear % 32) as u8);
        let &(leaf, subleaf, reg, is_msr) = words
            .get(&word)
            .ok_or(format!("{at}: word {word} has no register comment"))?;
        let loc = if is_msr {
            Loc::Msr {
                index: leaf,
                bit: if reg == 3 { bit + 32 } else { bit },
            }
        } else {
            Loc::Cpuid {
                leaf,
                subleaf,
                reg,
                bit,
            }
        };
        rows.push(Row {
            loc,
            name: name.trim().to_owned(),
            extra: if attrs.is_empty() { ".".into() } else { attrs },
            depends: Vec::new(),
        });
    }
    let deps = xen_deps(&texts[1])?;
    for row in &mut rows {
        row.depends = deps.get(&row.name).cloned().unwrap_or_default();
    }
    Ok(rows)
}

/// gen-cpuid.py's `deps = { KEY: [DEPENDENT, ...], ... }`, turned around:
/// feature -> its direct prerequisites.
fn xen_deps(py: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let start = py.find("deps = {").ok_or("gen-cpuid.py: no `deps = {`")?;
    let body: String = py[start + 8..]
        .lines()
        .take_while(|l| l.trim() != "}")
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut key: Option<String> = None;
    let mut in_list = false;
    let mut token = String::new();
    for c in body.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            token.push(c);
            continue;
        }
        if !token.is_empty() {
            match (&key, in_list) {
                (Some(k), true) => out.entry(token.clone()).or_default().push(k.clone()),
                (_, false) => key = Some(token.clone()),
                (None, true) => return Err(format!("gen-cpuid.py: list without key near {token}")),
            }
            token.clear();
        }
        match c {
            '[' => in_list = true,
            ']' => in_list = false,
            _ => {}
        }
    }
    Ok(out)
}

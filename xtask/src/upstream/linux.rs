//! Linux: `cpufeatures.h` (positions, `/proc/cpuinfo` names),
//! `scattered.c` (features outside the words) and `cpuid-deps.c`
//! (prerequisites).

use super::{Loc, Row, WordSpec, feature_lines, number, reg_index, word_bit, word_number};
use std::collections::BTreeMap;

/// A Linux word comment: `CPUID level 0x00000007:0 (EBX), word 9` (no
/// register named means EDX, as for words 1, 2 and 5).
fn linux_word(line: &str) -> Option<(usize, WordSpec)> {
    let word = word_number(line)?;
    let rest = line.split("CPUID level 0x").nth(1)?;
    let key: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == ':')
        .collect();
    let (leaf, sub) = match key.split_once(':') {
        Some((l, s)) => (u32::from_str_radix(l, 16).ok()?, Some(s.parse().ok()?)),
        None => (u32::from_str_radix(&key, 16).ok()?, None),
    };
    let reg = ["EAX", "EBX", "ECX", "EDX"]
        .iter()
        .position(|r| rest.contains(r))
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(3);
    Some((word, (leaf, sub, reg, false)))
}

/// The features of Linux's cpufeatures.h, `scattered.c` and `cpuid-deps.c`
/// (in that order in `texts`): one row per position of each `X86_FEATURE_`.
pub(super) fn linux(texts: &[String]) -> Result<Vec<Row>, String> {
    let (words, lines) = feature_lines(&texts[0], "#define X86_FEATURE_", linux_word);
    let defs = defines(lines)?;
    let scattered = scattered(&texts[1])?;
    let deps = deps(&texts[2]);
    let mut rows = Vec::new();
    for (name, linear, proc_name) in defs {
        let locs = match words.get(&(linear / 32)) {
            Some(&(leaf, subleaf, reg, _)) => vec![Loc::Cpuid {
                leaf,
                subleaf,
                reg,
                bit: (linear % 32) as u8,
            }],
            None => scattered.get(&name).cloned().unwrap_or_default(),
        };
        for loc in locs {
            rows.push(Row {
                loc,
                name: name.clone(),
                extra: proc_name.clone().unwrap_or_else(|| "-".into()),
                depends: deps.get(&name).cloned().unwrap_or_default(),
            });
        }
    }
    Ok(rows)
}

/// A feature of cpufeatures.h: name, `W*32+B` position, `/proc` name.
type Define = (String, usize, Option<String>);

/// The `#define X86_FEATURE_NAME (W*32+B) /* "proc-name" … */` lines (the
/// text after the prefix, with its line index).
fn defines(lines: Vec<(usize, &str)>) -> Result<Vec<Define>, String> {
    let mut defs = Vec::new();
    for (n, rest) in lines {
        let at = format!("cpufeatures.h:{}", n + 1);
        let (name, rest) = rest
            .split_once(|c: char| c.is_whitespace())
            .ok_or(format!("{at}: no value"))?;
        let rest = rest.trim_start();
        let (pos, comment) = rest
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .ok_or(format!("{at}: expected (W*32+B)"))?;
        let linear = word_bit(pos).ok_or(format!("{at}: bad position {pos:?}"))?;
        let proc_name = comment
            .trim_start()
            .strip_prefix("/*")
            .map(str::trim_start)
            .and_then(|c| c.strip_prefix('"'))
            .and_then(|c| c.split_once('"'))
            .map(|(p, _)| p.to_owned())
            .filter(|p| !p.is_empty());
        defs.push((name.to_owned(), linear, proc_name));
    }
    Ok(defs)
}

/// scattered.c's `{ X86_FEATURE_NAME, CPUID_REG, bit, leaf, subleaf }`:
/// where the features outside the CPUID words are.
fn scattered(text: &str) -> Result<BTreeMap<String, Vec<Loc>>, String> {
    let mut scattered: BTreeMap<String, Vec<Loc>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("{ X86_FEATURE_") else {
            continue;
        };
        let at = format!("scattered.c:{}", n + 1);
        let cells: Vec<&str> = rest
            .trim_end_matches(['}', ',', ' '])
            .split(',')
            .map(str::trim)
            .collect();
        let [name, reg, bit, leaf, sub] = cells[..] else {
            return Err(format!("{at}: expected 5 cells, found {cells:?}"));
        };
        let loc = Loc::Cpuid {
            leaf: number(leaf).ok_or(format!("{at}: bad leaf"))?,
            subleaf: Some(number(sub).ok_or(format!("{at}: bad subleaf"))?),
            reg: reg_index(reg.trim_start_matches("CPUID_"))
                .ok_or(format!("{at}: bad register"))?,
            bit: number(bit)
                .and_then(|b| u8::try_from(b).ok())
                .ok_or(format!("{at}: bad bit"))?,
        };
        scattered.entry(name.to_owned()).or_default().push(loc);
    }
    Ok(scattered)
}

/// cpuid-deps.c's `{ X86_FEATURE_A, X86_FEATURE_B }` pairs: each feature's
/// direct prerequisites.
fn deps(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("{ X86_FEATURE_") else {
            continue;
        };
        if let Some((a, b)) = rest.split_once(',') {
            let b = b.trim().trim_start_matches("X86_FEATURE_");
            let b: String = b
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let list = deps.entry(a.trim().to_owned()).or_default();
            if !list.contains(&b) {
                list.push(b);
            }
        }
    }
    deps
}

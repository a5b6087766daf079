//! QEMU: `target/i386/cpu.c`'s feature words and their dependencies.

use super::{Loc, Row, number, reg_index};
use std::collections::BTreeMap;

/// The body of the `{ … }` at byte `open`, without the braces.
fn braced(text: &str, open: usize) -> Option<&str> {
    crate::c_text::braced(text, open).map(|(body, _)| body)
}

/// Values of QEMU macros that stand for leaves and MSR indexes.
const QEMU_MACROS: [(&str, u32); 4] = [
    ("KVM_CPUID_FEATURES", 0x4000_0001),
    ("MSR_IA32_ARCH_CAPABILITIES", 0x10a),
    ("MSR_IA32_CORE_CAPABILITY", 0xcf),
    ("MSR_IA32_PERF_CAPABILITIES", 0x345),
];

fn qemu_value(text: &str) -> Option<u32> {
    number(text).or_else(|| {
        QEMU_MACROS
            .iter()
            .find(|(m, _)| *m == text.trim())
            .map(|(_, v)| *v)
    })
}

/// `.field = value` inside a braced initialiser.
fn designated<'a>(body: &'a str, field: &str) -> Option<&'a str> {
    let key = format!(".{field}");
    let at = body.find(&key)?;
    let rest = body[at + key.len()..].trim_start().strip_prefix('=')?;
    Some(rest.split([',', '}']).next()?.trim())
}

/// One QEMU feature word: its names by bit and where it lives (`None` for
/// the nested-VMX capability MSRs, which are not CPUID features).
struct QemuWord {
    names: BTreeMap<u8, String>,
    base: Option<Loc>,
}

pub(super) fn qemu(texts: &[String]) -> Result<Vec<Row>, String> {
    let text = crate::c_text::uncomment(&texts[0]);
    let start = text
        .find("feature_word_info[FEATURE_WORDS] = {")
        .ok_or("cpu.c: no feature_word_info")?;
    let open = start + text[start..].find('{').unwrap_or(0);
    let table = braced(&text, open).ok_or("cpu.c: feature_word_info not closed")?;
    let mut words: BTreeMap<String, QemuWord> = BTreeMap::new();
    let mut rest = table;
    while let Some(lb) = rest.find("[FEAT_") {
        let after = &rest[lb + 1..];
        let name_end = after.find(']').ok_or("cpu.c: `[FEAT_` not closed")?;
        let word = after[..name_end].to_owned();
        let body_open = lb + 1 + after.find('{').ok_or("cpu.c: word without body")?;
        let body = braced(rest, body_open).ok_or("cpu.c: word body not closed")?;
        rest = &rest[body_open + body.len() + 2..];
        words.insert(word.clone(), qemu_word(&word, body)?);
    }
    let deps = qemu_deps(&text, &words)?;
    let mut rows = Vec::new();
    for (word, w) in &words {
        let Some(base) = w.base else { continue };
        for (bit, name) in &w.names {
            let loc = match base {
                Loc::Cpuid {
                    leaf, subleaf, reg, ..
                } => Loc::Cpuid {
                    leaf,
                    subleaf,
                    reg,
                    bit: *bit,
                },
                Loc::Msr { index, .. } => Loc::Msr { index, bit: *bit },
            };
            let mut depends: Vec<String> =
                deps.get(&(word.clone(), *bit)).cloned().unwrap_or_default();
            depends.sort();
            depends.dedup();
            rows.push(Row {
                loc,
                name: name.clone(),
                extra: "-".into(),
                depends,
            });
        }
    }
    Ok(rows)
}

fn qemu_word(word: &str, body: &str) -> Result<QemuWord, String> {
    let mut names = BTreeMap::new();
    if let Some(at) = body.find(".feat_names") {
        let open = at
            + body[at..]
                .find('{')
                .ok_or(format!("{word}: feat_names without list"))?;
        let list = braced(body, open).ok_or(format!("{word}: feat_names not closed"))?;
        let mut index = 0u8;
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let value = match item.split_once('=') {
                Some((designator, value)) => {
                    index = number(designator.trim().trim_matches(['[', ']']))
                        .and_then(|i| u8::try_from(i).ok())
                        .ok_or(format!("{word}: bad designator {designator:?}"))?;
                    value.trim()
                }
                None => item,
            };
            if let Some(name) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                names.insert(index, name.to_owned());
            } else if value != "NULL" {
                return Err(format!("{word}: unexpected name {value:?}"));
            }
            index = index.saturating_add(1);
        }
    }
    let base = if word.starts_with("FEAT_VMX_") {
        None
    } else if let Some(at) = body.find(".cpuid") {
        let open = at
            + body[at..]
                .find('{')
                .ok_or(format!("{word}: .cpuid without body"))?;
        let c = braced(body, open).ok_or(format!("{word}: .cpuid not closed"))?;
        let leaf = designated(c, "eax")
            .and_then(qemu_value)
            .ok_or(format!("{word}: bad .eax"))?;
        let needs_ecx = designated(c, "needs_ecx") == Some("true");
        let subleaf = if needs_ecx {
            Some(
                designated(c, "ecx")
                    .and_then(qemu_value)
                    .ok_or(format!("{word}: bad .ecx"))?,
            )
        } else {
            None
        };
        let reg = designated(c, "reg")
            .and_then(|r| reg_index(r.trim_start_matches("R_")))
            .ok_or(format!("{word}: bad .reg"))?;
        Some(Loc::Cpuid {
            leaf,
            subleaf,
            reg,
            bit: 0,
        })
    } else if let Some(at) = body.find(".msr") {
        let open = at
            + body[at..]
                .find('{')
                .ok_or(format!("{word}: .msr without body"))?;
        let m = braced(body, open).ok_or(format!("{word}: .msr not closed"))?;
        let index = designated(m, "index")
            .and_then(qemu_value)
            .ok_or(format!("{word}: unknown MSR index"))?;
        Some(Loc::Msr { index, bit: 0 })
    } else {
        None
    };
    Ok(QemuWord { names, base })
}

/// The bits of `word` that `mask` (a number, `~0ull`, or a `CPUID_..._NAME`
/// macro whose suffix spells one of the word's names) selects.
fn qemu_mask(w: &QemuWord, mask: &str) -> Vec<u8> {
    let m = mask.trim();
    if m == "~0ull" || m == "~0ULL" {
        return w.names.keys().copied().collect();
    }
    if let Some(n) = number(m.trim_end_matches("ull")) {
        return w
            .names
            .keys()
            .copied()
            .filter(|b| n >> (b & 31) & 1 == 1 && *b < 32)
            .collect();
    }
    let spell = |n: &str| n.to_ascii_uppercase().replace(['-', '.'], "_");
    w.names
        .iter()
        .filter(|(_, n)| m.ends_with(&format!("_{}", spell(n))))
        .map(|(b, _)| *b)
        .collect()
}

/// `feature_dependencies[]`: (word, bit) -> prerequisite names.
fn qemu_deps(
    text: &str,
    words: &BTreeMap<String, QemuWord>,
) -> Result<BTreeMap<(String, u8), Vec<String>>, String> {
    let mut out: BTreeMap<(String, u8), Vec<String>> = BTreeMap::new();
    let Some(start) = text.find("feature_dependencies[] = {") else {
        return Ok(out);
    };
    let open = start + text[start..].find('{').unwrap_or(0);
    let table = braced(text, open).ok_or("cpu.c: feature_dependencies not closed")?;
    let pair = |side: &str, entry: &str| -> Option<(String, String)> {
        let at = entry.find(side)?;
        let open = at + entry[at..].find('{')?;
        let inner = braced(entry, open)?;
        let (w, m) = inner.split_once(',')?;
        Some((w.trim().to_owned(), m.trim().to_owned()))
    };
    let mut rest = table;
    while let Some(open) = rest.find('{') {
        let entry = braced(rest, open).ok_or("cpu.c: dependency not closed")?;
        rest = &rest[open + entry.len() + 2..];
        let (Some((fw, fm)), Some((tw, tm))) = (pair(".from", entry), pair(".to", entry)) else {
            return Err(format!("cpu.c: dependency without .from/.to: {entry}"));
        };
        let (Some(from), Some(to)) = (words.get(&fw), words.get(&tw)) else {
            continue;
        };
        if from.base.is_none() || to.base.is_none() {
            continue;
        }
        let prereqs: Vec<&String> = qemu_mask(from, &fm)
            .iter()
            .filter_map(|b| from.names.get(b))
            .collect();
        for bit in qemu_mask(to, &tm) {
            let list = out.entry((tw.clone(), bit)).or_default();
            list.extend(prereqs.iter().map(|p| (*p).clone()));
        }
    }
    Ok(out)
}

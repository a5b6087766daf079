//! QEMU's `target/i386/cpu.c`: the feature words (`feature_word_info[]`)
//! and the CPU models (`builtin_x86_defs[]`) with their versions, read as
//! text with just enough of C (initializers, `#define`s, constant
//! expressions) for those two tables.

use super::{number, reg};
use crate::c_text::{braced, uncomment};
use cpuid_defs::{Location, Register};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One feature word: its names by bit, and the CPUID register or MSR it is.
pub(super) struct Word {
    pub(super) names: Vec<Option<String>>,
    cpuid: Option<(u32, Option<u32>, Register)>,
    msr: Option<u32>,
}

/// The value of the designated initializer `name = …` in `block`: a braced
/// block's body, or the text up to the next comma or line end.
fn field<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    let at = block.find(name)? + name.len();
    let mut rest = block[at..].trim_start().strip_prefix('=')?.trim_start();
    // A compound literal: `(Type[]) { … }`.
    if rest.starts_with('(')
        && let Some(close) = rest.find(')')
        && rest[close + 1..].trim_start().starts_with('{')
    {
        rest = rest[close + 1..].trim_start();
    }
    if rest.starts_with('{') {
        let open = block.len() - rest.len();
        return braced(block, open).map(|(b, _)| b);
    }
    Some(rest.split([',', '\n']).next().unwrap_or("").trim())
}

/// The object-like `#define`s of a C file, name to value.
pub(super) fn defines(header: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let text = uncomment(header).replace("\\\n", " ");
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("#define ") else {
            continue;
        };
        let mut parts = rest.splitn(2, char::is_whitespace);
        if let (Some(name), Some(value)) = (parts.next(), parts.next())
            && !name.contains('(')
        {
            out.insert(name.to_owned(), value.trim().to_owned());
        }
    }
    out
}

/// The value of a C constant expression of numbers, macros, `|` and `<<`.
fn eval(expr: &str, defs: &HashMap<String, String>, depth: usize) -> Result<u64, String> {
    if depth > 16 {
        return Err(format!("macro nesting too deep in `{expr}`"));
    }
    let e = expr.trim();
    let e = e
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .filter(|inner| {
            // Only strip parentheses that enclose the whole expression.
            let mut d = 0i32;
            inner.chars().all(|c| {
                match c {
                    '(' => d += 1,
                    ')' => d -= 1,
                    _ => {}
                }
                d >= 0
            })
        })
        .unwrap_or(e);
    if e.contains('|') {
        let mut v = 0;
        for part in split_top(e, '|') {
            v |= eval(part, defs, depth + 1)?;
        }
        return Ok(v);
    }
    if let Some((a, b)) = e.split_once("<<") {
        return Ok(eval(a, defs, depth + 1)? << eval(b, defs, depth + 1)?);
    }
    if let Ok(n) = number(e) {
        return Ok(u64::from(n));
    }
    let t = e.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    match defs.get(e) {
        Some(value) => eval(value, defs, depth + 1),
        None => Err(format!("unknown macro `{e}`")),
    }
}

/// `e` split at `sep` outside parentheses.
fn split_top(e: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in e.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&e[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&e[start..]);
    out
}

/// The items of a C initializer list of strings (None for `NULL`).
fn strings(body: &str) -> Vec<Option<String>> {
    body.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .map(str::to_owned)
        })
        .collect()
}

/// `feature_word_info[]`: each feature word's names and where its bits are.
pub(super) fn feature_words(
    c: &str,
    defs: &HashMap<String, String>,
) -> Result<BTreeMap<String, Word>, String> {
    let marker = "FeatureWordInfo feature_word_info[FEATURE_WORDS] = {";
    let start = c.find(marker).ok_or("no feature_word_info")? + marker.len() - 1;
    let (body, _) = braced(c, start).ok_or("unterminated feature_word_info")?;
    let mut out = BTreeMap::new();
    let mut rest = body;
    while let Some(i) = rest.find("[FEAT_") {
        let name_end = rest[i..].find(']').ok_or("bad word")? + i;
        let word = rest[i + 1..name_end].to_owned();
        let open = rest[name_end..].find('{').ok_or("bad word")? + name_end;
        let (block, end) = braced(rest, open).ok_or("bad word block")?;
        let names = field(block, ".feat_names").map(strings).unwrap_or_default();
        let cpuid = match field(block, ".cpuid") {
            Some(spec) => {
                let get = |k: &str| field(spec, k).map(str::to_owned);
                let leaf = get(".eax").ok_or(format!("{word}: no .eax"))?;
                let sub = if get(".needs_ecx").as_deref() == Some("true") {
                    Some(eval(&get(".ecx").unwrap_or_default(), defs, 0)? as u32)
                } else {
                    None
                };
                let r = get(".reg").ok_or(format!("{word}: no .reg"))?;
                Some((eval(&leaf, defs, 0)? as u32, sub, reg(&r)?))
            }
            None => None,
        };
        let msr = match field(block, ".msr") {
            Some(spec) => {
                let index = field(spec, ".index").ok_or(format!("{word}: no .index"))?;
                Some(eval(index, defs, 0)? as u32)
            }
            None => None,
        };
        out.insert(word, Word { names, cpuid, msr });
        rest = &rest[end..];
    }
    Ok(out)
}

/// Where bit `bit` of a feature word is (None past the register's width).
pub(super) fn word_location(word: &Word, bit: usize) -> Option<Location> {
    match (word.cpuid, word.msr) {
        (Some((leaf, sub, r)), _) if bit < 32 => Some(Location::cpuid(leaf, sub, r, bit as u8)),
        (None, Some(index)) if bit < 64 => Some(Location::Msr {
            index,
            bit: bit as u8,
        }),
        _ => None,
    }
}

/// VMX capability words: QEMU names them, xenmig writes none of them.
pub(super) fn is_vmx_word(word: &str) -> bool {
    word.starts_with("FEAT_VMX_")
}

/// A CPU model (or one of its versions or aliases) and the features it has.
pub(super) struct QemuModel {
    pub(super) name: String,
    pub(super) vendor: Option<String>,
    pub(super) features: BTreeSet<String>,
}

/// `builtin_x86_defs[]`: every model, then its versions (`NAME-vN`) and
/// aliases, with the features each has.
pub(super) fn models(
    c: &str,
    defs: &HashMap<String, String>,
    words: &BTreeMap<String, Word>,
) -> Result<Vec<QemuModel>, String> {
    let marker = "X86CPUDefinition builtin_x86_defs[] = {";
    let start = c.find(marker).ok_or("no builtin_x86_defs")? + marker.len() - 1;
    let (body, _) = braced(c, start).ok_or("unterminated builtin_x86_defs")?;
    let all_names: BTreeSet<&str> = words
        .iter()
        .filter(|(w, _)| !is_vmx_word(w))
        .flat_map(|(_, w)| w.names.iter().flatten().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('{') {
        let (block, end) = braced(rest, open).ok_or("bad model block")?;
        rest = &rest[end..];
        let Some(name) = field(block, ".name") else {
            continue;
        };
        let name = name.trim_matches('"').to_owned();
        let vendor =
            field(block, ".vendor").map(|v| maskcalc::consumer::vendor_string(v).to_owned());
        let features = model_features(&name, block, defs, words)?;
        let (versioned, aliases) = versions(&name, block, &features, &all_names)?;
        out.push(QemuModel {
            name: name.clone(),
            vendor: vendor.clone(),
            features,
        });
        for (n, f) in versioned.into_iter().chain(aliases) {
            out.push(QemuModel {
                name: n,
                vendor: vendor.clone(),
                features: f,
            });
        }
    }
    Ok(out)
}

/// The features a model's `.features[WORD] = BITS` initializers turn on
/// (VMX words left out).
fn model_features(
    name: &str,
    block: &str,
    defs: &HashMap<String, String>,
    words: &BTreeMap<String, Word>,
) -> Result<BTreeSet<String>, String> {
    let mut features = BTreeSet::new();
    let mut scan = block;
    while let Some(i) = scan.find(".features[") {
        let close = scan[i..].find(']').ok_or("bad .features")? + i;
        let word = &scan[i + ".features[".len()..close];
        let eq = scan[close..].find('=').ok_or("bad .features")? + close;
        let end = scan[eq..].find(",\n").ok_or("bad .features")? + eq;
        let expr = &scan[eq + 1..end];
        scan = &scan[end..];
        if is_vmx_word(word) {
            continue;
        }
        let w = words
            .get(word)
            .ok_or(format!("{name}: unknown word {word}"))?;
        let bits = eval(expr, defs, 0).map_err(|e| format!("{name} {word}: {e}"))?;
        for bit in 0..64 {
            if bits & (1 << bit) != 0
                && let Some(Some(n)) = w.names.get(bit)
            {
                features.insert(n.clone());
            }
        }
    }
    Ok(features)
}

/// Named feature sets: a model's versions or aliases.
type Variants = Vec<(String, BTreeSet<String>)>;

/// A model's versions after v1 (`NAME-vN`) and its aliases, each with its
/// features: v1 is the definition; each later one applies its props to the
/// one before.
fn versions(
    name: &str,
    block: &str,
    features: &BTreeSet<String>,
    all_names: &BTreeSet<&str>,
) -> Result<(Variants, Variants), String> {
    let mut versioned = vec![(format!("{name}-v1"), features.clone())];
    let mut aliases = Vec::new();
    if let Some(versions) = field(block, ".versions") {
        let mut vrest = versions;
        let mut current = features.clone();
        while let Some(vopen) = vrest.find('{') {
            let (vblock, vend) = braced(vrest, vopen).ok_or("bad version")?;
            vrest = &vrest[vend..];
            let Some(number) = field(vblock, ".version") else {
                continue;
            };
            if let Some(props) = field(vblock, ".props") {
                apply_props(props, all_names, &mut current)?;
            }
            let vname = format!("{name}-v{number}");
            if let Some(alias) = field(vblock, ".alias") {
                aliases.push((alias.trim_matches('"').to_owned(), current.clone()));
            }
            if number != "1" {
                versioned.push((vname, current.clone()));
            }
        }
    }
    Ok((versioned, aliases))
}

/// A version's `{ "feature", "on" | "off" }` props applied to `features`
/// (props that are not feature names left out).
fn apply_props(
    props: &str,
    all_names: &BTreeSet<&str>,
    features: &mut BTreeSet<String>,
) -> Result<(), String> {
    let mut prest = props;
    while let Some(popen) = prest.find('{') {
        let (pair, pend) = braced(prest, popen).ok_or("bad prop")?;
        prest = &prest[pend..];
        let parts: Vec<Option<String>> = strings(pair);
        if let [Some(prop), Some(value)] = &parts[..]
            && all_names.contains(prop.as_str())
        {
            match value.as_str() {
                "on" => {
                    features.insert(prop.clone());
                }
                "off" => {
                    features.remove(prop);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

//! Xen, from xen.git's release tags: the names xl's `cpuid=` option accepts
//! (libxl's parser) and the bits the hypervisor offers guests by default.

use super::{Rows, header, number, reg, table};
use cpuid_defs::{Location, Register};
use maskcalc::consumer::{NameTable, Version};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Leaf, subleaf, register.
type CpuidRegister = (u32, Option<u32>, Register);

/// Names and where each is, of one release.
type Names = Vec<(String, Location)>;

/// Where a featureset word's bits are: a CPUID register, or an MSR (for
/// libxl's table, bit 31 set for the high half).
type WordAt = Result<CpuidRegister, u32>;

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("git {}: {e}", args.join(" ")))
}

/// The public featureset header of the release `tag`.
fn cpufeatureset_h(dir: &Path, tag: &str) -> Result<String, String> {
    git(
        dir,
        &[
            "show",
            &format!("{tag}:xen/include/public/arch-x86/cpufeatureset.h"),
        ],
    )
}

/// The body of the C initializer that starts at `marker` (up to its `};`).
fn initializer<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let end = text[start..].find("};")? + start;
    Some(&text[start..end])
}

/// A Xen release tag (`RELEASE-4.17.0`): its version and where it came from.
fn xen_release(dir: &Path, tag: &str) -> Result<(Version, String), String> {
    let version: Version = tag
        .trim_start_matches("RELEASE-")
        .parse()
        .map_err(|e| format!("{tag}: {e}"))?;
    let commit = git(dir, &["rev-parse", &format!("{tag}^{{commit}}")])?;
    Ok((version, format!("xen.git {tag} ({})", commit.trim())))
}

/// A table of names by release (`name`, location, first and gone release)
/// from each release's names and locations, under a header saying `what`.
fn release_names_tsv(
    what: &str,
    per_release: Vec<(Version, Names)>,
    sources: &[(Version, String)],
) -> String {
    let mut versions: Vec<Version> = per_release.iter().map(|(v, _)| *v).collect();
    versions.sort();
    let mut rows = Rows::new(versions);
    for (version, names) in per_release {
        for (name, at) in names {
            rows.add(
                format!("{name}\t{}", NameTable::location_columns(Some(at))),
                version,
            );
        }
    }
    table(
        header(what, "name leaf subleaf reg bit first gone", sources),
        rows.lines(5, true),
    )
}

/// The names libxl's `cpuid="host,…"` parser of each tag accepts as a flag.
pub(super) fn xl(dir: &Path, tags: &[String]) -> Result<String, String> {
    let mut sources = Vec::new();
    let mut per_version: Vec<(Version, Names)> = Vec::new();
    for tag in tags {
        let (version, source) = xen_release(dir, tag)?;
        let c = git(
            dir,
            &["show", &format!("{tag}:tools/libs/light/libxl_cpuid.c")],
        )
        .or_else(|_| git(dir, &["show", &format!("{tag}:tools/libxl/libxl_cpuid.c")]))?;
        let (mut flags, legacy_names) = legacy_flags(tag, &c)?;
        if c.contains("INIT_FEATURE_NAMES") || c.contains("INIT_FEATURE_NAME_TO_VAL") {
            let word_at = policy_words(tag, &c)?;
            let header = cpufeatureset_h(dir, tag)?;
            flags.extend(featureset_flags(tag, &header, &word_at, &legacy_names)?);
        }
        sources.push((version, source));
        per_version.push((version, flags));
    }
    Ok(release_names_tsv(
        "The single-bit names libxl's cpuid=\"host,NAME=…\" parser (libxl_cpuid_parse_config) accepts, per Xen release.",
        per_version,
        &sources,
    ))
}

/// libxl's own `cpuid_flags[]` table: its single-bit entries, and every name
/// in it (which shadows a featureset name).
fn legacy_flags(tag: &str, c: &str) -> Result<(Names, BTreeSet<String>), String> {
    let mut flags: Names = Vec::new();
    let mut legacy_names: BTreeSet<String> = BTreeSet::new();
    let table =
        initializer(c, "cpuid_flags[] = {").ok_or(format!("{tag}: no cpuid_flags table"))?;
    for line in table.lines() {
        let line = line.trim();
        let Some(body) = line.strip_prefix("{\"") else {
            continue;
        };
        let body = body.trim_end_matches(',').trim_end_matches('}');
        let cols: Vec<&str> = body.split(',').map(str::trim).collect();
        let [name, leaf, subleaf, register, bit, length] = cols[..] else {
            return Err(format!("{tag}: unexpected cpuid_flags entry `{line}`"));
        };
        let name = name.trim_end_matches('"').to_owned();
        legacy_names.insert(name.clone());
        if number(length)? != 1 {
            continue;
        }
        let subleaf = match subleaf {
            "NA" => None,
            s => Some(number(s)?),
        };
        let at = Location::cpuid(number(leaf)?, subleaf, reg(register)?, number(bit)? as u8);
        flags.push((name, at));
    }
    Ok((flags, legacy_names))
}

/// libxl's `feature_to_policy[]`: where each featureset word is, in order.
fn policy_words(tag: &str, c: &str) -> Result<Vec<WordAt>, String> {
    let words = initializer(c, "feature_to_policy[] = {")
        .ok_or(format!("{tag}: no feature_to_policy table"))?;
    let mut word_at: Vec<WordAt> = Vec::new();
    for line in words.lines().map(str::trim) {
        let args = |p: &str| {
            line.strip_prefix(p)
                .and_then(|r| r.strip_suffix("),"))
                .map(|r| r.split(',').map(str::trim).collect::<Vec<_>>())
        };
        if let Some(a) = args("CPUID_ENTRY(") {
            let [leaf, sub, r] = a[..] else {
                return Err(format!("{tag}: `{line}`"));
            };
            let sub = if sub == "NA" {
                None
            } else {
                Some(number(sub)?)
            };
            word_at.push(Ok((number(leaf)?, sub, reg(r)?)));
        } else if let Some(a) = args("MSR_ENTRY(") {
            let [index, r] = a[..] else {
                return Err(format!("{tag}: `{line}`"));
            };
            let high = reg(r)? == Register::Edx;
            word_at.push(Err(number(index)? | if high { 1 << 31 } else { 0 }));
        }
    }
    Ok(word_at)
}

/// The featureset names libxl accepts: every `XEN_CPUFEATURE` of the header
/// not shadowed by its legacy table, placed by `word_at`.
fn featureset_flags(
    tag: &str,
    header: &str,
    word_at: &[WordAt],
    legacy_names: &BTreeSet<String>,
) -> Result<Names, String> {
    let mut flags = Vec::new();
    for line in header.lines() {
        let Some(rest) = line.strip_prefix("XEN_CPUFEATURE(") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(',') else {
            continue;
        };
        let expr = rest.split(')').next().unwrap_or("");
        let Some((w, b)) = expr.split_once('+') else {
            return Err(format!("{tag}: `{line}`"));
        };
        let word = number(w.split('*').next().unwrap_or(""))? as usize;
        let bit = number(b)? as u8;
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        // libxl searches its legacy table first: a name there shadows the featureset's.
        if legacy_names.contains(&name) {
            continue;
        }
        let at = match word_at.get(word) {
            Some(Ok((leaf, sub, r))) => Location::cpuid(*leaf, *sub, *r, bit),
            Some(Err(msr)) => Location::Msr {
                index: msr & !(1 << 31),
                bit: bit + if msr & (1 << 31) != 0 { 32 } else { 0 },
            },
            None => {
                return Err(format!(
                    "{tag}: {name} is in word {word}, which libxl does not map"
                ));
            }
        };
        flags.push((name, at));
    }
    Ok(flags)
}

/// The bits each Xen release's hypervisor offers guests by default: the
/// features of its public cpufeatureset.h with an upper-case A, S or H
/// attribute (lower case is off unless asked for; none is never offered).
/// Xen offers no bit it has no name for.
pub(super) fn xen_offers(dir: &Path, tags: &[String]) -> Result<String, String> {
    let mut sources = Vec::new();
    let mut per_version = Vec::new();
    for tag in tags {
        let (version, source) = xen_release(dir, tag)?;
        let header = cpufeatureset_h(dir, tag)?;
        let offered = offered(tag, &header)?;
        sources.push((version, source));
        per_version.push((version, offered));
    }
    Ok(release_names_tsv(
        "The bits each Xen release offers guests by default (cpufeatureset.h features with an A, S or H attribute), per Xen release.",
        per_version,
        &sources,
    ))
}

/// The features one cpufeatureset.h offers by default, placed by the header's
/// `/* …, word N */` comments.
fn offered(tag: &str, header: &str) -> Result<Names, String> {
    let mut words: BTreeMap<usize, WordAt> = BTreeMap::new();
    let mut offered = Vec::new();
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("/* ")
            && let Some((what, word)) = rest.split_once(", word ")
        {
            let (word, at) = word_comment(tag, line, what, word)?;
            if let Some(at) = at {
                words.insert(word, at);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("XEN_CPUFEATURE(") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(',') else {
            continue;
        };
        let expr = rest.split(')').next().unwrap_or("");
        let attr = rest
            .split("/*")
            .nth(1)
            .and_then(|a| a.split_whitespace().next())
            .unwrap_or("");
        if !attr.contains(['A', 'S', 'H']) {
            continue;
        }
        let value: usize = expr
            .split('+')
            .map(|t| {
                t.split('*')
                    .map(|f| f.trim().parse::<usize>().unwrap_or(0))
                    .product::<usize>()
            })
            .sum();
        let (word, bit) = (value / 32, (value % 32) as u8);
        let at = offered_location(&words, word, bit).ok_or_else(|| {
            format!("{tag}: {name} is in word {word}, which the header does not place")
        })?;
        offered.push((name.trim().to_owned(), at));
    }
    Ok(offered)
}

/// A `/* WHAT, word N */` comment of cpufeatureset.h: the word's number and,
/// when WHAT names a CPUID register or MSR_ARCH_CAPS, where it is.
fn word_comment(
    tag: &str,
    line: &str,
    what: &str,
    word: &str,
) -> Result<(usize, Option<WordAt>), String> {
    let word: usize = word
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("")
        .parse()
        .map_err(|_| format!("{tag}: `{line}`"))?;
    if let Some(at) = what.split("CPUID level ").nth(1) {
        let (leaf_sub, r) = at.rsplit_once('.').ok_or(format!("{tag}: `{line}`"))?;
        let (leaf, sub) = match leaf_sub.split_once(':') {
            Some((l, s)) => (number(l)?, Some(number(s)?)),
            None => (number(leaf_sub)?, None),
        };
        Ok((word, Some(Ok((leaf, sub, reg(r)?)))))
    } else if let Some(at) = what.split("MSR_ARCH_CAPS ").nth(1) {
        let index = number(at.split('.').next().unwrap_or(""))?;
        Ok((word, Some(Err(index))))
    } else {
        Ok((word, None))
    }
}

/// Where bit `bit` of featureset word `word` is, by the header's comments.
fn offered_location(words: &BTreeMap<usize, WordAt>, word: usize, bit: u8) -> Option<Location> {
    match words.get(&word)? {
        Ok((leaf, sub, r)) => Some(Location::cpuid(*leaf, *sub, *r, bit)),
        // MSR words come in pairs (eax, then edx) from the first one's index.
        Err(index) => {
            let first = words
                .iter()
                .filter(|(_, w)| **w == Err(*index))
                .map(|(n, _)| *n)
                .min()
                .unwrap_or(word);
            Some(Location::Msr {
                index: *index,
                bit: bit + if word > first { 32 } else { 0 },
            })
        }
    }
}

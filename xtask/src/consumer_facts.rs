//! `cargo xtask consumer-facts`: extracts what each consumer release knows
//! (feature names, CPU models) from upstream sources into the checked-in
//! tables of `crates/maskcalc/data/consumers/`. Only facts are written: a
//! name, the bit it names, the releases that have it; each table lists the
//! tag, commit or package every release was read from.
//!
//! ```text
//! cargo xtask consumer-facts xl XEN.git RELEASE-4.14.0 RELEASE-4.15.0 …
//! cargo xtask consumer-facts qemu --caps LIBVIRT/tests/qemucapabilitiesdata \
//!     --source 10.2=QEMU-10.2-TREE=WHERE …
//! cargo xtask consumer-facts libvirt --cpu-map 9.0=DIR=WHERE …
//! ```

use crate::c_text::{braced, uncomment};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use cpuid_defs::{Location, Register};
use maskcalc::consumer::{NameTable, Version, cpu_map};

const OUT_DIR: &str = "crates/maskcalc/data/consumers";

const USAGE: &str = "\
usage: cargo xtask consumer-facts xl XEN-GIT-DIR TAG…
       cargo xtask consumer-facts qemu --caps DIR [--source VERSION=TREE=WHERE]…
       cargo xtask consumer-facts libvirt --cpu-map VERSION=DIR=WHERE…";

/// Runs the command with its arguments (after `consumer-facts`).
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("xl") => {
            let (dir, tags) = args
                .get(1)
                .map(|d| (PathBuf::from(d), &args[2..]))
                .ok_or(USAGE)?;
            if tags.is_empty() {
                return Err(USAGE.to_owned());
            }
            let text = xl(&dir, tags)?;
            write(root, "xl-names.tsv", &text)?;
            let text = xen_offers(&dir, tags)?;
            write(root, "xen-offers.tsv", &text)
        }
        Some("qemu") => {
            let mut caps = None;
            let mut sources = Vec::new();
            let mut it = args[1..].iter();
            while let Some(arg) = it.next() {
                match arg.as_str() {
                    "--caps" => caps = it.next().map(PathBuf::from),
                    "--source" => sources.push(triple(it.next().ok_or(USAGE)?)?),
                    _ => return Err(USAGE.to_owned()),
                }
            }
            let caps = caps.ok_or(USAGE)?;
            let (names, models) = qemu(&caps, &sources)?;
            write(root, "qemu-names.tsv", &names)?;
            write(root, "qemu-models.tsv", &models)
        }
        Some("libvirt") => {
            let mut maps = Vec::new();
            let mut it = args[1..].iter();
            while let Some(arg) = it.next() {
                match arg.as_str() {
                    "--cpu-map" => maps.push(triple(it.next().ok_or(USAGE)?)?),
                    _ => return Err(USAGE.to_owned()),
                }
            }
            if maps.is_empty() {
                return Err(USAGE.to_owned());
            }
            let (names, models) = libvirt(&maps)?;
            write(root, "libvirt-names.tsv", &names)?;
            write(root, "libvirt-models.tsv", &models)
        }
        _ => Err(USAGE.to_owned()),
    }
}

fn write(root: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = root.join(OUT_DIR).join(name);
    std::fs::create_dir_all(root.join(OUT_DIR)).map_err(|e| format!("{OUT_DIR}: {e}"))?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `VERSION=PATH=WHERE` → (version, path, where).
fn triple(arg: &str) -> Result<(Version, PathBuf, String), String> {
    let mut parts = arg.splitn(3, '=');
    let (Some(v), Some(p), Some(w)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("expected VERSION=PATH=WHERE, found `{arg}`"));
    };
    Ok((
        v.parse().map_err(|e| format!("{e}"))?,
        PathBuf::from(p),
        w.to_owned(),
    ))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Rows keyed by their text (everything but the version columns), with the
/// releases that have each; written as `first`/`gone` ranges.
struct Rows {
    versions: Vec<Version>,
    rows: BTreeMap<String, BTreeSet<Version>>,
    order: Vec<String>,
}

impl Rows {
    fn new(versions: Vec<Version>) -> Self {
        Rows {
            versions,
            rows: BTreeMap::new(),
            order: Vec::new(),
        }
    }

    fn add(&mut self, key: String, version: Version) {
        if !self.rows.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.rows.entry(key).or_default().insert(version);
    }

    /// One line per contiguous run of releases: `KEY-PREFIX first gone KEY-SUFFIX`,
    /// the range inserted after `split` tab-separated columns of the key.
    fn lines(&self, split: usize, sorted: bool) -> Vec<String> {
        let mut keys: Vec<&String> = self.order.iter().collect();
        if sorted {
            keys.sort();
        }
        let mut out = Vec::new();
        for key in keys {
            let have = &self.rows[key];
            let mut run: Option<Version> = None;
            let mut emit = |first: Version, gone: Option<Version>| {
                let cols: Vec<&str> = key.split('\t').collect();
                let (head, tail) = cols.split_at(split.min(cols.len()));
                let mut line = head.join("\t");
                line.push_str(&format!(
                    "\t{first}\t{}",
                    gone.map_or("-".to_owned(), |g| g.to_string())
                ));
                for t in tail {
                    line.push('\t');
                    line.push_str(t);
                }
                out.push(line);
            };
            for v in &self.versions {
                match (have.contains(v), run) {
                    (true, None) => run = Some(*v),
                    (false, Some(first)) => {
                        emit(first, Some(*v));
                        run = None;
                    }
                    _ => {}
                }
            }
            if let Some(first) = run {
                emit(first, None);
            }
        }
        out
    }
}

fn header(what: &str, columns: &str, sources: &[(Version, String)]) -> String {
    let mut text = format!(
        "# {what}\n# Written by `cargo xtask consumer-facts`; do not edit. Facts only: each release's\n\
         # source is on its @source line. Columns: {columns}\n"
    );
    let mut sources = sources.to_vec();
    sources.sort();
    sources.dedup_by_key(|s| s.0);
    for (v, s) in sources {
        text.push_str(&format!("@source\t{v}\t{s}\n"));
    }
    text
}

fn reg(name: &str) -> Result<Register, String> {
    let r = name
        .trim()
        .trim_start_matches("CPUID_REG_")
        .trim_start_matches("R_")
        .to_ascii_lowercase();
    r.parse()
        .map_err(|_| format!("expected a register, found `{name}`"))
}

fn number(text: &str) -> Result<u32, String> {
    let t = text.trim().trim_end_matches(['u', 'U', 'l', 'L']);
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse(),
    }
    .map_err(|_| format!("expected a number, found `{text}`"))
}

// ---------------------------------------------------------------- xl

/// Leaf, subleaf, register.
type CpuidRegister = (u32, Option<u32>, Register);

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
    per_release: Vec<(Version, Vec<(String, Location)>)>,
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
    let mut text = header(what, "name leaf subleaf reg bit first gone", sources);
    for line in rows.lines(5, true) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The names libxl's `cpuid="host,…"` parser of each tag accepts as a flag.
fn xl(dir: &Path, tags: &[String]) -> Result<String, String> {
    let mut sources = Vec::new();
    let mut per_version: Vec<(Version, Vec<(String, Location)>)> = Vec::new();
    for tag in tags {
        let (version, source) = xen_release(dir, tag)?;
        let c = git(
            dir,
            &["show", &format!("{tag}:tools/libs/light/libxl_cpuid.c")],
        )
        .or_else(|_| git(dir, &["show", &format!("{tag}:tools/libxl/libxl_cpuid.c")]))?;
        let mut flags: Vec<(String, Location)> = Vec::new();
        let mut legacy_names: BTreeSet<String> = BTreeSet::new();
        let table =
            initializer(&c, "cpuid_flags[] = {").ok_or(format!("{tag}: no cpuid_flags table"))?;
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
        if c.contains("INIT_FEATURE_NAMES") || c.contains("INIT_FEATURE_NAME_TO_VAL") {
            let words = initializer(&c, "feature_to_policy[] = {")
                .ok_or(format!("{tag}: no feature_to_policy table"))?;
            // Per featureset word: its CPUID register, or the MSR (bit 31 set for the high half).
            let mut word_at: Vec<Result<CpuidRegister, u32>> = Vec::new();
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
            let header = git(
                dir,
                &[
                    "show",
                    &format!("{tag}:xen/include/public/arch-x86/cpufeatureset.h"),
                ],
            )?;
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

/// The bits each Xen release's hypervisor offers guests by default: the
/// features of its public cpufeatureset.h with an upper-case A, S or H
/// attribute (lower case is off unless asked for; none is never offered).
/// Xen offers no bit it has no name for.
fn xen_offers(dir: &Path, tags: &[String]) -> Result<String, String> {
    let mut sources = Vec::new();
    let mut per_version = Vec::new();
    for tag in tags {
        let (version, source) = xen_release(dir, tag)?;
        let header = git(
            dir,
            &[
                "show",
                &format!("{tag}:xen/include/public/arch-x86/cpufeatureset.h"),
            ],
        )?;
        let mut words: BTreeMap<usize, Result<CpuidRegister, u32>> = BTreeMap::new();
        let mut offered = Vec::new();
        for line in header.lines() {
            if let Some(rest) = line.strip_prefix("/* ")
                && let Some((what, word)) = rest.split_once(", word ")
            {
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
                    words.insert(word, Ok((leaf, sub, reg(r)?)));
                } else if let Some(at) = what.split("MSR_ARCH_CAPS ").nth(1) {
                    let index = number(at.split('.').next().unwrap_or(""))?;
                    words.insert(word, Err(index));
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
            let at = match words.get(&word) {
                Some(Ok((leaf, sub, r))) => Location::cpuid(*leaf, *sub, *r, bit),
                // MSR words come in pairs (eax, then edx) from the first one's index.
                Some(Err(index)) => {
                    let first = words
                        .iter()
                        .filter(|(_, w)| **w == Err(*index))
                        .map(|(n, _)| *n)
                        .min()
                        .unwrap_or(word);
                    Location::Msr {
                        index: *index,
                        bit: bit + if word > first { 32 } else { 0 },
                    }
                }
                None => {
                    return Err(format!(
                        "{tag}: {name} is in word {word}, which the header does not place"
                    ));
                }
            };
            offered.push((name.trim().to_owned(), at));
        }
        sources.push((version, source));
        per_version.push((version, offered));
    }
    Ok(release_names_tsv(
        "The bits each Xen release offers guests by default (cpufeatureset.h features with an A, S or H attribute), per Xen release.",
        per_version,
        &sources,
    ))
}

// ---------------------------------------------------------------- QEMU

struct Word {
    names: Vec<Option<String>>,
    cpuid: Option<(u32, Option<u32>, Register)>,
    msr: Option<u32>,
}

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

fn defines(header: &str) -> HashMap<String, String> {
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

fn feature_words(
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

fn word_location(word: &Word, bit: usize) -> Option<Location> {
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
fn is_vmx_word(word: &str) -> bool {
    word.starts_with("FEAT_VMX_")
}

struct QemuModel {
    name: String,
    vendor: Option<String>,
    features: BTreeSet<String>,
}

fn models(
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
        // The versions: v1 is the definition; each later one applies its props to the one before.
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
                                    current.insert(prop.clone());
                                }
                                "off" => {
                                    current.remove(prop);
                                }
                                _ => {}
                            }
                        }
                    }
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

/// From libvirt's captured QMP data of each QEMU release: the feature
/// property names of the host CPU, and the CPU model names.
/// One captured QEMU release: version, file, feature property names, model names.
type Captured = (Version, String, BTreeSet<String>, BTreeSet<String>);

fn caps(dir: &Path) -> Result<Vec<Captured>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(version) = file
            .strip_prefix("caps_")
            .and_then(|f| f.strip_suffix("_x86_64.xml"))
        else {
            continue;
        };
        let version: Version = version.parse().map_err(|e| format!("{file}: {e}"))?;
        let text = read(&path)?;
        let host = text
            .split("<hostCPU type='kvm'")
            .nth(1)
            .and_then(|t| t.split("</hostCPU>").next())
            .ok_or(format!("{file}: no KVM hostCPU"))?;
        let props: BTreeSet<String> = host
            .split("<property name='")
            .skip(1)
            .filter_map(|p| p.split('\'').next())
            .map(str::to_owned)
            .collect();
        let models: BTreeSet<String> = text
            .split("<cpu type='kvm' name='")
            .skip(1)
            .filter_map(|p| p.split('\'').next())
            .map(str::to_owned)
            .collect();
        out.push((
            version,
            format!("libvirt tests/qemucapabilitiesdata/{file}"),
            props,
            models,
        ));
    }
    out.sort_by_key(|c| c.0);
    Ok(out)
}

fn qemu(
    caps_dir: &Path,
    sources: &[(Version, PathBuf, String)],
) -> Result<(String, String), String> {
    let captured = caps(caps_dir)?;
    let mut versions: BTreeSet<Version> = captured.iter().map(|c| c.0).collect();
    versions.extend(sources.iter().map(|s| s.0));
    let versions: Vec<Version> = versions.into_iter().collect();
    // Positions and models from the source trees, newest last.
    let mut sorted = sources.to_vec();
    sorted.sort_by_key(|s| s.0);
    let mut position: BTreeMap<String, Location> = BTreeMap::new();
    let mut defined: BTreeMap<String, (Option<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut model_order: Vec<String> = Vec::new();
    let mut source_names: Vec<(Version, BTreeSet<String>, BTreeSet<String>)> = Vec::new();
    for (version, tree, _) in &sorted {
        let raw = read(&tree.join("target/i386/cpu.c"))?;
        let c = uncomment(&raw);
        let h = read(&tree.join("target/i386/cpu.h"))?;
        let mut defs = defines(&h);
        defs.extend(defines(&raw));
        // Defined in Linux's kvm_para.h (QEMU's include/standard-headers), not in target/i386.
        defs.entry("KVM_CPUID_FEATURES".to_owned())
            .or_insert_with(|| "0x40000001".to_owned());
        let words = feature_words(&c, &defs).map_err(|e| format!("{version}: {e}"))?;
        let mut names = BTreeSet::new();
        for (word, w) in &words {
            if is_vmx_word(word) {
                continue;
            }
            for (bit, name) in w.names.iter().enumerate() {
                if let Some(name) = name {
                    names.insert(name.clone());
                    if let Some(at) = word_location(w, bit) {
                        position.insert(name.clone(), at);
                    }
                }
            }
        }
        let mut model_names = BTreeSet::new();
        for m in models(&c, &defs, &words).map_err(|e| format!("{version}: {e}"))? {
            model_names.insert(m.name.clone());
            if !defined.contains_key(&m.name) {
                model_order.push(m.name.clone());
            }
            if let Some((_, old)) = defined.get(&m.name)
                && *old != m.features
            {
                eprintln!(
                    "note: QEMU {version} defines {} differently from an older tree; keeping the newest",
                    m.name
                );
            }
            defined.insert(m.name, (m.vendor, m.features));
        }
        source_names.push((*version, names, model_names));
    }
    let known_names: BTreeSet<String> = position.keys().cloned().collect();

    let mut name_rows = Rows::new(versions.clone());
    let mut model_rows = Rows::new(versions.clone());
    let mut src_lines: Vec<(Version, String)> = Vec::new();
    for (version, source, props, models) in &captured {
        src_lines.push((*version, source.clone()));
        for p in props.iter().filter(|p| known_names.contains(*p)) {
            name_rows.add(
                format!(
                    "{p}\t{}",
                    NameTable::location_columns(position.get(p).copied())
                ),
                *version,
            );
        }
        for m in models {
            if let Some((vendor, features)) = defined.get(m) {
                model_rows.add(model_key(m, vendor, features), *version);
            }
        }
        if let Some((_, names, _)) = source_names.iter().find(|s| s.0 == *version) {
            let captured_known: BTreeSet<&String> =
                props.iter().filter(|p| known_names.contains(*p)).collect();
            let from_source: BTreeSet<&String> = names.iter().collect();
            if captured_known != from_source {
                eprintln!(
                    "note: QEMU {version}: captured and source names differ: {:?}",
                    captured_known
                        .symmetric_difference(&from_source)
                        .collect::<Vec<_>>()
                );
            }
        }
    }
    for ((version, names, models), (_, _, where_)) in source_names.iter().zip(&sorted) {
        if !src_lines.iter().any(|s| s.0 == *version) {
            src_lines.push((*version, where_.clone()));
        }
        for n in names {
            name_rows.add(
                format!(
                    "{n}\t{}",
                    NameTable::location_columns(position.get(n).copied())
                ),
                *version,
            );
        }
        for m in models {
            if let Some((vendor, features)) = defined.get(m) {
                model_rows.add(model_key(m, vendor, features), *version);
            }
        }
    }
    let mut names = header(
        "The CPUID feature names QEMU's -cpu option accepts (x86 feature words, VMX words left out), per QEMU release.",
        "name leaf subleaf reg bit first gone",
        &src_lines,
    );
    for line in name_rows.lines(5, true) {
        names.push_str(&line);
        names.push('\n');
    }
    // Models in QEMU's own order (the newest tree's), so "later" means "newer".
    let mut order: HashMap<&str, usize> = HashMap::new();
    for (i, m) in model_order.iter().enumerate() {
        order.insert(m.as_str(), i);
    }
    let mut model_lines = model_rows.lines(2, false);
    model_lines.sort_by_key(|l| {
        order
            .get(l.split('\t').next().unwrap_or(""))
            .copied()
            .unwrap_or(usize::MAX)
    });
    let mut models = header(
        "The x86 CPU models QEMU defines (versioned names, their aliases, and the unversioned name = v1) and their features, per QEMU release.",
        "name vendor first gone features",
        &src_lines,
    );
    for line in model_lines {
        models.push_str(&line);
        models.push('\n');
    }
    Ok((names, models))
}

fn model_key(name: &str, vendor: &Option<String>, features: &BTreeSet<String>) -> String {
    let features: Vec<&str> = features.iter().map(String::as_str).collect();
    format!(
        "{name}\t{}\t{}",
        vendor.as_deref().unwrap_or("-"),
        if features.is_empty() {
            "-".to_owned()
        } else {
            features.join(",")
        }
    )
}

// ---------------------------------------------------------------- libvirt

fn libvirt(maps: &[(Version, PathBuf, String)]) -> Result<(String, String), String> {
    let mut versions: Vec<Version> = maps.iter().map(|m| m.0).collect();
    versions.sort();
    let mut name_rows = Rows::new(versions.clone());
    let mut model_rows = Rows::new(versions);
    let mut src_lines = Vec::new();
    let mut sorted = maps.to_vec();
    sorted.sort_by_key(|m| m.0);
    for (version, dir, where_) in &sorted {
        src_lines.push((*version, where_.clone()));
        let features = cpu_map::parse_features(&read(&dir.join("x86_features.xml"))?)
            .map_err(|e| format!("{version} x86_features.xml: {e}"))?;
        for f in features {
            if f.name.starts_with("vmx-") {
                continue;
            }
            name_rows.add(
                format!("{}\t{}", f.name, NameTable::location_columns(f.location)),
                *version,
            );
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(maskcalc::consumer::cpu_map::is_model_file)
            })
            .collect();
        files.sort();
        let mut models = Vec::new();
        for file in &files {
            models.extend(
                cpu_map::parse_models(&read(file)?)
                    .map_err(|e| format!("{}: {e}", file.display()))?,
            );
        }
        for m in cpu_map::resolve(&models).map_err(|e| format!("{version}: {e}"))? {
            let features: BTreeSet<String> = m
                .features
                .into_iter()
                .filter(|f| !f.starts_with("vmx-"))
                .collect();
            let vendor = m
                .vendor
                .map(|v| maskcalc::consumer::vendor_string(&v).to_owned());
            model_rows.add(model_key(&m.name, &vendor, &features), *version);
        }
    }
    let mut names = header(
        "The x86 feature names of libvirt's cpu_map (x86_features.xml; vmx-* left out), per libvirt release.",
        "name leaf subleaf reg bit first gone",
        &src_lines,
    );
    for line in name_rows.lines(5, true) {
        names.push_str(&line);
        names.push('\n');
    }
    let mut models = header(
        "The x86 CPU models of libvirt's cpu_map (parents folded in, removed='yes' features and vmx-* left out), per libvirt release.",
        "name vendor first gone features",
        &src_lines,
    );
    for line in model_rows.lines(2, true) {
        models.push_str(&line);
        models.push('\n');
    }
    Ok((names, models))
}

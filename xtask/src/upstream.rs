//! `cargo xtask upstream SOURCE`: extracts the CPUID facts of one upstream
//! source file set into `testdata/upstream/SOURCE.tsv`.
//!
//! The sources are Xen (`cpufeatureset.h`, `gen-cpuid.py`), Linux
//! (`cpufeatures.h`, `scattered.c`, `cpuid-deps.c`), QEMU (`target/i386/cpu.c`)
//! and libvirt (`src/cpu_map/x86_features.xml`). Only facts leave the upstream
//! files: a position, the names upstream gives it, and its prerequisites.
//! The test `crates/cpuid-defs/tests/upstream.rs` compares the table with
//! every TSV, so an upstream change is one extraction and a reviewed diff.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Where an upstream source names a bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Loc {
    /// A CPUID bit; `subleaf` as upstream states it (`None` when it has none).
    Cpuid {
        /// Leaf.
        leaf: u32,
        /// Subleaf.
        subleaf: Option<u32>,
        /// 0 = EAX ... 3 = EDX.
        reg: u8,
        /// 0..=31.
        bit: u8,
    },
    /// A bit of a 64-bit MSR.
    Msr {
        /// MSR index.
        index: u32,
        /// 0..=63.
        bit: u8,
    },
}

/// One named bit of an upstream source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its position.
    pub loc: Loc,
    /// Upstream's name (Xen feature name, Linux macro, QEMU or libvirt name).
    pub name: String,
    /// Source-specific: Xen attributes, Linux `/proc` name, libvirt aliases
    /// (`name/source`, comma-separated); `-` for none.
    pub extra: String,
    /// Upstream's direct prerequisites, by upstream name.
    pub depends: Vec<String>,
}

const REGS: [&str; 4] = ["eax", "ebx", "ecx", "edx"];

fn reg_index(text: &str) -> Option<u8> {
    let lower = text.to_ascii_lowercase();
    REGS.iter()
        .position(|r| lower == *r)
        .and_then(|i| u8::try_from(i).ok())
}

fn number(text: &str) -> Option<u32> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

/// The upstream sources this command knows: name, upstream paths (in the
/// order the local files are given), and the extractor.
type Extract = fn(&[String]) -> Result<Vec<Row>, String>;
const SOURCES: [(&str, &[&str], Extract); 4] = [
    (
        "xen",
        &[
            "xen/include/public/arch-x86/cpufeatureset.h",
            "xen/tools/gen-cpuid.py",
        ],
        xen,
    ),
    (
        "linux",
        &[
            "arch/x86/include/asm/cpufeatures.h",
            "arch/x86/kernel/cpu/scattered.c",
            "arch/x86/kernel/cpu/cpuid-deps.c",
        ],
        linux,
    ),
    ("qemu", &["target/i386/cpu.c"], qemu),
    ("libvirt", &["src/cpu_map/x86_features.xml"], libvirt),
];

/// Usage of the command.
pub const USAGE: &str =
    "usage: cargo xtask upstream SOURCE --repo OWNER/NAME --commit COMMIT FILE...
  xen      FILE = cpufeatureset.h gen-cpuid.py
  linux    FILE = cpufeatures.h scattered.c cpuid-deps.c
  qemu     FILE = target/i386/cpu.c
  libvirt  FILE = x86_features.xml
Each FILE may carry its own origin as FILE@OWNER/NAME@COMMIT when the files
of one source come from different trees.";

/// Runs `cargo xtask upstream ARGS` and writes `testdata/upstream/SOURCE.tsv`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let (source, repo, commit, files) = parse_args(args)?;
    let (name, paths, extract) = SOURCES
        .iter()
        .find(|(n, _, _)| *n == source)
        .ok_or_else(|| format!("unknown source {source:?}\n{USAGE}"))?;
    if files.len() != paths.len() {
        return Err(format!(
            "{name} takes {} files ({}), found {}\n{USAGE}",
            paths.len(),
            paths.join(", "),
            files.len()
        ));
    }
    let mut texts = Vec::new();
    let mut origins = Vec::new();
    for (file, path) in files.iter().zip(*paths) {
        let mut parts = file.splitn(3, '@');
        let local = parts.next().unwrap_or_default();
        let file_repo = parts.next().unwrap_or(&repo).to_owned();
        let file_commit = parts.next().unwrap_or(&commit).to_owned();
        texts.push(std::fs::read_to_string(local).map_err(|e| format!("{local}: {e}"))?);
        origins.push((file_repo, (*path).to_owned(), file_commit));
    }
    let rows = extract(&texts)?;
    let out = render(name, &origins, &rows);
    let dest = root.join("testdata/upstream").join(format!("{name}.tsv"));
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&dest, out).map_err(|e| format!("{}: {e}", dest.display()))?;
    println!("{}: {} named bits", dest.display(), rows.len());
    Ok(())
}

fn parse_args(args: &[String]) -> Result<(String, String, String, Vec<String>), String> {
    let mut it = args.iter();
    let source = it.next().ok_or(USAGE)?.clone();
    let (mut repo, mut commit, mut files) = (None, None, Vec::new());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repo" => repo = it.next().cloned(),
            "--commit" => commit = it.next().cloned(),
            _ => files.push(a.clone()),
        }
    }
    match (repo, commit) {
        (Some(r), Some(c)) => Ok((source, r, c, files)),
        _ => Err(format!("--repo and --commit are required\n{USAGE}")),
    }
}

/// The TSV text: provenance comments, a header, one row per named bit.
pub fn render(source: &str, origins: &[(String, String, String)], rows: &[Row]) -> String {
    let mut o = format!(
        "# Facts extracted from {source} by `cargo xtask upstream {source}`; do not edit.\n"
    );
    for (repo, path, commit) in origins {
        let _ = writeln!(o, "# upstream: {repo} {path} {commit}");
    }
    o.push_str("leaf\tsubleaf\treg\tbit\tname\textra\tdepends\n");
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| (a.loc, &a.name).cmp(&(b.loc, &b.name)));
    for r in sorted {
        let (leaf, sub, reg, bit) = match r.loc {
            Loc::Cpuid {
                leaf,
                subleaf,
                reg,
                bit,
            } => (
                format!("{leaf:#010x}"),
                subleaf.map_or("-".to_owned(), |s| s.to_string()),
                REGS[usize::from(reg & 3)].to_owned(),
                bit,
            ),
            Loc::Msr { index, bit } => (format!("msr:{index:#x}"), "-".into(), "-".into(), bit),
        };
        let deps = if r.depends.is_empty() {
            "-".to_owned()
        } else {
            r.depends.join(" ")
        };
        let _ = writeln!(
            o,
            "{leaf}\t{sub}\t{reg}\t{bit}\t{}\t{}\t{deps}",
            r.name, r.extra
        );
    }
    o
}

/// The upstream sources `cargo xtask upstream` knows, each with the upstream
/// paths of its files (in the order the command takes them).
pub fn sources() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    SOURCES.iter().map(|(name, paths, _)| (*name, *paths))
}

/// Runs the extractor of `source` over the texts of its files, given in the
/// order of [`sources`].
pub fn extract(source: &str, texts: &[String]) -> Result<Vec<Row>, String> {
    let (_, paths, extract) = SOURCES
        .iter()
        .find(|(n, _, _)| *n == source)
        .ok_or_else(|| format!("unknown source {source:?}"))?;
    if texts.len() != paths.len() {
        return Err(format!(
            "{source} takes {} files, found {}",
            paths.len(),
            texts.len()
        ));
    }
    extract(texts)
}

/// A checked-in TSV read back: where its facts came from and the facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// (repository, upstream path, commit) of each file read.
    pub origins: Vec<(String, String, String)>,
    /// One row per named bit, in file order.
    pub rows: Vec<Row>,
}

/// Reads a TSV that [`render`] wrote; `Err` says which line is wrong and how.
pub fn parse(text: &str) -> Result<Facts, String> {
    let mut origins = Vec::new();
    let mut rows = Vec::new();
    let mut header = false;
    for (n, line) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if let Some(origin) = line.strip_prefix("# upstream: ") {
            let parts: Vec<&str> = origin.split(' ').collect();
            let [repo, path, commit] = parts[..] else {
                return Err(at("expected `# upstream: OWNER/NAME PATH COMMIT`"));
            };
            origins.push((repo.to_owned(), path.to_owned(), commit.to_owned()));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if !header {
            if line != "leaf\tsubleaf\treg\tbit\tname\textra\tdepends" {
                return Err(at("expected the column header"));
            }
            header = true;
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [leaf, subleaf, reg, bit, name, extra, depends] = cols[..] else {
            return Err(at("expected 7 tab-separated columns"));
        };
        let bit: u8 = bit.parse().map_err(|_| at("bit is not a number"))?;
        let loc = match leaf.strip_prefix("msr:") {
            Some(index) => Loc::Msr {
                index: number(index).ok_or_else(|| at("bad MSR index"))?,
                bit,
            },
            None => Loc::Cpuid {
                leaf: number(leaf).ok_or_else(|| at("bad leaf"))?,
                subleaf: match subleaf {
                    "-" => None,
                    s => Some(s.parse().map_err(|_| at("bad subleaf"))?),
                },
                reg: reg_index(reg).ok_or_else(|| at("bad register"))?,
                bit,
            },
        };
        rows.push(Row {
            loc,
            name: name.to_owned(),
            extra: extra.to_owned(),
            depends: match depends {
                "-" => Vec::new(),
                d => d.split(' ').map(str::to_owned).collect(),
            },
        });
    }
    if !header {
        return Err("no column header".to_owned());
    }
    Ok(Facts { origins, rows })
}

/// What a word comment says: leaf (or MSR index), subleaf, register, and
/// whether it is an MSR.
type WordSpec = (u32, Option<u32>, u8, bool);

/// The `N` of `word N` in a word comment.
fn word_number(line: &str) -> Option<usize> {
    line.split("word ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A feature header read the way Xen's cpufeatureset.h and Linux's
/// cpufeatures.h are laid out: comment lines naming a word's register
/// (parsed by `word`), and one line per feature starting with `prefix`.
/// Returns the words and, for each feature line, its index and the text
/// after the prefix.
fn feature_lines<'a>(
    text: &'a str,
    prefix: &str,
    word: fn(&str) -> Option<(usize, WordSpec)>,
) -> (BTreeMap<usize, WordSpec>, Vec<(usize, &'a str)>) {
    let mut words = BTreeMap::new();
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("/*") {
            if let Some((w, spec)) = word(line) {
                words.insert(w, spec);
            }
        } else if let Some(rest) = line.strip_prefix(prefix) {
            lines.push((n, rest));
        }
    }
    (words, lines)
}

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

fn xen(texts: &[String]) -> Result<Vec<Row>, String> {
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

/// `W*32+B` as one number.
fn word_bit(pos: &str) -> Option<usize> {
    let (w, b) = pos.split_once('+')?;
    let w = w
        .trim()
        .strip_suffix("32")?
        .trim()
        .strip_suffix('*')?
        .trim();
    Some(w.parse::<usize>().ok()? * 32 + b.trim().parse::<usize>().ok()?)
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

fn linux(texts: &[String]) -> Result<Vec<Row>, String> {
    let (words, lines) = feature_lines(&texts[0], "#define X86_FEATURE_", linux_word);
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
    let mut scattered: BTreeMap<String, Vec<Loc>> = BTreeMap::new();
    for (n, line) in texts[1].lines().enumerate() {
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
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in texts[2].lines() {
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

fn qemu(texts: &[String]) -> Result<Vec<Row>, String> {
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

/// `name='value'` in an XML tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}='");
    let at = tag.find(&key)? + key.len();
    tag[at..].split('\'').next()
}

fn libvirt(texts: &[String]) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut current: Option<(String, Vec<String>, Vec<Loc>)> = None;
    for (n, line) in texts[0].lines().enumerate() {
        let at = format!("x86_features.xml:{}", n + 1);
        let tag = line.trim();
        if tag.starts_with("<feature ") {
            let name = attr(tag, "name").ok_or(format!("{at}: feature without name"))?;
            current = Some((name.to_owned(), Vec::new(), Vec::new()));
        } else if tag.starts_with("</feature>") {
            let (name, aliases, locs) = current.take().ok_or(format!("{at}: stray </feature>"))?;
            let extra = if aliases.is_empty() {
                "-".to_owned()
            } else {
                aliases.join(",")
            };
            for loc in locs {
                rows.push(Row {
                    loc,
                    name: name.clone(),
                    extra: extra.clone(),
                    depends: Vec::new(),
                });
            }
        } else if let Some((_, aliases, locs)) = current.as_mut() {
            if tag.starts_with("<alias ") {
                let name = attr(tag, "name").ok_or(format!("{at}: alias without name"))?;
                let source = attr(tag, "source").unwrap_or("libvirt");
                aliases.push(format!("{name}/{source}"));
            } else if tag.starts_with("<cpuid ") {
                let leaf = attr(tag, "eax_in")
                    .and_then(number)
                    .ok_or(format!("{at}: bad eax_in"))?;
                let subleaf = attr(tag, "ecx_in")
                    .map(|s| number(s).ok_or(format!("{at}: bad ecx_in")))
                    .transpose()?;
                for (reg, r) in REGS.iter().enumerate() {
                    let mask = attr(tag, r)
                        .map_or(Some(0), number)
                        .ok_or(format!("{at}: bad {r}"))?;
                    for bit in (0..32u8).filter(|b| mask >> b & 1 == 1) {
                        locs.push(Loc::Cpuid {
                            leaf,
                            subleaf,
                            reg: reg as u8,
                            bit,
                        });
                    }
                }
            } else if tag.starts_with("<msr ") {
                let index = attr(tag, "index")
                    .and_then(number)
                    .ok_or(format!("{at}: bad index"))?;
                let low = attr(tag, "eax").and_then(number).unwrap_or(0);
                let high = attr(tag, "edx").and_then(number).unwrap_or(0);
                let value = u64::from(high) << 32 | u64::from(low);
                for bit in (0..64u8).filter(|b| value >> b & 1 == 1) {
                    locs.push(Loc::Msr { index, bit });
                }
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_rows_and_deps() {
        let h = "/* Intel-defined CPU features, CPUID level 0x00000007:0.ebx, word 5 */\n\
                 XEN_CPUFEATURE(AVX2,          5*32+ 5) /*A  AVX2 instructions */\n\
                 /* Intel-defined CPU features, MSR_ARCH_CAPS 0x10a.edx, word 17 (express in terms of word 16) */\n\
                 /* Intel-defined CPU features, MSR_ARCH_CAPS 0x10a.eax, word 16 */\n\
                 XEN_CPUFEATURE(ITS_NO,             16*32+62) /*!A No ITS */\n";
        let py = "    deps = {\n        # comment: [NOT, A, DEP]\n        AVX: [FMA, AVX2,\n              F16C],\n    }\n";
        let rows = xen(&[h.to_owned(), py.to_owned()]).unwrap();
        assert_eq!(rows[0].name, "AVX2");
        assert_eq!(rows[0].extra, "A");
        assert_eq!(rows[0].depends, ["AVX"]);
        assert_eq!(
            rows[1].loc,
            Loc::Msr {
                index: 0x10a,
                bit: 62
            }
        );
        assert_eq!(rows[1].extra, "!A");
    }

    #[test]
    fn linux_words_scattered_and_proc_names() {
        let h = "/* AMD-defined CPU features, CPUID level 0x80000001, word 1 */\n\
                 #define X86_FEATURE_SYSCALL\t\t( 1*32+11) /* \"syscall\" SYSCALL/SYSRET */\n\
                 /* More extended AMD flags: CPUID level 0x80000001, ECX, word 6 */\n\
                 #define X86_FEATURE_LAHF_LM\t\t( 6*32+ 0) /* \"lahf_lm\" LAHF */\n\
                 #define X86_FEATURE_EPB\t\t( 7*32+ 3) /* IA32_ENERGY_PERF_BIAS support */\n\
                 #define X86_FEATURE_MBA\t\t(7*32 + 18) /* \"mba\" */\n";
        let sc = "\t{ X86_FEATURE_EPB,\t\t\tCPUID_ECX,  3, 0x00000006, 0 },\n\
                  \t{ X86_FEATURE_MBA,\t\t\tCPUID_EBX,  3, 0x00000010, 0 },\n\
                  \t{ X86_FEATURE_MBA,\t\t\tCPUID_EBX,  6, 0x80000008, 0 },\n";
        let deps = "\t{ X86_FEATURE_LAHF_LM,\t\tX86_FEATURE_SYSCALL   },\n";
        let rows = linux(&[h.into(), sc.into(), deps.into()]).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(
            (rows[0].loc, rows[0].extra.as_str()),
            (
                Loc::Cpuid {
                    leaf: 0x8000_0001,
                    subleaf: None,
                    reg: 3,
                    bit: 11
                },
                "syscall"
            )
        );
        assert_eq!(
            rows[1].loc,
            Loc::Cpuid {
                leaf: 0x8000_0001,
                subleaf: None,
                reg: 2,
                bit: 0
            }
        );
        assert_eq!(rows[1].depends, ["SYSCALL"]);
        assert_eq!(
            (rows[2].name.as_str(), rows[2].extra.as_str()),
            ("EPB", "-")
        );
        assert_eq!(
            rows[4].loc,
            Loc::Cpuid {
                leaf: 0x8000_0008,
                subleaf: Some(0),
                reg: 1,
                bit: 6
            }
        );
    }

    #[test]
    fn qemu_words_designators_and_dependencies() {
        let c = "FeatureWordInfo feature_word_info[FEATURE_WORDS] = {\n\
                 [FEAT_24_0_EBX] = { .type = CPUID_FEATURE_WORD, .feat_names = {\n\
                 [16] = \"avx10-128\", [17] = \"avx10-256\" /* c */, },\n\
                 .cpuid = { .eax = 0x24, .needs_ecx = true, .ecx = 0, .reg = R_EBX, }, },\n\
                 [FEAT_KVM] = { .feat_names = { \"kvmclock\", NULL, }, .cpuid = { .eax = KVM_CPUID_FEATURES, .reg = R_EAX, }, },\n\
                 [FEAT_VMX_BASIC] = { .feat_names = { [54] = \"vmx-ins-outs\", }, .msr = { .index = MSR_IA32_VMX_BASIC, }, },\n\
                 };\n\
                 static FeatureDep feature_dependencies[] = {\n\
                 { .from = { FEAT_24_0_EBX, CPUID_24_0_EBX_AVX10_256 }, .to = { FEAT_24_0_EBX, CPUID_24_0_EBX_AVX10_128 }, },\n\
                 };\n";
        let rows = qemu(&[c.into()]).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["avx10-128", "avx10-256", "kvmclock"]);
        assert_eq!(rows[0].depends, ["avx10-256"]);
        assert_eq!(
            rows[2].loc,
            Loc::Cpuid {
                leaf: 0x4000_0001,
                subleaf: None,
                reg: 0,
                bit: 0
            }
        );
    }

    #[test]
    fn libvirt_features_aliases_and_msrs() {
        let x = "<cpus>\n  <feature name='lm'>\n    <alias name='i64' source='qemu'/>\n    \
                 <cpuid eax_in='0x80000001' edx='0x20000000'/>\n  </feature>\n  \
                 <feature name='its-no'>\n    <msr index='0x0000010a' edx='0x40000000' eax='0x00000000'/>\n  </feature>\n</cpus>\n";
        let rows = libvirt(&[x.into()]).unwrap();
        assert_eq!(rows[0].extra, "i64/qemu");
        assert_eq!(
            rows[0].loc,
            Loc::Cpuid {
                leaf: 0x8000_0001,
                subleaf: None,
                reg: 3,
                bit: 29
            }
        );
        assert_eq!(
            rows[1].loc,
            Loc::Msr {
                index: 0x10a,
                bit: 62
            }
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(
            linux(&[
                "#define X86_FEATURE_X (oops) /* */\n".into(),
                String::new(),
                String::new()
            ])
            .is_err()
        );
        assert!(
            xen(&[
                "XEN_CPUFEATURE(A, 99*32+1) /*A x */\n".into(),
                "deps = {\n}\n".into()
            ])
            .is_err()
        );
        assert!(qemu(&["nothing here".into()]).is_err());
    }
}

//! `cargo xtask upstream SOURCE`: extracts the CPUID facts of one upstream
//! source file set into `testdata/upstream/SOURCE.tsv`.
//!
//! The sources are Xen (`cpufeatureset.h`, `gen-cpuid.py`), Linux
//! (`cpufeatures.h`, `scattered.c`, `cpuid-deps.c`), QEMU (`target/i386/cpu.c`)
//! and libvirt (`src/cpu_map/x86_features.xml`). Only facts leave the upstream
//! files: a position, the names upstream gives it, and its prerequisites.
//! The test `crates/cpuid-defs/tests/upstream.rs` compares the table with
//! every TSV, so an upstream change is one extraction and a reviewed diff.

mod libvirt;
mod linux;
mod qemu;
mod xen;

use libvirt::libvirt;
use linux::linux;
use qemu::qemu;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use xen::xen;

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

pub(super) const REGS: [&str; 4] = ["eax", "ebx", "ecx", "edx"];

pub(super) fn reg_index(text: &str) -> Option<u8> {
    let lower = text.to_ascii_lowercase();
    REGS.iter()
        .position(|r| lower == *r)
        .and_then(|i| u8::try_from(i).ok())
}

pub(super) fn number(text: &str) -> Option<u32> {
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
pub(super) type WordSpec = (u32, Option<u32>, u8, bool);

/// The `N` of `word N` in a word comment.
pub(super) fn word_number(line: &str) -> Option<usize> {
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
pub(super) fn feature_lines<'a>(
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

/// `W*32+B` as one number.
pub(super) fn word_bit(pos: &str) -> Option<usize> {
    let (w, b) = pos.split_once('+')?;
    let w = w
        .trim()
        .strip_suffix("32")?
        .trim()
        .strip_suffix('*')?
        .trim();
    Some(w.parse::<usize>().ok()? * 32 + b.trim().parse::<usize>().ok()?)
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

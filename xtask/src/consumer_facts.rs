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
//!
//! One module a consumer: `xen` (xl's names and what Xen offers, from
//! xen.git), `qemu` (from libvirt's captured QMP data and QEMU trees, whose
//! `target/i386/cpu.c` `qemu_cpu_c` reads) and `libvirt` (its cpu_map);
//! the table format they share is here.

mod libvirt;
mod qemu;
mod qemu_cpu_c;
mod xen;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cpuid_defs::Register;
use maskcalc::consumer::Version;

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
            let text = xen::xl(&dir, tags)?;
            write(root, "xl-names.tsv", &text)?;
            let text = xen::xen_offers(&dir, tags)?;
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
            let (names, models) = qemu::qemu(&caps, &sources)?;
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
            let (names, models) = libvirt::libvirt(&maps)?;
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

/// The header of a table: what it holds, its columns, and one `@source`
/// line a release.
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

/// `header` followed by `lines`, one a line.
fn table(header: String, lines: Vec<String>) -> String {
    let mut text = header;
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The key of a model's row: name, vendor (`-` for none) and its features
/// (`-` for none).
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

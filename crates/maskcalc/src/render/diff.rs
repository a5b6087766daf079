//! What differs between the hosts of a pool: VMware's "VMotion Info" for any pool.

use std::fmt::Write as _;

use cpuid_defs::Class;

use crate::pool::{PoolMasks, location_of};

/// One differing bit: its feature, where it lives, its class, and which hosts have it.
/// Fields may be added: read them, do not build one.
///
/// ```
/// use cpuid_defs::Class;
/// use maskcalc::render::DiffRow;
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let rows: Vec<DiffRow> = maskcalc::render::diff_rows(&masks);
/// let avx = &rows[0];
/// assert_eq!((avx.feature, avx.location.as_str()), (Some("AVX"), "0x1.ecx[28]"));
/// assert_eq!(avx.class, Class::Intersect);
/// assert_eq!(avx.present, [true, false], "host a has it, b does not");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiffRow {
    /// The feature's canonical name, or `None` for an unnamed bit.
    pub feature: Option<&'static str>,
    /// Where the bit lives (`0x7.0.ebx[5]`).
    pub location: String,
    /// The feature's class (unnamed bits count as `intersect`).
    pub class: Class,
    /// Per host, in host order: does it have the bit?
    pub present: Vec<bool>,
}

/// Every bit that differs between the hosts, by register and ascending bit.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let rows = maskcalc::render::diff_rows(&masks);
/// let features: Vec<_> = rows.iter().map(|r| (r.feature, r.present.clone())).collect();
/// // VMX is masked but not a difference: no host has it.
/// assert_eq!(features, [(Some("AVX"), vec![true, false]), (Some("AVX2"), vec![true, false])]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff_rows(masks: &PoolMasks) -> Vec<DiffRow> {
    let mut rows = Vec::new();
    for reg in &masks.registers {
        let differing = reg.differing();
        for bit in (0..32u8).filter(|b| differing & (1 << b) != 0) {
            let location = location_of(reg.register, bit);
            let feature = cpuid_defs::at(location);
            rows.push(DiffRow {
                feature: feature.map(|f| f.name),
                location: location.to_string(),
                class: feature.map_or(Class::Intersect, |f| f.class),
                present: reg.values.iter().map(|v| v & (1 << bit) != 0).collect(),
            });
        }
    }
    rows
}

/// The differences as a table: feature, location, class, and a column per
/// host (`yes`/`-`). With `colour`, present is green and absent red (ANSI).
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// assert_eq!(
///     maskcalc::render::diff(&masks, false),
///     "feature  location      class       a    b\n\
///      AVX      0x1.ecx[28]   intersect   yes  -\n\
///      AVX2     0x7.0.ebx[5]  intersect   yes  -\n"
/// );
/// assert!(maskcalc::render::diff(&masks, true).contains("\x1b["), "ANSI colours");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff(masks: &PoolMasks, colour: bool) -> String {
    let rows = diff_rows(masks);
    if rows.is_empty() {
        return format!("no differences between the {} hosts\n", masks.hosts.len());
    }
    let name = |r: &DiffRow| r.feature.unwrap_or("(unnamed)").to_owned();
    let w_name = rows
        .iter()
        .map(|r| name(r).len())
        .max()
        .unwrap_or(0)
        .max("feature".len());
    let w_loc = rows
        .iter()
        .map(|r| r.location.len())
        .max()
        .unwrap_or(0)
        .max("location".len());
    let w_class = "accumulate".len();
    let labels = column_labels(masks);
    let widths: Vec<usize> = labels.iter().map(|l| l.chars().count().max(3)).collect();
    let mut out = format!(
        "{:<w_name$}  {:<w_loc$}  {:<w_class$}",
        "feature", "location", "class"
    );
    for (label, w) in labels.iter().zip(&widths) {
        let _ = write!(out, "  {label:<w$}");
    }
    trim_end(&mut out);
    out.push('\n');
    for row in &rows {
        let mut line = format!(
            "{:<w_name$}  {:<w_loc$}  {:<w_class$}",
            name(row),
            row.location,
            row.class.as_str()
        );
        for (present, w) in row.present.iter().zip(&widths) {
            let cell = if *present { "yes" } else { "-" };
            let pad = " ".repeat(w.saturating_sub(cell.len()));
            if colour {
                let code = if *present { "32" } else { "31" };
                let _ = write!(line, "  \x1b[{code}m{cell}\x1b[0m{pad}");
            } else {
                let _ = write!(line, "  {cell}{pad}");
            }
        }
        trim_end(&mut line);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Column headings: each host's file name without directory and extension
/// when those are unique, else the names as given.
pub(crate) fn column_labels(masks: &PoolMasks) -> Vec<String> {
    let short: Vec<String> = masks
        .hosts
        .iter()
        .map(|h| {
            let path = std::path::Path::new(&h.name);
            path.file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| !s.is_empty())
                .unwrap_or(&h.name)
                .to_owned()
        })
        .collect();
    let mut sorted: Vec<&String> = short.iter().collect();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return masks.hosts.iter().map(|h| h.name.clone()).collect();
    }
    short
}

fn trim_end(s: &mut String) {
    let len = s.trim_end().len();
    s.truncate(len);
}

/// The document of [`diff_json`], fields in the alphabetical order version 1
/// was first written in.
#[derive(serde::Serialize)]
struct DiffDocument<'a> {
    differences: Vec<DiffJson<'a>>,
    format: &'static str,
    hosts: Vec<&'a str>,
    version: u32,
}

#[derive(serde::Serialize)]
struct DiffJson<'a> {
    class: &'static str,
    feature: Option<&'static str>,
    having: Vec<&'a str>,
    lacking: Vec<&'a str>,
    location: String,
}

/// The differences as JSON: the hosts, then one object per differing bit.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let json: serde_json::Value = serde_json::from_str(&maskcalc::render::diff_json(&masks))?;
/// assert_eq!((&json["format"], &json["version"]), (&"xenmig-pool-diff".into(), &1.into()));
/// assert_eq!(json["hosts"], serde_json::json!(["a", "b"]));
/// let avx2 = &json["differences"][1];
/// assert_eq!(avx2["feature"], "AVX2");
/// assert_eq!((&avx2["having"], &avx2["lacking"]), (&serde_json::json!(["a"]), &serde_json::json!(["b"])));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff_json(masks: &PoolMasks) -> String {
    let hosts: Vec<&str> = masks.hosts.iter().map(|h| h.name.as_str()).collect();
    let with = |present: &[bool], has: bool| -> Vec<&str> {
        hosts
            .iter()
            .zip(present)
            .filter(|(_, p)| **p == has)
            .map(|(h, _)| *h)
            .collect()
    };
    let differences = diff_rows(masks)
        .into_iter()
        .map(|r| DiffJson {
            class: r.class.as_str(),
            feature: r.feature,
            having: with(&r.present, true),
            lacking: with(&r.present, false),
            location: r.location,
        })
        .collect();
    super::json::pretty(&DiffDocument {
        differences,
        format: "xenmig-pool-diff",
        hosts,
        version: 1,
    })
}

//! libvirt's `cpu_map`: `x86_features.xml` (every feature name and its bit)
//! and the model files (`x86_Skylake-Server.xml`: vendor, parent model,
//! features). `cargo xtask consumer-facts` reads upstream copies with this
//! parser, and the tools read the one installed with libvirt
//! (`/usr/share/libvirt/cpu_map/`) the same way.
//!
//! ```
//! use maskcalc::consumer::cpu_map;
//! let features = cpu_map::parse_features(
//!     "<cpus>\n  <feature name='avx2'>\n    <cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000020'/>\n  </feature>\n</cpus>\n",
//! ).unwrap();
//! assert_eq!(features[0].name, "avx2");
//! assert_eq!(features[0].location.unwrap().to_string(), "0x7.0.ebx[5]");
//! ```

use std::collections::HashMap;
use std::fmt;

use cpuid_defs::{Location, Register};

use crate::dump::xml::{attribute, walk};
use crate::dump::{DumpErrorKind, LineError};

/// Largest cpu_map file the tools read (libvirt's biggest, x86_features.xml, is ~40 KiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Whether `file_name` is one of a cpu_map directory's x86 model files
/// (`x86_Skylake-Server.xml`, ...), not its feature or vendor table.
///
/// ```
/// use maskcalc::consumer::cpu_map::is_model_file;
/// assert!(is_model_file("x86_Icelake-Server.xml"));
/// assert!(!is_model_file("x86_features.xml"));
/// assert!(!is_model_file("arm_cortex-a57.xml"));
/// ```
pub fn is_model_file(file_name: &str) -> bool {
    file_name.starts_with("x86_")
        && file_name.ends_with(".xml")
        && file_name != "x86_features.xml"
        && file_name != "x86_vendors.xml"
}

/// Deepest chain of parent models followed (libvirt's own are at most 3 deep).
const MAX_PARENTS: usize = 16;

/// A cpu_map file that does not parse: what went wrong
/// ([`CpuMapErrorKind`]), at which line (when one is to blame), and the
/// message that says what was expected and found.
///
/// ```
/// use maskcalc::consumer::cpu_map::{self, CpuMapErrorKind};
/// let err = cpu_map::parse_models("<cpus>\n  <model>\n</cpus>\n").unwrap_err();
/// assert_eq!((err.kind, err.line), (CpuMapErrorKind::Malformed, Some(2)));
/// assert_eq!(err.message, "expected a `name` on <model>, found none");
/// assert_eq!(err.to_string(), "line 2: expected a `name` on <model>, found none");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuMapError {
    /// What went wrong.
    pub kind: CpuMapErrorKind,
    /// The 1-based line, when one is to blame.
    pub line: Option<usize>,
    /// What was expected and what was found.
    pub message: String,
}

/// What went wrong in a [`CpuMapError`].
///
/// ```
/// use maskcalc::consumer::cpu_map::{CpuMapErrorKind, CpuMapModel, MAX_FILE_BYTES, parse_features, resolve};
/// let huge = " ".repeat(MAX_FILE_BYTES + 1);
/// assert_eq!(parse_features(&huge).unwrap_err().kind, CpuMapErrorKind::TooLarge);
/// let orphan = CpuMapModel { name: "Orphan".into(), parent: Some("Gone".into()), ..Default::default() };
/// assert_eq!(resolve(&[orphan]).unwrap_err().kind, CpuMapErrorKind::UnknownParent);
/// let a = CpuMapModel { name: "A".into(), parent: Some("B".into()), ..Default::default() };
/// let b = CpuMapModel { name: "B".into(), parent: Some("A".into()), ..Default::default() };
/// assert_eq!(resolve(&[a, b]).unwrap_err().kind, CpuMapErrorKind::ParentChain);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CpuMapErrorKind {
    /// An element or attribute is not what cpu_map files contain.
    Malformed,
    /// The file ends inside an element.
    Truncated,
    /// Larger than a bound: the file ([`MAX_FILE_BYTES`]) or its attributes.
    TooLarge,
    /// A model starts from a parent model no file defines.
    UnknownParent,
    /// A model's parents form a loop or a chain deeper than the tools follow.
    ParentChain,
}

impl fmt::Display for CpuMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CpuMapError {}

impl From<LineError> for CpuMapError {
    fn from(e: LineError) -> Self {
        let kind = match e.kind {
            DumpErrorKind::Truncated => CpuMapErrorKind::Truncated,
            DumpErrorKind::TooLarge => CpuMapErrorKind::TooLarge,
            _ => CpuMapErrorKind::Malformed,
        };
        CpuMapError {
            kind,
            line: e.line,
            message: e.message,
        }
    }
}

/// A malformed element at `line`.
fn error(line: usize, message: impl Into<String>) -> CpuMapError {
    CpuMapError {
        kind: CpuMapErrorKind::Malformed,
        line: Some(line),
        message: message.into(),
    }
}

/// An error no one line is to blame for.
fn whole(kind: CpuMapErrorKind, message: String) -> CpuMapError {
    CpuMapError {
        kind,
        line: None,
        message,
    }
}

/// One feature of `x86_features.xml`.
///
/// ```
/// use cpuid_defs::{Location, Register};
/// use maskcalc::consumer::cpu_map::{CpuMapFeature, parse_features};
/// let xml = "<cpus>\n  <feature name='pcid'>\n    <cpuid eax_in='0x01' ecx='0x00020000'/>\n  </feature>\n</cpus>\n";
/// let pcid = CpuMapFeature {
///     name: "pcid".into(),
///     location: Some(Location::cpuid(1, None, Register::Ecx, 17)),
/// };
/// assert_eq!(parse_features(xml)?, [pcid]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuMapFeature {
    /// libvirt's name.
    pub name: String,
    /// Its bit (`None` when the mask is not a single bit, which libvirt never writes).
    pub location: Option<Location>,
}

/// One `<model>` of a model file, before its parent is resolved.
///
/// ```
/// let xml = "<cpus>\n  <model name='Haswell-noTSX'>\n    <model name='Haswell'/>\n    \
///            <vendor name='Intel'/>\n    <feature name='hle' removed='yes'/>\n  </model>\n</cpus>\n";
/// let models = maskcalc::consumer::cpu_map::parse_models(xml)?;
/// assert_eq!(models[0].name, "Haswell-noTSX");
/// assert_eq!(models[0].parent.as_deref(), Some("Haswell"));
/// assert_eq!(models[0].vendor.as_deref(), Some("Intel"));
/// assert!(models[0].features.is_empty());
/// assert_eq!(models[0].removed, ["hle"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuMapModel {
    /// The model's name.
    pub name: String,
    /// `<vendor name='Intel'/>`, as written.
    pub vendor: Option<String>,
    /// `<model name='Parent'/>`: the model whose features this one starts from.
    pub parent: Option<String>,
    /// The features it lists (beyond its parent's).
    pub features: Vec<String>,
    /// Features marked `removed='yes'`: kept in the definition for old
    /// domains, but QEMU's model of that name no longer has them.
    pub removed: Vec<String>,
}

fn hex(value: &str, line: usize, what: &str) -> Result<u32, CpuMapError> {
    value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .filter(|d| !d.is_empty() && d.len() <= 8)
        .and_then(|d| u32::from_str_radix(d, 16).ok())
        .ok_or_else(|| {
            error(
                line,
                format!("expected `{what}` as 0x and up to 8 hex digits, found `{value}`"),
            )
        })
}

fn single_bit(mask: u32) -> Option<u8> {
    (mask.count_ones() == 1).then(|| mask.trailing_zeros() as u8)
}

/// Refuses a cpu_map file larger than [`MAX_FILE_BYTES`].
fn check_size(text: &str) -> Result<(), CpuMapError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(whole(
            CpuMapErrorKind::TooLarge,
            format!(
                "expected at most {MAX_FILE_BYTES} bytes, found {}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Parses `x86_features.xml`.
///
/// ```
/// let xml = "<cpus>\n  <feature name='avx2'>\n    <cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000020'/>\n  </feature>\n  \
///            <feature name='pdpe1gb'>\n    <cpuid eax_in='0x80000001' edx='0x04000000'/>\n  </feature>\n</cpus>\n";
/// let features = maskcalc::consumer::cpu_map::parse_features(xml)?;
/// let names: Vec<String> = features.iter().map(|f| format!("{} {}", f.name, f.location.unwrap())).collect();
/// assert_eq!(names, ["avx2 0x7.0.ebx[5]", "pdpe1gb 0x80000001.edx[26]"]);
/// assert!(maskcalc::consumer::cpu_map::parse_features("<cpus><bogus/></cpus>").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_features(text: &str) -> Result<Vec<CpuMapFeature>, CpuMapError> {
    check_size(text)?;
    let mut out: Vec<CpuMapFeature> = Vec::new();
    walk(text, |nesting, name, attributes, line| {
        match (nesting.parent(), name) {
            (None, "cpus") => {}
            (Some("cpus"), "feature") => {
                let feature = attribute(&attributes, "name")
                    .ok_or_else(|| error(line, "expected a `name` on <feature>, found none"))?;
                out.push(CpuMapFeature {
                    name: feature.to_owned(),
                    location: None,
                });
            }
            (Some("feature"), "cpuid") => {
                let leaf = hex(
                    attribute(&attributes, "eax_in").unwrap_or(""),
                    line,
                    "eax_in",
                )?;
                let subleaf = attribute(&attributes, "ecx_in")
                    .map(|v| hex(v, line, "ecx_in"))
                    .transpose()?;
                let mut found = None;
                for register in Register::ALL {
                    if let Some(v) = attribute(&attributes, register.as_str()) {
                        let mask = hex(v, line, register.as_str())?;
                        if mask != 0 {
                            found = single_bit(mask)
                                .map(|bit| Location::cpuid(leaf, subleaf, register, bit));
                        }
                    }
                }
                if let Some(last) = out.last_mut() {
                    last.location = found;
                }
            }
            (Some("feature"), "msr") => {
                let index = hex(attribute(&attributes, "index").unwrap_or(""), line, "index")?;
                let low = hex(attribute(&attributes, "eax").unwrap_or("0x0"), line, "eax")?;
                let high = hex(attribute(&attributes, "edx").unwrap_or("0x0"), line, "edx")?;
                let mask =
                    cpuid_defs::MsrHalf::High.place(high) | cpuid_defs::MsrHalf::Low.place(low);
                if let Some(last) = out.last_mut() {
                    last.location = (mask.count_ones() == 1).then(|| Location::Msr {
                        index,
                        bit: mask.trailing_zeros() as u8,
                    });
                }
            }
            (Some("feature"), "alias") => {}
            (_, other) => {
                return Err(error(
                    line,
                    format!(
                        "expected <cpus>, <feature>, <cpuid>, <msr> or <alias>, found <{other}> in {}",
                        nesting.place()
                    ),
                ));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Parses one model file (`<cpus><model …>…</model></cpus>`).
///
/// ```
/// let xml = "<cpus>\n  <model name='Nehalem'>\n    <signature family='6' model='26'/>\n    \
///            <vendor name='Intel'/>\n    <feature name='sse4.2'/>\n  </model>\n</cpus>\n";
/// let models = maskcalc::consumer::cpu_map::parse_models(xml)?;
/// assert_eq!(models.len(), 1);
/// assert_eq!(models[0].features, ["sse4.2"], "signatures are not features");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_models(text: &str) -> Result<Vec<CpuMapModel>, CpuMapError> {
    check_size(text)?;
    let mut out: Vec<CpuMapModel> = Vec::new();
    walk(text, |nesting, name, attributes, line| {
        let value = |key: &str| {
            attribute(&attributes, key)
                .map(str::to_owned)
                .ok_or_else(|| error(line, format!("expected a `{key}` on <{name}>, found none")))
        };
        match (nesting.parent(), name) {
            (None, "cpus") => {}
            (Some("cpus"), "model") => out.push(CpuMapModel {
                name: value("name")?,
                ..CpuMapModel::default()
            }),
            (Some("model"), element) => {
                let Some(model) = out.last_mut() else {
                    return Err(error(line, "expected a <model>, found none"));
                };
                match element {
                    "vendor" => model.vendor = Some(value("name")?),
                    "model" => model.parent = Some(value("name")?),
                    "feature" => {
                        let feature = value("name")?;
                        if attribute(&attributes, "removed") == Some("yes") {
                            model.removed.push(feature);
                        } else {
                            model.features.push(feature);
                        }
                    }
                    // Decoding hints, signatures, compatibility checks: not features.
                    "decode" | "signature" | "check" => {}
                    other => {
                        return Err(error(
                            line,
                            format!(
                                "expected <vendor>, <model>, <feature>, <decode>, <signature> or <check> in <model>, found <{other}>"
                            ),
                        ));
                    }
                }
            }
            (_, other) => {
                return Err(error(
                    line,
                    format!(
                        "expected <cpus> or <model>, found <{other}> in {}",
                        nesting.place()
                    ),
                ));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// A model with its parents folded in.
///
/// ```
/// use maskcalc::consumer::cpu_map::{CpuMapModel, resolve};
/// let base = CpuMapModel { name: "Base".into(), vendor: Some("Intel".into()), features: vec!["sse2".into(), "hle".into()], ..Default::default() };
/// let child = CpuMapModel { name: "Child".into(), parent: Some("Base".into()), features: vec!["avx2".into()], removed: vec!["hle".into()], ..Default::default() };
/// let resolved = resolve(&[base, child])?;
/// assert_eq!(resolved[1].name, "Child");
/// assert_eq!(resolved[1].vendor.as_deref(), Some("Intel"), "inherited");
/// assert_eq!(resolved[1].features, ["avx2", "sse2"], "sorted, without the removed one");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedModel {
    /// The model's name.
    pub name: String,
    /// Its vendor as written (`Intel`), its own or inherited.
    pub vendor: Option<String>,
    /// Every feature, sorted, without the `removed` ones.
    pub features: Vec<String>,
}

/// Folds every model's parents into it; a model whose parent is missing, or
/// whose parents form a loop or a chain deeper than 16, is an error naming it.
///
/// ```
/// use maskcalc::consumer::cpu_map::{CpuMapModel, resolve};
/// let orphan = CpuMapModel { name: "Orphan".into(), parent: Some("Gone".into()), ..Default::default() };
/// let err = resolve(&[orphan]).unwrap_err();
/// assert_eq!(err.to_string(), "model Orphan starts from Gone, which no file defines");
/// let a = CpuMapModel { name: "A".into(), parent: Some("B".into()), ..Default::default() };
/// let b = CpuMapModel { name: "B".into(), parent: Some("A".into()), ..Default::default() };
/// assert!(resolve(&[a, b]).is_err(), "a loop");
/// ```
pub fn resolve(models: &[CpuMapModel]) -> Result<Vec<ResolvedModel>, CpuMapError> {
    let by_name: HashMap<&str, &CpuMapModel> =
        models.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut out = Vec::with_capacity(models.len());
    for model in models {
        let mut chain = vec![model];
        let mut at = model;
        while let Some(parent) = &at.parent {
            let Some(next) = by_name.get(parent.as_str()) else {
                return Err(whole(
                    CpuMapErrorKind::UnknownParent,
                    format!(
                        "model {} starts from {parent}, which no file defines",
                        model.name
                    ),
                ));
            };
            if chain.len() > MAX_PARENTS || chain.iter().any(|m| m.name == next.name) {
                return Err(whole(
                    CpuMapErrorKind::ParentChain,
                    format!(
                        "model {}: expected a chain of parent models of at most {MAX_PARENTS}, found a loop or a longer one",
                        model.name
                    ),
                ));
            }
            chain.push(next);
            at = next;
        }
        let mut features: Vec<String> = Vec::new();
        let mut vendor = None;
        for m in chain.iter().rev() {
            features.retain(|f| !m.removed.contains(f));
            features.extend(m.features.iter().cloned());
            if m.vendor.is_some() {
                vendor.clone_from(&m.vendor);
            }
        }
        features.sort();
        features.dedup();
        out.push(ResolvedModel {
            name: model.name.clone(),
            vendor,
            features,
        });
    }
    Ok(out)
}

/// The name and model tables of one installed cpu_map, as if extracted:
/// one release, `version`, read from `source` (a directory, say).
/// `model_files` are the texts of its `x86_*.xml` model files.
///
/// ```
/// use maskcalc::consumer::{Release, Version, cpu_map};
/// let features = "<cpus>\n  <feature name='avx2'>\n    <cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000020'/>\n  </feature>\n</cpus>\n";
/// let model = "<cpus>\n  <model name='Mine'>\n    <vendor name='Intel'/>\n    <feature name='avx2'/>\n  </model>\n</cpus>\n";
/// let version = Version::new(9, 0);
/// let (names, models) = cpu_map::tables(version, "/usr/share/libvirt/cpu_map", features, &[model])?;
/// let libvirt = Release::from_tables(&names, &models, version);
/// assert!(libvirt.names.knows("avx2"));
/// assert_eq!(libvirt.models[0].vendor.as_deref(), Some("GenuineIntel"));
/// assert_eq!(names.sources[0].source, "/usr/share/libvirt/cpu_map");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tables(
    version: super::Version,
    source: &str,
    features_xml: &str,
    model_files: &[&str],
) -> Result<(super::NameTable, super::ModelTable), CpuMapError> {
    use super::{Consumer, ModelRow, ModelTable, NameRow, NameTable, Source};
    let sources = vec![Source {
        version,
        source: source.to_owned(),
    }];
    let rows = parse_features(features_xml)?
        .into_iter()
        .map(|f| NameRow {
            name: f.name,
            location: f.location,
            first: version,
            gone: None,
        })
        .collect();
    let mut models = Vec::new();
    for text in model_files {
        models.extend(parse_models(text)?);
    }
    let models = resolve(&models)?
        .into_iter()
        .map(|m| ModelRow {
            name: m.name,
            vendor: m.vendor.map(|v| super::vendor_string(&v).to_owned()),
            features: m.features,
            first: version,
            gone: None,
        })
        .collect();
    Ok((
        NameTable {
            consumer: Consumer::Libvirt,
            sources: sources.clone(),
            rows,
        },
        ModelTable {
            consumer: Consumer::Libvirt,
            sources,
            rows: models,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEATURES: &str = "<cpus>\n  <!-- comment -->\n  <feature name='pni'>\n    <alias name='sse3' source='qemu'/>\n    \
<cpuid eax_in='0x00000001' ecx='0x00000001'/>\n  </feature>\n  <feature name='rdctl-no'>\n    \
<msr index='0x10a' edx='0x00000000' eax='0x00000001'/>\n  </feature>\n  <feature name='ibrs-all'>\n    \
<msr index='0x10a' edx='0x00000001' eax='0x00000000'/>\n  </feature>\n</cpus>\n";

    #[test]
    fn features_and_their_bits() {
        let f = parse_features(FEATURES).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[0].location,
            Some(Location::cpuid(1, None, Register::Ecx, 0))
        );
        assert_eq!(
            f[1].location,
            Some(Location::Msr {
                index: 0x10a,
                bit: 0
            })
        );
        assert_eq!(
            f[2].location,
            Some(Location::Msr {
                index: 0x10a,
                bit: 32
            })
        );
    }

    #[test]
    fn models_inherit_and_drop_removed_features() {
        let base = "<cpus>\n<model name='Old'>\n<vendor name='Intel'/>\n<feature name='a'/>\n<feature name='mpx'/>\n</model>\n</cpus>";
        let child = "<cpus>\n<model name='New'>\n<decode host='on' guest='on'/>\n<signature family='6' model='85'/>\n\
<model name='Old'/>\n<feature name='b'/>\n<feature name='mpx' removed='yes'/>\n</model>\n</cpus>";
        let mut models = parse_models(base).unwrap();
        models.extend(parse_models(child).unwrap());
        let resolved = resolve(&models).unwrap();
        assert_eq!(resolved[1].features, ["a", "b"]);
        assert_eq!(resolved[1].vendor.as_deref(), Some("Intel"));
        assert!(
            resolve(
                &parse_models("<cpus><model name='X'><model name='Y'/></model></cpus>").unwrap()
            )
            .is_err()
        );
        let looped = "<cpus><model name='X'><model name='X'/></model></cpus>";
        assert!(resolve(&parse_models(looped).unwrap()).is_err());
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(
            parse_features("<cpus>\n<feature>\n</feature></cpus>")
                .unwrap_err()
                .line,
            Some(2)
        );
        assert_eq!(
            parse_features("<cpus>\n<bogus/>\n</cpus>")
                .unwrap_err()
                .line,
            Some(2)
        );
        assert!(parse_features("<cpus>\n<feature name='a'>").is_err());
        assert!(parse_models("<cpus><model name='a'><cpuid/></model></cpus>").is_err());
        assert!(
            parse_features(
                "<cpus><feature name='a'><cpuid eax_in='zz' eax='0x1'/></feature></cpus>"
            )
            .is_err()
        );
    }
}

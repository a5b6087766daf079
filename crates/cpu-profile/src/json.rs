//! The profile file: versioned, readable JSON with hex strings for register
//! values, one register per line so that a profile diffs well in version
//! control. `docs/cpu-profile-format.md` documents every key.
//!
//! The file's shape is a set of serde types (`ProfileFile` and its
//! entries), read in two steps: serde checks the shape (unknown, repeated or
//! missing keys, types, hex strings), with `serde_path_to_error` naming the
//! field; then the entries become a [`Profile`], refusing values with bits
//! outside their mask, duplicate registers and registers the limits own.
//! Every error names the file and the field (`cpuid[3].mask`).
//!
//! ```
//! use cpu_profile::{json, Bits, Profile};
//! use cpuid_defs::{FeatureRegister, Register};
//! let mut profile = Profile::new("demo", "AuthenticAMD");
//! profile.registers.insert(FeatureRegister::cpuid(7, Some(0), Register::Ebx), Bits { value: 0x29, mask: 0xff });
//! let text = json::to_json(&profile);
//! assert_eq!(json::from_json("demo.json", text.as_bytes()).unwrap(), profile);
//! let err = json::from_json("bad.json", b"{\"format\": \"xenmig-cpu-profile\", \"version\": 7}").unwrap_err();
//! assert_eq!(err.kind, json::LoadErrorKind::UnsupportedVersion);
//! assert_eq!(err.to_string(), "bad.json: version: expected 1, found 7");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use cpuid_defs::{FeatureRegister, MsrHalf, Register};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

mod layout;
mod strict;

pub(crate) use layout::entry_per_line;
use strict::{Entries, KeysOnce, ObjectsOnly, nullable, optional_nullable};

use crate::rules;
use crate::{Bits, FORMAT_NAME, FORMAT_VERSION, Limits, PoolMask, Profile, SourceHost};

/// The largest profile file the loader reads.
///
/// ```
/// use cpu_profile::json::{from_json, LoadErrorKind, MAX_PROFILE_BYTES};
/// let huge = vec![b' '; MAX_PROFILE_BYTES + 1];
/// assert_eq!(from_json("huge.json", &huge).unwrap_err().kind, LoadErrorKind::TooLarge);
/// ```
pub const MAX_PROFILE_BYTES: usize = 4 << 20;
/// The most entries of one list (`hosts`, `cpuid`, `msrs`, `pool_masks`)
/// or object (`limits`).
///
/// ```
/// use cpu_profile::json::{from_json, to_json, LoadErrorKind, MAX_ENTRIES};
/// use cpu_profile::{Profile, SourceHost};
/// let mut profile = Profile::new("many", "GenuineIntel");
/// profile.hosts = (0..=MAX_ENTRIES).map(|i| SourceHost::new(&format!("h{i}"), 0)).collect();
/// let err = from_json("many.json", to_json(&profile).as_bytes()).unwrap_err();
/// assert_eq!(err.kind, LoadErrorKind::Malformed);
/// assert_eq!(err.path, "hosts", "{err}");
/// ```
pub const MAX_ENTRIES: usize = 8192;

/// What is wrong with a profile file that cannot be loaded.
///
/// ```
/// use cpu_profile::json::{from_json, LoadErrorKind};
/// let kind = |text: &str| from_json("p.json", text.as_bytes()).unwrap_err().kind;
/// assert_eq!(kind("{"), LoadErrorKind::Syntax);
/// assert_eq!(kind(r#"{"format": "something-else", "version": 1}"#), LoadErrorKind::NotAProfile);
/// assert_eq!(kind(r#"{"format": "xenmig-cpu-profile", "version": 2}"#), LoadErrorKind::UnsupportedVersion);
/// assert_eq!(kind(r#"{"format": "xenmig-cpu-profile", "version": 1}"#), LoadErrorKind::Malformed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// Larger than [`MAX_PROFILE_BYTES`].
    TooLarge,
    /// Not JSON: a syntax error, a number out of range, nesting too deep.
    Syntax,
    /// JSON whose `format` is not `xenmig-cpu-profile`.
    NotAProfile,
    /// A profile of a version this crate does not read.
    UnsupportedVersion,
    /// A key or value is not what the format says: an unknown, repeated or
    /// missing key, a value of the wrong type, a malformed hex string, a
    /// value wider than its field, a list longer than [`MAX_ENTRIES`].
    Malformed,
    /// A value has bits outside its mask.
    ValueOutsideMask,
    /// A pool mask clears and sets the same bit.
    ClearedAndSet,
    /// A register has two entries.
    RepeatedRegister,
    /// An entry for a register that `vendor` or `limits` set.
    OwnedRegister,
}

/// A profile file that cannot be loaded: what is wrong, and where (the
/// file, the field, and for what serde found the line and column).
///
/// ```
/// let text = std::fs::read("../../testdata/profile/bad-value-outside-mask.json")?;
/// let err = cpu_profile::json::from_json("bad.json", &text).unwrap_err();
/// assert_eq!(err.kind, cpu_profile::json::LoadErrorKind::ValueOutsideMask);
/// assert_eq!(err.file, "bad.json");
/// assert!(err.path.starts_with("cpuid["), "{}", err.path);
/// assert!(err.to_string().starts_with(&format!("bad.json: {}: ", err.path)), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadError {
    /// What went wrong.
    pub kind: LoadErrorKind,
    /// The file name as the user gave it.
    pub file: String,
    /// The field path (`cpuid[3].mask`), or empty for the whole file.
    pub path: String,
    /// The 1-based line and column where the parser stopped, when it did.
    pub position: Option<(usize, usize)>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == LoadErrorKind::Syntax {
            let (line, column) = self.position.unwrap_or_default();
            return write!(
                f,
                "{}: expected JSON, found a syntax error at line {line} column {column} ({})",
                self.file, self.message
            );
        }
        write!(f, "{}: ", self.file)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some((line, column)) = self.position {
            write!(f, " at line {line} column {column}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// A hex string (`"0x0000ffff"`) of up to 64 bits; written with `digits`
/// digits, read with any number from 1 to 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hex {
    /// The value.
    value: u64,
    /// The digits it is written with (8 for 32-bit fields, 16 for 64-bit).
    digits: usize,
}

impl Hex {
    fn of32(value: u32) -> Hex {
        Hex {
            value: value.into(),
            digits: 8,
        }
    }

    fn of64(value: u64) -> Hex {
        Hex { value, digits: 16 }
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!(
            "{:#0width$x}",
            self.value,
            width = self.digits + 2
        ))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Hex, D::Error> {
        struct HexVisitor;
        impl Visitor<'_> for HexVisitor {
            type Value = Hex;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex string like \"0x0000ffff\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Hex, E> {
                let digits = text
                    .strip_prefix("0x")
                    .or_else(|| text.strip_prefix("0X"))
                    .filter(|d| {
                        (1..=16).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_hexdigit())
                    })
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))?;
                let value = u64::from_str_radix(digits, 16)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))?;
                Ok(Hex {
                    value,
                    digits: digits.len(),
                })
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

/// The whole file, key by key in the order written. Serde refuses unknown
/// and repeated keys of every object but `limits` ([`KeysOnce`] does there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a profile (a JSON object)")]
struct ProfileFile {
    /// Always [`FORMAT_NAME`].
    format: String,
    /// [`FORMAT_VERSION`].
    version: u64,
    /// The profile's name.
    name: String,
    /// The leaf-0 vendor string.
    vendor: String,
    /// The hosts the profile was made from.
    hosts: Entries<HostEntry>,
    /// The limits by name, in the order of [`Limits::DEFS`].
    limits: KeysOnce<Hex>,
    /// The CPUID registers the profile defines.
    cpuid: Entries<CpuidEntry>,
    /// The MSRs the profile defines, both halves in one entry.
    msrs: Entries<MsrEntry>,
    /// The pool masks, CPUID registers first.
    pool_masks: Entries<PoolMaskEntry>,
}

/// One of `hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostEntry {
    /// The host's name.
    name: String,
    /// Its leaf 1 EAX.
    signature: Hex,
}

/// One of `cpuid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CpuidEntry {
    /// The leaf.
    leaf: Hex,
    /// The subleaf, `null` for a leaf without subleaves.
    #[serde(deserialize_with = "nullable")]
    subleaf: Option<u32>,
    /// `eax`, `ebx`, `ecx` or `edx`.
    register: String,
    /// The value (bits of `mask` only).
    value: Hex,
    /// The bits the profile defines.
    mask: Hex,
}

/// One of `msrs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MsrEntry {
    /// The MSR index.
    index: Hex,
    /// The 64-bit value (bits of `mask` only).
    value: Hex,
    /// The bits the profile defines.
    mask: Hex,
}

/// One of `pool_masks`: a CPUID register (`leaf`, `subleaf`, `register`)
/// or an MSR (`msr`), and the bits cleared and set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolMaskEntry {
    /// The MSR index, for an MSR's mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msr: Option<Hex>,
    /// The leaf, for a CPUID register's mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    leaf: Option<Hex>,
    /// The subleaf (`null` for none), for a CPUID register's mask.
    #[serde(
        default,
        deserialize_with = "optional_nullable",
        skip_serializing_if = "Option::is_none"
    )]
    subleaf: Option<Option<u32>>,
    /// The register, for a CPUID register's mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    register: Option<String>,
    /// The bits cleared.
    clear: Hex,
    /// The bits forced on.
    set: Hex,
}

/// MSR halves grouped into 64-bit values: index → (value, mask).
fn msr_values<T: Copy>(
    map: &BTreeMap<FeatureRegister, T>,
    parts: impl Fn(T) -> (u32, u32),
) -> BTreeMap<u32, (u64, u64)> {
    let mut out: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for (&reg, &item) in map {
        if let FeatureRegister::Msr { index, half } = reg {
            let (a, b) = parts(item);
            let entry = out.entry(index).or_default();
            entry.0 |= half.place(a);
            entry.1 |= half.place(b);
        }
    }
    out
}

/// The inverse of [`msr_values`]: two 64-bit quantities of MSR `index`
/// split into its low and high 32-bit feature registers.
fn msr_halves(index: u32, a: u64, b: u64) -> [(FeatureRegister, u32, u32); 2] {
    MsrHalf::BOTH.map(|half| (FeatureRegister::Msr { index, half }, half.of(a), half.of(b)))
}

/// The CPUID registers of `map` with their items.
fn cpuid_items<T: Copy>(
    map: &BTreeMap<FeatureRegister, T>,
) -> impl Iterator<Item = (u32, Option<u32>, Register, T)> + '_ {
    map.iter().filter_map(|(&reg, &item)| match reg {
        FeatureRegister::Cpuid { key, register } => Some((key.leaf, key.subleaf, register, item)),
        FeatureRegister::Msr { .. } => None,
    })
}

impl ProfileFile {
    /// The file of a profile.
    fn of(profile: &Profile) -> ProfileFile {
        let cpuid = cpuid_items(&profile.registers)
            .map(|(leaf, subleaf, register, bits)| CpuidEntry {
                leaf: Hex::of32(leaf),
                subleaf,
                register: register.as_str().to_owned(),
                value: Hex::of32(bits.value),
                mask: Hex::of32(bits.mask),
            })
            .collect();
        let msrs = msr_values(&profile.registers, |b: Bits| (b.value, b.mask))
            .into_iter()
            .map(|(index, (value, mask))| MsrEntry {
                index: Hex::of32(index),
                value: Hex::of64(value),
                mask: Hex::of64(mask),
            })
            .collect();
        let mut pool_masks: Vec<PoolMaskEntry> = cpuid_items(&profile.pool_masks)
            .map(|(leaf, subleaf, register, m)| PoolMaskEntry {
                msr: None,
                leaf: Some(Hex::of32(leaf)),
                subleaf: Some(subleaf),
                register: Some(register.as_str().to_owned()),
                clear: Hex::of32(m.clear),
                set: Hex::of32(m.set),
            })
            .collect();
        pool_masks.extend(
            msr_values(&profile.pool_masks, |m: PoolMask| (m.clear, m.set))
                .into_iter()
                .map(|(index, (clear, set))| PoolMaskEntry {
                    msr: Some(Hex::of32(index)),
                    leaf: None,
                    subleaf: None,
                    register: None,
                    clear: Hex::of64(clear),
                    set: Hex::of64(set),
                }),
        );
        ProfileFile {
            format: FORMAT_NAME.to_owned(),
            version: FORMAT_VERSION.into(),
            name: profile.name.clone(),
            vendor: profile.vendor.clone(),
            hosts: Entries(
                profile
                    .hosts
                    .iter()
                    .map(|h| HostEntry {
                        name: h.name.clone(),
                        signature: Hex::of32(h.signature),
                    })
                    .collect(),
            ),
            limits: KeysOnce(
                profile
                    .limits
                    .iter()
                    .map(|(def, v)| (def.name.to_owned(), Hex::of32(v)))
                    .collect(),
            ),
            cpuid: Entries(cpuid),
            msrs: Entries(msrs),
            pool_masks: Entries(pool_masks),
        }
    }
}

/// The profile as JSON text (ends with a newline), one register per line.
///
/// ```
/// use cpu_profile::{json::to_json, Bits, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// let mut profile = Profile::new("demo", "GenuineIntel");
/// profile.registers.insert(FeatureRegister::cpuid(1, None, Register::Ecx), Bits { value: 1, mask: 3 });
/// let text = to_json(&profile);
/// assert!(text.ends_with("}\n"));
/// let line = text.lines().find(|l| l.contains("\"leaf\": \"0x00000001\"")).unwrap();
/// assert!(line.contains("\"value\": \"0x00000001\"") && line.contains("\"mask\": \"0x00000003\""), "{line}");
/// ```
pub fn to_json(profile: &Profile) -> String {
    entry_per_line(&ProfileFile::of(profile))
}

/// The two keys read before the rest, so that a file of another format or
/// version says so rather than what its keys lack.
#[derive(Deserialize)]
#[serde(expecting = "a profile (a JSON object)")]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

/// Makes the errors of one file.
struct At<'a> {
    file: &'a str,
}

impl At<'_> {
    fn err(
        &self,
        kind: LoadErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> LoadError {
        LoadError {
            kind,
            file: self.file.to_owned(),
            path: path.into(),
            position: None,
            message: message.into(),
        }
    }

    fn malformed(&self, path: impl Into<String>, message: impl Into<String>) -> LoadError {
        self.err(LoadErrorKind::Malformed, path, message)
    }

    /// Reads `T` from `bytes` through serde, naming the field of an error.
    fn parse<'de, T: Deserialize<'de>>(&self, bytes: &'de [u8]) -> Result<T, LoadError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(ObjectsOnly(&mut de))
            .map_err(|e| {
                let path = e.path().to_string();
                self.serde(
                    if path == "." { String::new() } else { path },
                    e.into_inner(),
                )
            })
            .and_then(|value| {
                de.end()
                    .map(|()| value)
                    .map_err(|e| self.serde(String::new(), e))
            })
    }

    fn serde(&self, path: String, e: serde_json::Error) -> LoadError {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        let message = text
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&text)
            .to_owned();
        let kind = match e.classify() {
            serde_json::error::Category::Data => LoadErrorKind::Malformed,
            _ => LoadErrorKind::Syntax,
        };
        LoadError {
            kind,
            file: self.file.to_owned(),
            path,
            position: Some((line, column)),
            message,
        }
    }

    fn u32(&self, path: impl FnOnce() -> String, hex: Hex) -> Result<u32, LoadError> {
        u32::try_from(hex.value).map_err(|_| {
            self.malformed(
                path(),
                format!("expected a 32-bit value, found {:#x}", hex.value),
            )
        })
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Loads a profile from JSON text; `file` names it in errors.
///
/// ```
/// use cpu_profile::{json, Profile};
/// let profile = Profile::new("demo", "GenuineIntel");
/// assert_eq!(json::from_json("demo.json", json::to_json(&profile).as_bytes())?, profile);
/// let err = json::from_json("demo.json", b"[]").unwrap_err();
/// assert_eq!(err.kind, json::LoadErrorKind::Malformed);
/// assert!(err.to_string().starts_with("demo.json: "), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn from_json(file: &str, bytes: &[u8]) -> Result<Profile, LoadError> {
    let at = At { file };
    if bytes.len() > MAX_PROFILE_BYTES {
        return Err(at.err(
            LoadErrorKind::TooLarge,
            "",
            // Not the size: callers read at most one byte past the limit.
            format!("expected a profile of at most {MAX_PROFILE_BYTES} bytes, found a larger one"),
        ));
    }
    let header: Header = at.parse(bytes)?;
    let format = header.format.unwrap_or_default();
    if format != FORMAT_NAME {
        return Err(at.err(
            LoadErrorKind::NotAProfile,
            "format",
            format!("expected \"{FORMAT_NAME}\", found {}", quoted(&format)),
        ));
    }
    match header.version {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        found => {
            return Err(at.err(
                LoadErrorKind::UnsupportedVersion,
                "version",
                format!(
                    "expected {FORMAT_VERSION}, found {}",
                    found.map_or_else(|| "none".to_owned(), |v| v.to_string())
                ),
            ));
        }
    }
    let file: ProfileFile = at.parse(bytes)?;
    profile_of(&at, file)
}

fn profile_of(at: &At<'_>, file: ProfileFile) -> Result<Profile, LoadError> {
    let vendor = &file.vendor;
    if vendor.len() != 12 || !vendor.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(at.malformed(
            "vendor",
            format!(
                "expected a 12-character vendor string like \"GenuineIntel\", found {}",
                quoted(vendor)
            ),
        ));
    }
    let mut profile = Profile::new(&file.name, vendor);
    for (i, host) in file.hosts.0.into_iter().enumerate() {
        let signature = at.u32(|| format!("hosts[{i}].signature"), host.signature)?;
        profile.hosts.push(SourceHost {
            name: host.name,
            signature,
        });
    }
    limits(at, &file.limits, &mut profile.limits)?;
    for (i, entry) in file.cpuid.0.iter().enumerate() {
        cpuid_entry(at, &format!("cpuid[{i}]"), entry, &mut profile.registers)?;
    }
    for (i, entry) in file.msrs.0.iter().enumerate() {
        msr_entry(at, &format!("msrs[{i}]"), entry, &mut profile.registers)?;
    }
    for (i, entry) in file.pool_masks.0.iter().enumerate() {
        pool_mask_entry(
            at,
            &format!("pool_masks[{i}]"),
            entry,
            &mut profile.pool_masks,
        )?;
    }
    Ok(profile)
}

fn limits(at: &At<'_>, members: &KeysOnce<Hex>, limits: &mut Limits) -> Result<(), LoadError> {
    let names: Vec<&str> = Limits::DEFS.iter().map(|d| d.name).collect();
    if let Some((key, _)) = members.0.iter().find(|(k, _)| !names.contains(&k.as_str())) {
        return Err(at.malformed(
            format!("limits.{key}"),
            format!("unknown key; expected one of {}", names.join(", ")),
        ));
    }
    for (i, def) in Limits::DEFS.iter().enumerate() {
        let path = || format!("limits.{}", def.name);
        let hex = members
            .0
            .iter()
            .find(|(k, _)| k == def.name)
            .map(|(_, v)| *v)
            .ok_or_else(|| at.malformed(path(), "missing"))?;
        let v = at.u32(path, hex)?;
        if v & !def.extract(u32::MAX) != 0 {
            return Err(at.malformed(
                path(),
                format!("expected a {}-bit value, found {v:#x}", def.width),
            ));
        }
        limits.set(i, v);
    }
    Ok(())
}

fn cpuid_register(
    at: &At<'_>,
    path: &str,
    leaf: Hex,
    subleaf: Option<u32>,
    register: &str,
) -> Result<FeatureRegister, LoadError> {
    let leaf = at.u32(|| format!("{path}.leaf"), leaf)?;
    let register: Register = register.parse().map_err(|_| {
        at.malformed(
            format!("{path}.register"),
            format!("expected eax, ebx, ecx or edx, found {}", quoted(register)),
        )
    })?;
    Ok(FeatureRegister::cpuid(leaf, subleaf, register))
}

fn cpuid_entry(
    at: &At<'_>,
    path: &str,
    entry: &CpuidEntry,
    registers: &mut BTreeMap<FeatureRegister, Bits>,
) -> Result<(), LoadError> {
    let register = cpuid_register(at, path, entry.leaf, entry.subleaf, &entry.register)?;
    if rules::is_limit_register(register) {
        return Err(at.err(
            LoadErrorKind::OwnedRegister,
            path,
            format!("{register} is set by \"limits\"; expected no cpuid entry for it"),
        ));
    }
    if matches!(register, FeatureRegister::Cpuid { key, .. } if key.leaf == 0 && key.subleaf.unwrap_or(0) == 0)
    {
        return Err(at.err(
            LoadErrorKind::OwnedRegister,
            path,
            format!("{register} is set by \"vendor\"; expected no cpuid entry for it"),
        ));
    }
    let value = at.u32(|| format!("{path}.value"), entry.value)?;
    let mask = at.u32(|| format!("{path}.mask"), entry.mask)?;
    if value & !mask != 0 {
        return Err(at.err(
            LoadErrorKind::ValueOutsideMask,
            format!("{path}.value"),
            format!(
                "expected only bits of mask {mask:#010x}, found {:#010x} outside it",
                value & !mask
            ),
        ));
    }
    if mask != 0 {
        insert_unique(at, path, registers, register, Bits { value, mask })?;
    }
    Ok(())
}

fn msr_entry(
    at: &At<'_>,
    path: &str,
    entry: &MsrEntry,
    registers: &mut BTreeMap<FeatureRegister, Bits>,
) -> Result<(), LoadError> {
    let index = at.u32(|| format!("{path}.index"), entry.index)?;
    let (value, mask) = (entry.value.value, entry.mask.value);
    if value & !mask != 0 {
        return Err(at.err(
            LoadErrorKind::ValueOutsideMask,
            format!("{path}.value"),
            format!(
                "expected only bits of mask {mask:#018x}, found {:#018x} outside it",
                value & !mask
            ),
        ));
    }
    for (register, value, mask) in msr_halves(index, value, mask) {
        if mask != 0 {
            insert_unique(at, path, registers, register, Bits { value, mask })?;
        }
    }
    Ok(())
}

fn pool_mask_entry(
    at: &At<'_>,
    path: &str,
    entry: &PoolMaskEntry,
    masks: &mut BTreeMap<FeatureRegister, PoolMask>,
) -> Result<(), LoadError> {
    let (clear, set) = (entry.clear.value, entry.set.value);
    let halves = if let Some(index) = entry.msr {
        if entry.leaf.is_some() || entry.subleaf.is_some() || entry.register.is_some() {
            return Err(at.malformed(
                path,
                "expected an MSR (msr) or a CPUID register (leaf, subleaf, register), found both",
            ));
        }
        let index = at.u32(|| format!("{path}.msr"), index)?;
        msr_halves(index, clear, set).to_vec()
    } else {
        let missing = |key: &str| at.malformed(format!("{path}.{key}"), "missing");
        let leaf = entry.leaf.ok_or_else(|| missing("leaf"))?;
        let subleaf = entry.subleaf.ok_or_else(|| missing("subleaf"))?;
        let register = entry
            .register
            .as_deref()
            .ok_or_else(|| missing("register"))?;
        let register = cpuid_register(at, path, leaf, subleaf, register)?;
        let clear = at.u32(|| format!("{path}.clear"), entry.clear)?;
        let set = at.u32(|| format!("{path}.set"), entry.set)?;
        vec![(register, clear, set)]
    };
    if clear & set != 0 {
        return Err(at.err(
            LoadErrorKind::ClearedAndSet,
            path,
            format!(
                "expected no bit both cleared and set, found {:#x}",
                clear & set
            ),
        ));
    }
    for (register, clear, set) in halves {
        let m = PoolMask { clear, set };
        if m != PoolMask::default() {
            insert_unique(at, path, masks, register, m)?;
        }
    }
    Ok(())
}

fn insert_unique<T>(
    at: &At<'_>,
    path: &str,
    map: &mut BTreeMap<FeatureRegister, T>,
    register: FeatureRegister,
    item: T,
) -> Result<(), LoadError> {
    // CPUID answers a leaf without subleaves the same for subleaf 0, so
    // `"subleaf": null` and `"subleaf": 0` name the same register.
    let other_spelling = match register {
        FeatureRegister::Cpuid { key, register } => match key.subleaf {
            None => Some(FeatureRegister::cpuid(key.leaf, Some(0), register)),
            Some(0) => Some(FeatureRegister::cpuid(key.leaf, None, register)),
            Some(_) => None,
        },
        FeatureRegister::Msr { .. } => None,
    };
    if other_spelling.is_some_and(|other| map.contains_key(&other))
        || map.insert(register, item).is_some()
    {
        return Err(at.err(
            LoadErrorKind::RepeatedRegister,
            path,
            format!("{register} appears twice; expected each register once"),
        ));
    }
    Ok(())
}

//! The profile file: versioned, readable JSON with hex strings for register
//! values, one register per line so that a profile diffs well in version
//! control. `docs/cpu-profile-format.md` documents every key.
//!
//! The loader is strict: unknown or repeated keys, values with bits outside
//! their mask, duplicate registers and registers the limits own are errors,
//! and every error names the file and the field (`cpuid[3].mask`).
//!
//! ```
//! use cpu_profile::{json, Bits, Profile};
//! use cpuid_defs::{FeatureRegister, Register};
//! let mut profile = Profile::new("demo", "AuthenticAMD");
//! profile.registers.insert(FeatureRegister::cpuid(7, Some(0), Register::Ebx), Bits { value: 0x29, mask: 0xff });
//! let text = json::to_json(&profile);
//! assert_eq!(json::from_json("demo.json", text.as_bytes()).unwrap(), profile);
//! let err = json::from_json("bad.json", b"{\"format\": \"xenmig-cpu-profile\", \"version\": 7}").unwrap_err();
//! assert_eq!(err.to_string(), "bad.json: version: expected 1, found 7");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use cpuid_defs::{FeatureRegister, LeafKey, MsrHalf, Register};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::rules;
use crate::{Bits, FORMAT_NAME, FORMAT_VERSION, Limits, PoolMask, Profile, SourceHost};

/// The largest profile file the loader reads.
pub const MAX_PROFILE_BYTES: usize = 4 << 20;
/// The most entries of one list (`hosts`, `cpuid`, `msrs`, `pool_masks`).
pub const MAX_ENTRIES: usize = 8192;

/// A profile file that cannot be loaded: which file, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file name as the user gave it.
    pub file: String,
    /// The field path (`cpuid[3].mask`), or empty for the whole file.
    pub field: String,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.field, self.message)
        }
    }
}

impl std::error::Error for LoadError {}

fn hex32(v: u32) -> String {
    format!("\"0x{v:08x}\"")
}

fn hex64(v: u64) -> String {
    format!("\"0x{v:016x}\"")
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn cpuid_key_json(key: LeafKey, register: Register) -> String {
    let subleaf = key
        .subleaf
        .map_or_else(|| "null".to_owned(), |s| s.to_string());
    format!(
        "\"leaf\": {}, \"subleaf\": {subleaf}, \"register\": \"{}\"",
        hex32(key.leaf),
        register.as_str()
    )
}

/// Joins JSON lines into a list body, one item per line.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".to_owned();
    }
    format!("[\n    {}\n  ]", items.join(",\n    "))
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

/// One JSON object per CPUID register of `map`: its key, then two 32-bit
/// fields named by `names` and taken from each item by `parts`.
fn cpuid_rows<T: Copy>(
    map: &BTreeMap<FeatureRegister, T>,
    names: [&str; 2],
    parts: impl Fn(T) -> (u32, u32),
) -> Vec<String> {
    map.iter()
        .filter_map(|(&reg, &item)| match reg {
            FeatureRegister::Cpuid { key, register } => {
                let (a, b) = parts(item);
                Some(format!(
                    "{{{}, \"{}\": {}, \"{}\": {}}}",
                    cpuid_key_json(key, register),
                    names[0],
                    hex32(a),
                    names[1],
                    hex32(b)
                ))
            }
            FeatureRegister::Msr { .. } => None,
        })
        .collect()
}

/// The profile as JSON text (ends with a newline).
pub fn to_json(profile: &Profile) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(out, "  \"format\": \"{FORMAT_NAME}\",");
    let _ = writeln!(out, "  \"version\": {FORMAT_VERSION},");
    let _ = writeln!(out, "  \"name\": {},", quoted(&profile.name));
    let _ = writeln!(out, "  \"vendor\": {},", quoted(&profile.vendor));
    let hosts: Vec<String> = profile
        .hosts
        .iter()
        .map(|h| {
            format!(
                "{{\"name\": {}, \"signature\": {}}}",
                quoted(&h.name),
                hex32(h.signature)
            )
        })
        .collect();
    let _ = writeln!(out, "  \"hosts\": {},", list(&hosts));
    let limits: Vec<String> = profile
        .limits
        .iter()
        .map(|(def, v)| format!("\"{}\": {}", def.name, hex32(v)))
        .collect();
    let _ = writeln!(
        out,
        "  \"limits\": {{\n    {}\n  }},",
        limits.join(",\n    ")
    );
    let cpuid = cpuid_rows(&profile.registers, ["value", "mask"], |b: Bits| {
        (b.value, b.mask)
    });
    let _ = writeln!(out, "  \"cpuid\": {},", list(&cpuid));
    let msrs: Vec<String> = msr_values(&profile.registers, |b: Bits| (b.value, b.mask))
        .into_iter()
        .map(|(index, (value, mask))| {
            format!(
                "{{\"index\": {}, \"value\": {}, \"mask\": {}}}",
                hex32(index),
                hex64(value),
                hex64(mask)
            )
        })
        .collect();
    let _ = writeln!(out, "  \"msrs\": {},", list(&msrs));
    let mut masks = cpuid_rows(&profile.pool_masks, ["clear", "set"], |m: PoolMask| {
        (m.clear, m.set)
    });
    masks.extend(
        msr_values(&profile.pool_masks, |m: PoolMask| (m.clear, m.set))
            .into_iter()
            .map(|(index, (clear, set))| {
                format!(
                    "{{\"msr\": {}, \"clear\": {}, \"set\": {}}}",
                    hex32(index),
                    hex64(clear),
                    hex64(set)
                )
            }),
    );
    let _ = writeln!(out, "  \"pool_masks\": {}", list(&masks));
    out.push_str("}\n");
    out
}

/// A cursor for error messages: the file and the path to the current field.
struct At<'a> {
    file: &'a str,
}

impl At<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> LoadError {
        LoadError {
            file: self.file.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

fn describe(value: &Value) -> String {
    let text = match value {
        Value::String(s) => format!("the string {}", quoted(s)),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        other => other.to_string(),
    };
    let mut cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

fn object<'v>(
    at: &At<'_>,
    field: &str,
    value: &'v Value,
) -> Result<&'v Map<String, Value>, LoadError> {
    value.as_object().ok_or_else(|| {
        at.err(
            field,
            format!("expected an object, found {}", describe(value)),
        )
    })
}

fn only_keys(
    at: &At<'_>,
    field: &str,
    obj: &Map<String, Value>,
    keys: &[&str],
) -> Result<(), LoadError> {
    for key in obj.keys() {
        if !keys.contains(&key.as_str()) {
            let path = if field.is_empty() {
                key.clone()
            } else {
                format!("{field}.{key}")
            };
            return Err(at.err(
                path,
                format!("unknown key; expected one of {}", keys.join(", ")),
            ));
        }
    }
    Ok(())
}

fn get<'v>(
    at: &At<'_>,
    field: &str,
    obj: &'v Map<String, Value>,
    key: &str,
) -> Result<&'v Value, LoadError> {
    obj.get(key).ok_or_else(|| {
        let path = if field.is_empty() {
            key.to_owned()
        } else {
            format!("{field}.{key}")
        };
        at.err(path, "missing")
    })
}

fn path(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_owned()
    } else {
        format!("{field}.{key}")
    }
}

fn string<'v>(at: &At<'_>, field: &str, value: &'v Value) -> Result<&'v str, LoadError> {
    value.as_str().ok_or_else(|| {
        at.err(
            field,
            format!("expected a string, found {}", describe(value)),
        )
    })
}

fn hex(at: &At<'_>, field: &str, value: &Value, bits: u32) -> Result<u64, LoadError> {
    let expected = if bits == 32 {
        "a hex string like \"0x0000ffff\""
    } else {
        "a hex string like \"0x000000000000ffff\""
    };
    let bad = || {
        at.err(
            field,
            format!("expected {expected}, found {}", describe(value)),
        )
    };
    let text = value.as_str().ok_or_else(bad)?;
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(bad)?;
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let v = u64::from_str_radix(digits, 16).map_err(|_| bad())?;
    if bits == 32 && v > u64::from(u32::MAX) {
        return Err(at.err(field, format!("expected a 32-bit value, found {text}")));
    }
    Ok(v)
}

fn hex32_field(
    at: &At<'_>,
    field: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<u32, LoadError> {
    let v = hex(at, &path(field, key), get(at, field, obj, key)?, 32)?;
    // hex() bounds 32-bit values.
    Ok(v as u32)
}

fn hex64_field(
    at: &At<'_>,
    field: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<u64, LoadError> {
    hex(at, &path(field, key), get(at, field, obj, key)?, 64)
}

fn list_of<'v>(at: &At<'_>, field: &str, value: &'v Value) -> Result<&'v Vec<Value>, LoadError> {
    let items = value
        .as_array()
        .ok_or_else(|| at.err(field, format!("expected a list, found {}", describe(value))))?;
    if items.len() > MAX_ENTRIES {
        return Err(at.err(
            field,
            format!(
                "expected at most {MAX_ENTRIES} entries, found {}",
                items.len()
            ),
        ));
    }
    Ok(items)
}

fn cpuid_register(
    at: &At<'_>,
    field: &str,
    obj: &Map<String, Value>,
) -> Result<FeatureRegister, LoadError> {
    let leaf = hex32_field(at, field, obj, "leaf")?;
    let subleaf_value = get(at, field, obj, "subleaf")?;
    let subleaf = match subleaf_value {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    at.err(
                        path(field, "subleaf"),
                        format!(
                            "expected null or a number from 0 to 4294967295, found {}",
                            describe(v)
                        ),
                    )
                })?,
        ),
    };
    let reg_field = path(field, "register");
    let name = string(at, &reg_field, get(at, field, obj, "register")?)?;
    let register: Register = name.parse().map_err(|_| {
        at.err(
            &reg_field,
            format!("expected eax, ebx, ecx or edx, found {}", quoted(name)),
        )
    })?;
    Ok(FeatureRegister::cpuid(leaf, subleaf, register))
}

fn insert_unique<T>(
    at: &At<'_>,
    field: &str,
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
            field,
            format!("{register} appears twice; expected each register once"),
        ));
    }
    Ok(())
}

/// Parses one JSON value like `serde_json::Value` does, but refuses a key
/// that appears twice in an object (serde_json keeps the last silently, so a
/// hand-edited profile could say two things and mean the second). `path` is
/// the field path of the value, for the error; the path of a duplicate key is
/// left in `duplicate` because serde's errors carry only text.
struct ValueSeed<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let field = path(&self.path, &key);
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(field);
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(ValueSeed {
                path: field,
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Loads a profile from JSON text; `file` names it in errors.
pub fn from_json(file: &str, bytes: &[u8]) -> Result<Profile, LoadError> {
    let at = At { file };
    if bytes.len() > MAX_PROFILE_BYTES {
        return Err(at.err(
            "",
            // Not the size: callers read at most one byte past the limit.
            format!("expected a profile of at most {MAX_PROFILE_BYTES} bytes, found a larger one"),
        ));
    }
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let root = ValueSeed {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|root| de.end().map(|()| root))
    .map_err(|e| {
        if let Some(field) = duplicate.borrow_mut().take() {
            return at.err(
                field,
                format!(
                    "expected each key once, found it again at line {} column {}",
                    e.line(),
                    e.column()
                ),
            );
        }
        let full = e.to_string();
        let what = full.split(" at line ").next().unwrap_or(&full);
        at.err(
            "",
            format!(
                "expected JSON, found a syntax error at line {} column {} ({what})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let obj = object(&at, "", &root)?;
    let format = string(&at, "format", get(&at, "", obj, "format")?)?;
    if format != FORMAT_NAME {
        return Err(at.err(
            "format",
            format!("expected \"{FORMAT_NAME}\", found {}", quoted(format)),
        ));
    }
    let version = get(&at, "", obj, "version")?;
    if version.as_u64() != Some(u64::from(FORMAT_VERSION)) {
        return Err(at.err(
            "version",
            format!("expected {FORMAT_VERSION}, found {}", describe(version)),
        ));
    }
    only_keys(
        &at,
        "",
        obj,
        &[
            "format",
            "version",
            "name",
            "vendor",
            "hosts",
            "limits",
            "cpuid",
            "msrs",
            "pool_masks",
        ],
    )?;
    let name = string(&at, "name", get(&at, "", obj, "name")?)?;
    let vendor = string(&at, "vendor", get(&at, "", obj, "vendor")?)?;
    if vendor.len() != 12 || !vendor.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(at.err(
            "vendor",
            format!(
                "expected a 12-character vendor string like \"GenuineIntel\", found {}",
                quoted(vendor)
            ),
        ));
    }
    let mut profile = Profile::new(name, vendor);

    for (i, item) in list_of(&at, "hosts", get(&at, "", obj, "hosts")?)?
        .iter()
        .enumerate()
    {
        let field = format!("hosts[{i}]");
        let host = object(&at, &field, item)?;
        only_keys(&at, &field, host, &["name", "signature"])?;
        let name = string(&at, &path(&field, "name"), get(&at, &field, host, "name")?)?;
        let signature = hex32_field(&at, &field, host, "signature")?;
        profile.hosts.push(SourceHost {
            name: name.to_owned(),
            signature,
        });
    }

    let limits = object(&at, "limits", get(&at, "", obj, "limits")?)?;
    let names: Vec<&str> = Limits::DEFS.iter().map(|d| d.name).collect();
    only_keys(&at, "limits", limits, &names)?;
    for (i, def) in Limits::DEFS.iter().enumerate() {
        let v = hex32_field(&at, "limits", limits, def.name)?;
        if v & !def.extract(u32::MAX) != 0 {
            return Err(at.err(
                path("limits", def.name),
                format!("expected a {}-bit value, found {v:#x}", def.width),
            ));
        }
        profile.limits.set(i, v);
    }

    for (i, item) in list_of(&at, "cpuid", get(&at, "", obj, "cpuid")?)?
        .iter()
        .enumerate()
    {
        let field = format!("cpuid[{i}]");
        let entry = object(&at, &field, item)?;
        only_keys(
            &at,
            &field,
            entry,
            &["leaf", "subleaf", "register", "value", "mask"],
        )?;
        let register = cpuid_register(&at, &field, entry)?;
        if matches!(register, FeatureRegister::Cpuid { key, .. } if key.leaf == 0 && key.subleaf.unwrap_or(0) == 0)
            && !rules::is_limit_register(register)
        {
            return Err(at.err(
                &field,
                format!("{register} is set by \"vendor\"; expected no cpuid entry for it"),
            ));
        }
        if rules::is_limit_register(register) {
            return Err(at.err(
                &field,
                format!("{register} is set by \"limits\"; expected no cpuid entry for it"),
            ));
        }
        let value = hex32_field(&at, &field, entry, "value")?;
        let mask = hex32_field(&at, &field, entry, "mask")?;
        if value & !mask != 0 {
            return Err(at.err(
                path(&field, "value"),
                format!(
                    "expected only bits of mask {mask:#010x}, found {:#010x} outside it",
                    value & !mask
                ),
            ));
        }
        if mask != 0 {
            insert_unique(
                &at,
                &field,
                &mut profile.registers,
                register,
                Bits { value, mask },
            )?;
        }
    }

    for (i, item) in list_of(&at, "msrs", get(&at, "", obj, "msrs")?)?
        .iter()
        .enumerate()
    {
        let field = format!("msrs[{i}]");
        let entry = object(&at, &field, item)?;
        only_keys(&at, &field, entry, &["index", "value", "mask"])?;
        let index = hex32_field(&at, &field, entry, "index")?;
        let value = hex64_field(&at, &field, entry, "value")?;
        let mask = hex64_field(&at, &field, entry, "mask")?;
        if value & !mask != 0 {
            return Err(at.err(
                path(&field, "value"),
                format!(
                    "expected only bits of mask {mask:#018x}, found {:#018x} outside it",
                    value & !mask
                ),
            ));
        }
        for (register, value, mask) in msr_halves(index, value, mask) {
            if mask != 0 {
                insert_unique(
                    &at,
                    &field,
                    &mut profile.registers,
                    register,
                    Bits { value, mask },
                )?;
            }
        }
    }

    for (i, item) in list_of(&at, "pool_masks", get(&at, "", obj, "pool_masks")?)?
        .iter()
        .enumerate()
    {
        let field = format!("pool_masks[{i}]");
        let entry = object(&at, &field, item)?;
        if entry.contains_key("msr") {
            only_keys(&at, &field, entry, &["msr", "clear", "set"])?;
            let index = hex32_field(&at, &field, entry, "msr")?;
            let clear = hex64_field(&at, &field, entry, "clear")?;
            let set = hex64_field(&at, &field, entry, "set")?;
            if clear & set != 0 {
                return Err(at.err(
                    &field,
                    format!(
                        "expected no bit both cleared and set, found {:#x}",
                        clear & set
                    ),
                ));
            }
            for (register, clear, set) in msr_halves(index, clear, set) {
                let m = PoolMask { clear, set };
                if m != PoolMask::default() {
                    insert_unique(&at, &field, &mut profile.pool_masks, register, m)?;
                }
            }
        } else {
            only_keys(
                &at,
                &field,
                entry,
                &["leaf", "subleaf", "register", "clear", "set"],
            )?;
            let register = cpuid_register(&at, &field, entry)?;
            let clear = hex32_field(&at, &field, entry, "clear")?;
            let set = hex32_field(&at, &field, entry, "set")?;
            if clear & set != 0 {
                return Err(at.err(
                    &field,
                    format!(
                        "expected no bit both cleared and set, found {:#x}",
                        clear & set
                    ),
                ));
            }
            let m = PoolMask { clear, set };
            if m != PoolMask::default() {
                insert_unique(&at, &field, &mut profile.pool_masks, register, m)?;
            }
        }
    }
    Ok(profile)
}

//! What changes between two profiles (a dump counts as the profile of its
//! one host), by feature name.
//!
//! ```
//! use cpu_profile::{diff::diff, Bits, Profile};
//! use cpuid_defs::{FeatureRegister, Register};
//! let reg = FeatureRegister::cpuid(1, None, Register::Ecx);
//! let mut a = Profile::new("a", "GenuineIntel");
//! a.registers.insert(reg, Bits { value: 0b01, mask: 0b11 });
//! let mut b = a.clone();
//! b.registers.insert(reg, Bits { value: 0b11, mask: 0b11 });
//! let changes = diff(&a, &b);
//! assert_eq!(changes.len(), 1);
//! assert_eq!(changes[0].to_string(), "+ PCLMULQDQ (0x1.ecx[1], intersect): off -> on");
//! ```

use std::collections::BTreeSet;
use std::fmt;

use cpuid_defs::{Feature, FeatureRegister};

use crate::check::Value;
use crate::{Profile, rules};

/// What a profile says about one bit: the three states there are.
///
/// ```
/// use cpu_profile::{diff::{diff, BitState, Change}, Bits, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// let a = Profile::new("a", "GenuineIntel");
/// let mut b = a.clone();
/// // SSE3 (1.ECX bit 0) defined as clear in B, left to the destination in A.
/// b.registers.insert(FeatureRegister::cpuid(1, None, Register::Ecx), Bits { value: 0, mask: 1 });
/// assert!(matches!(
///     diff(&a, &b)[..],
///     [Change::Bit { a: BitState::Undefined, b: BitState::Off, .. }]
/// ));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitState {
    /// Defined as set.
    On,
    /// Defined as clear.
    Off,
    /// Left to the destination.
    Undefined,
}

impl BitState {
    fn of(profile: &Profile, register: FeatureRegister, bit: u8) -> BitState {
        let b = 1u32 << (bit & 31);
        match profile.registers.get(&register) {
            Some(bits) if bits.mask & b != 0 && bits.value & b != 0 => BitState::On,
            Some(bits) if bits.mask & b != 0 => BitState::Off,
            _ => BitState::Undefined,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            BitState::On => "on",
            BitState::Off => "off",
            BitState::Undefined => "undefined",
        }
    }
}

/// One difference.
///
/// ```
/// use cpu_profile::{diff::{diff, Change}, Profile};
/// let a = Profile::new("a", "GenuineIntel");
/// let mut b = Profile::new("b", "AuthenticAMD");
/// b.limits.max_basic_leaf = 0xd;
/// let changes = diff(&a, &b);
/// assert_eq!(changes[0], Change::Vendor { a: "GenuineIntel".into(), b: "AuthenticAMD".into() });
/// assert_eq!(changes[1], Change::Limit { name: "max_basic_leaf", a: 0, b: 0xd });
/// assert_eq!(changes[1].to_string(), "~ max_basic_leaf: 0x0 -> 0xd");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The vendor strings differ.
    Vendor {
        /// A's vendor string.
        a: String,
        /// B's vendor string.
        b: String,
    },
    /// A limit differs.
    Limit {
        /// The limit's name (`max_basic_leaf`...).
        name: &'static str,
        /// A's value.
        a: u32,
        /// B's value.
        b: u32,
    },
    /// A checked field differs.
    Field {
        /// The field's name.
        name: &'static str,
        /// A's value (`None`: not defined).
        a: Option<u32>,
        /// B's value (`None`: not defined).
        b: Option<u32>,
    },
    /// Bits no one has named differ, grouped per register and change.
    Unnamed {
        /// Their register.
        register: FeatureRegister,
        /// The bits.
        mask: u32,
        /// In A.
        a: BitState,
        /// In B.
        b: BitState,
    },
    /// A named bit differs.
    Bit {
        /// The feature, if the bit has a name.
        feature: Option<&'static Feature>,
        /// Its register.
        register: FeatureRegister,
        /// Its bit.
        bit: u8,
        /// In A.
        a: BitState,
        /// In B.
        b: BitState,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: &Option<u32>| v.map_or_else(|| "undefined".to_owned(), |v| format!("{v:#x}"));
        match self {
            Change::Vendor { a, b } => write!(f, "~ vendor: {a} -> {b}"),
            Change::Limit { name, a, b } => write!(f, "~ {name}: {a:#x} -> {b:#x}"),
            Change::Field { name, a, b } => write!(f, "~ {name}: {} -> {}", opt(a), opt(b)),
            Change::Unnamed {
                register,
                mask,
                a,
                b,
            } => write!(
                f,
                "~ unnamed bits {mask:#010x} of {register}: {} -> {}",
                a.as_str(),
                b.as_str()
            ),
            Change::Bit {
                feature,
                register,
                bit,
                a,
                b,
            } => {
                let sign = match (a, b) {
                    (_, BitState::On) => '+',
                    (BitState::On, _) => '-',
                    _ => '~',
                };
                let name = feature.map_or("(unnamed bit)", |f| f.name);
                let class = feature.map_or("unnamed", |f| f.class.as_str());
                write!(
                    f,
                    "{sign} {name} ({}, {class}): {} -> {}",
                    rules::describe_location(*register, *bit),
                    a.as_str(),
                    b.as_str()
                )
            }
        }
    }
}

/// Every difference from `a` to `b`: vendor, limits, fields, then bits in register order.
///
/// ```
/// use cpu_profile::{diff::diff, generate::generate};
/// use maskcalc::model::Host;
/// let host = |file: &str| -> Result<Host, Box<dyn std::error::Error>> {
///     let bytes = std::fs::read(format!("../../testdata/cpuid/{file}"))?;
///     Ok(Host { name: file.into(), cpuid: maskcalc::dump::parse(file, &bytes, None)? })
/// };
/// let skylake = generate("skylake", &[host("intel-skylake-sp-xeon-platinum-8180.txt")?])?;
/// let icelake = generate("icelake", &[host("intel-icelake-sp-xeon-gold-6330.txt")?])?;
/// let lines: Vec<String> = diff(&skylake, &icelake).iter().map(|c| c.to_string()).collect();
/// assert!(lines.iter().any(|l| l.starts_with("+ AVX512_VBMI ")), "{lines:#?}");
/// assert!(diff(&icelake, &icelake).is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff(a: &Profile, b: &Profile) -> Vec<Change> {
    let mut changes = Vec::new();
    if a.vendor != b.vendor {
        changes.push(Change::Vendor {
            a: a.vendor.clone(),
            b: b.vendor.clone(),
        });
    }
    for ((def, va), (_, vb)) in a.limits.iter().zip(b.limits.iter()) {
        if va != vb {
            changes.push(Change::Limit {
                name: def.name,
                a: va,
                b: vb,
            });
        }
    }
    let registers: BTreeSet<FeatureRegister> = a
        .registers
        .keys()
        .chain(b.registers.keys())
        .copied()
        .collect();
    for register in registers {
        let field_bits = rules::field_mask(register);
        for f in rules::fields_in(register) {
            let get = |p: &Profile| {
                p.registers
                    .get(&register)
                    .filter(|bits| bits.mask & f.field.mask() != 0)
                    .map(|bits| f.field.extract(bits.value))
            };
            let (fa, fb) = (get(a), get(b));
            if fa != fb {
                changes.push(Change::Field {
                    name: f.field.name,
                    a: fa,
                    b: fb,
                });
            }
        }
        let mut unnamed: Vec<(BitState, BitState, u32)> = Vec::new();
        for bit in 0..32u8 {
            if field_bits & (1 << bit) != 0 {
                continue;
            }
            let (sa, sb) = (
                BitState::of(a, register, bit),
                BitState::of(b, register, bit),
            );
            if sa == sb {
                continue;
            }
            match rules::feature_at(register, bit) {
                Some(feature) => changes.push(Change::Bit {
                    feature: Some(feature),
                    register,
                    bit,
                    a: sa,
                    b: sb,
                }),
                None => match unnamed.iter_mut().find(|(x, y, _)| (*x, *y) == (sa, sb)) {
                    Some((_, _, mask)) => *mask |= 1 << bit,
                    None => unnamed.push((sa, sb, 1 << bit)),
                },
            }
        }
        changes.extend(unnamed.into_iter().map(|(sa, sb, mask)| Change::Unnamed {
            register,
            mask,
            a: sa,
            b: sb,
        }));
    }
    changes
}

/// The document of [`changes_json`], fields in the alphabetical order
/// version 1 was first written in.
#[derive(serde::Serialize)]
struct ChangesJson<'a> {
    a: &'a str,
    b: &'a str,
    changes: Vec<ChangeJson<'a>>,
}

/// One change: `kind` and `message`, and the fields of its kind.
#[derive(serde::Serialize)]
struct ChangeJson<'a> {
    a: Value<'a>,
    b: Value<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feature: Option<Option<&'static str>>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mask: Option<String>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    register: Option<String>,
}

impl<'a> ChangeJson<'a> {
    fn new(kind: &'static str, change: &Change, a: Value<'a>, b: Value<'a>) -> Self {
        ChangeJson {
            a,
            b,
            class: None,
            feature: None,
            kind,
            location: None,
            mask: None,
            message: change.to_string(),
            name: None,
            register: None,
        }
    }
}

/// The changes as JSON: `{"a", "b", "changes": [{"kind", "message", ...}]}`,
/// with the feature name, location, class and both states for bits; the
/// typed form is the [`Change`]s.
///
/// ```
/// use cpu_profile::{diff::{changes_json, diff}, Bits, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// let a = Profile::new("a", "GenuineIntel");
/// let mut b = a.clone();
/// b.registers.insert(FeatureRegister::cpuid(1, None, Register::Ecx), Bits { value: 1, mask: 1 });
/// let json: serde_json::Value = serde_json::from_str(&changes_json("a.json", "b.json", &diff(&a, &b)))?;
/// assert_eq!((json["a"].as_str(), json["b"].as_str()), (Some("a.json"), Some("b.json")));
/// let change = &json["changes"][0];
/// assert_eq!((change["kind"].as_str(), change["feature"].as_str()), (Some("bit"), Some("SSE3")));
/// assert_eq!((change["a"].as_str(), change["b"].as_str()), (Some("undefined"), Some("on")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn changes_json(a_name: &str, b_name: &str, changes: &[Change]) -> String {
    let changes = changes
        .iter()
        .map(|change| match change {
            Change::Vendor { a, b } => {
                ChangeJson::new("vendor", change, Value::Text(a), Value::Text(b))
            }
            Change::Limit { name, a, b } => ChangeJson {
                name: Some(name),
                ..ChangeJson::new(
                    "limit",
                    change,
                    Value::Number(Some(*a)),
                    Value::Number(Some(*b)),
                )
            },
            Change::Field { name, a, b } => ChangeJson {
                name: Some(name),
                ..ChangeJson::new("field", change, Value::Number(*a), Value::Number(*b))
            },
            Change::Unnamed {
                register,
                mask,
                a,
                b,
            } => ChangeJson {
                register: Some(register.to_string()),
                mask: Some(format!("{mask:#010x}")),
                ..ChangeJson::new(
                    "unnamed",
                    change,
                    Value::Text(a.as_str()),
                    Value::Text(b.as_str()),
                )
            },
            Change::Bit {
                feature,
                register,
                bit,
                a,
                b,
            } => ChangeJson {
                feature: Some(feature.map(|f| f.name)),
                class: Some(feature.map_or("unnamed", |f| f.class.as_str())),
                location: Some(rules::describe_location(*register, *bit)),
                ..ChangeJson::new(
                    "bit",
                    change,
                    Value::Text(a.as_str()),
                    Value::Text(b.as_str()),
                )
            },
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&ChangesJson {
        a: a_name,
        b: b_name,
        changes,
    })
    .unwrap_or_default();
    text.push('\n');
    text
}

//! The JSON form of [`PoolMasks`], for machines.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::pool::{Action, PoolMasks, Reason};

// The documents' fields are in alphabetical order: the order version 1 was
// first written in (a serde_json::Value, whose maps sort their keys).

/// The whole document.
#[derive(Serialize)]
struct PoolDocument<'a> {
    features: Vec<FeatureJson>,
    format: &'static str,
    pool: PoolJson<'a>,
    registers: Vec<RegisterJson<'a>>,
    version: u32,
}

#[derive(Serialize)]
struct PoolJson<'a> {
    hidden: Vec<&'static str>,
    hosts: Vec<HostJson<'a>>,
    kept: Vec<KeptJson>,
    masked_bits: usize,
    nested_hvm: bool,
    not_compared: Vec<String>,
    vendors: Vec<&'a str>,
}

#[derive(Serialize)]
struct HostJson<'a> {
    family: String,
    model: String,
    name: &'a str,
    stepping: String,
    vendor: &'a str,
}

#[derive(Serialize)]
struct KeptJson {
    name: &'static str,
    would_be_masked_because: Vec<ReasonJson>,
}

#[derive(Serialize)]
struct RegisterJson<'a> {
    clear: String,
    differing: String,
    mask: String,
    register: String,
    set: String,
    values: BTreeMap<&'a str, String>,
}

#[derive(Serialize)]
struct FeatureJson {
    action: &'static str,
    class: &'static str,
    location: String,
    name: Option<&'static str>,
    reasons: Vec<ReasonJson>,
}

/// A reason, `kind` and the fields of that kind.
#[derive(Serialize, Default)]
struct ReasonJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    having: Option<Vec<String>>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lacking: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    of: Option<&'static str>,
}

/// `value` as serde_json's pretty text, ending with a newline.
pub(crate) fn pretty<T: Serialize>(value: &T) -> String {
    // Cannot fail: the documents have string keys and no serializer errors.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn host_names(masks: &PoolMasks, indices: &[usize]) -> Vec<String> {
    indices
        .iter()
        .filter_map(|&i| masks.hosts.get(i).map(|h| h.name.clone()))
        .collect()
}

fn reason_json(masks: &PoolMasks, reason: &Reason) -> ReasonJson {
    match reason {
        Reason::Differs { lacking } => ReasonJson {
            kind: "differs",
            lacking: Some(host_names(masks, lacking)),
            ..ReasonJson::default()
        },
        Reason::DependencyOf(id) => ReasonJson {
            kind: "dependency",
            of: Some(cpuid_defs::feature(*id).name),
            ..ReasonJson::default()
        },
        Reason::NestedHvmDisabled => ReasonJson {
            kind: "nested-hvm-disabled",
            ..ReasonJson::default()
        },
        Reason::HiddenByRequest => ReasonJson {
            kind: "hidden-by-request",
            ..ReasonJson::default()
        },
        Reason::ForcedOn { having } => ReasonJson {
            kind: "forced-on",
            having: Some(host_names(masks, having)),
            ..ReasonJson::default()
        },
        Reason::NotOnEveryHost { lacking } => ReasonJson {
            kind: "not-on-every-host",
            lacking: Some(host_names(masks, lacking)),
            ..ReasonJson::default()
        },
    }
}

/// Per register the mask, per masked feature the reasons, and a pool summary.
///
/// ```text
/// { "format": "xenmig-pool-masks", "version": 1,
///   "pool": { "hosts": [...], "vendor": "GenuineIntel", "nested_hvm": false, ... },
///   "registers": [ { "register": "0x1.ecx", "mask": "x00x…", "clear": "0x60401820", "set": "0x00000000",
///                    "values": { "node1": "0x7ffefbff", … } }, … ],
///   "features": [ { "name": "F16C", "location": "0x1.ecx[29]", "class": "intersect",
///                   "action": "clear", "reasons": [ { "kind": "differs", "lacking": ["node2"] } ] }, … ] }
/// ```
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
/// let json: serde_json::Value = serde_json::from_str(&maskcalc::render::json(&masks))?;
/// assert_eq!(json["format"], "xenmig-pool-masks");
/// let avx2 = &json["features"][2];
/// assert_eq!((&avx2["name"], &avx2["action"]), (&"AVX2".into(), &"clear".into()));
/// assert_eq!(avx2["reasons"][0]["kind"], "differs");
/// assert_eq!(avx2["reasons"][0]["lacking"][0], "b");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn json(masks: &PoolMasks) -> String {
    let hosts = masks
        .hosts
        .iter()
        .map(|h| {
            let (family, model, stepping) = h.family_model_stepping;
            HostJson {
                family: format!("{family:#x}"),
                model: format!("{model:#x}"),
                name: &h.name,
                stepping: format!("{stepping:#x}"),
                vendor: &h.vendor_string,
            }
        })
        .collect();
    let registers = masks
        .registers
        .iter()
        .map(|r| RegisterJson {
            clear: format!("{:#010x}", r.clear),
            differing: format!("{:#010x}", r.differing()),
            mask: r.policy_string(),
            register: r.register.to_string(),
            set: format!("{:#010x}", r.set),
            values: masks
                .hosts
                .iter()
                .zip(&r.values)
                .map(|(h, v)| (h.name.as_str(), format!("{v:#010x}")))
                .collect(),
        })
        .collect();
    let features = masks
        .bits
        .iter()
        .map(|b| FeatureJson {
            action: match b.action {
                Action::Clear => "clear",
                Action::Set => "set",
            },
            class: b.class().as_str(),
            location: b.location().to_string(),
            name: b.feature_name(),
            reasons: b.reasons.iter().map(|r| reason_json(masks, r)).collect(),
        })
        .collect();
    let kept = masks
        .kept
        .iter()
        .map(|(id, reasons)| KeptJson {
            name: cpuid_defs::feature(*id).name,
            would_be_masked_because: reasons.iter().map(|r| reason_json(masks, r)).collect(),
        })
        .collect();
    let vendors = masks.vendor_strings();
    pretty(&PoolDocument {
        features,
        format: "xenmig-pool-masks",
        pool: PoolJson {
            hidden: masks
                .hidden
                .iter()
                .map(|id| cpuid_defs::feature(*id).name)
                .collect(),
            hosts,
            kept,
            masked_bits: masks.bits.len(),
            nested_hvm: masks.nested_hvm,
            not_compared: masks
                .unknown_registers
                .iter()
                .map(|r| r.to_string())
                .collect(),
            vendors,
        },
        registers,
        version: 1,
    })
}

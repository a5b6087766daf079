//! The JSON form of [`PoolMasks`], for machines.

use serde_json::{Value, json};

use crate::pool::{Action, PoolMasks, Reason};

fn host_names(masks: &PoolMasks, indices: &[usize]) -> Vec<String> {
    indices
        .iter()
        .filter_map(|&i| masks.hosts.get(i).map(|h| h.name.clone()))
        .collect()
}

fn reason_json(masks: &PoolMasks, reason: &Reason) -> Value {
    match reason {
        Reason::Differs { lacking } => {
            json!({"kind": "differs", "lacking": host_names(masks, lacking)})
        }
        Reason::DependencyOf(id) => {
            json!({"kind": "dependency", "of": cpuid_defs::feature(*id).name})
        }
        Reason::NestedHvmDisabled => json!({"kind": "nested-hvm-disabled"}),
        Reason::HiddenByRequest => json!({"kind": "hidden-by-request"}),
        Reason::ForcedOn { having } => {
            json!({"kind": "forced-on", "having": host_names(masks, having)})
        }
        Reason::NotOnEveryHost { lacking } => {
            json!({"kind": "not-on-every-host", "lacking": host_names(masks, lacking)})
        }
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
pub fn json(masks: &PoolMasks) -> String {
    let hosts: Vec<Value> = masks
        .hosts
        .iter()
        .map(|h| {
            let (family, model, stepping) = h.family_model_stepping;
            json!({
                "name": h.name,
                "vendor": h.vendor_string,
                "family": format!("{family:#x}"),
                "model": format!("{model:#x}"),
                "stepping": format!("{stepping:#x}"),
            })
        })
        .collect();
    let registers: Vec<Value> = masks
        .registers
        .iter()
        .map(|r| {
            let values: serde_json::Map<String, Value> = masks
                .hosts
                .iter()
                .zip(&r.values)
                .map(|(h, v)| (h.name.clone(), json!(format!("{v:#010x}"))))
                .collect();
            json!({
                "register": r.register.to_string(),
                "mask": r.policy_string(),
                "clear": format!("{:#010x}", r.clear),
                "set": format!("{:#010x}", r.set),
                "differing": format!("{:#010x}", r.differing()),
                "values": values,
            })
        })
        .collect();
    let features: Vec<Value> = masks
        .bits
        .iter()
        .map(|b| {
            json!({
                "name": b.feature_name(),
                "location": b.location().to_string(),
                "class": b.class().as_str(),
                "action": match b.action { Action::Clear => "clear", Action::Set => "set" },
                "reasons": b.reasons.iter().map(|r| reason_json(masks, r)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let kept: Vec<Value> = masks
        .kept
        .iter()
        .map(|(id, reasons)| {
            json!({
                "name": cpuid_defs::feature(*id).name,
                "would_be_masked_because": reasons.iter().map(|r| reason_json(masks, r)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let vendors: Vec<&str> = {
        let mut v: Vec<&str> = masks
            .hosts
            .iter()
            .map(|h| h.vendor_string.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let document = json!({
        "format": "xenmig-pool-masks",
        "version": 1,
        "pool": {
            "hosts": hosts,
            "vendors": vendors,
            "nested_hvm": masks.nested_hvm,
            "hidden": masks.hidden.iter().map(|id| cpuid_defs::feature(*id).name).collect::<Vec<_>>(),
            "kept": kept,
            "masked_bits": masks.bits.len(),
            "not_compared": masks.unknown_registers.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        },
        "registers": registers,
        "features": features,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

//! Renderers that name features: xl (libxl syntax), libvirt, QEMU; and Firecracker's bitmaps.

use std::fmt::Write as _;

use cpuid_defs::{Feature, FeatureRegister, MsrHalf};

use super::{Rendered, cpuid_key};
use crate::pool::{Action, MaskedBit, PoolMasks};

/// libxl's legacy keys that take a number, not a flag character. libxl
/// searches its legacy table first, so a featureset name that equals one of
/// these (Xen's `clflush` for 1.EDX[19]) would set the numeric field instead.
const LIBXL_NUMERIC_KEYS: [&str; 12] = [
    "apicidsize",
    "brandid",
    "clflush",
    "family",
    "localapicid",
    "maxleaf",
    "maxhvleaf",
    "model",
    "nc",
    "proccount",
    "procpkg",
    "stepping",
];

/// The name `xl` accepts for a feature in `cpuid="host,…"`, if any.
///
/// ```
/// let clflush = cpuid_defs::lookup("CLFLUSH").unwrap();
/// assert_eq!(maskcalc::render::xl_name(clflush), Some("clfsh"));
/// assert_eq!(maskcalc::render::xl_name(cpuid_defs::lookup("LAHF_LM").unwrap()), Some("lahf-lm"));
/// ```
pub fn xl_name(feature: &Feature) -> Option<&'static str> {
    let legacy_flag = || {
        feature
            .libxl_legacy_names
            .iter()
            .copied()
            .find(|n| !LIBXL_NUMERIC_KEYS.contains(n))
    };
    match feature.xen_name {
        Some(name) if LIBXL_NUMERIC_KEYS.contains(&name) => legacy_flag(),
        Some(name) => Some(name),
        None => legacy_flag(),
    }
}

/// The libvirt feature name (`x86_features.xml`), from the table.
///
/// ```
/// let f = cpuid_defs::lookup("PCLMULQDQ").unwrap();
/// assert_eq!(maskcalc::render::libvirt_name(f), Some("pclmuldq".to_owned()));
/// ```
pub fn libvirt_name(feature: &Feature) -> Option<String> {
    feature.libvirt_name.map(str::to_owned)
}

/// The masked bits a format cannot express that a person must act on, one
/// line per thing to do: a named feature the format has no name for, unless
/// it depends on a feature the output clears by name (Xen clears the
/// dependents itself: `svm=0` takes every SVM sub-feature with it); the
/// unnamed bits of one register, in one line.
fn omitted_lines(
    masks: &PoolMasks,
    format: &str,
    expressed: impl Fn(&MaskedBit) -> bool,
) -> Vec<String> {
    let cleared_by_name: Vec<cpuid_defs::FeatureId> = masks
        .bits
        .iter()
        .filter(|b| b.action == Action::Clear && expressed(b))
        .filter_map(|b| b.feature)
        .collect();
    let implied = |bit: &MaskedBit| {
        bit.action == Action::Clear
            && bit.feature.is_some_and(|id| {
                let needs = cpuid_defs::depends_closure(id);
                cleared_by_name.iter().any(|&c| needs.contains(c))
            })
    };
    let mut lines = Vec::new();
    let mut unnamed: Vec<(FeatureRegister, Vec<u8>)> = Vec::new();
    for bit in masks.bits.iter().filter(|b| !expressed(b)) {
        // Xen never offers `hidden` features to guests: nothing is lost.
        if bit.class() == cpuid_defs::Class::Hidden || implied(bit) {
            continue;
        }
        match bit.feature_name() {
            Some(name) => lines.push(format!(
                "{name} ({}): {format} has no name for it",
                bit.location()
            )),
            None => match unnamed.iter_mut().find(|(r, _)| *r == bit.register) {
                Some((_, bits)) => bits.push(bit.bit),
                None => unnamed.push((bit.register, vec![bit.bit])),
            },
        }
    }
    for (register, bits) in unnamed {
        let positions: Vec<String> =
            bits.iter()
                .map(|&b| match crate::pool::location_of(register, b) {
                    cpuid_defs::Location::Cpuid { bit, .. }
                    | cpuid_defs::Location::Msr { bit, .. } => bit.to_string(),
                })
                .collect();
        let (noun, pronoun) = if bits.len() == 1 {
            ("bit", "it")
        } else {
            ("bits", "them")
        };
        lines.push(format!(
            "{register}[{}]: unnamed {noun}, {format} cannot express {pronoun}",
            positions.join(",")
        ));
    }
    lines
}

/// libxl syntax: `cpuid = "host,NAME=0,…"`, a valid xl.cfg line. Forced-on bits are `NAME=1`.
pub fn xl(masks: &PoolMasks) -> Rendered {
    let xl_name_of = |bit: &MaskedBit| bit.feature.map(cpuid_defs::feature).and_then(xl_name);
    let mut items = vec!["host".to_owned()];
    for bit in &masks.bits {
        if let Some(name) = xl_name_of(bit) {
            items.push(format!("{name}={}", value_char(bit.action)));
        }
    }
    Rendered {
        text: format!("cpuid = \"{}\"\n", items.join(",")),
        omitted: omitted_lines(masks, "xl", |bit| xl_name_of(bit).is_some()),
    }
}

fn value_char(action: Action) -> char {
    match action {
        Action::Clear => '0',
        Action::Set => '1',
    }
}

/// A libvirt `<cpu>` element for the libxl (or QEMU) driver:
/// `host-passthrough` with `policy='disable'` per cleared feature and
/// `policy='require'` per forced-on one.
pub fn libvirt(masks: &PoolMasks) -> Rendered {
    let mut text = String::from("<cpu mode='host-passthrough' check='none'>\n");
    // QEMU never passes through a bit it has no name for (even with
    // `-cpu host`), so a bit without a name loses nothing by being left out.
    for bit in &masks.bits {
        if let Some(name) = bit.feature.map(cpuid_defs::feature).and_then(libvirt_name) {
            let policy = match bit.action {
                Action::Clear => "disable",
                Action::Set => "require",
            };
            let _ = writeln!(text, "  <feature policy='{policy}' name='{name}'/>");
        }
    }
    text.push_str("</cpu>\n");
    Rendered {
        text,
        omitted: Vec::new(),
    }
}

/// A QEMU `-cpu` argument: `-cpu host,-feat,+feat,…`.
pub fn qemu(masks: &PoolMasks) -> Rendered {
    let mut arg = String::from("host");
    // QEMU never passes through a bit it has no name for: nothing to warn about.
    for bit in &masks.bits {
        if let Some(name) = bit
            .feature
            .map(cpuid_defs::feature)
            .and_then(|f| f.qemu_name)
        {
            let sign = match bit.action {
                Action::Clear => '-',
                Action::Set => '+',
            };
            let _ = write!(arg, ",{sign}{name}");
        }
    }
    Rendered {
        text: format!("-cpu {arg}\n"),
        omitted: Vec::new(),
    }
}

/// A Firecracker custom CPU template: `cpuid_modifiers` with a `0b…` bitmap
/// (bit 31 first; `0`/`1` forced, `x` the host's value) per masked register,
/// and `msr_modifiers` (64 characters) for masked MSR bits.
pub fn firecracker(masks: &PoolMasks) -> String {
    let mut cpuid_entries: Vec<(cpuid_defs::LeafKey, Vec<serde_json::Value>)> = Vec::new();
    let mut msr_entries: Vec<(u32, [Option<String>; 2])> = Vec::new();
    for reg in masks.registers.iter().filter(|r| !r.is_untouched()) {
        match reg.register {
            FeatureRegister::Cpuid { .. } => {
                let Some((key, index)) = cpuid_key(reg.register) else {
                    continue;
                };
                let modifier = serde_json::json!({
                    "register": crate::defs::register_name(index),
                    "bitmap": format!("0b{}", reg.policy_string()),
                });
                match cpuid_entries.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, mods)) => mods.push(modifier),
                    None => cpuid_entries.push((key, vec![modifier])),
                }
            }
            FeatureRegister::Msr { index, half } => {
                let slot = match msr_entries.iter().position(|(i, _)| *i == index) {
                    Some(pos) => pos,
                    None => {
                        msr_entries.push((index, [None, None]));
                        msr_entries.len() - 1
                    }
                };
                if let Some((_, halves)) = msr_entries.get_mut(slot) {
                    halves[usize::from(half == MsrHalf::Low)] = Some(reg.policy_string());
                }
            }
        }
    }
    cpuid_entries.sort_by_key(|(key, _)| (key.leaf, key.subleaf.unwrap_or(0)));
    let cpuid_modifiers: Vec<serde_json::Value> = cpuid_entries
        .into_iter()
        .map(|(key, modifiers)| {
            serde_json::json!({
                "leaf": format!("{:#x}", key.leaf),
                "subleaf": format!("{:#x}", key.subleaf.unwrap_or(0)),
                // KVM_CPUID_FLAG_SIGNIFCANT_INDEX for leaves that read ECX.
                "flags": u8::from(key.subleaf.is_some()),
                "modifiers": modifiers,
            })
        })
        .collect();
    let untouched = "x".repeat(32);
    let msr_modifiers: Vec<serde_json::Value> = msr_entries
        .into_iter()
        .map(|(index, [high, low])| {
            serde_json::json!({
                "addr": format!("{index:#x}"),
                "bitmap": format!(
                    "0b{}{}",
                    high.as_deref().unwrap_or(&untouched),
                    low.as_deref().unwrap_or(&untouched)
                ),
            })
        })
        .collect();
    let template = serde_json::json!({
        "cpuid_modifiers": cpuid_modifiers,
        "msr_modifiers": msr_modifiers,
    });
    let mut text = serde_json::to_string_pretty(&template).unwrap_or_default();
    text.push('\n');
    text
}

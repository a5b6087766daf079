//! The original `xen_maskcalc.py` output (xend syntax) and its `-v` derivation.

use std::fmt::Write as _;

use cpuid_defs::{FeatureRegister, LeafKey};

use super::{cpuid_key, describe_reason};
use crate::pool::{Action, ORIGINAL_REGISTERS, PoolMasks, Reason, RegisterMask};

/// The first register of leaves 1 and 7.0 is printed even when nothing in it is masked.
fn always_printed(register: FeatureRegister) -> bool {
    register == ORIGINAL_REGISTERS[0] || register == ORIGINAL_REGISTERS[2]
}

/// True for the leaves Xen's CPUID policy holds (`struct cpu_policy`: basic
/// leaves up to 0xd with their subleaf arrays, extended leaves up to
/// 0x80000021). libxc refuses a `cpuid=` line for any other leaf ("Missing
/// leaf"), so masks there cannot be written in xend syntax.
pub(crate) fn in_xen_policy(key: LeafKey) -> bool {
    let sub = key.subleaf.unwrap_or(0);
    match key.leaf {
        0x4 => sub < 5,
        0x7 => sub < 3,
        0xb => sub < 2,
        0xd => sub < 63,
        0x0..=0xd => true,
        0x8000_0000..=0x8000_0021 => sub == 0,
        _ => false,
    }
}

fn leaf_text(key: LeafKey) -> String {
    match key.subleaf {
        Some(sub) => format!("0x{:08x},0x{sub:02x}", key.leaf),
        None => format!("0x{:08x}", key.leaf),
    }
}

/// The xend-syntax configuration, exactly as the original prints it for
/// leaves 1 and 7.0, plus a line for every other leaf with a masked bit.
///
/// ```text
/// cpuid = [
///     "0x00000001:ecx=x00xxxxxx0xxxxxxxxx00xxxxx0xxxxx",
///     "0x00000007,0x00:ebx=xxxxxxxxxxxxxxxxxx00x0000x0x0x00"
/// ]
/// ```
pub fn xend(masks: &PoolMasks) -> String {
    let mut leaves: Vec<(LeafKey, Vec<(usize, &RegisterMask)>)> = Vec::new();
    for reg in &masks.registers {
        let Some((key, index)) = cpuid_key(reg.register) else {
            continue;
        };
        if (reg.is_untouched() && !always_printed(reg.register)) || !in_xen_policy(key) {
            continue;
        }
        match leaves.iter_mut().find(|(k, _)| *k == key) {
            Some((_, regs)) => regs.push((index, reg)),
            None => leaves.push((key, vec![(index, reg)])),
        }
    }
    leaves.sort_by_key(|(key, _)| (key.leaf, key.subleaf.unwrap_or(0)));
    let lines: Vec<String> = leaves
        .into_iter()
        .map(|(key, mut regs)| {
            regs.sort_by_key(|(index, _)| *index);
            let body: Vec<String> = regs
                .iter()
                .map(|(index, reg)| {
                    format!(
                        "{}={}",
                        crate::defs::register_name(*index),
                        reg.policy_string()
                    )
                })
                .collect();
            format!("    \"{}:{}\"", leaf_text(key), body.join(","))
        })
        .collect();
    format!("cpuid = [\n{}\n]\n", lines.join(",\n"))
}

fn block_title(register: FeatureRegister) -> String {
    match register {
        FeatureRegister::Cpuid { key, register } => {
            let leaf = if key.leaf < 10 {
                key.leaf.to_string()
            } else {
                format!("{:#x}", key.leaf)
            };
            let sub = key.subleaf.map(|s| format!(",{s}")).unwrap_or_default();
            format!(
                "EAX{leaf}{sub} {} registers:",
                register.as_str().to_uppercase()
            )
        }
        FeatureRegister::Msr { index, half } => {
            let bits = match half {
                cpuid_defs::MsrHalf::Low => "31:0",
                cpuid_defs::MsrHalf::High => "63:32",
            };
            format!("MSR {index:#x}[{bits}] registers:")
        }
    }
}

/// [`xend`] followed by the original's derivation blocks (each host's value
/// in binary, a `=` line, the mask) for leaves 1 and 7.0 and every other
/// register with a mask, and then [`explain`]. The beginning is
/// byte-for-byte what `xen_maskcalc.py -v` prints.
pub fn xend_verbose(masks: &PoolMasks) -> String {
    let mut out = xend(masks);
    out.push_str("\n== Detailed mask derivation info ==\n\n");
    let vmx_by_nested = masks.bits.iter().any(|b| {
        b.register == ORIGINAL_REGISTERS[0]
            && b.bit == 5
            && b.reasons.contains(&Reason::NestedHvmDisabled)
    });
    let original = ORIGINAL_REGISTERS.iter().filter_map(|r| masks.register(*r));
    let others = masks
        .registers
        .iter()
        .filter(|r| !ORIGINAL_REGISTERS.contains(&r.register) && !r.is_untouched());
    for reg in original.chain(others) {
        let _ = writeln!(out, "{}", block_title(reg.register));
        for value in &reg.values {
            let _ = writeln!(out, "{value:032b}");
        }
        out.push_str("================================\n");
        out.push_str(&reg.policy_string());
        out.push('\n');
        if reg.register == ORIGINAL_REGISTERS[0] && vmx_by_nested {
            out.push_str("Bit 5 (VMX) cleared since nested hvm is not enabled.\n");
        }
        out.push('\n');
    }
    out.push_str(&explain(masks));
    for reg in &masks.registers {
        if let Some((key, _)) = cpuid_key(reg.register)
            && !reg.is_untouched()
            && !in_xen_policy(key)
        {
            let _ = writeln!(
                out,
                "{}: not in the xend lines above: Xen's CPUID policy has no leaf {key}",
                reg.register
            );
        }
    }
    out
}

/// One line per masked bit (name, where, what, why), then the features kept
/// by request and the registers some dump lacks.
pub fn explain(masks: &PoolMasks) -> String {
    let mut out = String::from("== Masked features ==\n\n");
    if masks.bits.is_empty() {
        out.push_str("(none: no bit needs a mask)\n");
    }
    let rows: Vec<(String, String, String)> = masks
        .bits
        .iter()
        .map(|bit| {
            let name = bit
                .feature_name()
                .map(str::to_owned)
                .unwrap_or_else(|| "(unnamed)".to_owned());
            let action = match bit.action {
                Action::Clear => "cleared",
                Action::Set => "forced on",
            };
            let reasons: Vec<String> = bit
                .reasons
                .iter()
                .map(|r| describe_reason(masks, r))
                .collect();
            (
                name,
                bit.location().to_string(),
                format!("{action}: {}", reasons.join("; ")),
            )
        })
        .collect();
    let name_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let location_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    for (name, location, what) in rows {
        let _ = writeln!(
            out,
            "{name:<name_width$}  {location:<location_width$}  {what}"
        );
    }
    for (id, reasons) in &masks.kept {
        let reasons: Vec<String> = reasons.iter().map(|r| describe_reason(masks, r)).collect();
        let _ = writeln!(
            out,
            "{} kept by request (it would be masked: {})",
            cpuid_defs::feature(*id).name,
            reasons.join("; ")
        );
    }
    for reg in &masks.unknown_registers {
        let _ = writeln!(out, "{reg} not compared: some dumps do not carry it");
    }
    for feature in masks.hidden_but_not_compared() {
        let _ = writeln!(
            out,
            "{} hidden by request but not in any output: {} is not compared",
            feature.name,
            feature.location.register().0
        );
    }
    out
}

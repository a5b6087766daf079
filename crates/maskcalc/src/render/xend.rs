//! The original `xen_maskcalc.py` output (xend syntax) and its `-v` derivation.

use std::fmt::Write as _;

use cpuid_defs::{FeatureRegister, LeafKey};

use super::{cpuid_key, describe_reason};
use crate::model::{EAX, EXTENDED_BASE, Host, HostCpuid};
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
///     maskcalc::render::xend(&masks),
///     "cpuid = [\n    \"0x00000001:ecx=xxx0xxxxxxxxxxxxxxxxxxxxxx0xxxxx\",\n    \
///      \"0x00000007,0x00:ebx=xxxxxxxxxxxxxxxxxxxxxxxxxx0xxxxx\"\n]\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
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

/// True when `host` reports `key`: the leaf is within its range's maximum
/// and, for leaf 7, the subleaf within 7.0.EAX (Xen's host policy holds
/// exactly these leaves).
fn host_reports(host: &HostCpuid, key: LeafKey) -> bool {
    let subleaf = key.subleaf.unwrap_or(0);
    if key.leaf >= EXTENDED_BASE {
        return host.max_extended_leaf().is_some_and(|max| key.leaf <= max);
    }
    let within_basic = host.max_basic_leaf().is_some_and(|max| key.leaf <= max);
    match key.leaf {
        7 => within_basic && subleaf <= host.register(7, 0, EAX),
        _ => within_basic,
    }
}

/// One warning per [`xend`] line whose leaf some host does not report.
///
/// libxc applies a `cpuid=` line only when the leaf is in the host's policy
/// (else "Missing leaf" or, since Xen 4.18, "Failed to get host policy
/// leaf", and the domain is not built), so such a line stops
/// guests from starting on the hosts that lack the leaf (7.1 on Haswell,
/// 0x80000021 on Zen 1). The libxl syntax (`--format xl`) names features
/// instead of leaves and has no such limit. `hosts` are the hosts the masks
/// were computed from, in the same order.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::{pool, render};
/// let host = |name: &str, max_subleaf: u32, leaf7_1_eax: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [max_subleaf, 0, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 1), [leaf7_1_eax, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // AVX-VNNI (7.1.EAX[4]) on the newer host only; the older one has no subleaf 1.
/// let hosts = [host("old", 0, 0), host("new", 1, 1 << 4)];
/// let masks = pool::compute(&hosts, &pool::PoolOptions::default()).unwrap();
/// assert!(render::xend(&masks).contains("\"0x00000007,0x01:eax="));
/// let warnings = render::xend_missing_leaves(&masks, &hosts);
/// assert_eq!(warnings.len(), 1);
/// assert!(warnings[0].starts_with("the line for leaf 0x7.1: old does not report it"), "{}", warnings[0]);
/// ```
pub fn xend_missing_leaves(masks: &PoolMasks, hosts: &[Host]) -> Vec<String> {
    let mut keys: Vec<LeafKey> = Vec::new();
    for reg in &masks.registers {
        if let Some((key, _)) = cpuid_key(reg.register)
            && in_xen_policy(key)
            && (!reg.is_untouched() || always_printed(reg.register))
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    keys.sort_by_key(|key| (key.leaf, key.subleaf.unwrap_or(0)));
    keys.into_iter()
        .filter_map(|key| {
            let lacking: Vec<usize> = (0..hosts.len())
                .filter(|&i| hosts.get(i).is_some_and(|h| !host_reports(&h.cpuid, key)))
                .collect();
            if lacking.is_empty() {
                return None;
            }
            let verb = if lacking.len() == 1 { "does" } else { "do" };
            Some(format!(
                "the line for leaf {key}: {} {verb} not report it (beyond the maximum leaf), \
                 and libxc refuses a cpuid= line for a leaf the host's policy lacks \
                 (\"Missing leaf\", newer: \"Failed to get host policy leaf\"): \
                 guests would not start there (the libxl syntax has no per-leaf lines)",
                super::host_list(masks, &lacking)
            ))
        })
        .collect()
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
/// let text = maskcalc::render::xend_verbose(&masks);
/// assert!(text.starts_with(&maskcalc::render::xend(&masks)));
/// // Leaf 1 ECX: each host's value, then the mask, then why VMX is cleared.
/// assert!(text.contains(
///     "EAX1 ECX registers:\n00011100000000000000000000000001\n00001100000000000000000000000001\n\
///      ================================\nxxx0xxxxxxxxxxxxxxxxxxxxxx0xxxxx\n\
///      Bit 5 (VMX) cleared since nested hvm is not enabled.\n"
/// ), "{text}");
/// assert!(text.ends_with(&maskcalc::render::explain(&masks)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///     maskcalc::render::explain(&masks),
///     "== Masked features ==\n\n\
///      VMX   0x1.ecx[5]    cleared: nested HVM not enabled\n\
///      AVX   0x1.ecx[28]   cleared: differs: b lacks it\n\
///      AVX2  0x7.0.ebx[5]  cleared: differs: b lacks it; dependency of AVX\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

//! A profile for people: the limits, then per register the features it
//! shows and hides by name, its fields and unnamed bits.
//!
//! ```
//! use cpu_profile::{show::show, Bits, Profile};
//! use cpuid_defs::{FeatureRegister, Register};
//! let mut profile = Profile::new("demo", "GenuineIntel");
//! profile.registers.insert(FeatureRegister::cpuid(1, None, Register::Ecx), Bits { value: 1, mask: 3 });
//! let text = show(&profile);
//! assert!(text.contains("  on:  SSE3\n  off: PCLMULQDQ\n"), "{text}");
//! ```

use std::fmt::Write as _;

use cpuid_defs::FeatureRegister;

use crate::{Bits, Limits, PoolMask, Profile, rules};

/// Wraps a list of names to lines of about 100 columns, each starting with `prefix`
/// (later lines indented to match).
fn wrapped(out: &mut String, prefix: &str, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let indent = " ".repeat(prefix.len());
    let mut line = prefix.to_owned();
    let mut first = true;
    for name in names {
        if !first && line.len() + 1 + name.len() > 100 {
            let _ = writeln!(out, "{line}");
            line = indent.clone();
            first = true;
        }
        if !first {
            line.push(' ');
        }
        line.push_str(name);
        first = false;
    }
    let _ = writeln!(out, "{line}");
}

/// The profile as text.
///
/// ```
/// use cpu_profile::{show::show, Profile};
/// let mut profile = Profile::new("demo", "GenuineIntel");
/// profile.limits.max_basic_leaf = 0xd;
/// profile.limits.physical_address_bits = 46;
/// let text = show(&profile);
/// assert!(text.starts_with("profile demo (GenuineIntel)\nlimits:\n"), "{text}");
/// assert!(text.contains("  max_basic_leaf         0xd\n"), "{text}");
/// assert!(text.contains("  physical_address_bits  46\n"), "{text}");
/// ```
pub fn show(profile: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "profile {} ({})", profile.name, profile.vendor);
    if !profile.hosts.is_empty() {
        let _ = writeln!(out, "hosts:");
        for h in &profile.hosts {
            let (f, m, s) = cpuid_defs::display_family_model_stepping(h.signature);
            let _ = writeln!(
                out,
                "  {} (signature {:#010x}: family {f:#x} model {m:#x} stepping {s})",
                h.name, h.signature
            );
        }
    }
    show_limits(&mut out, &profile.limits);
    for (&register, &bits) in &profile.registers {
        show_register(&mut out, register, bits);
    }
    if !profile.pool_masks.is_empty() {
        let _ = writeln!(out, "pool masks (what `export` writes):");
        for (&register, &mask) in &profile.pool_masks {
            wrapped(
                &mut out,
                &format!("  {register}: "),
                &masked_names(register, mask),
            );
        }
    }
    out
}

/// The `limits:` section: signatures decoded, max leaves in hex, widths in decimal.
fn show_limits(out: &mut String, limits: &Limits) {
    let _ = writeln!(out, "limits:");
    for (def, value) in limits.iter() {
        if def.name == "signature" {
            let (f, m, s) = limits.family_model_stepping();
            let _ = writeln!(
                out,
                "  {:<22} {value:#010x} (family {f:#x} model {m:#x} stepping {s})",
                def.name
            );
        } else if def.width == 32 {
            let _ = writeln!(out, "  {:<22} {value:#x}", def.name);
        } else {
            let _ = writeln!(out, "  {:<22} {value}", def.name);
        }
    }
}

/// One register of the profile: value and mask, its fields, the features
/// it shows and hides, and the unnamed bits it shows.
fn show_register(out: &mut String, register: FeatureRegister, bits: Bits) {
    let _ = writeln!(
        out,
        "{register}: value {:#010x} mask {:#010x}",
        bits.value, bits.mask
    );
    let mut on = Vec::new();
    let mut off = Vec::new();
    let mut unnamed_on = 0u32;
    let field_bits = rules::field_mask(register);
    for f in rules::fields_in(register) {
        if bits.mask & f.field.mask() != 0 {
            let _ = writeln!(
                out,
                "  {} = {:#x} ({})",
                f.field.name,
                f.field.extract(bits.value),
                f.rule.as_str()
            );
        }
    }
    for bit in 0..32u8 {
        let b = 1u32 << bit;
        if bits.mask & b == 0 || field_bits & b != 0 {
            continue;
        }
        match rules::feature_at(register, bit) {
            Some(f) if bits.value & b != 0 => on.push(f.name.to_owned()),
            Some(f) => off.push(f.name.to_owned()),
            None if bits.value & b != 0 => unnamed_on |= b,
            None => {}
        }
    }
    wrapped(out, "  on:  ", &on);
    wrapped(out, "  off: ", &off);
    if unnamed_on != 0 {
        let _ = writeln!(out, "  unnamed bits on: {unnamed_on:#010x}");
    }
}

/// The bits a pool mask clears (`-NAME`) and forces on (`+NAME`), by
/// feature name or `bitN`.
fn masked_names(register: FeatureRegister, mask: PoolMask) -> Vec<String> {
    let mut names = Vec::new();
    for bit in 0..32u8 {
        let b = 1u32 << bit;
        let sign = if mask.clear & b != 0 {
            '-'
        } else if mask.set & b != 0 {
            '+'
        } else {
            continue;
        };
        let name = rules::feature_at(register, bit)
            .map_or_else(|| format!("bit{bit}"), |f| f.name.to_owned());
        names.push(format!("{sign}{name}"));
    }
    names
}

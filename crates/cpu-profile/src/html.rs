//! A profile as one self-contained HTML page, built with `xen-maskcalc`'s
//! page parts ([`maskcalc::render::html`]): the hosts it was made from, its
//! limits, the profile in every export format, every feature it defines
//! (grouped by register and class, on or off), and the pool masks it
//! records. A profile keeps no per-host values, so there is no host ×
//! feature matrix and no plan; `xen-maskcalc --format html` on the dumps
//! gives those.
//!
//! ```
//! use cpu_profile::{html::page, Bits, Profile};
//! use cpuid_defs::{FeatureRegister, Register};
//! let mut profile = Profile::new("pool <a>", "GenuineIntel");
//! profile.registers.insert(FeatureRegister::cpuid(1, None, Register::Ecx), Bits { value: 1, mask: 3 });
//! let html = page(&profile, "cpu-profile test", &maskcalc::consumer::Targets::newest());
//! assert!(html.contains("<title>CPU profile pool &lt;a&gt;</title>"));
//! assert!(html.contains("data-feature=\"SSE3\" data-location=\"0x1.ecx[0]\" data-state=\"on\""));
//! assert!(html.contains("data-feature=\"PCLMULQDQ\" data-location=\"0x1.ecx[1]\" data-state=\"off\""));
//! ```

use std::fmt::Write as _;

use cpuid_defs::Class;
use maskcalc::render::html::{
    Format, Page, class_meaning, class_rank, escape, formats_block, hosts_table, masked_table,
};

use maskcalc::consumer::Targets;

use crate::export::{self, ExportFormat};
use crate::{Profile, json, rules};

/// The profile in every export format, and as its own JSON file.
fn formats(profile: &Profile, targets: &Targets<'_>) -> Vec<Format> {
    let entry = |id, label: &str, format: ExportFormat, open| {
        let rendered = export::render(profile, format, targets);
        Format {
            id,
            label: label.to_owned(),
            text: rendered.text,
            omitted: rendered.omitted,
            notes: rendered.notes,
            open,
        }
    };
    vec![
        entry(
            "xl",
            "xl.cfg, libxl syntax (export --format xl)",
            ExportFormat::Xl,
            true,
        ),
        entry(
            "xend",
            "xl.cfg, xend syntax (export --format xend)",
            ExportFormat::Xend,
            false,
        ),
        entry(
            "libvirt",
            "libvirt domain XML <cpu> (export --format libvirt)",
            ExportFormat::Libvirt,
            false,
        ),
        entry(
            "qemu",
            "QEMU -cpu (export --format qemu)",
            ExportFormat::Qemu,
            false,
        ),
        entry(
            "firecracker",
            "Firecracker custom CPU template (export --format firecracker)",
            ExportFormat::Firecracker,
            false,
        ),
        entry(
            "cloud-hypervisor",
            "Cloud Hypervisor CPU profile (export --format cloud-hypervisor)",
            ExportFormat::CloudHypervisor,
            false,
        ),
        Format {
            id: "profile",
            label: "The profile file itself (xenmig-cpu-profile JSON)".to_owned(),
            text: json::to_json(profile),
            omitted: Vec::new(),
            notes: Vec::new(),
            open: false,
        },
    ]
}

/// Every bit the profile defines, by register, then class, then bit: on or
/// off, with the fields it checks.
fn features_table(profile: &Profile) -> String {
    let mut out = String::from(
        "<p class=\"legend\"><span class=\"y\">&nbsp;✓ on&nbsp;</span> guests see it \
         <span class=\"n\">&nbsp;✗ off&nbsp;</span> guests do not see it; bits the profile \
         does not define are left to the destination host.</p>\n\
         <table id=\"profile-table\">\n<thead><tr><th>feature</th><th>location</th><th>class</th>\
         <th>in the profile</th><th>what it is</th></tr></thead>\n",
    );
    for (&register, bits) in &profile.registers {
        let field_bits = rules::field_mask(register);
        let _ = writeln!(
            out,
            "<tbody data-register=\"{register}\">\n<tr class=\"group\"><th colspan=\"5\">{register}: \
             value {:#010x}, mask {:#010x}</th></tr>",
            bits.value, bits.mask
        );
        for f in rules::fields_in(register) {
            if bits.mask & f.field.mask() != 0 {
                let _ = writeln!(
                    out,
                    "<tr class=\"field\"><th scope=\"row\">{}</th><td class=\"loc\">{register}</td>\
                     <td>field</td><td class=\"num\">{:#x}</td><td>{} (a host must have {})</td></tr>",
                    f.field.name,
                    f.field.extract(bits.value),
                    escape(f.field.description),
                    match f.rule {
                        rules::FieldRule::NotGreater => "at least this value",
                        rules::FieldRule::Subset => "every one of these bits",
                    }
                );
            }
        }
        let mut defined: Vec<(u8, Option<&'static cpuid_defs::Feature>)> = (0..32u8)
            .filter(|b| bits.mask & (1 << b) != 0 && field_bits & (1 << b) == 0)
            .map(|b| (b, rules::feature_at(register, b)))
            .collect();
        defined.sort_by_key(|(b, f)| (class_rank(f.map(|f| f.class)), *b));
        let mut last_class = None;
        for (bit, feature) in defined {
            let class = feature.map(|f| f.class);
            if last_class != Some(class) {
                let _ = writeln!(
                    out,
                    "<tr class=\"subgroup\"><th colspan=\"5\">{}: {}</th></tr>",
                    class.map_or("unnamed", Class::as_str),
                    class_meaning(class)
                );
                last_class = Some(class);
            }
            let on = bits.value & (1 << bit) != 0;
            let location = rules::location(register, bit);
            let _ = writeln!(
                out,
                "<tr data-feature=\"{attr}\" data-location=\"{location}\" data-state=\"{state}\">\
                 <th scope=\"row\">{name}</th><td class=\"loc\">{location}</td><td>{class}</td>\
                 <td class=\"{cls}\">{symbol}</td><td>{description}</td></tr>",
                attr = feature.map_or("", |f| f.name),
                name = feature.map_or("(unnamed)", |f| f.name),
                state = if on { "on" } else { "off" },
                class = class.map_or("unnamed", Class::as_str),
                cls = if on { "y" } else { "n" },
                symbol = if on { "✓ on" } else { "✗ off" },
                description = escape(feature.map_or("", |f| f.description)),
            );
        }
        out.push_str("</tbody>\n");
    }
    out.push_str("</table>\n");
    out
}

fn limits_table(profile: &Profile) -> String {
    let mut out = String::from(
        "<table id=\"limits-table\">\n<thead><tr><th>limit</th><th>value</th><th>register</th></tr></thead>\n<tbody>\n",
    );
    for (def, value) in profile.limits.iter() {
        let shown = if def.name == "signature" {
            let (f, m, s) = profile.limits.family_model_stepping();
            format!("{value:#010x} (family {f:#x} model {m:#x} stepping {s:#x})")
        } else if def.width == 32 {
            format!("{value:#x}")
        } else {
            value.to_string()
        };
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{shown}</td><td class=\"loc\">{}</td></tr>",
            def.name, def.register
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// The page of a profile; `generator` names the tool in the footer, `targets`
/// the consumer releases its exports are written for.
///
/// ```
/// use cpu_profile::{html::page, Profile, SourceHost};
/// let mut profile = Profile::new("pool", "GenuineIntel");
/// profile.hosts.push(SourceHost::new("node1", 0x0005_0654));
/// let html = page(&profile, "my-toolstack 1.0", &maskcalc::consumer::Targets::newest());
/// assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
/// assert!(html.contains("my-toolstack 1.0"));
/// assert!(html.contains("node1"));
/// ```
pub fn page(profile: &Profile, generator: &str, targets: &Targets<'_>) -> String {
    let masks = export::pool_masks(profile);
    let (on, off) = profile
        .registers
        .iter()
        .fold((0, 0), |(on, off), (reg, bits)| {
            let features = bits.mask & !rules::field_mask(*reg);
            (
                on + (bits.value & features).count_ones(),
                off + (!bits.value & features).count_ones(),
            )
        });
    let mut page = Page::new(&format!("CPU profile {}", profile.name));
    page.intro(&format!(
        "<p>Profile <strong>{name}</strong> ({vendor}), made from {hosts} host{s}: it shows guests \
         {on} bits and hides {off}; the pool masks it records change {masked} bits.</p>\n",
        name = escape(&profile.name),
        vendor = escape(&profile.vendor),
        hosts = profile.hosts.len(),
        s = if profile.hosts.len() == 1 { "" } else { "s" },
        masked = masks.bits.len(),
    ));
    let mut summary = hosts_table(&masks, &[], None);
    summary.push_str("<h3>Limits</h3>\n<p class=\"note\">A host must have at least these maximum leaves and address sizes; the signature is the oldest host's.</p>\n");
    summary.push_str(&limits_table(profile));
    summary.push_str(
        "<h3>The profile in every output format</h3>\n<p class=\"note\">Each block can be copied.</p>\n",
    );
    summary.push_str(&formats_block(&formats(profile, targets)));
    page.section("summary", "Profile summary", &summary);
    page.section(
        "features",
        "What guests see: every feature the profile defines",
        &features_table(profile),
    );
    let mut masked = String::from(
        "<p class=\"note\">A profile keeps the decisions of the pool computation, not its \
         reasons: <code>xen-maskcalc -v</code> on the hosts' dumps explains each.</p>\n",
    );
    masked.push_str(&masked_table(&masks));
    page.section("masked", "Hidden and forced features (pool masks)", &masked);
    page.finish(&format!(
        "Written by {generator}. Self-contained: no network, no external files."
    ))
}

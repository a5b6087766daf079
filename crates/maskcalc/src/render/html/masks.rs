//! The sections about the mask itself: the host × feature matrix of what
//! differs and the table of every masked bit, each bit with the mask's
//! decision and its reasons in words.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cpuid_defs::{Class, Feature, FeatureRegister};

use super::super::{describe_reason, diff::column_labels};
use super::escape;
use crate::pool::{Action, MaskedBit, PoolMasks, Reason, RegisterMask, location_of};

/// The order classes are grouped in on the pages: `intersect`,
/// `accumulate`, `opt-in`, `hidden`, `host`, then unnamed bits.
///
/// ```
/// use cpuid_defs::Class;
/// use maskcalc::render::html::class_rank;
/// let mut classes = [None, Some(Class::Host), Some(Class::Accumulate), Some(Class::Intersect)];
/// classes.sort_by_key(|c| class_rank(*c));
/// assert_eq!(classes, [Some(Class::Intersect), Some(Class::Accumulate), Some(Class::Host), None]);
/// ```
pub fn class_rank(class: Option<Class>) -> u8 {
    match class {
        Some(Class::Intersect) => 0,
        Some(Class::Accumulate) => 1,
        Some(Class::OptIn) => 2,
        Some(Class::Hidden) => 3,
        Some(Class::Host) => 4,
        None | Some(_) => 5,
    }
}

/// What a class means for a pool, in a few words.
///
/// ```
/// use cpuid_defs::Class;
/// use maskcalc::render::html::class_meaning;
/// assert_eq!(class_meaning(Some(Class::Intersect)), "guests see it only where every host has it");
/// assert_eq!(class_meaning(None), "no feature is named at this bit");
/// ```
pub fn class_meaning(class: Option<Class>) -> &'static str {
    match class {
        Some(Class::Intersect) => "guests see it only where every host has it",
        Some(Class::Accumulate) => "guests must see it if any host has it",
        Some(Class::OptIn) => "offered to guests only when asked for",
        Some(Class::Hidden) => "never offered to guests",
        Some(Class::Host) => "set by Xen for each host, never compared",
        Some(_) => "a class this page does not describe yet",
        None => "no feature is named at this bit",
    }
}

fn class_name(class: Option<Class>) -> &'static str {
    class.map_or("unnamed", Class::as_str)
}

/// How the mask treats one bit, for the matrix and the masked-bits table.
struct MaskState {
    key: &'static str,
    label: &'static str,
    why: String,
}

/// Host labels for a list of host indices, shortened after a few.
fn label_list(labels: &[String], indices: &[usize]) -> String {
    const SHOWN: usize = 4;
    let names: Vec<&str> = indices
        .iter()
        .take(SHOWN)
        .filter_map(|&i| labels.get(i).map(String::as_str))
        .collect();
    let more = indices.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

/// One reason in words: with `labels`, naming the hosts (by their short
/// labels); without, counting them (the matrix shows which).
fn reason_text(masks: &PoolMasks, labels: Option<&[String]>, reason: &Reason) -> String {
    let total = masks.hosts.len();
    let hosts = |indices: &[usize], one: &str, many: &str| match labels {
        Some(labels) => format!(
            "{} {}",
            label_list(labels, indices),
            if indices.len() == 1 { one } else { many }
        ),
        None => format!(
            "{} of {total} hosts {}",
            indices.len(),
            if indices.len() == 1 { one } else { many }
        ),
    };
    match reason {
        Reason::Differs { lacking } => format!("differs: {} it", hosts(lacking, "lacks", "lack")),
        Reason::ForcedOn { having } => format!(
            "accumulate: {} it, so guests must see it everywhere",
            hosts(having, "has", "have")
        ),
        other => describe_reason(masks, other),
    }
}

fn mask_state(
    masks: &PoolMasks,
    labels: Option<&[String]>,
    bit: Option<&MaskedBit>,
    class: Option<Class>,
    feature: Option<cpuid_defs::FeatureId>,
) -> MaskState {
    if let Some(b) = bit {
        let reasons: Vec<String> = b
            .reasons
            .iter()
            .map(|r| reason_text(masks, labels, r))
            .collect();
        let mut why = reasons.join("; ");
        if class == Some(Class::Hidden) && b.action == Action::Clear {
            why.push_str(" (Xen never offers it to guests anyway)");
        }
        return match b.action {
            Action::Clear => MaskState {
                key: "cleared",
                label: "0 cleared",
                why,
            },
            Action::Set => MaskState {
                key: "forced",
                label: "1 forced on",
                why,
            },
        };
    }
    if let Some((_, reasons)) = feature.and_then(|id| masks.kept.iter().find(|(k, _)| *k == id)) {
        let reasons: Vec<String> = reasons
            .iter()
            .map(|r| reason_text(masks, labels, r))
            .collect();
        return MaskState {
            key: "kept",
            label: "x kept",
            why: format!(
                "kept by request; it would be masked: {}",
                reasons.join("; ")
            ),
        };
    }
    if class == Some(Class::Host) {
        return MaskState {
            key: "host",
            label: "x per host",
            why: "left alone: Xen sets it for each host".to_owned(),
        };
    }
    MaskState {
        key: "none",
        label: "x",
        why: "not masked".to_owned(),
    }
}

fn register_title(register: FeatureRegister) -> String {
    match register.xen_word() {
        Some(word) => format!("{register} (Xen featureset word {word})"),
        None => register.to_string(),
    }
}

/// The host × feature matrix of every differing bit, grouped by register
/// and class, with the mask's decision and its reasons.
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
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b<1>", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let html = maskcalc::render::html::matrix(&masks);
/// assert!(html.contains("<th class=\"host\" scope=\"col\" data-host=\"1\" data-host-name=\"b&lt;1&gt;\""), "{html}");
/// // AVX: cleared, the first host has it, the second does not.
/// assert!(html.contains(
///     "<td class=\"m-cleared\">0 cleared</td><td class=\"y\" data-host=\"0\" data-state=\"yes\">✓</td>\
///      <td class=\"n\" data-host=\"1\" data-state=\"no\">✗</td><td class=\"why\">differs: 1 of 2 hosts lacks it</td>"
/// ), "{html}");
/// // A pool whose hosts agree has no matrix.
/// let same = maskcalc::pool::compute(&hosts[..1], &Default::default())?;
/// assert_eq!(maskcalc::render::html::matrix(&same), "<p>No feature differs between the 1 hosts.</p>\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn matrix(masks: &PoolMasks) -> String {
    let labels = column_labels(masks);
    let by_bit: BTreeMap<(FeatureRegister, u8), &MaskedBit> = masks
        .bits
        .iter()
        .map(|b| ((b.register, b.bit), b))
        .collect();
    let mut out = String::new();
    out.push_str(
        "<p class=\"legend\"><span class=\"y\">&nbsp;✓&nbsp;</span> the host has it \
         <span class=\"n\">&nbsp;✗&nbsp;</span> the host lacks it \
         <span class=\"m-cleared\">&nbsp;0 cleared&nbsp;</span> hidden from guests \
         <span class=\"m-forced\">&nbsp;1 forced on&nbsp;</span> shown to guests on every host \
         <span>x: left to each host</span></p>\n",
    );
    let columns = 5 + masks.hosts.len();
    out.push_str("<table id=\"matrix-table\">\n<thead><tr><th>feature</th><th>location</th><th>class</th><th>mask</th>");
    for (i, (host, label)) in masks.hosts.iter().zip(&labels).enumerate() {
        let _ = write!(
            out,
            "<th class=\"host\" scope=\"col\" data-host=\"{i}\" data-host-name=\"{name}\" title=\"{name}\">{label}</th>",
            name = escape(&host.name),
            label = escape(label)
        );
    }
    out.push_str("<th>why</th></tr></thead>\n");
    let mut rows = 0usize;
    for reg in &masks.registers {
        rows += register_group(&mut out, masks, reg, &by_bit, columns);
    }
    out.push_str("</table>\n");
    if rows == 0 {
        return format!(
            "<p>No feature differs between the {} hosts.</p>\n",
            masks.hosts.len()
        );
    }
    out
}

/// The matrix's rows of one register: its differing bits grouped by class
/// (a subheading per class), in bit order within a class. Returns how many
/// rows it wrote; a register on which the hosts agree has none.
fn register_group(
    out: &mut String,
    masks: &PoolMasks,
    reg: &RegisterMask,
    by_bit: &BTreeMap<(FeatureRegister, u8), &MaskedBit>,
    columns: usize,
) -> usize {
    let differing = reg.differing();
    if differing == 0 {
        return 0;
    }
    let mut bits: Vec<(u8, Option<&'static Feature>)> = (0..32u8)
        .filter(|b| differing & (1 << b) != 0)
        .map(|b| (b, cpuid_defs::at(location_of(reg.register, b))))
        .collect();
    bits.sort_by_key(|(b, f)| (class_rank(f.map(|f| f.class)), *b));
    let _ = write!(
        out,
        "<tbody data-register=\"{reg}\">\n<tr class=\"group\"><th colspan=\"{columns}\">{title}</th></tr>\n",
        reg = reg.register,
        title = escape(&register_title(reg.register)),
    );
    let mut last_class = None;
    let rows = bits.len();
    for (bit, feature) in bits {
        let class = feature.map(|f| f.class);
        if last_class != Some(class) {
            let _ = writeln!(
                out,
                "<tr class=\"subgroup\"><th colspan=\"{columns}\">{}: {}</th></tr>",
                class_name(class),
                class_meaning(class)
            );
            last_class = Some(class);
        }
        let state = mask_state(
            masks,
            None,
            by_bit.get(&(reg.register, bit)).copied(),
            class,
            feature.map(|f| f.id),
        );
        matrix_row(out, reg, bit, feature, &state);
    }
    out.push_str("</tbody>\n");
    rows
}

/// One bit's row of the matrix: the feature, the mask's decision, each
/// host's value, and why.
fn matrix_row(
    out: &mut String,
    reg: &RegisterMask,
    bit: u8,
    feature: Option<&'static Feature>,
    state: &MaskState,
) {
    let location = location_of(reg.register, bit);
    let name = feature.map_or("(unnamed)", |f| f.name);
    let _ = write!(
        out,
        "<tr data-feature=\"{attr_name}\" data-location=\"{location}\" data-class=\"{class}\" data-mask=\"{mask}\">\
         <th scope=\"row\" title=\"{description}\">{name}</th><td class=\"loc\">{location}</td><td>{class}</td>\
         <td class=\"m-{mask}\">{label}</td>",
        attr_name = feature.map_or("", |f| f.name),
        class = class_name(feature.map(|f| f.class)),
        mask = state.key,
        label = state.label,
        description = escape(feature.map_or("", |f| f.description)),
    );
    for (i, value) in reg.values.iter().enumerate() {
        let has = value & (1 << bit) != 0;
        let _ = write!(
            out,
            "<td class=\"{cls}\" data-host=\"{i}\" data-state=\"{state}\">{symbol}</td>",
            cls = if has { "y" } else { "n" },
            state = if has { "yes" } else { "no" },
            symbol = if has { "✓" } else { "✗" },
        );
    }
    let _ = writeln!(out, "<td class=\"why\">{}</td></tr>", escape(&state.why));
}

/// Every bit the mask changes (hidden from guests or forced on), with its
/// reasons; then the features hidden and kept by request and the registers
/// some dump does not carry.
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
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b<1>", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let html = maskcalc::render::html::masked_table(&masks);
/// assert!(html.starts_with("<p>The mask changes 3 bits: 3 hidden from guests (<code>0</code>), 0 forced on (<code>1</code>).</p>\n"));
/// assert!(html.contains("<tr data-feature=\"AVX2\" data-location=\"0x7.0.ebx[5]\" data-mask=\"cleared\">"), "{html}");
/// assert!(html.contains("<li>Nested HVM (<code>--nested-hvm</code>): not enabled, so VMX and SVM are hidden from guests</li>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn masked_table(masks: &PoolMasks) -> String {
    let labels = column_labels(masks);
    let mut out = String::new();
    let cleared = masks
        .bits
        .iter()
        .filter(|b| b.action == Action::Clear)
        .count();
    let forced = masks.bits.len() - cleared;
    let _ = writeln!(
        out,
        "<p>The mask changes {} bits: {cleared} hidden from guests (<code>0</code>), {forced} forced on (<code>1</code>).</p>",
        masks.bits.len()
    );
    if !masks.bits.is_empty() {
        masked_rows(&mut out, masks, &labels);
    }
    by_request(&mut out, masks, &labels);
    if !masks.unknown_registers.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">Not compared, because some dumps do not carry them: {}.</p>",
            masks
                .unknown_registers
                .iter()
                .map(|r| format!("<code>{r}</code>"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

/// The sortable table of the masked bits, one row per bit with its reasons
/// naming the hosts by their column `labels`.
fn masked_rows(out: &mut String, masks: &PoolMasks, labels: &[String]) {
    out.push_str(
        "<table class=\"sortable\" id=\"masked-table\">\n<thead><tr><th>feature</th><th>location</th>\
         <th>class</th><th>action</th><th>why</th></tr></thead>\n<tbody>\n",
    );
    for b in &masks.bits {
        let feature = b.feature.map(cpuid_defs::feature);
        let class = feature.map(|f| f.class);
        let state = mask_state(masks, Some(labels), Some(b), class, b.feature);
        let _ = writeln!(
            out,
            "<tr data-feature=\"{attr}\" data-location=\"{location}\" data-mask=\"{mask}\"><th scope=\"row\" title=\"{description}\">{name}</th>\
             <td class=\"loc\">{location}</td><td>{class}</td><td class=\"m-{mask}\">{label}</td><td>{why}</td></tr>",
            attr = feature.map_or("", |f| f.name),
            name = feature.map_or("(unnamed)", |f| f.name),
            description = escape(feature.map_or("", |f| f.description)),
            location = b.location(),
            class = class_name(class),
            mask = state.key,
            label = state.label,
            why = escape(&state.why),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// What the operator asked for: the features hidden (`--hide`) and kept
/// (`--keep`), nested HVM, and the hidden features no output can hide.
fn by_request(out: &mut String, masks: &PoolMasks, labels: &[String]) {
    let names = |ids: &mut dyn Iterator<Item = &'static str>| {
        ids.map(|n| format!("<code>{n}</code>"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str("<h3>By request</h3>\n<ul>\n");
    if masks.hidden.is_empty() {
        out.push_str("<li>No feature hidden by request (<code>--hide</code>).</li>\n");
    } else {
        let _ = writeln!(
            out,
            "<li>Hidden by request (<code>--hide</code>): {}</li>",
            names(&mut masks.hidden.iter().map(|id| cpuid_defs::feature(*id).name))
        );
    }
    if masks.kept.is_empty() {
        out.push_str("<li>No mask vetoed by request (<code>--keep</code>).</li>\n");
    }
    for (id, reasons) in &masks.kept {
        let reasons: Vec<String> = reasons
            .iter()
            .map(|r| reason_text(masks, Some(labels), r))
            .collect();
        let _ = writeln!(
            out,
            "<li>Kept by request (<code>--keep</code>): <code>{}</code>, which would be masked: {}</li>",
            cpuid_defs::feature(*id).name,
            escape(&reasons.join("; "))
        );
    }
    let _ = writeln!(
        out,
        "<li>Nested HVM (<code>--nested-hvm</code>): {}</li>",
        if masks.nested_hvm {
            "enabled, VMX/SVM follow their class"
        } else {
            "not enabled, so VMX and SVM are hidden from guests"
        }
    );
    for feature in masks.hidden_but_not_compared() {
        let _ = writeln!(
            out,
            "<li><code>{}</code> is hidden by request but in no output: {} is not compared.</li>",
            feature.name,
            feature.location.register().0
        );
    }
    out.push_str("</ul>\n");
}

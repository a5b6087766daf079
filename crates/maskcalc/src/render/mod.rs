//! Renderers: turn [`PoolMasks`] into what a toolstack reads.
//!
//! | function | output |
//! |---|---|
//! | [`xend`] | the original `xen_maskcalc.py` form, `cpuid = [ "LEAF[,SUBLEAF]:reg=…", … ]` |
//! | [`xend_verbose`] | the same plus the original's derivation blocks and one line per masked bit |
//! | [`xl`] | libxl syntax, `cpuid = "host,NAME=0,…"` |
//! | [`libvirt`] | a `<cpu>` element with `policy='disable'` features |
//! | [`qemu`] | a `-cpu host,-feat,…` argument |
//! | [`firecracker`] | a Firecracker custom CPU template |
//! | [`json`] | masks, reasons and a pool summary for machines |
//! | [`diff`] | what differs between the hosts, as a table or JSON |
//! | [`plan_text`], [`plan_json`] | what each host costs the pool, and the suggested tiers |
//! | [`html::pool_page`] | one self-contained page: hosts, baseline in every format, plan, matrix, masked bits |
//!
//! The renderers that use names ([`xl`], [`libvirt`], [`qemu`]) write for
//! given consumer releases ([`crate::consumer::Targets`]) and use only the
//! names those releases know. They return the masked bits they cannot
//! express, and that a guest could otherwise see, in [`Rendered::omitted`]
//! (each with the first release that would name it), so a tool can warn:
//! with `-cpu host` or `host-passthrough`, QEMU passes through every bit of
//! its feature words, named or not. A named model needs no name for a bit it
//! does not have; xl falls back to the xend list syntax, which carries any
//! bit of Xen's policy. `hidden` features without an xl name are never
//! listed (Xen never offers them to guests), nor bits outside Xen's
//! featureset words (Xen fills those leaves itself).

mod diff;
pub mod html;
mod json;
mod names;
mod plan;
mod xend;

use cpuid_defs::{FeatureRegister, LeafKey};

use crate::pool::{PoolMasks, Reason};

pub use diff::{DiffRow, diff, diff_json, diff_rows};
pub use json::json;
pub use names::{firecracker, kvm_withheld_notes, libvirt, libvirt_name, qemu, xl, xl_name};
pub(crate) use plan::{COST_RULE, not_counted_reason, tier_additions, tier_rule, uncounted_name};
pub use plan::{plan_json, plan_text};
pub use xend::{explain, xend, xend_missing_leaves, xend_verbose};

/// A rendered configuration and the masked bits it could not express.
///
/// ```
/// use maskcalc::consumer::{Consumer, Release, Targets};
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
/// let mut targets = Targets::newest();
/// let xl = maskcalc::render::xl(&masks, &targets);
/// assert_eq!(xl.text, "cpuid = \"host,vmx=0,avx=0,avx2=0\"\n");
/// assert!(xl.omitted.is_empty() && xl.notes.is_empty());
/// // The oldest xl the tables know names all three too.
/// targets.xen = Release::builtin(Consumer::Xl, "4.14".parse()?);
/// assert_eq!(maskcalc::render::xl(&masks, &targets), xl);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rendered {
    /// The configuration text, ending with a newline.
    pub text: String,
    /// One line per masked bit the format has no name for and a guest could see.
    pub omitted: Vec<String>,
    /// What a person should know about how the output was written (a
    /// fallback to another syntax, a model that fits only with removals).
    pub notes: Vec<String>,
}

impl Rendered {
    /// A configuration text with no omitted bits and no notes (add them to
    /// the fields).
    ///
    /// ```
    /// let mut rendered = maskcalc::render::Rendered::new("cpuid = \"host\"\n".to_owned());
    /// assert!(rendered.omitted.is_empty() && rendered.notes.is_empty());
    /// rendered.notes.push("written for Xen 4.17".to_owned());
    /// assert_eq!(rendered.text, "cpuid = \"host\"\n");
    /// ```
    pub fn new(text: String) -> Rendered {
        Rendered {
            text,
            omitted: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// Host names for a list of host indices, shortened after a few.
pub(crate) fn host_list(masks: &PoolMasks, indices: &[usize]) -> String {
    const SHOWN: usize = 4;
    let mut names: Vec<&str> = indices
        .iter()
        .take(SHOWN)
        .filter_map(|&i| masks.hosts.get(i).map(|h| h.name.as_str()))
        .collect();
    let more = indices.len().saturating_sub(SHOWN);
    let mut text = String::new();
    if more > 0 {
        names.truncate(SHOWN);
        text = format!(" and {more} more");
    }
    format!("{}{text}", names.join(", "))
}

/// One reason in words, for humans.
pub(crate) fn describe_reason(masks: &PoolMasks, reason: &Reason) -> String {
    match reason {
        Reason::Differs { lacking } => {
            let verb = if lacking.len() == 1 { "lacks" } else { "lack" };
            format!("differs: {} {verb} it", host_list(masks, lacking))
        }
        Reason::DependencyOf(id) => format!("dependency of {}", cpuid_defs::feature(*id).name),
        Reason::NestedHvmDisabled => "nested HVM not enabled".to_owned(),
        Reason::HiddenByRequest => "hidden by request".to_owned(),
        Reason::ForcedOn { having } => {
            let verb = if having.len() == 1 { "has" } else { "have" };
            format!("accumulate: {} {verb} it", host_list(masks, having))
        }
        Reason::NotOnEveryHost { lacking } if lacking.is_empty() => {
            "accumulate, not on every host (a KVM guest sees only what its host has)".to_owned()
        }
        Reason::NotOnEveryHost { lacking } => {
            let verb = if lacking.len() == 1 { "lacks" } else { "lack" };
            format!(
                "accumulate, not on every host: {} {verb} it (a KVM guest sees only what its host has)",
                host_list(masks, lacking)
            )
        }
    }
}

/// The leaf key of a CPUID feature register (`None` for MSR halves).
pub(crate) fn cpuid_key(register: FeatureRegister) -> Option<(LeafKey, usize)> {
    match register {
        FeatureRegister::Cpuid { key, register } => {
            Some((key, crate::defs::register_index(register)))
        }
        FeatureRegister::Msr { .. } => None,
    }
}

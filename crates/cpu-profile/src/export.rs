//! A profile for other toolstacks: the pool masks through `xen-maskcalc`'s
//! own renderers (xl, xend, libvirt, QEMU, Firecracker), and Cloud
//! Hypervisor's profile JSON.
//!
//! The masking toolstacks start from each host's CPUID and clear or force
//! bits, so they get the pool masks recorded in the profile at generation
//! time; the output is what `xen-maskcalc` prints for the same hosts. Cloud
//! Hypervisor loads a whole profile instead: per leaf, subleaf range and
//! register, `replacements` and the `mask` of bits kept from the host
//! (`reg = (reg & mask) | replacements`); a register without an adjustment
//! reads as zero there.
//!
//! ```
//! use cpu_profile::{export, Profile};
//! let profile = Profile::new("demo", "GenuineIntel");
//! let targets = maskcalc::consumer::Targets::newest();
//! let text = export::render(&profile, export::ExportFormat::Xend, &targets).text;
//! assert!(text.starts_with("cpuid = [\n    \"0x00000001:ecx=xxxx"));
//! ```

use std::collections::BTreeMap;

use cpuid_defs::{FeatureRegister, Register, Vendor};
use maskcalc::consumer::{GuestCpu, GuestRegister, Targets};
use maskcalc::pool::{Action, HostSummary, MaskedBit, PoolMasks, RegisterMask};
use maskcalc::render;

use crate::{Limits, Profile, json, rules};

/// The formats `export` writes.
///
/// ```
/// use cpu_profile::{export::{render, ExportFormat}, Profile};
/// let profile = Profile::new("demo", "GenuineIntel");
/// let targets = maskcalc::consumer::Targets::newest();
/// let qemu = render(&profile, ExportFormat::Qemu, &targets).text;
/// assert!(qemu.starts_with("-cpu "), "{qemu}");
/// let ch = render(&profile, ExportFormat::CloudHypervisor, &targets).text;
/// assert!(ch.contains("\"cpu_vendor\": \"Intel\""), "{ch}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// xl.cfg `cpuid = "host,NAME=0,…"` (libxl syntax).
    Xl,
    /// xl.cfg `cpuid = [ "LEAF:reg=…" ]` (xend syntax).
    Xend,
    /// A libvirt `<cpu>` element.
    Libvirt,
    /// A QEMU `-cpu host,…` argument.
    Qemu,
    /// A Firecracker custom CPU template.
    Firecracker,
    /// A Cloud Hypervisor CPU profile.
    CloudHypervisor,
}

/// The pool masks of a profile in `xen-maskcalc`'s model, so its renderers
/// can print them. Every CPUID feature register is listed (untouched unless
/// the profile masks it), host names come from the profile, and masked bits
/// carry no reasons (the profile keeps only the decisions).
///
/// ```
/// use cpu_profile::{export::pool_masks, PoolMask, Profile, SourceHost};
/// use cpuid_defs::{FeatureRegister, Register};
/// use maskcalc::pool::Action;
/// let mut profile = Profile::new("p", "GenuineIntel");
/// profile.hosts.push(SourceHost::new("node1", 0x0005_0654));
/// let ebx = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// profile.pool_masks.insert(ebx, PoolMask { clear: 1 << 5, set: 0 });
/// let masks = pool_masks(&profile);
/// assert_eq!(masks.hosts[0].name, "node1");
/// let avx2 = masks.bits.iter().find(|b| b.register == ebx && b.bit == 5).unwrap();
/// assert_eq!(avx2.action, Action::Clear);
/// assert_eq!(masks.bits.len(), 1, "only the masked bits");
/// ```
pub fn pool_masks(profile: &Profile) -> PoolMasks {
    let mut registers: Vec<FeatureRegister> = cpuid_defs::feature_registers()
        .iter()
        .copied()
        .filter(|r| {
            matches!(r, FeatureRegister::Cpuid { .. }) || profile.pool_masks.contains_key(r)
        })
        .collect();
    for reg in profile.pool_masks.keys() {
        if !registers.contains(reg) {
            registers.push(*reg);
        }
    }
    registers.sort();
    let mut masks = PoolMasks {
        hosts: profile
            .hosts
            .iter()
            .map(|h| HostSummary {
                name: h.name.clone(),
                vendor_string: profile.vendor.clone(),
                vendor: vendor_of(&profile.vendor),
                family_model_stepping: cpuid_defs::display_family_model_stepping(h.signature),
            })
            .collect(),
        nested_hvm: false,
        registers: Vec::new(),
        unknown_registers: Vec::new(),
        bits: Vec::new(),
        kept: Vec::new(),
        hidden: Vec::new(),
        cpuid_limits: Some(maskcalc::model::CpuidLimits {
            max_basic: profile.limits.max_basic_leaf,
            max_extended: profile.limits.max_extended_leaf,
            max_leaf7_subleaf: profile.limits.max_leaf7_subleaf,
        }),
    };
    for register in registers {
        let m = profile
            .pool_masks
            .get(&register)
            .copied()
            .unwrap_or_default();
        masks.registers.push(RegisterMask {
            register,
            values: Vec::new(),
            clear: m.clear,
            set: m.set,
        });
        for bit in 0..32u8 {
            let b = 1u32 << bit;
            let action = if m.clear & b != 0 {
                Action::Clear
            } else if m.set & b != 0 {
                Action::Set
            } else {
                continue;
            };
            masks.bits.push(MaskedBit {
                register,
                bit,
                feature: rules::feature_at(register, bit).map(|f| f.id),
                action,
                reasons: Vec::new(),
            });
        }
    }
    masks
}

fn vendor_of(vendor: &str) -> Vendor {
    let bytes = vendor.as_bytes();
    let word = |i: usize| {
        bytes
            .get(i..i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes)
    };
    Vendor::from_leaf0(word(0), word(8), word(4))
}

/// What the profile's guests see, for the named-model outputs: the bits the
/// profile defines. Every host has them, but the ones the pool masks force
/// on (`accumulate` features some host lacks, which the profile shows
/// because any host has them).
pub(crate) fn guest_cpu(profile: &Profile) -> GuestCpu {
    let mut guest = GuestCpu::new(&profile.vendor);
    for (register, bits) in &profile.registers {
        let value = bits.value & bits.mask;
        let forced = profile.pool_masks.get(register).map_or(0, |m| m.set);
        guest.registers.insert(
            *register,
            GuestRegister {
                common: value & !forced,
                guest: value,
            },
        );
    }
    guest
}

/// Renders the profile in `format` for the consumer releases of `targets`;
/// `omitted` lists masked bits the format has no name for.
///
/// ```
/// use cpu_profile::{export::{render, ExportFormat}, PoolMask, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// let mut profile = Profile::new("demo", "GenuineIntel");
/// // Hide AVX2 (7.0.EBX bit 5) from every host's guests.
/// profile.pool_masks.insert(FeatureRegister::cpuid(7, Some(0), Register::Ebx), PoolMask { clear: 1 << 5, set: 0 });
/// let rendered = render(&profile, ExportFormat::Xl, &maskcalc::consumer::Targets::newest());
/// assert!(rendered.text.contains("avx2=0"), "{}", rendered.text);
/// assert!(rendered.omitted.is_empty());
/// ```
pub fn render(profile: &Profile, format: ExportFormat, targets: &Targets<'_>) -> render::Rendered {
    match format {
        ExportFormat::Xl => render::xl(&pool_masks(profile), targets),
        ExportFormat::Xend => render::Rendered::new(render::xend(&pool_masks(profile))),
        ExportFormat::Libvirt => {
            render::libvirt(&pool_masks(profile), &guest_cpu(profile), targets)
        }
        ExportFormat::Qemu => render::qemu(&pool_masks(profile), &guest_cpu(profile), targets),
        ExportFormat::Firecracker => render::firecracker(&pool_masks(profile)),
        ExportFormat::CloudHypervisor => {
            // One KVM view serves the adjustments and the notes about them.
            let kvm = pool_masks(profile).for_kvm();
            let mut rendered = render::Rendered::new(cloud_hypervisor_with(profile, &kvm));
            rendered.notes = render::kvm_withheld_notes(&kvm)
                .into_iter()
                .chain(cloud_hypervisor_vendor(profile).is_none().then(|| {
                    format!(
                        "cpu_vendor is Unknown: Cloud Hypervisor names only Intel and AMD, and sees a \
                         host of any other vendor (this profile's is {}) as Unknown",
                        profile.vendor
                    )
                }))
                .collect();
            rendered
        }
    }
}

/// Leaves whose registers Cloud Hypervisor should take from the host where
/// the profile does not define them: cache and TLB descriptors, topology,
/// XSAVE layout, frequencies, brand string, and the KVM leaves (its own
/// Passthrough class). A slice, so that a leaf added later is not a
/// breaking change.
///
/// ```
/// use cpu_profile::{export::{cloud_hypervisor_adjustments, PASSTHROUGH_LEAVES}, Profile};
/// assert!(PASSTHROUGH_LEAVES.contains(&0x4), "deterministic cache parameters");
/// let mut profile = Profile::new("p", "GenuineIntel");
/// profile.limits.max_basic_leaf = 0xd;
/// let leaf4 = cloud_hypervisor_adjustments(&profile).into_iter().find(|a| a.leaf == 4).unwrap();
/// assert_eq!((leaf4.subleaves, leaf4.mask), (0..=u32::MAX, u32::MAX), "all from the host");
/// ```
pub const PASSTHROUGH_LEAVES: &[u32] = &[
    0x2,
    0x4,
    0xb,
    0xd,
    0x15,
    0x16,
    0x18,
    0x1f,
    0x4000_0000,
    0x4000_0001,
    0x8000_0002,
    0x8000_0003,
    0x8000_0004,
    0x8000_0005,
    0x8000_0006,
    0x8000_001d,
    0x8000_001e,
];

/// Single registers taken from the host: CLFLUSH size and APIC id (1.EBX),
/// the vendor string (CH checks `cpu_vendor` itself), extended signature and
/// package type, and core counts (0x80000008 ECX/EDX). A slice, so that
/// a register added later is not a breaking change.
///
/// ```
/// use cpu_profile::export::PASSTHROUGH_REGISTERS;
/// use cpuid_defs::Register;
/// assert!(PASSTHROUGH_REGISTERS.contains(&(0x1, Register::Ebx)), "APIC id");
/// assert!(!PASSTHROUGH_REGISTERS.contains(&(0x1, Register::Ecx)), "features: the profile's");
/// ```
pub const PASSTHROUGH_REGISTERS: &[(u32, Register)] = &[
    (0x0, Register::Ebx),
    (0x0, Register::Ecx),
    (0x0, Register::Edx),
    (0x1, Register::Ebx),
    (0x8000_0001, Register::Eax),
    (0x8000_0001, Register::Ebx),
    (0x8000_0008, Register::Ecx),
];

/// One adjustment: leaf, subleaf range, register → (replacements, mask).
/// Keyed by leaf, first subleaf, register, last subleaf: the output order.
type Adjustments = BTreeMap<(u32, u32, Register, u32), (u32, u32)>;

fn within_limits(limits: &Limits, leaf: u32) -> bool {
    if (0x4000_0000..0x5000_0000).contains(&leaf) {
        return true;
    }
    limits.covers(FeatureRegister::cpuid(leaf, None, Register::Eax))
}

/// The `cpu_vendor` of Cloud Hypervisor for the profile's vendor: its
/// `CpuVendor` has `Intel` and `AMD` (besides `Unknown`), nothing else.
///
/// ```
/// use cpu_profile::{export::cloud_hypervisor_vendor, Profile};
/// assert_eq!(cloud_hypervisor_vendor(&Profile::new("p", "AuthenticAMD")), Some("AMD"));
/// assert_eq!(cloud_hypervisor_vendor(&Profile::new("p", "HygonGenuine")), None);
/// ```
pub fn cloud_hypervisor_vendor(profile: &Profile) -> Option<&'static str> {
    match vendor_of(&profile.vendor) {
        Vendor::Intel => Some("Intel"),
        Vendor::Amd => Some("AMD"),
        _ => None,
    }
}

/// One CPUID adjustment of a Cloud Hypervisor profile: for `leaf`, the
/// subleaves in `subleaves` and `register`, a guest reads
/// `(host & mask) | replacements`.
///
/// ```
/// use cpu_profile::{export::cloud_hypervisor_adjustments, Profile};
/// use cpuid_defs::Register;
/// let mut profile = Profile::new("p", "GenuineIntel");
/// profile.limits.max_basic_leaf = 0xd;
/// let adjustments = cloud_hypervisor_adjustments(&profile);
/// let leaf0 = adjustments.iter().find(|a| a.leaf == 0 && a.register == Register::Eax).unwrap();
/// // The max basic leaf is the profile's, whatever the host's.
/// assert_eq!((leaf0.subleaves.clone(), leaf0.replacements, leaf0.mask), (0..=0, 0xd, 0));
/// let guest = |host: u32, a: &cpu_profile::export::CpuidAdjustment| (host & a.mask) | a.replacements;
/// assert_eq!(guest(0x20, leaf0), 0xd);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuidAdjustment {
    /// The CPUID leaf (EAX input).
    pub leaf: u32,
    /// The subleaves (ECX inputs) it applies to, both ends included.
    pub subleaves: std::ops::RangeInclusive<u32>,
    /// The output register.
    pub register: Register,
    /// The bits the profile sets (only within `!mask`).
    pub replacements: u32,
    /// The bits kept from the host.
    pub mask: u32,
}

/// The adjustments of the profile's Cloud Hypervisor export, in its order
/// (by leaf, first subleaf, register): registers the profile defines get its
/// value, less the `accumulate` features the pool masks force on (a KVM guest
/// is not given a feature some host lacks: `PoolMasks::for_kvm`), and keep
/// the rest from the host; the limits replace the max leaves,
/// signature and address sizes; the registers of [`PASSTHROUGH_LEAVES`] and
/// [`PASSTHROUGH_REGISTERS`] come from the host; everything else is zero.
///
/// ```
/// use cpu_profile::{Bits, Profile, export::cloud_hypervisor_adjustments};
/// use cpuid_defs::{FeatureRegister, Register};
/// let mut profile = Profile::new("p", "GenuineIntel");
/// profile.limits.max_basic_leaf = 7;
/// let avx2 = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// profile.registers.insert(avx2, Bits { value: 1 << 5, mask: 1 << 5 });
/// let leaf7 = cloud_hypervisor_adjustments(&profile)
///     .into_iter()
///     .find(|a| a.leaf == 7 && a.register == Register::Ebx)
///     .unwrap();
/// assert_eq!((leaf7.subleaves, leaf7.replacements, leaf7.mask), (0..=0, 1 << 5, !(1 << 5)));
/// ```
pub fn cloud_hypervisor_adjustments(profile: &Profile) -> Vec<CpuidAdjustment> {
    adjustments_with(profile, &pool_masks(profile).for_kvm())
}

/// [`cloud_hypervisor_adjustments`] given the pool masks as KVM guests get
/// them (`PoolMasks::for_kvm`).
fn adjustments_with(profile: &Profile, kvm: &PoolMasks) -> Vec<CpuidAdjustment> {
    let mut adjustments = defined_adjustments(profile, kvm);
    // The subleaves of each (leaf, register) that the profile defines.
    let mut defined: BTreeMap<(u32, Register), Vec<u32>> = BTreeMap::new();
    for &(leaf, sub, register, _) in adjustments.keys() {
        defined.entry((leaf, register)).or_default().push(sub);
    }
    let mut passthrough: Vec<(u32, Register)> = PASSTHROUGH_REGISTERS.to_vec();
    for &leaf in PASSTHROUGH_LEAVES {
        passthrough.extend(Register::ALL.iter().map(|r| (leaf, *r)));
    }
    for (leaf, register) in passthrough {
        if !within_limits(&profile.limits, leaf) {
            continue;
        }
        let subs = defined.get(&(leaf, register)).cloned().unwrap_or_default();
        for (from, to) in subleaf_gaps(subs) {
            adjustments
                .entry((leaf, from, register, to))
                .or_insert((0, u32::MAX));
        }
    }
    adjustments
        .into_iter()
        .map(
            |((leaf, from, register, to), (replacements, mask))| CpuidAdjustment {
                leaf,
                subleaves: from..=to,
                register,
                replacements,
                mask,
            },
        )
        .collect()
}

/// The single-subleaf adjustments of what the profile defines: its
/// registers (less the `accumulate` features withheld from KVM guests),
/// then its limits, which replace their bits of those registers.
fn defined_adjustments(profile: &Profile, kvm: &PoolMasks) -> Adjustments {
    let mut adjustments: Adjustments = BTreeMap::new();
    // A KVM guest is not given an accumulate feature some host lacks.
    let mut withheld: BTreeMap<FeatureRegister, u32> = BTreeMap::new();
    for (bit, _) in kvm.withheld_from_kvm() {
        *withheld.entry(bit.register).or_default() |= 1 << bit.bit;
    }
    for (reg, bits) in &profile.registers {
        if let FeatureRegister::Cpuid { key, register } = *reg {
            let sub = key.subleaf.unwrap_or(0);
            let withheld = withheld.get(reg).copied().unwrap_or(0);
            adjustments.insert(
                (key.leaf, sub, register, sub),
                (bits.value & bits.mask & !withheld, !bits.mask),
            );
        }
    }
    let mut limit_regs: BTreeMap<FeatureRegister, (u32, u32)> = BTreeMap::new();
    for (def, value) in profile.limits.iter() {
        let entry = limit_regs.entry(def.register).or_insert((0, u32::MAX));
        entry.0 |= (value << (def.shift & 31)) & def.mask();
        entry.1 &= !def.mask();
    }
    for (reg, (value, mask)) in limit_regs {
        if let FeatureRegister::Cpuid { key, register } = reg {
            if !within_limits(&profile.limits, key.leaf) {
                continue;
            }
            let sub = key.subleaf.unwrap_or(0);
            adjustments.insert((key.leaf, sub, register, sub), (value, mask));
        }
    }
    adjustments
}

/// The subleaf ranges (both ends included) around the subleaves `defined`:
/// the whole range when none is.
fn subleaf_gaps(mut defined: Vec<u32>) -> Vec<(u32, u32)> {
    defined.sort_unstable();
    defined.dedup();
    let mut start = 0u32;
    let mut gaps = Vec::new();
    for sub in defined {
        if sub > start {
            gaps.push((start, sub - 1));
        }
        start = sub.saturating_add(1);
        if sub == u32::MAX {
            start = u32::MAX;
            break;
        }
    }
    if start != u32::MAX || gaps.is_empty() {
        gaps.push((start, u32::MAX));
    }
    gaps
}

/// A number as Cloud Hypervisor writes them: a `0x` hex string of no fixed
/// width (`"0x0"`, `"0xffffffff"`).
struct ChHex(u32);

impl serde::Serialize for ChHex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:#x}", self.0))
    }
}

/// Cloud Hypervisor's CPU profile, in the key order of its own profiles.
#[derive(serde::Serialize)]
struct ChProfile {
    hypervisor: &'static str,
    cpu_vendor: &'static str,
    adjustments: Vec<(ChKey, ChValue)>,
}

/// Where an adjustment applies.
#[derive(serde::Serialize)]
struct ChKey {
    leaf: ChHex,
    sub_leaf: ChRange,
    register: &'static str,
}

/// A subleaf range, both ends included.
#[derive(serde::Serialize)]
struct ChRange {
    start: ChHex,
    end: ChHex,
}

/// What a guest reads: `(host & mask) | replacements`.
#[derive(serde::Serialize)]
struct ChValue {
    replacements: ChHex,
    mask: ChHex,
}

/// Cloud Hypervisor's name of a register.
fn ch_register(register: Register) -> &'static str {
    match register {
        Register::Eax => "EAX",
        Register::Ebx => "EBX",
        Register::Ecx => "ECX",
        Register::Edx => "EDX",
    }
}

/// The profile as Cloud Hypervisor's CPU profile JSON (`hypervisor`,
/// `cpu_vendor`, `adjustments`): [`cloud_hypervisor_adjustments`], one per line.
///
/// ```
/// use cpu_profile::{export::{cloud_hypervisor, cloud_hypervisor_adjustments}, Profile};
/// let mut profile = Profile::new("p", "AuthenticAMD");
/// profile.limits.max_basic_leaf = 0xd;
/// let json: serde_json::Value = serde_json::from_str(&cloud_hypervisor(&profile))?;
/// assert_eq!((json["hypervisor"].as_str(), json["cpu_vendor"].as_str()), (Some("Kvm"), Some("AMD")));
/// let adjustments = json["adjustments"].as_array().unwrap();
/// assert_eq!(adjustments.len(), cloud_hypervisor_adjustments(&profile).len());
/// assert_eq!(adjustments[0][0]["leaf"], "0x0");
/// assert_eq!(adjustments[0][1]["replacements"], "0xd");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cloud_hypervisor(profile: &Profile) -> String {
    cloud_hypervisor_with(profile, &pool_masks(profile).for_kvm())
}

/// [`cloud_hypervisor`] given the pool masks as KVM guests get them.
fn cloud_hypervisor_with(profile: &Profile, kvm: &PoolMasks) -> String {
    let adjustments = adjustments_with(profile, kvm)
        .into_iter()
        .map(|a| {
            let key = ChKey {
                leaf: ChHex(a.leaf),
                sub_leaf: ChRange {
                    start: ChHex(*a.subleaves.start()),
                    end: ChHex(*a.subleaves.end()),
                },
                register: ch_register(a.register),
            };
            let value = ChValue {
                replacements: ChHex(a.replacements),
                mask: ChHex(a.mask),
            };
            (key, value)
        })
        .collect();
    json::entry_per_line(&ChProfile {
        hypervisor: "Kvm",
        // Cloud Hypervisor's CpuVendor: what its get_cpu_vendor() says of the hosts.
        cpu_vendor: cloud_hypervisor_vendor(profile).unwrap_or("Unknown"),
        adjustments,
    })
}

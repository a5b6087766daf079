//! Named-model baselines, as `virsh hypervisor-cpu-baseline` gives them: the
//! richest CPU model of a consumer's table that every host of the pool
//! supports, plus the features to add and to remove.
//!
//! Every model can become the guest's CPU: features the guest sees and the
//! model lacks are added, features the model has and the guest must not see
//! are removed. The model chosen is the one that needs the fewest such
//! changes: the richest model whose features every host has, or the closest
//! one when none is that close. Removing a feature no dump can tell about
//! (IA32_ARCH_CAPABILITIES bits of a `cpuid -1r` dump) costs nothing, and it
//! is always removed: the guest is never told more than the hosts are known
//! to have. Ties go to the shortest list of changes in all, then to the
//! model with most of the guest's features, then to the newest (later in
//! the consumer's table). `host`-class features (APIC, X2APIC, HYPERVISOR…) are
//! the hypervisor's business and count for nothing; `hidden` and `opt-in`
//! features the guest sees are never added (a model that has them keeps
//! them when every host has them). This is libvirt's own rule for
//! `cpu-baseline` (the fewest listed features).
//!
//! ```
//! use cpuid_defs::{FeatureRegister, Register};
//! use maskcalc::consumer::{Consumer, GuestCpu, GuestRegister, Release, Version, baseline};
//! let qemu = Release::builtin(Consumer::Qemu, Version::new(7, 2));
//! // A pool whose guests see exactly what QEMU's Haswell-noTSX model has.
//! let model = qemu.models.iter().find(|m| m.name == "Haswell-v2").unwrap();
//! let mut guest = GuestCpu::new("GenuineIntel");
//! for name in &model.features {
//!     let at = qemu.names.location_of(name).unwrap();
//!     guest.set(at, true, true);
//! }
//! let chosen = baseline::choose(&guest, &qemu, &qemu.models, |_| None).unwrap();
//! assert!(chosen.model.starts_with("Haswell"), "{}", chosen.model);
//! assert!(chosen.add.is_empty() && chosen.remove.is_empty(), "{chosen:?}");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use cpuid_defs::{Class, FeatureRegister, Location};

use super::{ModelRow, Release};
use crate::pool::PoolMasks;

/// One feature register of the guest.
///
/// ```
/// use maskcalc::consumer::{GuestCpu, GuestRegister};
/// let avx = cpuid_defs::lookup("AVX").unwrap().location;
/// let mut guest = GuestCpu::new("GenuineIntel");
/// // Every host has AVX, but the guest must not see it.
/// guest.set(avx, true, false);
/// let register = guest.registers[&avx.register().0];
/// assert_eq!(register, GuestRegister { common: 1 << 28, guest: 0 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuestRegister {
    /// Bits every host has.
    pub common: u32,
    /// Bits the guest sees: `common` less the cleared bits, plus the forced ones.
    pub guest: u32,
}

/// What the guests of a pool see, per feature register; registers missing
/// here are ones some host's dump does not carry.
///
/// ```
/// use maskcalc::consumer::GuestCpu;
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, PoolOptions};
/// let host = |name: &str, ecx: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, ecx, 0]);
///     // 7.0.EDX[29]: IA32_ARCH_CAPABILITIES exists, but the dump has no MSRs.
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, 1 << 29]);
///     Host { name: name.into(), cpuid }
/// };
/// let at = |name| cpuid_defs::lookup(name).unwrap().location;
/// // SSE3 on both hosts, AVX on one.
/// let masks = compute(&[host("a", 0x1000_0001), host("b", 1)], &PoolOptions::default()).unwrap();
/// let guest = GuestCpu::from_masks(&masks);
/// assert_eq!(guest.vendor, "GenuineIntel");
/// assert_eq!(guest.sees(at("SSE3")), Some(true));
/// assert_eq!((guest.sees(at("AVX")), guest.all_have(at("AVX"))), (Some(false), Some(false)));
/// // The value of IA32_ARCH_CAPABILITIES is unknown.
/// assert_eq!(guest.sees(at("RDCL_NO")), None);
///
/// // The same by hand: every host has AVX, the guest is not to see it.
/// let mut by_hand = GuestCpu::new("GenuineIntel");
/// by_hand.set(at("AVX"), true, false);
/// assert_eq!((by_hand.sees(at("AVX")), by_hand.all_have(at("AVX"))), (Some(false), Some(true)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCpu {
    /// The hosts' leaf-0 vendor string.
    pub vendor: String,
    /// Per register, what every host has and what the guest sees.
    pub registers: BTreeMap<FeatureRegister, GuestRegister>,
}

impl GuestCpu {
    /// A guest of `vendor` that sees nothing yet.
    pub fn new(vendor: &str) -> Self {
        GuestCpu {
            vendor: vendor.to_owned(),
            registers: BTreeMap::new(),
        }
    }

    /// Records one bit: whether every host has it and whether the guest sees it.
    pub fn set(&mut self, at: Location, common: bool, guest: bool) {
        let (register, bit) = at.register();
        let entry = self.registers.entry(register).or_default();
        let b = 1u32 << (bit & 31);
        if common {
            entry.common |= b;
        }
        if guest {
            entry.guest |= b;
        }
    }

    /// The guest of a computed pool: every compared register, its hosts'
    /// common bits, less the mask's cleared bits, plus its forced ones.
    pub fn from_masks(masks: &PoolMasks) -> Self {
        let mut guest = GuestCpu::new(masks.hosts.first().map_or("", |h| h.vendor_string.as_str()));
        for reg in &masks.registers {
            let common = reg.values.iter().fold(u32::MAX, |a, v| a & v);
            let common = if reg.values.is_empty() { 0 } else { common };
            guest.registers.insert(
                reg.register,
                GuestRegister {
                    common,
                    guest: (common & !reg.clear) | reg.set,
                },
            );
        }
        guest
    }

    fn register(&self, at: Location) -> Option<(GuestRegister, u32)> {
        let (register, bit) = at.register();
        self.registers
            .get(&register)
            .map(|r| (*r, 1u32 << (bit & 31)))
    }

    /// Whether the guest sees the bit (`None`: its register is not known).
    pub fn sees(&self, at: Location) -> Option<bool> {
        self.register(at).map(|(r, b)| r.guest & b != 0)
    }

    /// Whether every host has the bit (`None`: its register is not known).
    pub fn all_have(&self, at: Location) -> Option<bool> {
        self.register(at).map(|(r, b)| r.common & b != 0)
    }
}

/// A chosen model and the changes that make it the pool's guest CPU.
///
/// ```
/// use maskcalc::consumer::{Consumer, GuestCpu, Release, Version, baseline};
/// let qemu = Release::builtin(Consumer::Qemu, Version::new(7, 2));
/// let model = qemu.models.iter().find(|m| m.name == "Haswell-v2").unwrap();
/// // Guests see what Haswell-v2 has, except AVX2, which some host lacks.
/// let mut guest = GuestCpu::new("GenuineIntel");
/// for name in &model.features {
///     let on_every_host = name != "avx2";
///     guest.set(qemu.names.location_of(name).unwrap(), on_every_host, on_every_host);
/// }
/// let chosen = baseline::choose(&guest, &qemu, &qemu.models, |_| None).unwrap();
/// assert!(chosen.add.is_empty(), "{chosen:?}");
/// assert_eq!(chosen.remove, ["avx2"]);
/// assert_eq!(chosen.unsupported, ["avx2"], "the model does not fit as it is");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Baseline {
    /// The model's name.
    pub model: String,
    /// Features the guest sees that the model lacks.
    pub add: Vec<String>,
    /// Features the model has that the guest must not see.
    pub remove: Vec<String>,
    /// Of `remove`, the ones some host lacks (a model that fits has none).
    pub unsupported: Vec<String>,
}

fn is_host_class(at: Location) -> bool {
    cpuid_defs::at(at).is_some_and(|f| f.class == Class::Host)
}

/// Features never added to a model: `hidden` ones no hypervisor offers
/// (DS, MONITOR, EST, IBS…: KVM does not either, and `check='full'` would
/// refuse them) and `opt-in` ones a guest gets only on request (TSX's HLE,
/// MPX, invariant TSC, which QEMU counts as a migration blocker).
fn never_added(at: Location) -> bool {
    cpuid_defs::at(at).is_some_and(|f| {
        matches!(f.class, Class::Host | Class::Hidden | Class::OptIn)
            || KVM_NEVER_OFFERS.contains(&f.name)
    })
}

/// Features KVM never offers a guest although Xen does: KVM's supported
/// CPUID masks leave them 0 (Linux arch/x86/kvm/cpuid.c, CPUID 1.EDX:
/// "Reserved, DS, ACPI"); every other such feature is `hidden` already.
const KVM_NEVER_OFFERS: [&str; 1] = ["ACPI"];

/// The guest's features under the release's names, in register order.
fn guest_names<'a>(
    guest: &GuestCpu,
    release: &Release<'a>,
    preferred: &impl Fn(Location) -> Option<&'static str>,
) -> Vec<(&'a str, Location)> {
    let mut out = Vec::new();
    for (register, r) in &guest.registers {
        for bit in (0..32u8).filter(|b| r.guest & (1 << b) != 0) {
            let at = crate::pool::location_of(*register, bit);
            if never_added(at) {
                continue;
            }
            if let Some(name) = release.names.name_for(at, preferred(at)) {
                out.push((name, at));
            }
        }
    }
    out
}

struct Fit {
    index: usize,
    verifiable_removes: usize,
    shared: usize,
    add: Vec<String>,
    remove: Vec<String>,
    unsupported: Vec<String>,
}

/// Chooses the model for `guest` among `models` (the release's, or a subset
/// such as libvirt's models that QEMU also has). `preferred` gives the
/// spelling to use for a bit when the release knows several. `None` when no
/// model is of the guest's vendor.
///
/// ```
/// use maskcalc::consumer::{Consumer, GuestCpu, Release, Version, baseline};
/// let qemu = Release::builtin(Consumer::Qemu, Version::new(7, 2));
/// let model = qemu.models.iter().find(|m| m.name == "Haswell-v2").unwrap();
/// // Every host has what Haswell-v2 has; the operator hides AVX2.
/// let mut guest = GuestCpu::new("GenuineIntel");
/// for name in &model.features {
///     guest.set(qemu.names.location_of(name).unwrap(), true, name != "avx2");
/// }
/// let chosen = baseline::choose(&guest, &qemu, &qemu.models, |_| None).unwrap();
/// assert!(chosen.model.starts_with("Haswell"), "{}", chosen.model);
/// assert_eq!((chosen.remove.as_slice(), chosen.unsupported.len()), (&["avx2".to_owned()][..], 0));
/// // No model of another vendor is chosen.
/// assert_eq!(baseline::choose(&GuestCpu::new("AuthenticAMD"), &qemu, &[model], |_| None), None);
/// ```
pub fn choose(
    guest: &GuestCpu,
    release: &Release<'_>,
    models: &[&ModelRow],
    preferred: impl Fn(Location) -> Option<&'static str>,
) -> Option<Baseline> {
    let wanted = guest_names(guest, release, &preferred);
    let mut best: Option<Fit> = None;
    for (index, model) in models.iter().enumerate() {
        if model.vendor.as_deref().is_some_and(|v| v != guest.vendor) {
            continue;
        }
        let mut shared = 0;
        let mut remove = Vec::new();
        let mut unsupported = Vec::new();
        let mut verifiable_removes = 0;
        let mut has: BTreeSet<&str> = BTreeSet::new();
        for feature in &model.features {
            has.insert(feature.as_str());
            let at = release.names.location_of(feature);
            if at.is_some_and(is_host_class) {
                continue;
            }
            match at.map(|at| (guest.sees(at), guest.all_have(at))) {
                Some((Some(true), _)) => shared += 1,
                Some((Some(false), all_have)) => {
                    verifiable_removes += 1;
                    if all_have != Some(true) {
                        unsupported.push(feature.clone());
                    }
                    remove.push(feature.clone());
                }
                // No dump tells: never claim it.
                _ => remove.push(feature.clone()),
            }
        }
        let add: Vec<String> = wanted
            .iter()
            .filter(|(n, _)| !has.contains(n))
            .map(|(n, _)| (*n).to_owned())
            .collect();
        let fit = Fit {
            index,
            shared,
            add,
            remove,
            unsupported,
            verifiable_removes,
        };
        // The fewest features to add or to take away that a dump can tell
        // about; then the fewest changes in all; then the richest; then the newest.
        let key = |f: &Fit| {
            (
                std::cmp::Reverse(f.add.len() + f.verifiable_removes),
                std::cmp::Reverse(f.add.len() + f.remove.len()),
                f.shared,
                f.index,
            )
        };
        if best.as_ref().is_none_or(|b| key(&fit) > key(b)) {
            best = Some(fit);
        }
    }
    let fit = best?;
    Some(Baseline {
        model: models.get(fit.index).map(|m| m.name.clone())?,
        add: fit.add,
        remove: fit.remove,
        unsupported: fit.unsupported,
    })
}

//! The pool computation: which feature bits guests must not see (or must
//! see) so they can migrate between every host of a pool, and why.
//!
//! Per feature register that `cpuid-defs` knows, per bit that differs
//! between the hosts, by the feature's [`Class`]:
//!
//! | class | a differing bit is |
//! |---|---|
//! | `intersect`, `hidden`, `opt-in`, and bits without a name | cleared (`0`), as the original `xen_maskcalc.py` masks every differing bit |
//! | `accumulate` | forced on (`1`): the guest must see it if any host has it (Xen's levelling; a KVM guest sees it only when every host has it: [`PoolMasks::for_kvm`]) |
//! | `host` | left alone (`x`): Xen sets it per host (APIC, OSXSAVE, HYPERVISOR...) |
//!
//! VMX is always cleared and SVM cleared when a host has it, unless nested
//! HVM is enabled (the original's PR #1 behaviour). `hide` adds masks by
//! name, `keep` vetoes them. Then the dependency closure: every feature that
//! depends on a cleared feature is cleared too, when a host has it.
//! Bits that no host has are never written: `x` already yields 0 there.
//!
//! ```
//! use maskcalc::model::{CpuidInput, Host, HostCpuid};
//! use maskcalc::pool::{compute, Action, PoolOptions};
//! let host = |name: &str, ecx: u32| {
//!     let mut cpuid = HostCpuid::default();
//!     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
//!     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, ecx, 0]);
//!     Host { name: name.into(), cpuid }
//! };
//! let masks = compute(&[host("a", 1 << 28), host("b", 0)], &PoolOptions::default()).unwrap();
//! let avx = masks.bits.iter().find(|b| b.feature_name() == Some("AVX")).unwrap();
//! assert_eq!(avx.action, Action::Clear);
//! ```

mod marks;

use std::fmt;

use cpuid_defs::{Class, Feature, FeatureId, FeatureRegister, Location, Vendor};

use crate::model::Host;
use marks::{Marks, apply_marks, compared_registers};

/// The registers `xen_maskcalc.py` handled, in its order.
pub(crate) const ORIGINAL_REGISTERS: [FeatureRegister; 4] = [
    FeatureRegister::cpuid(1, None, cpuid_defs::Register::Ecx),
    FeatureRegister::cpuid(1, None, cpuid_defs::Register::Edx),
    FeatureRegister::cpuid(7, Some(0), cpuid_defs::Register::Ebx),
    FeatureRegister::cpuid(7, Some(0), cpuid_defs::Register::Ecx),
];

/// What the caller asks of the computation. New options are added over
/// time: start from [`PoolOptions::default()`] and set the fields you need.
///
/// ```
/// let mut options = maskcalc::pool::PoolOptions::default();
/// options.nested_hvm = true;
/// options.hide.push(cpuid_defs::lookup("AVX512F").unwrap().id);
/// assert!(!options.allow_mixed_vendors);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Let guests see VMX/SVM (nested virtualisation).
    pub nested_hvm: bool,
    /// Features to clear whatever the hosts say.
    pub hide: Vec<FeatureId>,
    /// Features never to mask, whatever the hosts say.
    pub keep: Vec<FeatureId>,
    /// Compute a mask for hosts of different vendors instead of refusing.
    pub allow_mixed_vendors: bool,
}

/// Why a bit is masked. One bit may have several reasons.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, resolve_feature, PoolOptions, Reason};
/// let mut cpuid = HostCpuid::default();
/// cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
/// cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, 1 << 28, 0]); // AVX
/// cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 1 << 5, 0, 0]); // AVX2
/// let mut options = PoolOptions::default();
/// let avx = resolve_feature("avx")?;
/// options.hide.push(avx);
/// let masks = compute(&[Host { name: "a".into(), cpuid }], &options)?;
/// let reasons = |name| {
///     let bit = masks.bits.iter().find(|b| b.feature_name() == Some(name));
///     bit.map(|b| b.reasons.clone()).unwrap_or_default()
/// };
/// assert_eq!(reasons("AVX"), [Reason::HiddenByRequest]);
/// assert_eq!(reasons("AVX2"), [Reason::DependencyOf(avx)]);
/// assert_eq!(reasons("VMX"), [Reason::NestedHvmDisabled]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Hosts differ on it; these hosts (indices into [`PoolMasks::hosts`]) lack it.
    Differs {
        /// Indices of the hosts that lack the bit.
        lacking: Vec<usize>,
    },
    /// It depends on this feature, which is cleared.
    DependencyOf(FeatureId),
    /// VMX/SVM while nested HVM is not enabled.
    NestedHvmDisabled,
    /// The operator asked to hide it.
    HiddenByRequest,
    /// An `accumulate` feature some hosts have: guests must see it everywhere.
    ForcedOn {
        /// Indices of the hosts that have the bit.
        having: Vec<usize>,
    },
    /// An `accumulate` feature that not every host has, cleared for a KVM
    /// guest ([`PoolMasks::for_kvm`]): KVM offers a guest only what its host has.
    NotOnEveryHost {
        /// Indices of the hosts that lack the bit; empty when the masks do
        /// not record the hosts' values (a CPU profile's).
        lacking: Vec<usize>,
    },
}

/// What the mask does to a bit.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, Action, PoolOptions};
/// let host = |name: &str, edx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, edx7]);
///     Host { name: name.into(), cpuid }
/// };
/// // MD_CLEAR (7.0.EDX[10]) is `accumulate`, SERIALIZE (bit 14) `intersect`.
/// let masks = compute(&[host("a", 1 << 10 | 1 << 14), host("b", 0)], &PoolOptions::default()).unwrap();
/// let action = |name| masks.bits.iter().find(|b| b.feature_name() == Some(name)).map(|b| b.action);
/// assert_eq!(action("MD_CLEAR"), Some(Action::Set));
/// assert_eq!(action("SERIALIZE"), Some(Action::Clear));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// The guest sees 0 (`0` in xend syntax).
    Clear,
    /// The guest sees 1 (`1` in xend syntax).
    Set,
}

/// One bit the mask changes.
///
/// ```
/// use cpuid_defs::Class;
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, PoolOptions};
/// let host = |name: &str, ecx: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, ecx, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// let masks = compute(&[host("a", 1 << 28), host("b", 0)], &PoolOptions::default()).unwrap();
/// let avx = masks.bits.iter().find(|b| b.bit == 28).unwrap();
/// assert_eq!(avx.feature_name(), Some("AVX"));
/// assert_eq!(avx.location().to_string(), "0x1.ecx[28]");
/// assert_eq!(avx.class(), Class::Intersect);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedBit {
    /// The register holding it.
    pub register: FeatureRegister,
    /// Its position in the register, 0..=31.
    pub bit: u8,
    /// The feature named there, if any.
    pub feature: Option<FeatureId>,
    /// Cleared or forced on.
    pub action: Action,
    /// Every reason, in the order they were found.
    pub reasons: Vec<Reason>,
}

impl MaskedBit {
    /// The feature's canonical name, if the bit has one.
    pub fn feature_name(&self) -> Option<&'static str> {
        self.feature.map(|id| cpuid_defs::feature(id).name)
    }

    /// Where the bit lives, for messages: `0x1.ecx[5]`, `msr 0x10a[19]`.
    pub fn location(&self) -> Location {
        location_of(self.register, self.bit)
    }

    /// The feature's class; bits without a name count as `intersect`.
    pub fn class(&self) -> Class {
        self.feature
            .map(|id| cpuid_defs::feature(id).class)
            .unwrap_or(Class::Intersect)
    }
}

/// The location of bit `bit` of `register`.
///
/// ```
/// use cpuid_defs::{FeatureRegister, MsrHalf, Register};
/// use maskcalc::pool::location_of;
/// let ebx7 = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// assert_eq!(location_of(ebx7, 5).to_string(), "0x7.0.ebx[5]");
/// // The high half of an MSR holds its bits 32 to 63.
/// let high = FeatureRegister::Msr { index: 0x10a, half: MsrHalf::High };
/// assert_eq!(location_of(high, 1).to_string(), "msr 0x10a[33]");
/// ```
pub fn location_of(register: FeatureRegister, bit: u8) -> Location {
    match register {
        FeatureRegister::Cpuid { key, register } => Location::Cpuid { key, register, bit },
        FeatureRegister::Msr { index, half } => Location::Msr {
            index,
            bit: match half {
                cpuid_defs::MsrHalf::Low => bit,
                cpuid_defs::MsrHalf::High => bit + 32,
            },
        },
    }
}

/// One feature register across the pool.
///
/// ```
/// use cpuid_defs::{FeatureRegister, Register};
/// use maskcalc::pool::RegisterMask;
/// let ecx = FeatureRegister::cpuid(1, None, Register::Ecx);
/// let reg = RegisterMask { register: ecx, values: vec![0b0110, 0b0011], clear: 0b0100, set: 0b1000 };
/// assert_eq!(reg.differing(), 0b0101);
/// assert!(!reg.is_untouched());
/// assert_eq!(reg.policy_string(), format!("{}10xx", "x".repeat(28)));
/// let untouched = RegisterMask { clear: 0, set: 0, ..reg };
/// assert!(untouched.is_untouched());
/// assert_eq!(untouched.policy_string(), "x".repeat(32));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterMask {
    /// Which register.
    pub register: FeatureRegister,
    /// Each host's value, in host order.
    pub values: Vec<u32>,
    /// Bits the mask clears.
    pub clear: u32,
    /// Bits the mask forces on.
    pub set: u32,
}

impl RegisterMask {
    /// Bits set on some hosts and clear on others.
    pub fn differing(&self) -> u32 {
        let any = self.values.iter().fold(0, |a, v| a | v);
        let all = self.values.iter().fold(u32::MAX, |a, v| a & v);
        any & !all
    }

    /// True when the mask changes nothing in this register.
    pub fn is_untouched(&self) -> bool {
        self.clear == 0 && self.set == 0
    }

    /// The 32-character xend/xl policy string, bit 31 first: `0` cleared,
    /// `1` forced on, `x` left to the default policy.
    pub fn policy_string(&self) -> String {
        (0..32)
            .rev()
            .map(|bit| {
                if self.clear & (1 << bit) != 0 {
                    '0'
                } else if self.set & (1 << bit) != 0 {
                    '1'
                } else {
                    'x'
                }
            })
            .collect()
    }
}

/// What one host of the pool is.
///
/// ```
/// use maskcalc::model::Host;
/// let bytes = std::fs::read("../../testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt")?;
/// let host = Host { name: "skylake".into(), cpuid: maskcalc::dump::parse("skylake", &bytes, None)? };
/// let masks = maskcalc::pool::compute(&[host], &Default::default())?;
/// let summary = &masks.hosts[0];
/// assert_eq!((summary.name.as_str(), summary.vendor_string.as_str()), ("skylake", "GenuineIntel"));
/// assert_eq!(summary.vendor, cpuid_defs::Vendor::Intel);
/// assert_eq!(summary.family_model_stepping, (6, 0x55, 4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSummary {
    /// Its name (the dump's file name).
    pub name: String,
    /// Its leaf-0 vendor string.
    pub vendor_string: String,
    /// Its vendor.
    pub vendor: Vendor,
    /// Display family, model and stepping from leaf 1 EAX.
    pub family_model_stepping: (u32, u32, u32),
}

/// The result of [`compute`]: per register the mask, per masked bit the reasons.
///
/// ```
/// use maskcalc::model::Host;
/// let host = |file: &str| -> Result<Host, Box<dyn std::error::Error>> {
///     let bytes = std::fs::read(format!("../../testdata/cpuid/{file}"))?;
///     Ok(Host { name: file.into(), cpuid: maskcalc::dump::parse(file, &bytes, None)? })
/// };
/// use cpuid_defs::{FeatureRegister, Register};
/// use maskcalc::pool::{PoolOptions, Reason, compute};
/// let pool = [
///     host("intel-skylake-sp-xeon-platinum-8180.txt")?,
///     host("amd-milan-epyc-7763.txt")?,
/// ];
/// // Hosts of two vendors: refused unless asked for.
/// assert!(compute(&pool, &PoolOptions::default()).is_err());
/// let mut options = PoolOptions::default();
/// options.allow_mixed_vendors = true;
/// let masks = compute(&pool, &options)?;
/// assert_eq!(masks.hosts[1].name, "amd-milan-epyc-7763.txt");
/// assert!(masks.mixed_vendors());
/// assert_eq!(masks.vendor_strings(), ["AuthenticAMD", "GenuineIntel"]);
/// let ecx1 = masks.register(FeatureRegister::cpuid(1, None, Register::Ecx)).unwrap();
/// assert_eq!(ecx1.values.len(), 2, "one value per host");
/// // Every masked bit says why, naming the hosts that lack it.
/// let first = &masks.bits[0];
/// assert!(first.reasons.iter().any(|r| matches!(r, Reason::Differs { .. })), "{first:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMasks {
    /// The hosts, in the order given.
    pub hosts: Vec<HostSummary>,
    /// The options the masks were computed with.
    pub nested_hvm: bool,
    /// Every feature register compared, in `cpuid-defs` order (registers whose
    /// value some host's dump lacks, such as an MSR in a `cpuid -1r` dump, are left out).
    pub registers: Vec<RegisterMask>,
    /// Registers left out because some host's dump lacks them.
    pub unknown_registers: Vec<FeatureRegister>,
    /// Every bit the mask changes, by register and ascending bit.
    pub bits: Vec<MaskedBit>,
    /// Features the operator kept, with the reasons they would have been masked.
    pub kept: Vec<(FeatureId, Vec<Reason>)>,
    /// Features the operator hid.
    pub hidden: Vec<FeatureId>,
    /// The lowest highest leaves of the pool's hosts, when known (a
    /// Firecracker template lowers every guest's to them).
    pub cpuid_limits: Option<crate::model::CpuidLimits>,
}

impl PoolMasks {
    /// The hosts' vendor strings, sorted, each once.
    pub fn vendor_strings(&self) -> Vec<&str> {
        let mut vendors: Vec<&str> = self
            .hosts
            .iter()
            .map(|h| h.vendor_string.as_str())
            .collect();
        vendors.sort_unstable();
        vendors.dedup();
        vendors
    }

    /// Masks built from register masks alone (for example a CPU profile's
    /// cleared and forced bits), so the [`crate::render`] functions can print
    /// them; every changed bit is listed without reasons.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// use maskcalc::pool::{PoolMasks, RegisterMask};
    /// let ecx = FeatureRegister::cpuid(1, None, Register::Ecx);
    /// let masks = PoolMasks::from_registers(
    ///     Vec::new(),
    ///     vec![RegisterMask { register: ecx, values: Vec::new(), clear: 1 << 28, set: 0 }],
    /// );
    /// let targets = maskcalc::consumer::Targets::newest();
    /// assert_eq!(maskcalc::render::xl(&masks, &targets).text, "cpuid = \"host,avx=0\"\n");
    /// ```
    pub fn from_registers(hosts: Vec<HostSummary>, registers: Vec<RegisterMask>) -> PoolMasks {
        let mut bits = Vec::new();
        for reg in &registers {
            for bit in 0..32u8 {
                let action = if reg.clear & (1 << bit) != 0 {
                    Action::Clear
                } else if reg.set & (1 << bit) != 0 {
                    Action::Set
                } else {
                    continue;
                };
                bits.push(MaskedBit {
                    register: reg.register,
                    bit,
                    feature: feature_at_register(reg.register, bit),
                    action,
                    reasons: Vec::new(),
                });
            }
        }
        PoolMasks {
            hosts,
            nested_hvm: false,
            registers,
            unknown_registers: Vec::new(),
            bits,
            kept: Vec::new(),
            hidden: Vec::new(),
            cpuid_limits: None,
        }
    }

    /// The mask of one register, if it was compared.
    pub fn register(&self, register: FeatureRegister) -> Option<&RegisterMask> {
        self.registers.iter().find(|r| r.register == register)
    }

    /// The features hidden by request that the mask cannot clear because
    /// their register was not compared (some dump does not carry it, such as
    /// an MSR in a `cpuid -1r` dump), so no output hides them.
    ///
    /// ```
    /// use maskcalc::model::{CpuidInput, Host, HostCpuid};
    /// use maskcalc::pool::{compute, resolve_feature, PoolOptions};
    /// let host = |name: &str| {
    ///     let mut cpuid = HostCpuid::default();
    ///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
    ///     // 7.0.EDX[29]: IA32_ARCH_CAPABILITIES exists, but the dump has no MSRs.
    ///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, 1 << 29]);
    ///     Host { name: name.into(), cpuid }
    /// };
    /// let mut options = PoolOptions::default();
    /// options.hide = vec![resolve_feature("rdcl-no").unwrap(), resolve_feature("avx").unwrap()];
    /// let masks = compute(&[host("a"), host("b")], &options).unwrap();
    /// let lost: Vec<_> = masks.hidden_but_not_compared().map(|f| f.name).collect();
    /// assert_eq!(lost, ["RDCL_NO"]);
    /// ```
    pub fn hidden_but_not_compared(&self) -> impl Iterator<Item = &'static Feature> + '_ {
        self.hidden
            .iter()
            .map(|&id| cpuid_defs::feature(id))
            .filter(|f| self.register(f.location.register().0).is_none())
    }

    /// The masks for a KVM guest (QEMU, libvirt, Firecracker, Cloud
    /// Hypervisor): the same, except that an `accumulate` feature forced on
    /// because some host has it is cleared instead, with
    /// [`Reason::NotOnEveryHost`].
    ///
    /// Forcing such a feature on is Xen's levelling: Xen's max policy lets
    /// guests see MD_CLEAR, RSBA… so that guests from hosts that have them
    /// can migrate in. KVM offers a guest only what its host has: QEMU's
    /// `enforce` and libvirt's `check='full'` refuse to start the guest on a
    /// host that lacks the feature, and a guest told MD_CLEAR by a host whose
    /// microcode lacks it is promised a mitigation it does not get. So a KVM
    /// guest sees an `accumulate` feature only when every host has it, as an
    /// `intersect` one. No feature depends on an `accumulate` one (a test
    /// checks), so nothing else is cleared with it.
    ///
    /// ```
    /// use maskcalc::model::{CpuidInput, Host, HostCpuid};
    /// use maskcalc::pool::{compute, Action, PoolOptions, Reason};
    /// let host = |name: &str, edx: u32| {
    ///     let mut cpuid = HostCpuid::default();
    ///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
    ///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, edx]);
    ///     Host { name: name.into(), cpuid }
    /// };
    /// let md_clear = 1 << 10;
    /// let xen = compute(&[host("a", md_clear), host("b", 0)], &PoolOptions::default()).unwrap();
    /// let kvm = xen.for_kvm();
    /// let bit = |masks: &maskcalc::pool::PoolMasks| {
    ///     masks.bits.iter().find(|b| b.feature_name() == Some("MD_CLEAR")).unwrap().clone()
    /// };
    /// assert_eq!(bit(&xen).action, Action::Set);
    /// assert_eq!(bit(&kvm).action, Action::Clear);
    /// assert_eq!(bit(&kvm).reasons, [Reason::NotOnEveryHost { lacking: vec![1] }]);
    /// let edx = cpuid_defs::FeatureRegister::cpuid(7, Some(0), cpuid_defs::Register::Edx);
    /// let edx = kvm.register(edx).unwrap();
    /// assert_eq!((edx.clear, edx.set), (md_clear, 0));
    /// // What a KVM guest is not given ([`PoolMasks::withheld_from_kvm`]), and which hosts lack it.
    /// let withheld: Vec<_> = kvm.withheld_from_kvm().map(|(b, lacking)| (b.feature_name(), lacking.to_vec())).collect();
    /// assert_eq!(withheld, [(Some("MD_CLEAR"), vec![1])]);
    /// assert_eq!(xen.withheld_from_kvm().count(), 0);
    /// ```
    pub fn for_kvm(&self) -> PoolMasks {
        let mut kvm = self.clone();
        for bit in &mut kvm.bits {
            if bit.action != Action::Set || bit.class() != Class::Accumulate {
                continue;
            }
            let b = 1u32 << bit.bit;
            let Some(reg) = kvm
                .registers
                .iter_mut()
                .find(|r| r.register == bit.register)
            else {
                continue;
            };
            reg.set &= !b;
            reg.clear |= b;
            let lacking = (0..reg.values.len())
                .filter(|&h| reg.values[h] & b == 0)
                .collect();
            bit.action = Action::Clear;
            bit.reasons = vec![Reason::NotOnEveryHost { lacking }];
        }
        kvm
    }

    /// The bits [`PoolMasks::for_kvm`] cleared: `accumulate` features not
    /// every host has, which a KVM guest is not given.
    ///
    /// ```
    /// use maskcalc::model::{CpuidInput, Host, HostCpuid};
    /// let host = |name: &str, edx7: u32| {
    ///     let mut cpuid = HostCpuid::default();
    ///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
    ///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, edx7]);
    ///     Host { name: name.into(), cpuid }
    /// };
    /// // MD_CLEAR (7.0.EDX[10]) on the first host only.
    /// let xen = maskcalc::pool::compute(&[host("a", 1 << 10), host("b", 0)], &Default::default())?;
    /// assert_eq!(xen.withheld_from_kvm().count(), 0, "Xen forces it on");
    /// let kvm = xen.for_kvm();
    /// let (bit, lacking) = kvm.withheld_from_kvm().next().unwrap();
    /// assert_eq!((bit.feature_name(), lacking), (Some("MD_CLEAR"), &[1][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn withheld_from_kvm(&self) -> impl Iterator<Item = (&MaskedBit, &[usize])> + '_ {
        self.bits.iter().filter_map(|bit| {
            bit.reasons.iter().find_map(|r| match r {
                Reason::NotOnEveryHost { lacking } => Some((bit, lacking.as_slice())),
                _ => None,
            })
        })
    }

    /// True when the hosts have different vendors.
    pub fn mixed_vendors(&self) -> bool {
        self.hosts
            .windows(2)
            .any(|w| w[0].vendor_string != w[1].vendor_string)
    }
}

/// Why a pool cannot be computed, or a feature name not resolved: the shape
/// of every error of this crate ([`crate::dump::DumpError`] too), a struct
/// whose `kind` says what went wrong and names what it concerns.
///
/// ```
/// use maskcalc::pool::{self, PoolErrorKind};
/// let err = pool::compute(&[], &pool::PoolOptions::default()).unwrap_err();
/// assert_eq!(err.kind, PoolErrorKind::NoHosts);
/// assert_eq!(err.to_string(), "expected at least one host, found none");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolError {
    /// What went wrong.
    pub kind: PoolErrorKind,
}

/// What went wrong in a [`PoolError`].
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, resolve_feature, PoolErrorKind, PoolOptions};
/// let host = |name: &str, vendor: [u32; 3]| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [1, vendor[0], vendor[1], vendor[2]]);
///     Host { name: name.into(), cpuid }
/// };
/// let intel = host("a", [0x756e6547, 0x6c65746e, 0x49656e69]);
/// let amd = host("b", [0x68747541, 0x444d4163, 0x69746e65]);
/// let err = compute(&[intel.clone(), amd], &PoolOptions::default()).unwrap_err();
/// assert_eq!(
///     err.kind,
///     PoolErrorKind::MixedVendors(vec![("a".into(), "GenuineIntel".into()), ("b".into(), "AuthenticAMD".into())])
/// );
/// let mut options = PoolOptions::default();
/// options.hide.push(resolve_feature("avx")?);
/// options.keep.push(resolve_feature("avx")?);
/// let err = compute(&[intel], &options).unwrap_err();
/// assert_eq!(err.kind, PoolErrorKind::HiddenAndKept("AVX"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolErrorKind {
    /// No host was given.
    NoHosts,
    /// Hosts of different vendors, and mixing was not allowed
    /// ([`PoolOptions::allow_mixed_vendors`]): each host's name and vendor string.
    MixedVendors(Vec<(String, String)>),
    /// A feature was both hidden and kept.
    HiddenAndKept(&'static str),
    /// A feature name ([`resolve_feature`]) that no feature has, with the
    /// name probably meant.
    UnknownFeature {
        /// The name as given.
        name: String,
        /// The closest feature name, if one is close.
        suggestion: Option<&'static str>,
    },
}

impl From<PoolErrorKind> for PoolError {
    fn from(kind: PoolErrorKind) -> Self {
        PoolError { kind }
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PoolErrorKind::NoHosts => f.write_str("expected at least one host, found none"),
            PoolErrorKind::MixedVendors(hosts) => {
                f.write_str("hosts of different CPU vendors cannot share a migration pool (")?;
                for (i, (name, vendor)) in hosts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {vendor}")?;
                }
                f.write_str(")")
            }
            PoolErrorKind::HiddenAndKept(name) => {
                write!(
                    f,
                    "{name} is both hidden and kept; expected each feature to be hidden or kept, not both"
                )
            }
            PoolErrorKind::UnknownFeature {
                name,
                suggestion: Some(meant),
            } => write!(f, "unknown CPUID feature `{name}`; did you mean {meant}?"),
            PoolErrorKind::UnknownFeature {
                name,
                suggestion: None,
            } => write!(f, "expected a CPUID feature name, found `{name}`"),
        }
    }
}

impl std::error::Error for PoolError {}

fn summarize(host: &Host) -> HostSummary {
    let vendor_string = host.cpuid.vendor_string().unwrap_or_default();
    HostSummary {
        name: host.name.clone(),
        vendor_string,
        vendor: host.cpuid.vendor(),
        family_model_stepping: cpuid_defs::display_family_model_stepping(
            host.cpuid.register(1, 0, 0),
        ),
    }
}

/// Computes the masks for a pool of hosts.
///
/// ```
/// use maskcalc::model::Host;
/// let host = |file: &str| -> Result<Host, Box<dyn std::error::Error>> {
///     let bytes = std::fs::read(format!("../../testdata/cpuid/{file}"))?;
///     Ok(Host { name: file.into(), cpuid: maskcalc::dump::parse(file, &bytes, None)? })
/// };
/// use maskcalc::pool::{Action, PoolOptions, compute};
/// let pool = [
///     host("intel-skylake-sp-xeon-platinum-8180.txt")?,
///     host("intel-icelake-sp-xeon-gold-6330.txt")?,
/// ];
/// let masks = compute(&pool, &PoolOptions::default())?;
/// // Ice Lake has AVX512_VBMI, Skylake does not: the pool's guests must not see it.
/// let vbmi = masks.bits.iter().find(|b| b.feature_name() == Some("AVX512_VBMI")).unwrap();
/// assert_eq!(vbmi.action, Action::Clear);
/// assert_eq!(vbmi.location().to_string(), "0x7.0.ecx[1]");
/// // The same masks as xl writes them.
/// let xl = maskcalc::render::xl(&masks, &maskcalc::consumer::Targets::newest());
/// assert!(xl.text.starts_with("cpuid = \"host,"), "{}", xl.text);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compute(hosts: &[Host], options: &PoolOptions) -> Result<PoolMasks, PoolError> {
    let summaries = check_pool(hosts, options)?;
    let (mut registers, unknown_registers) = compared_registers(hosts);

    let mut marks = Marks::new(&registers);
    marks.differing_bits();
    if !options.nested_hvm {
        marks.nested_hvm_disabled();
    }
    for &id in &options.hide {
        marks.mark_feature(
            cpuid_defs::feature(id),
            Action::Clear,
            Reason::HiddenByRequest,
        );
    }
    let kept = marks.take_kept(&options.keep);
    marks.close_over_dependencies(&options.keep);
    let bits = apply_marks(marks.marks, &mut registers);

    Ok(PoolMasks {
        hosts: summaries,
        nested_hvm: options.nested_hvm,
        registers,
        unknown_registers,
        bits,
        kept,
        hidden: options.hide.clone(),
        cpuid_limits: hosts.iter().map(|h| limits_of(&h.cpuid)).reduce(|a, b| {
            crate::model::CpuidLimits {
                max_basic: a.max_basic.min(b.max_basic),
                max_extended: a.max_extended.min(b.max_extended),
                max_leaf7_subleaf: a.max_leaf7_subleaf.min(b.max_leaf7_subleaf),
            }
        }),
    })
}

/// Refuses what no mask can be computed for (no hosts, a feature both hidden
/// and kept, mixed vendors unless allowed) and summarizes the hosts.
fn check_pool(hosts: &[Host], options: &PoolOptions) -> Result<Vec<HostSummary>, PoolError> {
    if hosts.is_empty() {
        return Err(PoolErrorKind::NoHosts.into());
    }
    for id in &options.hide {
        if options.keep.contains(id) {
            return Err(PoolErrorKind::HiddenAndKept(cpuid_defs::feature(*id).name).into());
        }
    }
    let summaries: Vec<HostSummary> = hosts.iter().map(summarize).collect();
    if !options.allow_mixed_vendors
        && summaries
            .windows(2)
            .any(|w| w[0].vendor_string != w[1].vendor_string)
    {
        return Err(PoolErrorKind::MixedVendors(
            summaries
                .iter()
                .map(|s| (s.name.clone(), s.vendor_string.clone()))
                .collect(),
        )
        .into());
    }
    Ok(summaries)
}

/// A dump's highest basic and extended leaf and leaf-7 subleaf.
fn limits_of(cpuid: &crate::model::HostCpuid) -> crate::model::CpuidLimits {
    crate::model::CpuidLimits {
        max_basic: cpuid.register(0, 0, crate::model::EAX),
        max_extended: cpuid.register(0x8000_0000, 0, crate::model::EAX),
        max_leaf7_subleaf: cpuid.register(7, 0, crate::model::EAX),
    }
}

fn feature_at_register(register: FeatureRegister, bit: u8) -> Option<FeatureId> {
    cpuid_defs::at(location_of(register, bit)).map(|f| f.id)
}

/// Resolves a feature name given by an operator (`--hide`/`--keep`), or says
/// which name was probably meant.
///
/// ```
/// use maskcalc::pool::{resolve_feature, PoolErrorKind};
/// let id = resolve_feature("avx512f").unwrap();
/// assert_eq!(cpuid_defs::feature(id).name, "AVX512F");
/// let err = resolve_feature("avx512fx").unwrap_err();
/// assert!(matches!(err.kind, PoolErrorKind::UnknownFeature { suggestion: Some("AVX512F"), .. }));
/// assert_eq!(err.to_string(), "unknown CPUID feature `avx512fx`; did you mean AVX512F?");
/// ```
pub fn resolve_feature(name: &str) -> Result<FeatureId, PoolError> {
    if let Some(f) = cpuid_defs::lookup(name.trim()) {
        return Ok(f.id);
    }
    Err(PoolErrorKind::UnknownFeature {
        name: name.to_owned(),
        suggestion: cpuid_defs::suggest(name.trim()).map(|f| f.name),
    }
    .into())
}

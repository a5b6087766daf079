//! CPU profiles: the CPUID a guest may see on every host of a migration
//! pool, kept as a versioned JSON file, and compatibility checks that say by
//! feature name why a host cannot run a profile's guests (or restore a saved
//! domain).
//!
//! The pieces, one home each:
//!
//! * [`Profile`] (this module): the data model, per register a value and the
//!   mask of the bits the profile defines, plus the pool's [`Limits`];
//! * [`generate`]: a profile from host dumps, by `cpuid-defs`' classes;
//! * [`json`]: the file format (`docs/cpu-profile-format.md`), with errors
//!   that name the file and the field;
//! * [`check`]: can a host run guests of a profile, and if not, why;
//! * [`stream`]: the CPUID and MSR policy of a saved domain or migration
//!   stream, read in constant memory, as a profile to check;
//! * [`export`]: the profile as `xen-maskcalc` renders pools, and as a Cloud
//!   Hypervisor profile;
//! * [`show`] and [`diff`]: the profile, or the difference between two, by
//!   feature name; [`html`]: the profile as one self-contained page.
//!
//! ```
//! use cpu_profile::{check, generate};
//! use maskcalc::model::{CpuidInput, Host, HostCpuid};
//! let host = |name: &str, ecx: u32| {
//!     let mut cpuid = HostCpuid::default();
//!     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
//!     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, ecx, 0]);
//!     Host { name: name.into(), cpuid }
//! };
//! let with_avx = host("a", 1 << 28 | 1 << 27 | 1 << 26);
//! let profile = generate::generate("pool", &[with_avx.clone()]).unwrap();
//! let report = check::check(&profile, &host("b", 0));
//! assert!(report.problems.iter().any(|p| p.to_string().contains("AVX")));
//! assert!(check::check(&profile, &with_avx).is_compatible());
//! // The file format: FORMAT_NAME and FORMAT_VERSION are its first two keys.
//! let text = cpu_profile::json::to_json(&profile);
//! assert!(text.starts_with(&format!(
//!     "{{\n  \"format\": \"{}\",\n  \"version\": {},",
//!     cpu_profile::FORMAT_NAME,
//!     cpu_profile::FORMAT_VERSION
//! )), "{text}");
//! ```

pub mod check;
pub mod diff;
pub mod export;
pub mod generate;
pub mod html;
pub mod json;
pub mod rules;
pub mod show;
pub mod stream;

use std::collections::BTreeMap;

use cpuid_defs::FeatureRegister;

/// The version of the JSON format this crate writes (and the only one it reads).
pub const FORMAT_VERSION: u32 = 1;

/// The value of the `format` key that marks a profile file.
pub const FORMAT_NAME: &str = "xenmig-cpu-profile";

/// A CPU profile: what a guest may see on every host of a pool.
///
/// ```
/// use cpu_profile::{Bits, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// let mut profile = Profile::new("demo", "GenuineIntel");
/// profile.registers.insert(FeatureRegister::cpuid(1, None, Register::Ecx), Bits { value: 1, mask: 1 });
/// assert_eq!(profile.defined(FeatureRegister::cpuid(1, None, Register::Ecx)).unwrap().value, 1);
/// assert_eq!(profile.defined(FeatureRegister::cpuid(1, None, Register::Edx)), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// The profile's name (`--name`, or `profile`).
    pub name: String,
    /// The 12-character vendor string of leaf 0 (`GenuineIntel`, `AuthenticAMD`, ...).
    pub vendor: String,
    /// The hosts the profile was made from (informational).
    pub hosts: Vec<SourceHost>,
    /// The pool's limits: max leaves, signature, address sizes.
    pub limits: Limits,
    /// Per register (CPUID output register or 32-bit MSR half), the value
    /// and the bits the profile defines. Registers not here, and bits
    /// outside a mask, are left to the destination host.
    pub registers: BTreeMap<FeatureRegister, Bits>,
    /// The pool masks `xen-maskcalc` computes for the same hosts (per
    /// register, bits to clear and bits to force on); what `export` renders
    /// for toolstacks that mask the host's CPUID rather than load a profile.
    pub pool_masks: BTreeMap<FeatureRegister, PoolMask>,
}

impl Profile {
    /// An empty profile of one vendor: no hosts, zero limits, no registers.
    ///
    /// ```
    /// let profile = cpu_profile::Profile::new("empty", "AuthenticAMD");
    /// assert_eq!((profile.name.as_str(), profile.vendor.as_str()), ("empty", "AuthenticAMD"));
    /// assert!(profile.hosts.is_empty() && profile.registers.is_empty());
    /// assert_eq!(profile.limits, cpu_profile::Limits::default());
    /// ```
    pub fn new(name: &str, vendor: &str) -> Profile {
        Profile {
            name: name.to_owned(),
            vendor: vendor.to_owned(),
            hosts: Vec::new(),
            limits: Limits::default(),
            registers: BTreeMap::new(),
            pool_masks: BTreeMap::new(),
        }
    }

    /// Drops IA32_ARCH_CAPABILITIES when the profile's guests cannot see it
    /// (7.0.EDX[29] ARCH_CAPS off): a guest without the MSR assumes it is
    /// affected by everything, so the host's value does not matter.
    pub(crate) fn drop_unenumerated_msrs(&mut self) {
        let enumerated = self
            .defined(FeatureRegister::cpuid(
                7,
                Some(0),
                cpuid_defs::Register::Edx,
            ))
            .is_some_and(|bits| bits.value & (1 << 29) != 0);
        if !enumerated {
            self.registers.retain(|reg, _| {
                !matches!(reg, FeatureRegister::Msr { index, .. } if *index == cpuid_defs::MSR_ARCH_CAPABILITIES)
            });
        }
    }

    /// The value and mask of one register, if the profile defines any bit of it.
    pub fn defined(&self, register: FeatureRegister) -> Option<Bits> {
        self.registers.get(&register).copied()
    }
}

/// A register's value and the mask of the bits that value defines.
///
/// A pair that is complete as it is, so it stays a plain struct.
///
/// ```
/// use cpu_profile::{Bits, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// // SSE3 (1.ECX bit 0) on, PCLMULQDQ (bit 1) off, every other bit left to the host.
/// let bits = Bits { value: 0b01, mask: 0b11 };
/// assert_eq!(bits.value & !bits.mask, 0, "no value bit outside the mask");
/// let mut profile = Profile::new("p", "GenuineIntel");
/// profile.registers.insert(FeatureRegister::cpuid(1, None, Register::Ecx), bits);
/// assert!(cpu_profile::show::show(&profile).contains("  on:  SSE3\n  off: PCLMULQDQ\n"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bits {
    /// The register value (bits outside `mask` are zero).
    pub value: u32,
    /// The bits the profile defines.
    pub mask: u32,
}

/// What `xen-maskcalc` does to one register of every host of the pool.
///
/// A pair that is complete as it is, so it stays a plain struct.
///
/// ```
/// use cpu_profile::{PoolMask, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// let mut profile = Profile::new("p", "GenuineIntel");
/// // Clear AVX2 (7.0.EBX bit 5) on every host.
/// let ebx = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// profile.pool_masks.insert(ebx, PoolMask { clear: 1 << 5, set: 0 });
/// assert!(cpu_profile::show::show(&profile).contains("  0x7.0.ebx: -AVX2\n"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolMask {
    /// Bits cleared.
    pub clear: u32,
    /// Bits forced on.
    pub set: u32,
}

/// One host a profile was made from.
///
/// ```
/// use cpu_profile::{Profile, SourceHost};
/// let mut profile = Profile::new("p", "GenuineIntel");
/// profile.hosts.push(SourceHost::new("node1", 0x0005_0654));
/// assert!(cpu_profile::show::show(&profile).contains(
///     "  node1 (signature 0x00050654: family 0x6 model 0x55 stepping 4)"
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceHost {
    /// Its name (the dump's file name, or `local`).
    pub name: String,
    /// Its leaf 1 EAX (family, model, stepping).
    pub signature: u32,
}

impl SourceHost {
    /// A host of that name and leaf 1 EAX.
    ///
    /// ```
    /// let host = cpu_profile::SourceHost::new("node1", 0x0005_0654);
    /// assert_eq!((host.name.as_str(), host.signature), ("node1", 0x0005_0654));
    /// ```
    pub fn new(name: &str, signature: u32) -> SourceHost {
        SourceHost {
            name: name.to_owned(),
            signature,
        }
    }
}

/// The pool's limits: the smallest maximum leaves and address sizes, and the
/// signature (family, model, stepping) of the oldest host.
///
/// ```
/// use cpu_profile::Limits;
/// use cpuid_defs::{FeatureRegister, Register};
/// let mut limits = Limits::default();
/// limits.max_basic_leaf = 0xd;
/// limits.signature = 0x0005_0654;
/// assert!(limits.covers(FeatureRegister::cpuid(7, Some(0), Register::Ebx)));
/// assert!(!limits.covers(FeatureRegister::cpuid(0x14, Some(0), Register::Ebx)));
/// assert_eq!(limits.family_model_stepping(), (0x6, 0x55, 0x4));
/// let names: Vec<&str> = limits.iter().map(|(def, _)| def.name).collect();
/// assert_eq!(names.len(), Limits::DEFS.len());
/// assert_eq!(names[..2], ["max_basic_leaf", "max_leaf7_subleaf"]);
/// assert_eq!(limits.iter().find(|(def, _)| def.name == "signature").unwrap().1, 0x0005_0654);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Highest basic leaf (leaf 0 EAX).
    pub max_basic_leaf: u32,
    /// Highest subleaf of leaf 7 (leaf 7.0 EAX).
    pub max_leaf7_subleaf: u32,
    /// Highest extended leaf (leaf 0x80000000 EAX); 0 when a host has none.
    pub max_extended_leaf: u32,
    /// Leaf 1 EAX of the oldest host (lowest family, model, stepping).
    pub signature: u32,
    /// Physical address width (0x80000008 EAX bits 7:0).
    pub physical_address_bits: u32,
    /// Linear address width (0x80000008 EAX bits 15:8).
    pub linear_address_bits: u32,
}

/// One limit, for checks and display: its name, where it lives, and whether
/// a host must have at least the profile's value.
///
/// ```
/// use cpu_profile::Limits;
/// let linear = Limits::DEFS.iter().find(|d| d.name == "linear_address_bits").unwrap();
/// assert_eq!((linear.shift, linear.width, linear.not_greater), (8, 8, true));
/// // 0x80000008 EAX of a host with 46 physical and 48 linear address bits.
/// assert_eq!(linear.extract(0x0000_302e), 48);
/// assert_eq!(linear.mask(), 0x0000_ff00);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitDef {
    /// The limit's name, as in the JSON file.
    pub name: &'static str,
    /// Its register.
    pub register: FeatureRegister,
    /// Lowest bit within the register.
    pub shift: u8,
    /// Width in bits.
    pub width: u8,
    /// True when the host's value must be at least the profile's.
    pub not_greater: bool,
}

impl LimitDef {
    /// The limit's value in a register value.
    pub const fn extract(&self, value: u32) -> u32 {
        let low = if self.width >= 32 {
            u32::MAX
        } else {
            (1u32 << self.width) - 1
        };
        (value >> (self.shift & 31)) & low
    }

    /// The limit's bits within its register.
    pub const fn mask(&self) -> u32 {
        self.extract(u32::MAX) << (self.shift & 31)
    }
}

impl Limits {
    /// Every limit: name, location, rule. The order is the JSON file's (a
    /// slice, so that a limit added later is not a breaking change).
    pub const DEFS: &'static [LimitDef] = &[
        LimitDef {
            name: "max_basic_leaf",
            register: FeatureRegister::cpuid(0, None, cpuid_defs::Register::Eax),
            shift: 0,
            width: 32,
            not_greater: true,
        },
        LimitDef {
            name: "max_leaf7_subleaf",
            register: FeatureRegister::cpuid(7, Some(0), cpuid_defs::Register::Eax),
            shift: 0,
            width: 32,
            not_greater: true,
        },
        LimitDef {
            name: "max_extended_leaf",
            register: FeatureRegister::cpuid(0x8000_0000, None, cpuid_defs::Register::Eax),
            shift: 0,
            width: 32,
            not_greater: true,
        },
        LimitDef {
            name: "signature",
            register: FeatureRegister::cpuid(1, None, cpuid_defs::Register::Eax),
            shift: 0,
            width: 32,
            not_greater: false,
        },
        LimitDef {
            name: "physical_address_bits",
            register: FeatureRegister::cpuid(0x8000_0008, None, cpuid_defs::Register::Eax),
            shift: 0,
            width: 8,
            not_greater: true,
        },
        LimitDef {
            name: "linear_address_bits",
            register: FeatureRegister::cpuid(0x8000_0008, None, cpuid_defs::Register::Eax),
            shift: 8,
            width: 8,
            not_greater: true,
        },
    ];

    /// The value of the limit at `index` of [`Limits::DEFS`].
    pub(crate) fn get(&self, index: usize) -> u32 {
        match index {
            0 => self.max_basic_leaf,
            1 => self.max_leaf7_subleaf,
            2 => self.max_extended_leaf,
            3 => self.signature,
            4 => self.physical_address_bits,
            _ => self.linear_address_bits,
        }
    }

    /// Sets the limit at `index` of [`Limits::DEFS`].
    pub(crate) fn set(&mut self, index: usize, value: u32) {
        match index {
            0 => self.max_basic_leaf = value,
            1 => self.max_leaf7_subleaf = value,
            2 => self.max_extended_leaf = value,
            3 => self.signature = value,
            4 => self.physical_address_bits = value,
            _ => self.linear_address_bits = value,
        }
    }

    /// The limits as `(definition, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'static LimitDef, u32)> + '_ {
        Limits::DEFS
            .iter()
            .enumerate()
            .map(|(i, def)| (def, self.get(i)))
    }

    /// Display family, model and stepping of the signature.
    pub fn family_model_stepping(&self) -> (u32, u32, u32) {
        cpuid_defs::display_family_model_stepping(self.signature)
    }

    /// True when a guest of these limits may see `register` at all (its leaf
    /// and subleaf are within the maximum leaves).
    pub fn covers(&self, register: FeatureRegister) -> bool {
        match register {
            FeatureRegister::Msr { .. } => true,
            FeatureRegister::Cpuid { key, .. } => {
                let within = if key.leaf >= maskcalc::model::EXTENDED_BASE {
                    key.leaf <= self.max_extended_leaf
                } else {
                    key.leaf <= self.max_basic_leaf
                };
                within && (key.leaf != 7 || key.subleaf.unwrap_or(0) <= self.max_leaf7_subleaf)
            }
        }
    }
}

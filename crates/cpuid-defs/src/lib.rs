//! The x86 CPUID feature knowledge base: bit positions, names across ecosystems, migration policy and dependencies.
//!
//! Every named feature bit that matters for migrating guests between unlike
//! hosts is one [`Feature`]: where it lives ([`Location`]: a CPUID leaf,
//! subleaf, register and bit, or a bit of IA32_ARCH_CAPABILITIES), what every
//! ecosystem calls it (Xen's featureset name, Linux `/proc/cpuinfo`, QEMU and
//! libvirt, libxl's legacy spellings), which vendors implement it, how a pool
//! of hosts should combine it ([`Class`]), and what it needs ([`Feature::depends`]).
//! Multi-bit values (family, maximum leaves, address sizes, topology) are
//! [`Field`]s.
//!
//! The table is generated from `data/features.tsv` and `data/fields.tsv` by
//! `cargo xtask codegen`; those files are the one place to change it.
//!
//! The crate is `#![no_std]`, allocates nothing and contains no `unsafe`, so a
//! toolstack or hypervisor can embed it.
//!
//! ```
//! use cpuid_defs::{Class, FeatureRegister, Register, lookup, decode};
//!
//! // Any name, any ecosystem, any case, '-' or '_'.
//! let lahf = lookup("lahfsahf").unwrap();
//! assert_eq!(lahf.name, "LAHF_LM");
//! assert_eq!(lahf.xen_name, Some("lahf-lm"));
//!
//! // Which features does a register value carry?
//! let reg = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
//! let names: Vec<_> = decode(reg, 0x0000_0029).map(|f| f.name).collect();
//! assert_eq!(names, ["FSGSBASE", "BMI1", "AVX2"]);
//!
//! // Migration policy and prerequisites.
//! let avx512f = lookup("avx512f").unwrap();
//! assert_eq!(avx512f.class, Class::Intersect);
//! assert!(avx512f.depends_closure().contains(lookup("XSAVE").unwrap().id));
//! ```
#![no_std]

use core::fmt;
use core::str::FromStr;

#[rustfmt::skip]
mod generated;
mod names;
mod set;

pub use set::{FeatureSet, FeatureSetIter};

use generated::{FEATURE_REGISTERS, FEATURES, FIELDS, NAME_INDEX, REGISTER_RANGES};

/// The number of features in the table (every [`FeatureId`] is below this).
pub const FEATURE_COUNT: usize = generated::FEATURE_COUNT;

/// One of the four general-purpose registers CPUID returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Register {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

impl Register {
    /// All four registers, in the order CPUID dumps print them.
    pub const ALL: [Register; 4] = [Register::Eax, Register::Ebx, Register::Ecx, Register::Edx];

    /// The lower-case name: `"eax"` ... `"edx"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Register::Eax => "eax",
            Register::Ebx => "ebx",
            Register::Ecx => "ecx",
            Register::Edx => "edx",
        }
    }
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no register; see [`Register::from_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseRegisterError;

impl fmt::Display for ParseRegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a register name: eax, ebx, ecx or edx")
    }
}

impl FromStr for Register {
    type Err = ParseRegisterError;

    /// Parses `eax`...`edx`, in any case.
    ///
    /// ```
    /// use cpuid_defs::Register;
    /// assert_eq!("EBX".parse::<Register>(), Ok(Register::Ebx));
    /// assert!("esi".parse::<Register>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Register::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or(ParseRegisterError)
    }
}

/// A CPUID leaf and subleaf; `subleaf` is `None` for leaves without subleaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafKey {
    /// The value of EAX given to CPUID.
    pub leaf: u32,
    /// The value of ECX given to CPUID, for leaves that read it.
    pub subleaf: Option<u32>,
}

impl LeafKey {
    /// A leaf and optional subleaf.
    pub const fn new(leaf: u32, subleaf: Option<u32>) -> Self {
        LeafKey { leaf, subleaf }
    }
}

impl fmt::Display for LeafKey {
    /// `0x7.0` style: hex leaf, then `.subleaf` when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subleaf {
            Some(sub) => write!(f, "{:#x}.{sub}", self.leaf),
            None => write!(f, "{:#x}", self.leaf),
        }
    }
}

/// Which 32-bit half of a 64-bit MSR a [`FeatureRegister`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MsrHalf {
    /// Bits 31:0 (what RDMSR returns in EAX).
    Low,
    /// Bits 63:32 (what RDMSR returns in EDX).
    High,
}

/// IA32_ARCH_CAPABILITIES, the MSR whose bits the table names.
pub const MSR_ARCH_CAPABILITIES: u32 = 0x10a;

/// One 32-bit register that carries feature bits: a CPUID output register of
/// one leaf/subleaf, or one half of an MSR. Xen's featureset words are all
/// of this kind, and so are the extra registers this crate names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FeatureRegister {
    /// A CPUID output register.
    Cpuid {
        /// Leaf and subleaf.
        key: LeafKey,
        /// Output register.
        register: Register,
    },
    /// Half of a model-specific register.
    Msr {
        /// The MSR index (`0x10a` for IA32_ARCH_CAPABILITIES).
        index: u32,
        /// Which half.
        half: MsrHalf,
    },
}

impl FeatureRegister {
    /// A CPUID register.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// let r = FeatureRegister::cpuid(0x8000_0001, None, Register::Ecx);
    /// assert_eq!(r.to_string(), "0x80000001.ecx");
    /// ```
    pub const fn cpuid(leaf: u32, subleaf: Option<u32>, register: Register) -> Self {
        FeatureRegister::Cpuid {
            key: LeafKey { leaf, subleaf },
            register,
        }
    }

    /// Xen's featureset word number for this register (`0` for 1.EDX ...
    /// `16`/`17` for the halves of MSR_ARCH_CAPS), or `None` when Xen has no
    /// word for it.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// assert_eq!(FeatureRegister::cpuid(7, Some(0), Register::Ebx).xen_word(), Some(5));
    /// assert_eq!(FeatureRegister::cpuid(6, None, Register::Eax).xen_word(), None);
    /// ```
    pub fn xen_word(self) -> Option<u8> {
        XEN_WORDS
            .iter()
            .position(|w| *w == self)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// The same register in a hypervisor leaf block that starts at `base`
    /// instead of 0x40000000. The table places KVM's and Xen's leaves at
    /// 0x40000000 + n; Xen moves its block to 0x40000100 when Viridian
    /// (Hyper-V) leaves take the first slot. Other registers are returned
    /// unchanged.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// let table = FeatureRegister::cpuid(0x4000_0004, None, Register::Eax);
    /// let viridian = table.at_hypervisor_base(0x4000_0100);
    /// assert_eq!(viridian, FeatureRegister::cpuid(0x4000_0104, None, Register::Eax));
    /// assert_eq!(viridian.at_hypervisor_base(0x4000_0000), table);
    /// ```
    pub const fn at_hypervisor_base(self, base: u32) -> Self {
        match self {
            FeatureRegister::Cpuid { key, register } if key.leaf >> 16 == 0x4000 => {
                FeatureRegister::Cpuid {
                    key: LeafKey {
                        leaf: (base & 0xffff_ff00) | (key.leaf & 0xff),
                        subleaf: key.subleaf,
                    },
                    register,
                }
            }
            other => other,
        }
    }

    /// The register of Xen featureset word `word`, if Xen defines it.
    pub fn from_xen_word(word: u8) -> Option<Self> {
        XEN_WORDS.get(usize::from(word)).copied()
    }
}

/// Xen's featureset words in word order (`cpufeatureset.h`).
const XEN_WORDS: [FeatureRegister; 19] = [
    FeatureRegister::cpuid(0x1, None, Register::Edx),
    FeatureRegister::cpuid(0x1, None, Register::Ecx),
    FeatureRegister::cpuid(0x8000_0001, None, Register::Edx),
    FeatureRegister::cpuid(0x8000_0001, None, Register::Ecx),
    FeatureRegister::cpuid(0xd, Some(1), Register::Eax),
    FeatureRegister::cpuid(0x7, Some(0), Register::Ebx),
    FeatureRegister::cpuid(0x7, Some(0), Register::Ecx),
    FeatureRegister::cpuid(0x8000_0007, None, Register::Edx),
    FeatureRegister::cpuid(0x8000_0008, None, Register::Ebx),
    FeatureRegister::cpuid(0x7, Some(0), Register::Edx),
    FeatureRegister::cpuid(0x7, Some(1), Register::Eax),
    FeatureRegister::cpuid(0x8000_0021, None, Register::Eax),
    FeatureRegister::cpuid(0x7, Some(1), Register::Ebx),
    FeatureRegister::cpuid(0x7, Some(2), Register::Edx),
    FeatureRegister::cpuid(0x7, Some(1), Register::Ecx),
    FeatureRegister::cpuid(0x7, Some(1), Register::Edx),
    FeatureRegister::Msr {
        index: MSR_ARCH_CAPABILITIES,
        half: MsrHalf::Low,
    },
    FeatureRegister::Msr {
        index: MSR_ARCH_CAPABILITIES,
        half: MsrHalf::High,
    },
    FeatureRegister::cpuid(0x8000_0021, None, Register::Ecx),
];

impl fmt::Display for FeatureRegister {
    /// `0x7.0.ebx` for CPUID registers, `msr 0x10a[31:0]` for MSR halves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureRegister::Cpuid { key, register } => write!(f, "{key}.{register}"),
            FeatureRegister::Msr { index, half } => match half {
                MsrHalf::Low => write!(f, "msr {index:#x}[31:0]"),
                MsrHalf::High => write!(f, "msr {index:#x}[63:32]"),
            },
        }
    }
}

/// Where one feature bit lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// A bit of a CPUID output register.
    Cpuid {
        /// Leaf and subleaf.
        key: LeafKey,
        /// Output register.
        register: Register,
        /// Bit number, 0..=31.
        bit: u8,
    },
    /// A bit of a 64-bit MSR.
    Msr {
        /// The MSR index.
        index: u32,
        /// Bit number, 0..=63.
        bit: u8,
    },
}

impl Location {
    /// A CPUID bit.
    pub const fn cpuid(leaf: u32, subleaf: Option<u32>, register: Register, bit: u8) -> Self {
        Location::Cpuid {
            key: LeafKey { leaf, subleaf },
            register,
            bit,
        }
    }

    /// The 32-bit register holding this bit, and the bit's position in it (0..=31).
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Location, MsrHalf};
    /// let (reg, bit) = Location::Msr { index: 0x10a, bit: 62 }.register();
    /// assert_eq!(reg, FeatureRegister::Msr { index: 0x10a, half: MsrHalf::High });
    /// assert_eq!(bit, 30);
    /// ```
    pub const fn register(self) -> (FeatureRegister, u8) {
        match self {
            Location::Cpuid { key, register, bit } => {
                (FeatureRegister::Cpuid { key, register }, bit)
            }
            Location::Msr { index, bit } => {
                if bit >= 32 {
                    (
                        FeatureRegister::Msr {
                            index,
                            half: MsrHalf::High,
                        },
                        bit - 32,
                    )
                } else {
                    (
                        FeatureRegister::Msr {
                            index,
                            half: MsrHalf::Low,
                        },
                        bit,
                    )
                }
            }
        }
    }
}

impl fmt::Display for Location {
    /// `0x7.0.ebx[5]` or `msr 0x10a[19]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Cpuid { key, register, bit } => write!(f, "{key}.{register}[{bit}]"),
            Location::Msr { index, bit } => write!(f, "msr {index:#x}[{bit}]"),
        }
    }
}

/// How a pool of hosts combines a feature when computing what migrating
/// guests may see. `docs/cpuid-features.md` explains every non-`Intersect`
/// placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A guest may see it only if every host has it (the default).
    Intersect,
    /// Visible if any host has it: "needs mitigation" / "behaviour removed"
    /// bits, where hiding the bit from a guest that may land on an affected
    /// host is the unsafe direction.
    Accumulate,
    /// Reflects the host's OS, topology or virtualisation layer, is
    /// synthesised for each guest, and is never compared between hosts.
    Host,
    /// Never offered to migratable guests.
    Hidden,
    /// Offered only when asked for explicitly (nested virtualisation,
    /// invariant TSC, features Xen keeps off by default).
    OptIn,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 5] = [
        Class::Intersect,
        Class::Accumulate,
        Class::Host,
        Class::Hidden,
        Class::OptIn,
    ];

    /// The name used in data files, JSON and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Intersect => "intersect",
            Class::Accumulate => "accumulate",
            Class::Host => "host",
            Class::Hidden => "hidden",
            Class::OptIn => "opt-in",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseClassError;

impl fmt::Display for ParseClassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a class: intersect, accumulate, host, hidden or opt-in")
    }
}

impl FromStr for Class {
    type Err = ParseClassError;

    /// ```
    /// use cpuid_defs::Class;
    /// assert_eq!("opt-in".parse::<Class>(), Ok(Class::OptIn));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(ParseClassError)
    }
}

/// A set of CPU vendors, as a small bit set (no allocation).
///
/// ```
/// use cpuid_defs::Vendors;
/// let v = Vendors::AMD.union(Vendors::HYGON);
/// assert!(v.contains(Vendors::AMD));
/// assert!(!v.contains(Vendors::INTEL));
/// assert_eq!(v.to_string(), "amd,hygon");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Vendors(u8);

impl Vendors {
    /// No vendor.
    pub const NONE: Vendors = Vendors(0);
    /// GenuineIntel.
    pub const INTEL: Vendors = Vendors(1 << 0);
    /// AuthenticAMD.
    pub const AMD: Vendors = Vendors(1 << 1);
    /// HygonGenuine (licensed AMD Zen designs).
    pub const HYGON: Vendors = Vendors(1 << 2);
    /// "  Shanghai  " (Zhaoxin).
    pub const ZHAOXIN: Vendors = Vendors(1 << 3);
    /// CentaurHauls (VIA/Centaur).
    pub const CENTAUR: Vendors = Vendors(1 << 4);
    /// Every vendor.
    pub const ALL: Vendors = Vendors(0x1f);

    const NAMES: [(Vendors, &'static str); 5] = [
        (Vendors::INTEL, "intel"),
        (Vendors::AMD, "amd"),
        (Vendors::HYGON, "hygon"),
        (Vendors::ZHAOXIN, "zhaoxin"),
        (Vendors::CENTAUR, "centaur"),
    ];

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Both sets together.
    pub const fn union(self, other: Vendors) -> Vendors {
        Vendors(self.0 | other.0)
    }

    /// True when every vendor of `other` is in `self`.
    pub const fn contains(self, other: Vendors) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when `vendor` is in the set (`Unknown` never is).
    pub const fn has(self, vendor: Vendor) -> bool {
        let v = vendor.as_set();
        !v.is_empty() && self.contains(v)
    }

    /// The lower-case names of the vendors in the set.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(v, _)| self.contains(*v))
            .map(|(_, n)| n)
    }
}

impl fmt::Display for Vendors {
    /// Comma-separated lower-case names, `-` for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// The CPU vendor named by CPUID leaf 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// `GenuineIntel`.
    Intel,
    /// `AuthenticAMD`.
    Amd,
    /// `HygonGenuine`.
    Hygon,
    /// `  Shanghai  `.
    Zhaoxin,
    /// `CentaurHauls`.
    Centaur,
    /// Any other vendor string.
    Unknown,
}

impl Vendor {
    /// Identifies the vendor from leaf 0's EBX, ECX and EDX (the 12-byte
    /// string is EBX, EDX, ECX in that order).
    ///
    /// ```
    /// use cpuid_defs::Vendor;
    /// assert_eq!(Vendor::from_leaf0(0x756e_6547, 0x6c65_746e, 0x4965_6e69), Vendor::Intel);
    /// assert_eq!(Vendor::from_leaf0(0x6874_7541, 0x444d_4163, 0x6974_6e65), Vendor::Amd);
    /// ```
    pub fn from_leaf0(ebx: u32, ecx: u32, edx: u32) -> Vendor {
        let mut s = [0u8; 12];
        s[0..4].copy_from_slice(&ebx.to_le_bytes());
        s[4..8].copy_from_slice(&edx.to_le_bytes());
        s[8..12].copy_from_slice(&ecx.to_le_bytes());
        match &s {
            b"GenuineIntel" => Vendor::Intel,
            b"AuthenticAMD" => Vendor::Amd,
            b"HygonGenuine" => Vendor::Hygon,
            b"  Shanghai  " => Vendor::Zhaoxin,
            b"CentaurHauls" => Vendor::Centaur,
            _ => Vendor::Unknown,
        }
    }

    /// The one-element [`Vendors`] set of this vendor (empty for `Unknown`).
    pub const fn as_set(self) -> Vendors {
        match self {
            Vendor::Intel => Vendors::INTEL,
            Vendor::Amd => Vendors::AMD,
            Vendor::Hygon => Vendors::HYGON,
            Vendor::Zhaoxin => Vendors::ZHAOXIN,
            Vendor::Centaur => Vendors::CENTAUR,
            Vendor::Unknown => Vendors::NONE,
        }
    }
}

/// Index of a feature in the table. Stable within one build of the crate;
/// persist names, not ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeatureId(pub(crate) u16);

impl FeatureId {
    /// The index into [`features()`].
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The id of index `index`, if the table has that many features.
    pub const fn from_index(index: usize) -> Option<FeatureId> {
        if index < FEATURE_COUNT {
            Some(FeatureId(index as u16))
        } else {
            None
        }
    }
}

/// One named feature bit.
#[derive(Debug, PartialEq, Eq)]
pub struct Feature {
    /// Its index in [`features()`].
    pub id: FeatureId,
    /// Canonical name, upper case in Xen's style (`LAHF_LM`, `AVX512F`).
    /// For Xen's features it is exactly Xen's `cpufeatureset.h` name.
    pub name: &'static str,
    /// Xen's featureset name in xl spelling (`lahf-lm`), `None` if Xen has no
    /// name for this bit.
    pub xen_name: Option<&'static str>,
    /// Xen's attribute string from `cpufeatureset.h` (`"A"`, `"!A|"`, `""`),
    /// `None` if Xen has no name for this bit. Not Xen ABI; informational.
    pub xen_attrs: Option<&'static str>,
    /// The flag in Linux `/proc/cpuinfo`, if Linux shows one.
    pub linux_name: Option<&'static str>,
    /// The QEMU `-cpu` property / libvirt feature name, if there is one.
    pub qemu_name: Option<&'static str>,
    /// libxl's legacy `cpuid=` spellings (`lahfsahf`, `cmpxchg16`, `invtsc`).
    pub libxl_legacy_names: &'static [&'static str],
    /// Other spellings in common use (vendor manual mnemonics, older names).
    pub other_aliases: &'static [&'static str],
    /// Where the bit lives.
    pub location: Location,
    /// Vendors that implement the bit at this position.
    pub vendors: Vendors,
    /// How a pool of hosts combines it.
    pub class: Class,
    /// Direct prerequisites: hiding any of them must hide this feature.
    pub depends: &'static [FeatureId],
    /// One line saying what it is.
    pub description: &'static str,
    /// Where the vendor documents it (manual and section).
    pub reference: &'static str,
}

impl Feature {
    /// Every name this feature answers to: canonical, Xen, Linux, QEMU,
    /// libxl legacy, other aliases (may repeat when ecosystems agree).
    pub fn all_names(&self) -> impl Iterator<Item = &'static str> {
        let singles = [
            Some(self.name),
            self.xen_name,
            self.linux_name,
            self.qemu_name,
        ];
        singles
            .into_iter()
            .flatten()
            .chain(self.libxl_legacy_names.iter().copied())
            .chain(self.other_aliases.iter().copied())
    }

    /// The aliases: every name except the canonical one, without repeats of
    /// the canonical spelling (compared as [`lookup`] compares).
    pub fn aliases(&self) -> impl Iterator<Item = &'static str> + '_ {
        let mut seen: [&str; 16] = [""; 16];
        let mut count = 0usize;
        self.all_names().filter(move |n| {
            if names::same_name(n, self.name)
                || seen[..count].iter().any(|s| names::same_name(s, n))
            {
                return false;
            }
            if let Some(slot) = seen.get_mut(count) {
                *slot = n;
                count += 1;
            }
            true
        })
    }

    /// Every feature this one needs, directly or indirectly (not itself).
    pub fn depends_closure(&self) -> FeatureSet {
        depends_closure(self.id)
    }

    /// Every feature that needs this one, directly or indirectly (not itself).
    pub fn dependents_closure(&self) -> FeatureSet {
        dependents_closure(self.id)
    }

    /// Features that list this one as a direct prerequisite.
    pub fn direct_dependents(&self) -> impl Iterator<Item = &'static Feature> + '_ {
        features()
            .iter()
            .filter(move |f| f.depends.contains(&self.id))
    }
}

/// Every feature, ordered by location (CPUID registers by leaf, subleaf and
/// register, then MSRs; bits ascending). `features()[id.index()].id == id`.
pub fn features() -> &'static [Feature] {
    &FEATURES
}

/// The feature with id `id`.
///
/// Ids only come from this crate, so they are always in range.
pub fn feature(id: FeatureId) -> &'static Feature {
    // A FeatureId can only be built in range (from_index or the table), so
    // the fallback is unreachable; it avoids a panic path all the same.
    FEATURES.get(id.index()).unwrap_or(&FEATURES[0])
}

/// Looks a feature up by any of its names or aliases, ignoring ASCII case
/// and treating `-` and `_` alike.
///
/// ```
/// use cpuid_defs::lookup;
/// assert_eq!(lookup("SSE4-1").unwrap().name, "SSE4_1");
/// assert_eq!(lookup("sse4.1").unwrap().name, "SSE4_1"); // libxl legacy
/// assert_eq!(lookup("pni").unwrap().name, "SSE3");      // Linux
/// assert!(lookup("no-such-thing").is_none());
/// ```
pub fn lookup(name: &str) -> Option<&'static Feature> {
    let i = NAME_INDEX
        .binary_search_by(|(key, _)| names::cmp_normalised(key, name))
        .ok()?;
    let (_, id) = NAME_INDEX.get(i)?;
    FEATURES.get(usize::from(*id))
}

/// The feature whose name is closest to `name` (for "did you mean ...?"),
/// or `None` when nothing is reasonably close. Never allocates.
///
/// ```
/// use cpuid_defs::suggest;
/// assert_eq!(suggest("avx512fx").unwrap().name, "AVX512F");
/// assert_eq!(suggest("lahf-lmm").unwrap().name, "LAHF_LM");
/// assert!(suggest("completely-unrelated-words").is_none());
/// ```
pub fn suggest(name: &str) -> Option<&'static Feature> {
    let (_, id) = names::closest(name, NAME_INDEX.iter().map(|(n, id)| (*n, *id)))?;
    FEATURES.get(usize::from(id))
}

/// The feature at `location`, if one is named there.
///
/// ```
/// use cpuid_defs::{at, Location, Register};
/// let f = at(Location::cpuid(1, None, Register::Ecx, 0)).unwrap();
/// assert_eq!(f.name, "SSE3");
/// ```
pub fn at(location: Location) -> Option<&'static Feature> {
    let (reg, _) = location.register();
    features_in(reg).find(|f| f.location == location)
}

/// Every register that has named bits: all of Xen's featureset words and the
/// extra registers this crate names, in location order.
pub fn feature_registers() -> &'static [FeatureRegister] {
    &FEATURE_REGISTERS
}

/// The features named in `reg`, by ascending bit (empty if it has none).
pub fn features_in(reg: FeatureRegister) -> impl Iterator<Item = &'static Feature> {
    let slice = FEATURE_REGISTERS
        .binary_search(&reg)
        .ok()
        .and_then(|i| REGISTER_RANGES.get(i))
        .and_then(|&(start, end)| FEATURES.get(usize::from(start)..usize::from(end)))
        .unwrap_or(&[]);
    slice.iter()
}

/// The named features whose bit is set in `value`, a value of `reg`.
/// Set bits that have no name are skipped (see [`unnamed_bits`]).
pub fn decode(reg: FeatureRegister, value: u32) -> impl Iterator<Item = &'static Feature> {
    features_in(reg).filter(move |f| {
        let (_, bit) = f.location.register();
        value & (1u32 << (bit & 31)) != 0
    })
}

/// The mask of every bit of `reg` that a feature names.
///
/// ```
/// use cpuid_defs::{named_bits, FeatureRegister, Register};
/// // 1.EDX: everything but reserved bits 10 and 20.
/// assert_eq!(named_bits(FeatureRegister::cpuid(1, None, Register::Edx)), !((1 << 10) | (1 << 20)));
/// ```
pub fn named_bits(reg: FeatureRegister) -> u32 {
    encode(features_in(reg))
}

/// The bits of `value` that no feature of `reg` names.
///
/// ```
/// use cpuid_defs::{unnamed_bits, FeatureRegister, Register};
/// // 1.EDX bit 10 is reserved.
/// assert_eq!(unnamed_bits(FeatureRegister::cpuid(1, None, Register::Edx), 1 << 10), 1 << 10);
/// ```
pub fn unnamed_bits(reg: FeatureRegister, value: u32) -> u32 {
    value & !named_bits(reg)
}

/// The register value with exactly the bits of `features` set; features of
/// other registers contribute their bit position all the same, so pass
/// only features of one register (e.g. from [`decode`]).
///
/// ```
/// use cpuid_defs::{decode, encode, FeatureRegister, Register};
/// let reg = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// assert_eq!(encode(decode(reg, 0x29)), 0x29);
/// ```
pub fn encode<'a>(features: impl IntoIterator<Item = &'a Feature>) -> u32 {
    features
        .into_iter()
        .fold(0, |acc, f| acc | 1u32 << (f.location.register().1 & 31))
}

/// Every feature that `id` needs, directly or through other features (not
/// `id` itself unless the graph had a cycle, which a test forbids).
///
/// ```
/// use cpuid_defs::{depends_closure, lookup};
/// let needs = depends_closure(lookup("AVX512F").unwrap().id);
/// for name in ["AVX2", "AVX", "XSAVE"] {
///     assert!(needs.contains(lookup(name).unwrap().id));
/// }
/// ```
pub fn depends_closure(id: FeatureId) -> FeatureSet {
    let mut set = FeatureSet::new();
    for &dep in feature(id).depends {
        set.insert(dep);
    }
    // Fixpoint over direct edges: the graph is small and shallow, and this
    // needs no stack or heap.
    loop {
        let mut grew = false;
        for member in set.iter() {
            for &dep in feature(member).depends {
                grew |= set.insert(dep);
            }
        }
        if !grew {
            return set;
        }
    }
}

/// Every feature that needs `id`, directly or through other features: what
/// must be hidden when `id` is hidden.
///
/// ```
/// use cpuid_defs::{dependents_closure, lookup};
/// let lost = dependents_closure(lookup("XSAVE").unwrap().id);
/// assert!(lost.contains(lookup("AVX512BW").unwrap().id));
/// ```
pub fn dependents_closure(id: FeatureId) -> FeatureSet {
    let mut set = FeatureSet::new();
    loop {
        let mut grew = false;
        for f in features() {
            if !set.contains(f.id) && f.depends.iter().any(|d| *d == id || set.contains(*d)) {
                grew |= set.insert(f.id);
            }
        }
        if !grew {
            return set;
        }
    }
}

/// A multi-bit value in a CPUID register (family, maximum leaf, address
/// size, XSAVE area size, APIC id...).
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    /// Our name, lower case with `_` (`max_basic_leaf`, `apic_id`).
    pub name: &'static str,
    /// libxl's numeric `cpuid=` key for it, if any (`maxleaf`, `localapicid`).
    pub libxl_name: Option<&'static str>,
    /// Leaf and subleaf.
    pub key: LeafKey,
    /// Output register.
    pub register: Register,
    /// Lowest bit of the field.
    pub shift: u8,
    /// Width in bits (1..=32).
    pub width: u8,
    /// True when the value differs between the CPUs of one host (APIC ids,
    /// topology), so comparing hosts must ignore it.
    pub per_cpu: bool,
    /// One line saying what it is.
    pub description: &'static str,
}

impl Field {
    /// The field's value in a register value.
    ///
    /// ```
    /// use cpuid_defs::field;
    /// let apic = field("apic_id").unwrap();
    /// assert_eq!(apic.extract(0x0e80_0800), 0x0e);
    /// ```
    pub const fn extract(&self, value: u32) -> u32 {
        (value >> (self.shift & 31)) & self.mask_low()
    }

    /// The mask of the field in place within the register.
    pub const fn mask(&self) -> u32 {
        self.mask_low() << (self.shift & 31)
    }

    const fn mask_low(&self) -> u32 {
        if self.width >= 32 {
            u32::MAX
        } else {
            (1u32 << self.width) - 1
        }
    }
}

/// Every multi-bit field, in location order.
pub fn fields() -> &'static [Field] {
    &FIELDS
}

/// The field named `name` (our name or libxl's key; case-insensitive,
/// `-` == `_`).
///
/// ```
/// use cpuid_defs::field;
/// assert_eq!(field("maxleaf").unwrap().name, "max_basic_leaf");
/// assert!(field("max-basic-leaf").unwrap().libxl_name.is_some());
/// ```
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| {
        names::same_name(f.name, name) || f.libxl_name.is_some_and(|l| names::same_name(l, name))
    })
}

/// Family, model and stepping as software should display them, from leaf 1
/// EAX: the extended family is added only when the base family is 0xF, the
/// extended model is prefixed only when the base family is 0x6 or 0xF.
///
/// ```
/// use cpuid_defs::display_family_model_stepping;
/// assert_eq!(display_family_model_stepping(0x000606a6), (0x6, 0x6a, 0x6)); // Ice Lake-SP
/// assert_eq!(display_family_model_stepping(0x00a10f11), (0x19, 0x11, 0x1)); // Genoa
/// ```
pub const fn display_family_model_stepping(leaf1_eax: u32) -> (u32, u32, u32) {
    let stepping = leaf1_eax & 0xf;
    let base_model = (leaf1_eax >> 4) & 0xf;
    let base_family = (leaf1_eax >> 8) & 0xf;
    let ext_model = (leaf1_eax >> 16) & 0xf;
    let ext_family = (leaf1_eax >> 20) & 0xff;
    let family = if base_family == 0xf {
        base_family + ext_family
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        (ext_model << 4) | base_model
    } else {
        base_model
    };
    (family, model, stepping)
}

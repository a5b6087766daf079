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

mod class;
mod field;
#[rustfmt::skip]
mod generated;
mod location;
mod names;
mod set;
mod vendor;

pub use class::{Class, ParseClassError};
pub use field::{Field, display_family_model_stepping, field, field_bits, fields, fields_in};
pub use location::{
    FeatureRegister, LeafKey, Location, MSR_ARCH_CAPABILITIES, MsrHalf, ParseRegisterError,
    Register,
};
pub use set::{FeatureSet, FeatureSetIter};
pub use vendor::{Vendor, Vendors};

use generated::{FEATURE_REGISTERS, FEATURES, NAME_INDEX, REGISTER_RANGES};

/// The number of features in the table (every [`FeatureId`] is below this).
pub const FEATURE_COUNT: usize = generated::FEATURE_COUNT;

/// Which upstream dependency graphs state one edge of [`Feature::depends`]:
/// Xen's `gen-cpuid.py`, Linux's `cpuid-deps.c`, QEMU's
/// `feature_dependencies`. An edge none of them states comes from the
/// vendor manuals (`docs/cpuid-features.md` lists the sources).
///
/// ```
/// use cpuid_defs::{lookup, DependencySources};
/// let avx2 = lookup("AVX2").unwrap();
/// let (needs, sources) = avx2.dependencies().next().unwrap();
/// assert_eq!(needs.name, "AVX");
/// assert!(sources.contains(DependencySources::XEN) && sources.contains(DependencySources::LINUX));
/// assert_eq!(sources.to_string(), "xen,linux");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DependencySources(pub(crate) u8);

impl DependencySources {
    /// No upstream graph: the edge comes from the vendor manuals.
    pub const NONE: DependencySources = DependencySources(0);
    /// Xen's `xen/tools/gen-cpuid.py`.
    pub const XEN: DependencySources = DependencySources(1);
    /// Linux's `arch/x86/kernel/cpu/cpuid-deps.c`.
    pub const LINUX: DependencySources = DependencySources(2);
    /// QEMU's `feature_dependencies` (`target/i386/cpu.c`).
    pub const QEMU: DependencySources = DependencySources(4);

    const NAMES: [(DependencySources, &'static str); 3] = [
        (DependencySources::XEN, "xen"),
        (DependencySources::LINUX, "linux"),
        (DependencySources::QEMU, "qemu"),
    ];

    /// True when every source of `other` is in `self`.
    pub const fn contains(self, other: DependencySources) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no upstream graph states the edge.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the sources (`xen`, `linux`, `qemu`).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(s, _)| self.contains(*s))
            .map(|(_, n)| n)
    }
}

impl fmt::Display for DependencySources {
    /// Comma-separated names, `manuals` for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("manuals");
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
    /// Linux's `X86_FEATURE_` macro name without the prefix (`XMM2` for
    /// `SSE2`), for the CPUID bits Linux reads; `None` when Linux has none.
    pub linux_macro: Option<&'static str>,
    /// The QEMU `-cpu` property name in QEMU's own spelling, if QEMU names
    /// the bit (other spellings QEMU accepts are in `other_aliases`).
    pub qemu_name: Option<&'static str>,
    /// The libvirt feature name (`src/cpu_map/x86_features.xml`), if libvirt
    /// names the bit; it differs from QEMU's for some old features
    /// (`pclmuldq`, `lahf_lm`) and exists for a few bits QEMU leaves unnamed
    /// (`osxsave`, `ospke`, `cmt`).
    pub libvirt_name: Option<&'static str>,
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
    /// For each entry of `depends`, the upstream graphs that state the edge
    /// (empty: taken from the vendor manuals by this crate).
    pub depends_sources: &'static [DependencySources],
    /// One line saying what it is.
    pub description: &'static str,
    /// Where the vendor documents it (manual and section).
    pub reference: &'static str,
}

impl Feature {
    /// Every name this feature answers to: canonical, Xen, Linux (flag and
    /// macro), QEMU, libvirt, libxl legacy, other aliases (may repeat when
    /// ecosystems agree).
    pub fn all_names(&self) -> impl Iterator<Item = &'static str> {
        let singles = [
            Some(self.name),
            self.xen_name,
            self.linux_name,
            self.linux_macro,
            self.qemu_name,
            self.libvirt_name,
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
        let mut seen: [&str; 24] = [""; 24];
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

    /// The direct prerequisites with the upstream graphs that state each edge.
    pub fn dependencies(&self) -> impl Iterator<Item = (&'static Feature, DependencySources)> + '_ {
        self.depends.iter().enumerate().map(|(i, d)| {
            let sources = self
                .depends_sources
                .get(i)
                .copied()
                .unwrap_or(DependencySources::NONE);
            (feature(*d), sources)
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

/// The bits of `value` that neither a feature nor a multi-bit field of
/// `reg` covers: what a decoder should report as unnamed.
///
/// ```
/// use cpuid_defs::{uncovered_bits, unnamed_bits, FeatureRegister, Register};
/// // AVX10 version 1 with 128/256/512-bit vectors: every bit is accounted for.
/// let reg = FeatureRegister::cpuid(0x24, Some(0), Register::Ebx);
/// assert_eq!(unnamed_bits(reg, 0x0007_0001), 1);
/// assert_eq!(uncovered_bits(reg, 0x0007_0001), 0);
/// ```
pub fn uncovered_bits(reg: FeatureRegister, value: u32) -> u32 {
    unnamed_bits(reg, value) & !field_bits(reg)
}

/// The register of the table that `asked` means: itself when it has named
/// bits, else the same register read the way CPUID reads it. A leaf without
/// subleaves ignores ECX, so `1.0` is `1`; a leaf with subleaves given none
/// is read with ECX = 0, so `7` is `7.0` (dumps print both as subleaf 0).
/// Xen's leaves sit at 0x40000100 when Viridian takes the first block; the
/// table names them at 0x40000000. MSR halves come back unchanged.
///
/// ```
/// use cpuid_defs::{resolve_register, FeatureRegister, Register};
/// let seven = FeatureRegister::cpuid(7, None, Register::Ebx);
/// assert_eq!(resolve_register(seven), FeatureRegister::cpuid(7, Some(0), Register::Ebx));
/// let one = FeatureRegister::cpuid(1, Some(0), Register::Ecx);
/// assert_eq!(resolve_register(one), FeatureRegister::cpuid(1, None, Register::Ecx));
/// let xen = FeatureRegister::cpuid(0x4000_0104, None, Register::Eax);
/// assert_eq!(resolve_register(xen), FeatureRegister::cpuid(0x4000_0004, None, Register::Eax));
/// ```
pub fn resolve_register(asked: FeatureRegister) -> FeatureRegister {
    let other_subleaf = |reg: FeatureRegister| match reg {
        FeatureRegister::Cpuid { key, register } => {
            let subleaf = match key.subleaf {
                None => Some(0),
                Some(0) => None,
                Some(other) => Some(other),
            };
            FeatureRegister::cpuid(key.leaf, subleaf, register)
        }
        msr => msr,
    };
    let rebased = asked.at_hypervisor_base(0x4000_0000);
    [asked, other_subleaf(asked), rebased, other_subleaf(rebased)]
        .into_iter()
        .find(|r| features_in(*r).next().is_some())
        .unwrap_or(asked)
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

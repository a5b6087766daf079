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

mod class;
mod deps;
mod feature;
mod field;
#[rustfmt::skip]
mod generated;
mod location;
mod names;
mod registers;
mod set;
mod vendor;

pub use class::{Class, ParseClassError};
pub use deps::{dependents_closure, depends_closure};
pub use feature::{DependencySources, Feature, FeatureId};
pub use field::{Field, display_family_model_stepping, field, field_bits, fields, fields_in};
pub use location::{
    FeatureRegister, LeafKey, Location, MSR_ARCH_CAPABILITIES, MsrHalf, ParseRegisterError,
    Register,
};
pub use registers::{
    at, decode, encode, feature_registers, features_in, named_bits, resolve_register,
    uncovered_bits, unnamed_bits,
};
pub use set::{FeatureSet, FeatureSetIter};
pub use vendor::{Vendor, Vendors};

use generated::{FEATURES, NAME_INDEX};

/// The number of features in the table (every [`FeatureId`] is below this).
pub const FEATURE_COUNT: usize = generated::FEATURE_COUNT;

/// Every feature, ordered by location (CPUID registers by leaf, subleaf and
/// register, then MSRs; bits ascending). `features()[id.index()].id == id`.
///
/// ```
/// use cpuid_defs::{Class, FEATURE_COUNT, features};
/// let all = features();
/// assert_eq!(all.len(), FEATURE_COUNT);
/// assert!(all.iter().enumerate().all(|(i, f)| f.id.index() == i));
/// // What a pool may offer migrating guests when every host has it:
/// let intersect = all.iter().filter(|f| f.class == Class::Intersect).count();
/// assert!(intersect > 100);
/// ```
pub fn features() -> &'static [Feature] {
    &FEATURES
}

/// The feature with id `id`.
///
/// Ids only come from this crate, so they are always in range.
///
/// ```
/// use cpuid_defs::{feature, lookup};
/// let avx512f = lookup("avx512f").unwrap();
/// // Its direct prerequisites, by id.
/// let needs: Vec<_> = avx512f.depends.iter().map(|&id| feature(id).name).collect();
/// assert!(needs.contains(&"AVX2"), "{needs:?}");
/// ```
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

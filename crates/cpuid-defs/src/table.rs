//! The feature table's queries: every feature and field, by id, by name
//! and by register, over the tables `cargo xtask codegen` writes into
//! `generated.rs`. The types the tables are made of live below this module
//! (`feature`, `field`, `location`, ...), so the tables depend on them and
//! only this module and `registers` read the tables.

use crate::generated::{self, FEATURES, FIELDS, NAME_INDEX};
use crate::{Feature, FeatureId, FeatureRegister, Field, LeafKey, Register, names};

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

impl FeatureId {
    /// The id of index `index`, if the table has that many features.
    pub const fn from_index(index: usize) -> Option<FeatureId> {
        if index < FEATURE_COUNT {
            Some(FeatureId(index as u16))
        } else {
            None
        }
    }
}

/// Every multi-bit field, in location order.
///
/// ```
/// // The fields a host comparison must ignore: they differ between CPUs.
/// let per_cpu: Vec<_> = cpuid_defs::fields().iter().filter(|f| f.per_cpu).map(|f| f.name).collect();
/// assert!(per_cpu.contains(&"apic_id"), "{per_cpu:?}");
/// ```
pub fn fields() -> &'static [Field] {
    &FIELDS
}

/// The fields of one register, in location order.
///
/// ```
/// use cpuid_defs::{LeafKey, Register, fields_in};
/// let eax1: Vec<_> = fields_in(LeafKey::new(1, None), Register::Eax).map(|f| f.name).collect();
/// assert!(eax1.contains(&"stepping"), "{eax1:?}");
/// ```
pub fn fields_in(key: LeafKey, register: Register) -> impl Iterator<Item = &'static Field> {
    FIELDS
        .iter()
        .filter(move |f| f.key == key && f.register == register)
}

/// The mask of every bit of `reg` that a multi-bit field covers (0 for MSR
/// halves, which have no fields).
///
/// ```
/// use cpuid_defs::{field_bits, FeatureRegister, Register};
/// // AVX10: the version is bits 7:0 of leaf 0x24.0 EBX.
/// assert_eq!(field_bits(FeatureRegister::cpuid(0x24, Some(0), Register::Ebx)), 0xff);
/// ```
pub fn field_bits(reg: FeatureRegister) -> u32 {
    match reg {
        FeatureRegister::Cpuid { key, register } => {
            fields_in(key, register).fold(0, |acc, f| acc | f.mask())
        }
        FeatureRegister::Msr { .. } => 0,
    }
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

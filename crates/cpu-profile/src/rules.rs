//! Which rule decides each bit of a profile: a named feature's class, a
//! multi-bit field's numeric or subset rule, or the subset rule for bits no
//! one has named yet.
//!
//! | bits | generate (pool of hosts) | check (profile vs host) |
//! |---|---|---|
//! | `intersect`, `opt-in` features, unnamed bits | AND, minus what `xen-maskcalc` clears (dependencies, VMX/SVM) | profile ⊆ host |
//! | `accumulate` features (and RSBA/RRSBA of ARCH_CAPS) | OR | host ⊆ profile |
//! | `hidden` features | 0 | profile ⊆ host |
//! | `host` features, per-CPU and other fields (also inside feature registers) | left to the destination | not compared |
//! | fields with [`FieldRule::NotGreater`] | minimum | profile ≤ host |
//! | fields with [`FieldRule::Subset`] | AND | profile ⊆ host |
//!
//! ```
//! use cpu_profile::rules::{checked_fields, reversed};
//! assert!(checked_fields().any(|f| f.field.name == "xcr0_supported_low"));
//! assert!(reversed(cpuid_defs::lookup("RSBA").unwrap()));
//! assert!(!reversed(cpuid_defs::lookup("AVX2").unwrap()));
//! ```

use cpuid_defs::{Class, Feature, FeatureRegister, Field, Location, MsrHalf};

use crate::Limits;

/// How a multi-bit field is compared.
///
/// ```
/// use cpu_profile::rules::{FieldRule, checked_fields};
/// let rule = |name: &str| checked_fields().find(|f| f.field.name == name).unwrap().rule;
/// assert_eq!(rule("amx_max_palette"), FieldRule::NotGreater);
/// assert_eq!(rule("xcr0_supported_low"), FieldRule::Subset);
/// assert_eq!(FieldRule::NotGreater.as_str(), "not-greater");
/// assert_eq!(FieldRule::Subset.as_str(), "subset");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldRule {
    /// A count or size: the host must have at least the profile's value.
    NotGreater,
    /// A bit mask of supported components: the profile's bits must be a subset of the host's.
    Subset,
}

impl FieldRule {
    /// `not-greater` or `subset`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldRule::NotGreater => "not-greater",
            FieldRule::Subset => "subset",
        }
    }
}

/// A field of `cpuid-defs` that profiles define and checks compare.
///
/// ```
/// use cpu_profile::rules::{FieldRule, checked_fields};
/// let avx10 = checked_fields().find(|f| f.field.name == "avx10_version").unwrap();
/// assert_eq!((avx10.field.key.leaf, avx10.rule), (0x24, FieldRule::NotGreater));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct CheckedField {
    /// The field.
    pub field: &'static Field,
    /// How it is compared.
    pub rule: FieldRule,
}

/// The fields profiles carry besides the [`Limits`]. Every other field
/// (topology, APIC ids, cache geometry, XSAVE area sizes, frequencies) is left
/// to the destination: it describes the host, and the hypervisor rebuilds it.
const CHECKED_FIELD_NAMES: [(&str, FieldRule); 8] = [
    ("xcr0_supported_low", FieldRule::Subset),
    ("xcr0_supported_high", FieldRule::Subset),
    ("xss_supported_low", FieldRule::Subset),
    ("xss_supported_high", FieldRule::Subset),
    ("amx_max_palette", FieldRule::NotGreater),
    ("tmul_maxk", FieldRule::NotGreater),
    ("tmul_maxn", FieldRule::NotGreater),
    ("avx10_version", FieldRule::NotGreater),
];

/// Every checked field that `cpuid-defs` knows (a name it lacks is skipped).
///
/// ```
/// let names: Vec<&str> = cpu_profile::rules::checked_fields().map(|f| f.field.name).collect();
/// assert!(names.contains(&"xcr0_supported_low") && names.contains(&"tmul_maxk"));
/// // Topology and cache geometry describe the host: not checked.
/// assert!(!names.iter().any(|n| n.contains("apic")));
/// ```
pub fn checked_fields() -> impl Iterator<Item = CheckedField> {
    CHECKED_FIELD_NAMES.iter().filter_map(|&(name, rule)| {
        cpuid_defs::field(name).map(|field| CheckedField { field, rule })
    })
}

/// The XSAVE state components a feature owns, by field: a profile that hides
/// every owner of a component does not advertise the component either (AVX
/// hidden, so no YMM state; AMX hidden, so no tile state).
pub(crate) const XSTATE_OWNERS: [(&str, u8, &[&str]); 15] = [
    ("xcr0_supported_low", 2, &["AVX"]),
    ("xcr0_supported_low", 3, &["MPX"]),
    ("xcr0_supported_low", 4, &["MPX"]),
    ("xcr0_supported_low", 5, &["AVX512F"]),
    ("xcr0_supported_low", 6, &["AVX512F"]),
    ("xcr0_supported_low", 7, &["AVX512F"]),
    ("xcr0_supported_low", 9, &["PKU"]),
    ("xcr0_supported_low", 17, &["AMX_TILE"]),
    ("xcr0_supported_low", 18, &["AMX_TILE"]),
    ("xcr0_supported_low", 19, &["APX_F"]),
    ("xss_supported_low", 8, &["PROC_TRACE"]),
    ("xss_supported_low", 11, &["CET_SS", "CET_IBT"]),
    ("xss_supported_low", 12, &["CET_SS", "CET_IBT"]),
    ("xss_supported_low", 14, &["UINTR"]),
    ("xss_supported_low", 15, &["ARCH_LBR"]),
];

/// The register a field lives in.
pub(crate) fn field_register(field: &Field) -> FeatureRegister {
    FeatureRegister::Cpuid {
        key: field.key,
        register: field.register,
    }
}

/// The checked fields of one register.
pub(crate) fn fields_in(register: FeatureRegister) -> impl Iterator<Item = CheckedField> {
    checked_fields().filter(move |f| field_register(f.field) == register)
}

/// The bits of `register` that checked fields cover.
pub(crate) fn field_mask(register: FeatureRegister) -> u32 {
    fields_in(register).fold(0, |m, f| m | f.field.mask())
}

/// The bits of `register` that belong to `cpuid-defs` fields profiles do not
/// carry (MAWAU in 7.0.ECX, say): like every field but the checked ones, they
/// describe the host and are left to the destination, even inside a feature
/// register, rather than combined bit by bit as if each were a feature.
pub(crate) fn unchecked_field_bits(register: FeatureRegister) -> u32 {
    let all = cpuid_defs::fields()
        .iter()
        .filter(|f| field_register(f) == register)
        .fold(0, |m, f| m | f.mask());
    all & !field_mask(register)
}

/// True when a feature's rule is reversed: a host may only have it if the
/// profile has it too ("needs mitigation" and "behaviour removed" bits).
/// ARCH_CAPS' RSBA and RRSBA are reversed whatever the table's class says,
/// as Cloud Hypervisor's IA32_ARCH_CAPABILITIES check does.
///
/// ```
/// use cpu_profile::rules::reversed;
/// assert!(reversed(cpuid_defs::lookup("MD_CLEAR").unwrap()), "an accumulate feature");
/// assert!(reversed(cpuid_defs::lookup("RRSBA").unwrap()), "ARCH_CAPS, whatever its class");
/// assert!(!reversed(cpuid_defs::lookup("AVX2").unwrap()));
/// ```
pub fn reversed(feature: &Feature) -> bool {
    feature.class == Class::Accumulate
        || (matches!(feature.location, Location::Msr { index, .. } if index == cpuid_defs::MSR_ARCH_CAPABILITIES)
            && matches!(feature.name, "RSBA" | "RRSBA"))
}

/// True for leaves of the hypervisor range (0x40000000-0x4fffffff): the
/// destination's hypervisor writes them, so profiles never define them.
pub(crate) fn is_hypervisor_leaf(register: FeatureRegister) -> bool {
    matches!(register, FeatureRegister::Cpuid { key, .. } if (0x4000_0000..0x5000_0000).contains(&key.leaf))
}

/// True for the registers the [`Limits`] own (a leaf without subleaves and
/// its subleaf 0 are the same register to CPUID).
pub(crate) fn is_limit_register(register: FeatureRegister) -> bool {
    let normal = |r: FeatureRegister| match r {
        FeatureRegister::Cpuid { key, register } => {
            Some((key.leaf, key.subleaf.unwrap_or(0), register))
        }
        FeatureRegister::Msr { .. } => None,
    };
    normal(register).is_some_and(|n| Limits::DEFS.iter().any(|d| normal(d.register) == Some(n)))
}

/// Every register a generated profile may define, in `cpuid-defs` order:
/// the feature registers outside the hypervisor range, then the registers of
/// checked fields that carry no features.
pub(crate) fn profile_registers() -> Vec<FeatureRegister> {
    let mut registers: Vec<FeatureRegister> = cpuid_defs::feature_registers()
        .iter()
        .copied()
        .filter(|r| !is_hypervisor_leaf(*r) && !is_limit_register(*r))
        .collect();
    for f in checked_fields() {
        let reg = field_register(f.field);
        if !registers.contains(&reg) && !is_limit_register(reg) {
            registers.push(reg);
        }
    }
    registers.sort();
    registers
}

/// True when `register` carries named features.
pub(crate) fn is_feature_register(register: FeatureRegister) -> bool {
    cpuid_defs::feature_registers().contains(&register)
}

/// The location of bit `bit` of `register`.
pub(crate) fn location(register: FeatureRegister, bit: u8) -> Location {
    maskcalc::pool::location_of(register, bit)
}

/// The feature named at bit `bit` of `register`, if any.
pub(crate) fn feature_at(register: FeatureRegister, bit: u8) -> Option<&'static Feature> {
    cpuid_defs::at(location(register, bit))
}

/// The bits of a feature register the profile leaves to the destination:
/// those of `host`-class features.
pub(crate) fn host_bits(register: FeatureRegister) -> u32 {
    cpuid_defs::features_in(register)
        .filter(|f| f.class == Class::Host)
        .fold(0, |m, f| m | (1u32 << (f.location.register().1 & 31)))
}

/// A register and bit for messages: `7.0.ebx[16]`, `msr 0x10a[19]`.
pub(crate) fn describe_location(register: FeatureRegister, bit: u8) -> String {
    location(register, bit).to_string()
}

/// The 64-bit MSR index and half of a register, if it is one.
pub(crate) fn msr_half(register: FeatureRegister) -> Option<(u32, MsrHalf)> {
    match register {
        FeatureRegister::Msr { index, half } => Some((index, half)),
        FeatureRegister::Cpuid { .. } => None,
    }
}

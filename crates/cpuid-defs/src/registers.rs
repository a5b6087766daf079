//! Registers and values: which features a register names, what a value
//! carries, and which register of the table a caller means.

use crate::generated::{FEATURE_REGISTERS, FEATURES, REGISTER_RANGES};
use crate::{Feature, FeatureRegister, Location, field_bits};

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
///
/// ```
/// use cpuid_defs::{FeatureRegister, Register, feature_registers};
/// let regs = feature_registers();
/// assert_eq!(regs[0], FeatureRegister::cpuid(1, None, Register::Ecx));
/// assert!(regs.windows(2).all(|w| w[0] < w[1]));
/// // Xen's featureset word 0 is 1.EDX.
/// assert_eq!(FeatureRegister::from_xen_word(0), Some(FeatureRegister::cpuid(1, None, Register::Edx)));
/// ```
pub fn feature_registers() -> &'static [FeatureRegister] {
    &FEATURE_REGISTERS
}

/// The features named in `reg`, by ascending bit (empty if it has none).
///
/// ```
/// use cpuid_defs::{FeatureRegister, Register, features_in};
/// let edx1: Vec<_> = features_in(FeatureRegister::cpuid(1, None, Register::Edx)).map(|f| f.name).collect();
/// assert_eq!(&edx1[..3], ["FPU", "VME", "DE"]);
/// ```
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
///
/// ```
/// use cpuid_defs::{FeatureRegister, Register, decode};
/// // Leaf 7.0 EBX of a host with AVX2 (bit 5) and AVX512F (bit 16).
/// let ebx = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// let names: Vec<_> = decode(ebx, (1 << 5) | (1 << 16)).map(|f| f.name).collect();
/// assert_eq!(names, ["AVX2", "AVX512F"]);
/// ```
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

//! Helpers shared by maskcalc's integration tests.

use cpuid_defs::FeatureRegister;

/// Every CPUID register the feature table knows (the MSR halves left out).
pub(crate) fn cpuid_registers() -> Vec<FeatureRegister> {
    cpuid_defs::feature_registers()
        .iter()
        .copied()
        .filter(|r| matches!(r, FeatureRegister::Cpuid { .. }))
        .collect()
}

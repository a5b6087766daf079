//! The glue between dumps (leaf/subleaf/register arrays) and `cpuid-defs`' feature registers.

use cpuid_defs::{FeatureRegister, MsrHalf, Register};

use crate::model::{CpuidInput, HostCpuid};

/// The index of `register` in a leaf's `[eax, ebx, ecx, edx]` array.
pub(crate) fn register_index(register: Register) -> usize {
    match register {
        Register::Eax => 0,
        Register::Ebx => 1,
        Register::Ecx => 2,
        Register::Edx => 3,
    }
}

/// The lower-case name of a register index (`eax`...).
pub(crate) fn register_name(index: usize) -> &'static str {
    ["eax", "ebx", "ecx", "edx"]
        .get(index)
        .copied()
        .unwrap_or("e?x")
}

/// Every CPUID register that carries named feature bits, as dump coordinates.
pub(crate) fn feature_cpuid_registers() -> Vec<(CpuidInput, usize)> {
    cpuid_defs::feature_registers()
        .iter()
        .filter_map(|reg| match *reg {
            FeatureRegister::Cpuid { key, register } => Some((
                CpuidInput::new(key.leaf, key.subleaf.unwrap_or(0)),
                register_index(register),
            )),
            FeatureRegister::Msr { .. } => None,
        })
        .collect()
}

/// The value of a feature register on `host`; `None` for an MSR the dump does
/// not carry while CPUID says the MSR exists (so its value is unknown).
pub fn register_value(host: &HostCpuid, reg: FeatureRegister) -> Option<u32> {
    match reg {
        FeatureRegister::Cpuid { key, register } => {
            Some(host.register(key.leaf, key.subleaf.unwrap_or(0), register_index(register)))
        }
        FeatureRegister::Msr { index, half } => {
            let value = match host.msrs.get(&index) {
                Some(&value) => value,
                None if msr_enumerated(host, index) => return None,
                None => 0,
            };
            Some(match half {
                MsrHalf::Low => value as u32,
                MsrHalf::High => (value >> 32) as u32,
            })
        }
    }
}

/// True when CPUID says the MSR exists (only IA32_ARCH_CAPABILITIES is
/// enumerated by a CPUID bit the table knows; other MSRs count as existing).
fn msr_enumerated(host: &HostCpuid, index: u32) -> bool {
    if index == cpuid_defs::MSR_ARCH_CAPABILITIES {
        // 7.0.EDX[29] ARCH_CAPS.
        return host.register(7, 0, 3) & (1 << 29) != 0;
    }
    true
}

//! The glue between dumps (leaf/subleaf/register arrays) and `cpuid-defs`' feature registers.

use cpuid_defs::{FeatureRegister, Register};

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
///
/// ```
/// use cpuid_defs::{FeatureRegister, MsrHalf, Register};
/// use maskcalc::defs::register_value;
/// use maskcalc::model::{CpuidInput, HostCpuid};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
/// // 7.0.EDX[29]: IA32_ARCH_CAPABILITIES (MSR 0x10a) exists.
/// host.leaves.insert(CpuidInput::new(7, 0), [0, 0x20, 0, 1 << 29]);
/// let ebx7 = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// assert_eq!(register_value(&host, ebx7), Some(0x20));
/// let arch_caps = FeatureRegister::Msr { index: 0x10a, half: MsrHalf::Low };
/// assert_eq!(register_value(&host, arch_caps), None, "the dump has no MSRs");
/// host.msrs.insert(0x10a, 0x0000_0001_0000_0002);
/// assert_eq!(register_value(&host, arch_caps), Some(2));
/// ```
pub fn register_value(host: &HostCpuid, reg: FeatureRegister) -> Option<u32> {
    match reg {
        FeatureRegister::Cpuid { key, .. } if !hypervisor_defines(host, key.leaf) => Some(0),
        FeatureRegister::Cpuid { key, register } => {
            Some(host.register(key.leaf, key.subleaf.unwrap_or(0), register_index(register)))
        }
        FeatureRegister::Msr { index, half } => {
            let value = match host.msrs.get(&index) {
                Some(&value) => value,
                None if msr_enumerated(host, index) => return None,
                None => 0,
            };
            Some(half.of(value))
        }
    }
}

/// The signature (leaf 0x40000000 EBX, ECX, EDX) of the hypervisor whose
/// feature bits `cpuid-defs` places at `leaf`, for the hypervisor leaves.
fn hypervisor_signature(leaf: u32) -> Option<[u32; 3]> {
    match leaf {
        // "KVMKVMKVM\0\0\0": 0x40000001 EAX/EDX are KVM's features and hints.
        0x4000_0001 => Some([0x4b4d_564b, 0x564b_4d56, 0x0000_004d]),
        // "XenVMMXenVMM": 0x40000002.. are Xen's leaves.
        0x4000_0002..=0x4000_00ff => Some([0x566e_6558, 0x6558_4d4d, 0x4d4d_566e]),
        _ => None,
    }
}

/// False for a hypervisor leaf of a dump taken under another hypervisor:
/// under Xen, 0x40000001 EAX is Xen's version, under Hyper-V an interface
/// signature, and neither is KVM's feature bits.
fn hypervisor_defines(host: &HostCpuid, leaf: u32) -> bool {
    let Some([ebx, ecx, edx]) = hypervisor_signature(leaf) else {
        return true;
    };
    let base = crate::model::HYPERVISOR_BASE;
    host.register(base, 0, 1) == ebx
        && host.register(base, 0, 2) == ecx
        && host.register(base, 0, 3) == edx
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

#[cfg(test)]
mod tests {
    use super::*;
    use cpuid_defs::Register;

    fn guest(signature: [u32; 3], leaf1_eax: u32) -> HostCpuid {
        let mut host = HostCpuid::default();
        let [ebx, ecx, edx] = signature;
        host.leaves.insert(
            CpuidInput::new(0x4000_0000, 0),
            [0x4000_0004, ebx, ecx, edx],
        );
        host.leaves
            .insert(CpuidInput::new(0x4000_0001, 0), [leaf1_eax, 0, 0, 0]);
        host.leaves
            .insert(CpuidInput::new(0x4000_0004, 0), [0x3f, 0, 0, 0]);
        host
    }

    #[test]
    fn hypervisor_feature_bits_count_only_under_their_hypervisor() {
        let kvm_features = FeatureRegister::cpuid(0x4000_0001, None, Register::Eax);
        let xen_hvm = FeatureRegister::cpuid(0x4000_0004, None, Register::Eax);
        let kvm = guest([0x4b4d_564b, 0x564b_4d56, 0x0000_004d], 0x0100_7afb);
        assert_eq!(register_value(&kvm, kvm_features), Some(0x0100_7afb));
        assert_eq!(register_value(&kvm, xen_hvm), Some(0));
        // Xen 4.17: 0x40000001 EAX is the version, not KVM features.
        let xen = guest([0x566e_6558, 0x6558_4d4d, 0x4d4d_566e], 0x0004_0011);
        assert_eq!(register_value(&xen, kvm_features), Some(0));
        assert_eq!(register_value(&xen, xen_hvm), Some(0x3f));
    }
}

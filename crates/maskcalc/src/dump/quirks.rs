//! Bits a dump gets wrong because of how it was taken, not because of the
//! CPU, and what to do about each.
//!
//! | bit | why a dump can be wrong | what happens |
//! |---|---|---|
//! | SYSCALL (0x80000001.edx\[11\]) on Intel | Intel CPUs report it only to 64-bit code: a dump taken by a 32-bit `cpuid` shows it clear | set again when LM is set ([`repair`]), with a [`Repair`] to warn about |
//! | OSXSAVE (0x1.ecx\[27\]), OSPKE (0x7.0.ecx\[4\]) | they mirror CR4 of the kernel that ran `cpuid` | `host` class: never masked or compared, whatever the dump says |
//! | HYPERVISOR (0x1.ecx\[31\]) and leaves 0x4000xxxx | set by the layer the dump was taken under (dom0, a VM) | `host` class and hypervisor leaves: never masked or compared |
//!
//! Without the repair a pool with one 32-bit dump masks SYSCALL, and Xen
//! refuses a 64-bit guest that sets EFER.SCE when its policy lacks SYSCALL.

use std::fmt;

use crate::model::{CpuidInput, EDX, HostCpuid};

/// SYSCALL: 0x80000001.EDX bit 11.
const SYSCALL: u32 = 1 << 11;
/// LM (long mode): 0x80000001.EDX bit 29.
const LM: u32 = 1 << 29;

/// One bit [`repair`] changed, for a warning that names the host.
///
/// ```
/// use maskcalc::dump::quirks::Repair;
/// let warning = Repair::SyscallOutsideLongMode.to_string();
/// assert!(warning.starts_with("SYSCALL (0x80000001.edx[11]) is clear with LM set"), "{warning}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Repair {
    /// SYSCALL was clear with LM set on an Intel CPU: the dump was taken by
    /// a 32-bit program, and the bit was set.
    SyscallOutsideLongMode,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::SyscallOutsideLongMode => f.write_str(
                "SYSCALL (0x80000001.edx[11]) is clear with LM set, as Intel CPUs report it \
                 to 32-bit programs: treated as present (take the dump with a 64-bit cpuid)",
            ),
        }
    }
}

/// Undoes the quirks of the table above in a parsed dump, and says which.
///
/// ```
/// use maskcalc::dump::quirks::{repair, Repair};
/// use maskcalc::model::{CpuidInput, HostCpuid, EDX};
/// let mut cpuid = HostCpuid::default();
/// cpuid.leaves.insert(CpuidInput::new(0, 0), [0xd, 0x756e6547, 0x6c65746e, 0x49656e69]);
/// cpuid.leaves.insert(CpuidInput::new(0x8000_0001, 0), [0, 0, 0x121, 0x2c10_0000]);
/// assert_eq!(repair(&mut cpuid), [Repair::SyscallOutsideLongMode]);
/// assert_eq!(cpuid.register(0x8000_0001, 0, EDX), 0x2c10_0800);
/// assert_eq!(repair(&mut cpuid), [], "a repaired dump needs nothing more");
/// ```
pub fn repair(cpuid: &mut HostCpuid) -> Vec<Repair> {
    let mut repairs = Vec::new();
    let intel = cpuid.vendor() == cpuid_defs::Vendor::Intel;
    if let Some(regs) = cpuid.leaves.get_mut(&CpuidInput::new(0x8000_0001, 0)) {
        let edx = &mut regs[EDX];
        if intel && *edx & LM != 0 && *edx & SYSCALL == 0 {
            *edx |= SYSCALL;
            repairs.push(Repair::SyscallOutsideLongMode);
        }
    }
    repairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(vendor: [u32; 3], e1_edx: u32) -> HostCpuid {
        let mut cpuid = HostCpuid::default();
        cpuid.leaves.insert(
            CpuidInput::new(0, 0),
            [0xd, vendor[0], vendor[1], vendor[2]],
        );
        cpuid
            .leaves
            .insert(CpuidInput::new(0x8000_0001, 0), [0, 0, 0, e1_edx]);
        cpuid
    }

    const INTEL: [u32; 3] = [0x756e_6547, 0x6c65_746e, 0x4965_6e69];
    const AMD: [u32; 3] = [0x6874_7541, 0x444d_4163, 0x6974_6e65];

    #[test]
    fn only_an_intel_long_mode_cpu_without_syscall_is_repaired() {
        for (vendor, edx, repaired) in [
            (INTEL, LM, true),
            (INTEL, LM | SYSCALL, false),
            (INTEL, 0, false),
            (AMD, LM, false),
        ] {
            let mut cpuid = host(vendor, edx);
            let repairs = repair(&mut cpuid);
            assert_eq!(repairs.is_empty(), !repaired, "{vendor:x?} {edx:#x}");
            let want = if repaired { edx | SYSCALL } else { edx };
            assert_eq!(cpuid.register(0x8000_0001, 0, EDX), want);
        }
    }
}

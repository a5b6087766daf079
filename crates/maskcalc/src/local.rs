//! A [`HostCpuid`] from a CPUID function: the walk `cpuid -1r` does.
//!
//! [`read`] walks the CPU this code runs on (through `core::arch`'s CPUID
//! intrinsic, a safe function since Rust 1.94); [`read_with`] walks any
//! function, which is how tests pass a table.
//!
//! ```
//! use maskcalc::local::read_with;
//! let host = read_with(|leaf, _subleaf| match leaf {
//!     0 => [1, 0x756e6547, 0x6c65746e, 0x49656e69],
//!     1 => [0x000306f2, 0, 0x7ffefbff, 0xbfebfbff],
//!     0x8000_0000 => [0x8000_0000, 0, 0, 0],
//!     _ => [0; 4],
//! });
//! assert_eq!(host.register(1, 0, maskcalc::model::ECX), 0x7ffefbff);
//! ```

use crate::model::{CpuidInput, EXTENDED_BASE, HostCpuid};

/// Highest leaf count read per range, whatever the CPU claims.
const MAX_LEAVES_PER_RANGE: u32 = 0x100;
/// Highest subleaf read per leaf.
const MAX_SUBLEAVES: u32 = 64;

/// Leaves whose subleaves are read, and how far.
fn subleaf_count(leaf: u32, first: [u32; 4], cpuid: &mut impl FnMut(u32, u32) -> [u32; 4]) -> u32 {
    match leaf {
        // Max subleaf in EAX.
        0x7 | 0x14 | 0x17 | 0x18 | 0x1d | 0x20 | 0x23 | 0x24 => {
            first[0].saturating_add(1).min(MAX_SUBLEAVES)
        }
        // Walks until a terminating subleaf.
        0x4 | 0x8000_001d => walk_until(leaf, cpuid, |r| r[0] & 0x1f == 0),
        0xb | 0x1f => walk_until(leaf, cpuid, |r| (r[2] >> 8) & 0xff == 0),
        // XSAVE components, RDT and SGX enumerations: a fixed range.
        0xd => MAX_SUBLEAVES,
        0xf | 0x10 | 0x12 | 0x1b | 0x8000_0020 | 0x8000_0026 => 16,
        _ => 1,
    }
}

fn walk_until(
    leaf: u32,
    cpuid: &mut impl FnMut(u32, u32) -> [u32; 4],
    last: impl Fn([u32; 4]) -> bool,
) -> u32 {
    (0..MAX_SUBLEAVES)
        .find(|&sub| last(cpuid(leaf, sub)))
        .map_or(MAX_SUBLEAVES, |sub| sub + 1)
}

/// The CPUID of the CPU this code runs on, walked like `cpuid -1r`; `None`
/// off x86, where there is no CPUID instruction.
///
/// ```
/// if let Some(host) = maskcalc::local::read() {
///     // Leaf 1 EAX is the family/model/stepping signature: never zero.
///     assert_ne!(host.register(1, 0, maskcalc::model::EAX), 0);
/// }
/// ```
pub fn read() -> Option<HostCpuid> {
    #[cfg(target_arch = "x86")]
    use core::arch::x86::__cpuid_count;
    #[cfg(target_arch = "x86_64")]
    use core::arch::x86_64::__cpuid_count;
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    return Some(read_with(|leaf, subleaf| {
        let r = __cpuid_count(leaf, subleaf);
        [r.eax, r.ebx, r.ecx, r.edx]
    }));
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
    None
}

/// Reads every basic and extended leaf (and their subleaves) through `cpuid(leaf, subleaf)`.
/// Subleaves that answer all zeros beyond subleaf 0 are left out, as `cpuid` does.
///
/// ```
/// use maskcalc::model::{CpuidInput, EBX};
/// let host = maskcalc::local::read_with(|leaf, subleaf| match (leaf, subleaf) {
///     (0, _) => [7, 0x756e6547, 0x6c65746e, 0x49656e69],
///     (7, 0) => [0, 0x20, 0, 0], // AVX2
///     (0x8000_0000, _) => [0x8000_0000, 0, 0, 0],
///     _ => [0; 4],
/// });
/// assert_eq!(host.register(7, 0, EBX), 0x20);
/// assert!(host.leaves.contains_key(&CpuidInput::new(6, 0)), "every leaf up to the maximum");
/// assert!(!host.leaves.contains_key(&CpuidInput::new(7, 1)), "an all-zero subleaf is left out");
/// ```
pub fn read_with(mut cpuid: impl FnMut(u32, u32) -> [u32; 4]) -> HostCpuid {
    let mut host = HostCpuid::default();
    for base in [0, 0x4000_0000, EXTENDED_BASE] {
        let first = cpuid(base, 0);
        let max = first[0];
        let count = if base == 0 {
            max.min(MAX_LEAVES_PER_RANGE - 1).saturating_add(1)
        } else if max >= base && max - base < MAX_LEAVES_PER_RANGE {
            max - base + 1
        } else {
            continue;
        };
        for leaf in base..base + count {
            let regs0 = cpuid(leaf, 0);
            host.leaves.insert(CpuidInput::new(leaf, 0), regs0);
            for sub in 1..subleaf_count(leaf, regs0, &mut cpuid) {
                let regs = cpuid(leaf, sub);
                if regs != [0; 4] {
                    host.leaves.insert(CpuidInput::new(leaf, sub), regs);
                }
            }
        }
    }
    host.retain_reported_leaves();
    host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    #[test]
    fn the_local_cpu_has_a_vendor_and_leaf_one() {
        let host = read().unwrap();
        let vendor = host.vendor_string().unwrap();
        assert!(vendor.bytes().all(|b| b.is_ascii_graphic()), "{vendor:?}");
        // Leaf 1 EAX is the family/model/stepping signature: never zero.
        assert_ne!(host.register(1, 0, crate::model::EAX), 0);
    }

    #[test]
    fn walks_subleaves_and_stops_at_the_maxima() {
        let mut calls = 0u32;
        let host = read_with(|leaf, sub| {
            calls += 1;
            match (leaf, sub) {
                (0, _) => [0xb, 0x756e6547, 0x6c65746e, 0x49656e69],
                (7, 0) => [1, 0x37ab, 0, 0],
                (7, 1) => [0x30, 0, 0, 0],
                (0xb, 0) => [1, 2, 0x100, 0],
                (0xb, 1) => [4, 8, 0x201, 0],
                (0xb, _) => [0, 0, 0, 0],
                (0x8000_0000, _) => [0x8000_0001, 0, 0, 0],
                (0x8000_0001, _) => [0, 0, 0x21, 0x2c100800],
                // A junk answer beyond every maximum, as Intel gives.
                _ => [0x0700_0001, 1, 1, 1],
            }
        });
        assert_eq!(host.register(7, 1, 0), 0x30);
        assert_eq!(host.register(0xb, 1, 2), 0x201);
        assert!(!host.leaves.contains_key(&CpuidInput::new(0xb, 2)));
        assert_eq!(host.register(0x8000_0001, 0, 2), 0x21);
        assert!(
            !host
                .leaves
                .keys()
                .any(|k| k.leaf >= 0x4000_0000 && k.leaf < 0x8000_0000)
        );
        assert!(calls < 1000, "{calls} CPUID calls");
    }
}

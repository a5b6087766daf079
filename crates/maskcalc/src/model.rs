//! The common model every dump format is parsed into: one host's CPUID leaves and MSRs.

use std::collections::BTreeMap;

/// Index of a register in a leaf's `[eax, ebx, ecx, edx]` array.
pub const EAX: usize = 0;
/// Index of EBX in a leaf's register array.
pub const EBX: usize = 1;
/// Index of ECX in a leaf's register array.
pub const ECX: usize = 2;
/// Index of EDX in a leaf's register array.
pub const EDX: usize = 3;

/// The base of the extended leaf range (`0x80000000`).
pub const EXTENDED_BASE: u32 = 0x8000_0000;
/// The base of the hypervisor leaf range (`0x40000000`).
pub const HYPERVISOR_BASE: u32 = 0x4000_0000;

/// One CPUID query: a leaf and a subleaf.
///
/// Leaves that ignore the subleaf are stored with subleaf 0, the way `cpuid -1r`
/// prints them; formats that spell "no subleaf" differently (`xen-cpuid`'s
/// `ffffffff`, AIDA64 lines without `[SL xx]`) are normalised to 0 as well.
///
/// ```
/// use maskcalc::model::CpuidInput;
/// let leaf7 = CpuidInput::new(7, 0);
/// assert_eq!((leaf7.leaf, leaf7.subleaf), (7, 0));
/// // Ordered by leaf, then subleaf, as dumps list them.
/// assert!(leaf7 < CpuidInput::new(7, 1) && CpuidInput::new(7, 1) < CpuidInput::new(0xd, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuidInput {
    /// The value of EAX given to CPUID.
    pub leaf: u32,
    /// The value of ECX given to CPUID (0 for leaves without subleaves).
    pub subleaf: u32,
}

impl CpuidInput {
    /// A leaf and subleaf.
    pub const fn new(leaf: u32, subleaf: u32) -> Self {
        CpuidInput { leaf, subleaf }
    }
}

/// What one host's CPUs report: every CPUID leaf within the reported maximum
/// leaves, and the MSRs the dump format carries (for example
/// `IA32_ARCH_CAPABILITIES`, 0x10a), if any.
///
/// ```
/// use maskcalc::model::{CpuidInput, HostCpuid, ECX};
/// let mut host = HostCpuid::default();
/// host.leaves.insert(CpuidInput::new(1, 0), [0x000306f2, 0, 0x7ffefbff, 0xbfebfbff]);
/// assert_eq!(host.register(1, 0, ECX), 0x7ffefbff);
/// assert_eq!(host.register(7, 0, ECX), 0, "a leaf the host lacks reads as zero");
/// assert_eq!((host.vendor_string(), host.max_basic_leaf()), (None, None), "no leaf 0 yet");
///
/// host.leaves.insert(CpuidInput::new(0, 0), [1, 0x68747541, 0x444d4163, 0x69746e65]);
/// host.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0008, 0, 0, 0]);
/// // Leaves `cpuid` probes beyond the maximums: junk.
/// host.leaves.insert(CpuidInput::new(0xd, 0), [7, 7, 7, 7]);
/// host.leaves.insert(CpuidInput::new(0xc000_0000, 0), [7, 7, 7, 7]);
/// assert_eq!(host.vendor_string().as_deref(), Some("AuthenticAMD"));
/// assert_eq!(host.vendor(), cpuid_defs::Vendor::Amd);
/// assert_eq!(host.max_basic_leaf(), Some(1));
/// assert_eq!(host.max_extended_leaf(), Some(0x8000_0008));
/// host.retain_reported_leaves();
/// let leaves: Vec<u32> = host.leaves.keys().map(|k| k.leaf).collect();
/// assert_eq!(leaves, [0, 1, 0x8000_0000]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostCpuid {
    /// Register values `[eax, ebx, ecx, edx]` per leaf and subleaf.
    pub leaves: BTreeMap<CpuidInput, [u32; 4]>,
    /// MSR values by index, when the dump has them.
    pub msrs: BTreeMap<u32, u64>,
}

impl HostCpuid {
    /// The value of `register` (one of [`EAX`]..[`EDX`]) of a leaf, 0 when the host lacks the leaf.
    pub fn register(&self, leaf: u32, subleaf: u32, register: usize) -> u32 {
        self.leaves
            .get(&CpuidInput::new(leaf, subleaf))
            .and_then(|regs| regs.get(register))
            .copied()
            .unwrap_or(0)
    }

    /// The 12-character vendor string of leaf 0 (`GenuineIntel`, `AuthenticAMD`, ...),
    /// with unprintable bytes shown as `?`; `None` when the dump lacks leaf 0.
    pub fn vendor_string(&self) -> Option<String> {
        let regs = self.leaves.get(&CpuidInput::new(0, 0))?;
        let mut bytes = Vec::with_capacity(12);
        for reg in [regs[EBX], regs[EDX], regs[ECX]] {
            bytes.extend_from_slice(&reg.to_le_bytes());
        }
        Some(printable(&bytes))
    }

    /// The processor brand string of leaves 0x80000002..=0x80000004
    /// (`Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz`), trimmed, with
    /// unprintable bytes shown as `?`; `None` when the dump lacks those leaves
    /// or they are blank.
    ///
    /// ```
    /// use maskcalc::model::{CpuidInput, HostCpuid};
    /// let mut host = HostCpuid::default();
    /// let word = |s: &[u8; 4]| u32::from_le_bytes(*s);
    /// host.leaves.insert(CpuidInput::new(0x8000_0002, 0), [word(b"  AM"), word(b"D EP"), word(b"YC\0\0"), 0]);
    /// host.leaves.insert(CpuidInput::new(0x8000_0003, 0), [0; 4]);
    /// host.leaves.insert(CpuidInput::new(0x8000_0004, 0), [0; 4]);
    /// assert_eq!(host.brand_string().as_deref(), Some("AMD EPYC"));
    /// ```
    pub fn brand_string(&self) -> Option<String> {
        let mut bytes = Vec::with_capacity(48);
        for leaf in EXTENDED_BASE + 2..=EXTENDED_BASE + 4 {
            let regs = self.leaves.get(&CpuidInput::new(leaf, 0))?;
            for reg in regs {
                bytes.extend_from_slice(&reg.to_le_bytes());
            }
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let text = printable(&bytes[..end]);
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// The vendor of leaf 0, as `cpuid-defs` knows it.
    pub fn vendor(&self) -> cpuid_defs::Vendor {
        let regs = self
            .leaves
            .get(&CpuidInput::new(0, 0))
            .copied()
            .unwrap_or_default();
        cpuid_defs::Vendor::from_leaf0(regs[EBX], regs[ECX], regs[EDX])
    }

    /// The maximum basic leaf (leaf 0 EAX), if the dump has leaf 0.
    pub fn max_basic_leaf(&self) -> Option<u32> {
        self.leaves.get(&CpuidInput::new(0, 0)).map(|r| r[EAX])
    }

    /// The maximum extended leaf (leaf 0x80000000 EAX), if the dump has a valid one.
    pub fn max_extended_leaf(&self) -> Option<u32> {
        self.leaves
            .get(&CpuidInput::new(EXTENDED_BASE, 0))
            .map(|r| r[EAX])
    }

    /// Drops every leaf beyond the maximum its range reports.
    ///
    /// Intel answers leaves above the maximum basic leaf with the data of the
    /// highest basic leaf, and `cpuid` always probes 0x20000000, 0x40000000,
    /// 0x40000100, 0x80860000 and 0xC0000000, so these junk lines are in every
    /// dump. A range (basic, hypervisor, extended, ...) is kept only up to the
    /// maximum its base leaf reports, and not at all when the base leaf's EAX
    /// does not name a leaf of the same range.
    pub fn retain_reported_leaves(&mut self) {
        let range_max: BTreeMap<u32, u32> = self
            .leaves
            .iter()
            .filter(|(input, _)| input.subleaf == 0 && is_range_base(input.leaf))
            .filter_map(|(input, regs)| {
                let base = input.leaf;
                let max = regs[EAX];
                let valid = if base == 0 {
                    max < HYPERVISOR_BASE
                } else {
                    max >= base && max - base <= 0xffff
                };
                valid.then_some((base, max))
            })
            .collect();
        self.leaves.retain(|input, _| {
            let base = input.leaf & 0xffff_0000;
            // A 0x100-aligned hypervisor base (0x40000100, Xen behind Viridian) is its own range.
            let base = if base == HYPERVISOR_BASE && input.leaf & 0xff00 != 0 {
                input.leaf & 0xffff_ff00
            } else {
                base
            };
            let max = range_max
                .get(&base)
                .copied()
                .or_else(|| range_max.get(&(input.leaf & 0xffff_0000)).copied());
            match max {
                Some(max) => input.leaf <= max,
                None => false,
            }
        });
    }
}

/// Register bytes as text: ASCII letters, digits, punctuation and spaces as
/// they are, anything else as `?`.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// True for the leaves whose EAX reports the maximum of their range: 0,
/// 0x40000000 (and every 0x100-aligned hypervisor base), 0x80000000, ...
fn is_range_base(leaf: u32) -> bool {
    leaf & 0xffff == 0 || (leaf & 0xffff_0000 == HYPERVISOR_BASE && leaf & 0xff == 0)
}

/// A host of the pool: its name (the dump's file name, or `local`) and its CPUID.
///
/// ```
/// use maskcalc::model::Host;
/// let bytes = std::fs::read("../../testdata/cpuid/amd-milan-epyc-7763.txt")?;
/// let host = Host { name: "milan".into(), cpuid: maskcalc::dump::parse("milan", &bytes, None)? };
/// let masks = maskcalc::pool::compute(&[host], &Default::default())?;
/// assert_eq!(masks.hosts[0].name, "milan");
/// assert_eq!(masks.hosts[0].vendor_string, "AuthenticAMD");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// How messages and tables name this host.
    pub name: String,
    /// What its CPUs report.
    pub cpuid: HostCpuid,
}

/// The highest leaves of a host's CPUID, read from its dump: which leaves
/// exist on it at all.
///
/// ```
/// use maskcalc::model::{CpuidInput, CpuidLimits, Host, HostCpuid};
/// let host = |name: &str, max_basic: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [max_basic, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0008, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// let masks = maskcalc::pool::compute(&[host("a", 0x1b), host("b", 0xd)], &Default::default()).unwrap();
/// // A pool's limits are the lowest of its hosts'.
/// let limits = CpuidLimits { max_basic: 0xd, max_extended: 0x8000_0008, max_leaf7_subleaf: 0 };
/// assert_eq!(masks.cpuid_limits, Some(limits));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuidLimits {
    /// Leaf 0 EAX.
    pub max_basic: u32,
    /// Leaf 0x80000000 EAX.
    pub max_extended: u32,
    /// Leaf 7.0 EAX: the highest subleaf of leaf 7.
    pub max_leaf7_subleaf: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_probe_leaves_are_dropped_and_valid_ranges_kept() {
        let mut host = HostCpuid::default();
        host.leaves.insert(CpuidInput::new(0, 0), [0xd, 0, 0, 0]);
        host.leaves.insert(CpuidInput::new(0xd, 1), [1, 0, 0, 0]);
        host.leaves.insert(CpuidInput::new(0x14, 0), [7, 7, 7, 7]);
        host.leaves
            .insert(CpuidInput::new(0x2000_0000, 0), [7, 7, 7, 7]);
        host.leaves
            .insert(CpuidInput::new(0x4000_0000, 0), [0x4000_0001, 0, 0, 0]);
        host.leaves
            .insert(CpuidInput::new(0x4000_0001, 0), [1, 0, 0, 0]);
        host.leaves
            .insert(CpuidInput::new(0x4000_0100, 0), [7, 7, 7, 7]);
        host.leaves
            .insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0008, 0, 0, 0]);
        host.leaves
            .insert(CpuidInput::new(0x8000_0008, 0), [1, 0, 0, 0]);
        host.leaves
            .insert(CpuidInput::new(0x8000_0009, 0), [1, 0, 0, 0]);
        host.leaves
            .insert(CpuidInput::new(0xc000_0000, 0), [0x0000_000d, 0, 0, 0]);
        host.retain_reported_leaves();
        let kept: Vec<u32> = host.leaves.keys().map(|k| k.leaf).collect();
        assert_eq!(
            kept,
            [0, 0xd, 0x4000_0000, 0x4000_0001, 0x8000_0000, 0x8000_0008]
        );
    }

    #[test]
    fn vendor_string_reads_ebx_edx_ecx() {
        let mut host = HostCpuid::default();
        host.leaves.insert(
            CpuidInput::new(0, 0),
            [0x10, 0x68747541, 0x444d4163, 0x69746e65],
        );
        assert_eq!(host.vendor_string().as_deref(), Some("AuthenticAMD"));
    }
}

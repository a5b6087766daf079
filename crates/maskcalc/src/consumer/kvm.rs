//! Which CPUID entries Linux KVM reports to a guest (`KVM_GET_SUPPORTED_CPUID`).
//!
//! Firecracker starts a guest's CPUID from that list and applies a custom
//! template's `cpuid_modifiers` to it; a modifier for a leaf and subleaf the
//! list lacks fails the whole template (`CpuidFeatureNotSupported`), on
//! that host. So a template for a pool may modify an entry only if KVM
//! reports it on every host of the pool.
//!
//! The facts, from `__do_cpuid_func` and `get_cpuid_func` in
//! `arch/x86/kvm/cpuid.c` (Linux 6.16):
//!
//! * every basic leaf from 0 to the host's own maximum, capped at 0x24, and
//!   every extended leaf from 0x80000000 to the host's maximum, capped at
//!   0x80000022. A host whose maximum extended leaf is 0x8000001d or more
//!   gets entries up to 0x80000021 even beyond its own maximum (KVM
//!   synthesises 0x80000021 for LFENCE and NullSegClearsBase);
//! * subleaf 0 of each of them, and further subleaves of only a few leaves:
//!   7.1 and 7.2 (when the host's 7.0.EAX reaches them), 0xD.1, the cache
//!   subleaves of 0x4 and 0x8000001D; and, only when the host kernel offers
//!   the feature (so not counted on here), the XSAVE components of 0xD,
//!   0x12.1 with SGX, 0x14 subleaves with Intel PT in host-guest mode, 0x1D
//!   subleaves with AMX. Other subleaves (0xB, 0xF, 0x10, 0x1E, 0x1F, 0x24
//!   beyond 0) are never reported.
//!
//! The caps grew over releases: leaf 0x24 since KVM advertised AVX10.1
//! (2024; the cap was 0x1f before), 0x80000022 since it advertised AMD's
//! PerfMonV2 (the cap was 0x80000021 before). A template that modifies
//! 0x20-0x24 or 0x80000022 is refused by a host with an older kernel.
//!
//! ```
//! use maskcalc::consumer::kvm::{Absence, absence};
//! use maskcalc::model::CpuidLimits;
//! // A host with basic leaves up to 0x10, extended up to 0x80000023, no leaf 7.1.
//! let host = CpuidLimits { max_basic: 0x10, max_extended: 0x80000023, max_leaf7_subleaf: 0 };
//! assert_eq!(absence(0x7, 0, Some(host)), None);
//! assert_eq!(absence(0x7, 1, Some(host)), Some(Absence::ThisHost));
//! assert_eq!(absence(0xf, 1, Some(host)), Some(Absence::Never));
//! assert_eq!(absence(0x80000021, 0, Some(host)), None);
//! assert_eq!(absence(0x80000023, 0, Some(host)), Some(Absence::BeyondKvm));
//! ```

use crate::model::CpuidLimits;

/// KVM's highest basic leaf (`min(entry->eax, 0x24U)` for leaf 0).
pub const MAX_BASIC_LEAF: u32 = 0x24;
/// KVM's highest extended leaf (`min(entry->eax, 0x80000022)`).
pub const MAX_EXTENDED_LEAF: u32 = 0x8000_0022;
/// The extended leaf KVM reports on any host reaching 0x8000001d.
const SYNTHESISED_EXTENDED_LEAF: u32 = 0x8000_0021;

/// Why KVM does not report an entry.
///
/// ```
/// use maskcalc::consumer::kvm::{Absence, absence};
/// // Without a host's limits, only the rules that hold on every host.
/// assert_eq!(absence(0xb, 1, None), Some(Absence::Never));
/// assert_eq!(absence(0x25, 0, None), Some(Absence::BeyondKvm));
/// assert_eq!(absence(0x23, 0, None), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Absence {
    /// KVM never reports this subleaf (0xF.1, 0x24.1, ...), or only when
    /// the host kernel offers an optional feature (0x12.1 with SGX, ...).
    Never,
    /// The leaf is above KVM's cap for its range.
    BeyondKvm,
    /// This host has no such leaf or subleaf, so KVM has none to report.
    ThisHost,
}

/// The highest extended leaf KVM reports on a host whose own is `max`.
fn kvm_max_extended(max: u32) -> u32 {
    let capped = max.min(MAX_EXTENDED_LEAF);
    if max >= 0x8000_001d {
        capped.max(SYNTHESISED_EXTENDED_LEAF)
    } else {
        capped
    }
}

/// A host's limits as its KVM reports them to guests: each capped as KVM
/// caps it (and the extended one raised to 0x80000021 where KVM synthesises it).
///
/// ```
/// use maskcalc::consumer::kvm::reported_limits;
/// use maskcalc::model::CpuidLimits;
/// let granite = CpuidLimits { max_basic: 0x23, max_extended: 0x80000008, max_leaf7_subleaf: 2 };
/// assert_eq!(reported_limits(granite), granite);
/// let naples = CpuidLimits { max_basic: 0xd, max_extended: 0x8000001f, max_leaf7_subleaf: 0 };
/// assert_eq!(reported_limits(naples).max_extended, 0x80000021);
/// ```
pub fn reported_limits(limits: CpuidLimits) -> CpuidLimits {
    CpuidLimits {
        max_basic: limits.max_basic.min(MAX_BASIC_LEAF),
        max_extended: kvm_max_extended(limits.max_extended),
        max_leaf7_subleaf: limits.max_leaf7_subleaf.min(2),
    }
}

/// Whether KVM reports `leaf`.`subleaf` on a host with `limits` (unknown
/// limits: only the host-independent rules), and if not, why.
///
/// ```
/// use maskcalc::consumer::kvm::{Absence, absence};
/// use maskcalc::model::CpuidLimits;
/// let naples = CpuidLimits { max_basic: 0xd, max_extended: 0x8000001f, max_leaf7_subleaf: 0 };
/// assert_eq!(absence(0xd, 1, Some(naples)), None);
/// assert_eq!(absence(0x10, 0, Some(naples)), Some(Absence::ThisHost));
/// // KVM synthesises 0x80000021 on a host that reaches 0x8000001d.
/// assert_eq!(absence(0x80000021, 0, Some(naples)), None);
/// ```
pub fn absence(leaf: u32, subleaf: u32, limits: Option<CpuidLimits>) -> Option<Absence> {
    let extended = leaf & 0x8000_0000 != 0;
    let subleaf_reported = match leaf {
        0x4 | 0x8000_001d => true,
        0x7 => subleaf <= 2,
        0xd => subleaf <= 1,
        _ => subleaf == 0,
    };
    if !subleaf_reported {
        return Some(Absence::Never);
    }
    let cap = if extended {
        MAX_EXTENDED_LEAF
    } else {
        MAX_BASIC_LEAF
    };
    if leaf > cap {
        return Some(Absence::BeyondKvm);
    }
    let limits = reported_limits(limits?);
    let host_max = if extended {
        limits.max_extended
    } else {
        limits.max_basic
    };
    let host_subleaf = leaf != 7 || subleaf <= limits.max_leaf7_subleaf;
    (leaf > host_max || !host_subleaf).then_some(Absence::ThisHost)
}

/// Whether KVM marks the leaf's entries `KVM_CPUID_FLAG_SIGNIFCANT_INDEX`
/// (`cpuid_function_is_indexed`). Firecracker writes a modifier's `flags`
/// over the entry's, so a template must carry the same.
///
/// ```
/// use maskcalc::consumer::kvm::indexed;
/// assert!(indexed(0x7) && indexed(0xd) && indexed(0x8000001d));
/// assert!(!indexed(0x1) && !indexed(0x80000001));
/// ```
pub fn indexed(leaf: u32) -> bool {
    matches!(
        leaf,
        0x4 | 0x7
            | 0xb
            | 0xd
            | 0xf
            | 0x10
            | 0x12
            | 0x14
            | 0x17
            | 0x18
            | 0x1d
            | 0x1e
            | 0x1f
            | 0x24
            | 0x8000_001d
    )
}

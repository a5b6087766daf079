//! One feature of the table: its id, its names across ecosystems, and the
//! record the generated table holds for it.

use crate::names;
use crate::{Class, Location, Vendors};
use core::fmt;

/// Which upstream dependency graphs state one edge of [`Feature::depends`]:
/// Xen's `gen-cpuid.py`, Linux's `cpuid-deps.c`, QEMU's
/// `feature_dependencies`. An edge none of them states comes from the
/// vendor manuals (`docs/cpuid-features.md` lists the sources).
///
/// ```
/// use cpuid_defs::{lookup, DependencySources};
/// let avx2 = lookup("AVX2").unwrap();
/// let (needs, sources) = avx2.dependencies().next().unwrap();
/// assert_eq!(needs.name, "AVX");
/// assert!(sources.contains(DependencySources::XEN) && sources.contains(DependencySources::LINUX));
/// assert_eq!(sources.to_string(), "xen,linux");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DependencySources(pub(crate) u8);

impl DependencySources {
    /// No upstream graph: the edge comes from the vendor manuals.
    pub const NONE: DependencySources = DependencySources(0);
    /// Xen's `xen/tools/gen-cpuid.py`.
    pub const XEN: DependencySources = DependencySources(1);
    /// Linux's `arch/x86/kernel/cpu/cpuid-deps.c`.
    pub const LINUX: DependencySources = DependencySources(2);
    /// QEMU's `feature_dependencies` (`target/i386/cpu.c`).
    pub const QEMU: DependencySources = DependencySources(4);

    const NAMES: [(DependencySources, &'static str); 3] = [
        (DependencySources::XEN, "xen"),
        (DependencySources::LINUX, "linux"),
        (DependencySources::QEMU, "qemu"),
    ];

    /// True when every source of `other` is in `self`.
    pub const fn contains(self, other: DependencySources) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no upstream graph states the edge.
    ///
    /// ```
    /// use cpuid_defs::DependencySources;
    /// assert!(DependencySources::NONE.is_empty());
    /// assert!(!DependencySources::LINUX.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the sources (`xen`, `linux`, `qemu`).
    ///
    /// ```
    /// use cpuid_defs::DependencySources;
    /// let both = DependencySources::XEN;
    /// assert_eq!(both.names().collect::<Vec<_>>(), ["xen"]);
    /// assert_eq!(DependencySources::NONE.names().count(), 0);
    /// ```
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(s, _)| self.contains(*s))
            .map(|(_, n)| n)
    }
}

impl fmt::Display for DependencySources {
    /// Comma-separated names, `manuals` for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("manuals");
        }
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// Index of a feature in the table. Stable within one build of the crate;
/// persist names, not ids.
///
/// ```
/// use cpuid_defs::{FEATURE_COUNT, FeatureId, feature, lookup};
/// let id = lookup("SSE2").unwrap().id;
/// assert_eq!(FeatureId::from_index(id.index()), Some(id));
/// assert_eq!(feature(id).name, "SSE2");
/// assert_eq!(FeatureId::from_index(FEATURE_COUNT), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeatureId(pub(crate) u16);

impl FeatureId {
    /// The index into [`features()`](crate::features).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// One named feature bit: a row of the table, read through [`lookup`](crate::lookup),
/// [`at`](crate::at), [`features()`](crate::features) or [`decode`](crate::decode).
///
/// ```
/// use cpuid_defs::{Class, Location, Register, Vendor, lookup};
/// let f = lookup("lahfsahf").unwrap(); // libxl's legacy spelling
/// assert_eq!(f.name, "LAHF_LM");
/// assert_eq!(f.xen_name, Some("lahf-lm"));
/// assert_eq!(f.linux_name, Some("lahf_lm"));
/// assert_eq!(f.location, Location::cpuid(0x8000_0001, None, Register::Ecx, 0));
/// assert!(f.vendors.has(Vendor::Intel) && f.vendors.has(Vendor::Amd));
/// assert_eq!(f.class, Class::Intersect);
/// assert_eq!(f.location.to_string(), "0x80000001.ecx[0]");
/// ```
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Feature {
    /// Its index in [`features()`](crate::features).
    pub id: FeatureId,
    /// Canonical name, upper case in Xen's style (`LAHF_LM`, `AVX512F`).
    /// For Xen's features it is exactly Xen's `cpufeatureset.h` name.
    pub name: &'static str,
    /// Xen's featureset name in xl spelling (`lahf-lm`), `None` if Xen has no
    /// name for this bit.
    pub xen_name: Option<&'static str>,
    /// Xen's attribute string from `cpufeatureset.h` (`"A"`, `"!A|"`, `""`),
    /// `None` if Xen has no name for this bit. Not Xen ABI; informational.
    pub xen_attrs: Option<&'static str>,
    /// The flag in Linux `/proc/cpuinfo`, if Linux shows one.
    pub linux_name: Option<&'static str>,
    /// Linux's `X86_FEATURE_` macro name without the prefix (`XMM2` for
    /// `SSE2`), for the CPUID bits Linux reads; `None` when Linux has none.
    pub linux_macro: Option<&'static str>,
    /// The QEMU `-cpu` property name in QEMU's own spelling, if QEMU names
    /// the bit (other spellings QEMU accepts are in `other_aliases`).
    pub qemu_name: Option<&'static str>,
    /// The libvirt feature name (`src/cpu_map/x86_features.xml`), if libvirt
    /// names the bit; it differs from QEMU's for some old features
    /// (`pclmuldq`, `lahf_lm`) and exists for a few bits QEMU leaves unnamed
    /// (`osxsave`, `ospke`, `cmt`).
    pub libvirt_name: Option<&'static str>,
    /// libxl's legacy `cpuid=` spellings (`lahfsahf`, `cmpxchg16`, `invtsc`).
    pub libxl_legacy_names: &'static [&'static str],
    /// Other spellings in common use (vendor manual mnemonics, older names).
    pub other_aliases: &'static [&'static str],
    /// Where the bit lives.
    pub location: Location,
    /// Vendors that implement the bit at this position.
    pub vendors: Vendors,
    /// How a pool of hosts combines it.
    pub class: Class,
    /// Direct prerequisites: hiding any of them must hide this feature.
    pub depends: &'static [FeatureId],
    /// For each entry of `depends`, the upstream graphs that state the edge
    /// (empty: taken from the vendor manuals by this crate).
    pub depends_sources: &'static [DependencySources],
    /// One line saying what it is.
    pub description: &'static str,
    /// Where the vendor documents it (manual and section).
    pub reference: &'static str,
}

impl Feature {
    /// Every name this feature answers to: canonical, Xen, Linux (flag and
    /// macro), QEMU, libvirt, libxl legacy, other aliases (may repeat when
    /// ecosystems agree).
    ///
    /// ```
    /// use cpuid_defs::lookup;
    /// let sse2 = lookup("SSE2").unwrap();
    /// let names: Vec<&str> = sse2.all_names().collect();
    /// assert_eq!(names[0], "SSE2");
    /// assert!(names.contains(&"XMM2")); // Linux's X86_FEATURE_XMM2
    /// ```
    pub fn all_names(&self) -> impl Iterator<Item = &'static str> {
        let singles = [
            Some(self.name),
            self.xen_name,
            self.linux_name,
            self.linux_macro,
            self.qemu_name,
            self.libvirt_name,
        ];
        singles
            .into_iter()
            .flatten()
            .chain(self.libxl_legacy_names.iter().copied())
            .chain(self.other_aliases.iter().copied())
    }

    /// The aliases: every name except the canonical one, without repeats of
    /// the canonical spelling (compared as [`lookup`](crate::lookup) compares).
    ///
    /// ```
    /// use cpuid_defs::lookup;
    /// let lahf = lookup("LAHF_LM").unwrap();
    /// let aliases: Vec<&str> = lahf.aliases().collect();
    /// assert!(aliases.contains(&"lahfsahf")); // libxl's legacy spelling
    /// // "lahf_lm" (Linux, QEMU) is the canonical name in another case.
    /// assert!(!aliases.iter().any(|a| a.eq_ignore_ascii_case("LAHF_LM")));
    /// ```
    pub fn aliases(&self) -> impl Iterator<Item = &'static str> + '_ {
        let mut seen: [&str; 24] = [""; 24];
        let mut count = 0usize;
        self.all_names().filter(move |n| {
            if names::same_name(n, self.name)
                || seen[..count].iter().any(|s| names::same_name(s, n))
            {
                return false;
            }
            if let Some(slot) = seen.get_mut(count) {
                *slot = n;
                count += 1;
            }
            true
        })
    }
}

//! CPU vendors: the [`Vendor`] of a CPU and [`Vendors`] sets.

use core::fmt;

/// A set of CPU vendors, as a small bit set (no allocation).
///
/// ```
/// use cpuid_defs::Vendors;
/// let v = Vendors::AMD.union(Vendors::HYGON);
/// assert!(v.contains(Vendors::AMD));
/// assert!(!v.contains(Vendors::INTEL));
/// assert_eq!(v.to_string(), "amd,hygon");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Vendors(pub(crate) u8);

impl Vendors {
    /// No vendor.
    pub const NONE: Vendors = Vendors(0);
    /// GenuineIntel.
    pub const INTEL: Vendors = Vendors(1 << 0);
    /// AuthenticAMD.
    pub const AMD: Vendors = Vendors(1 << 1);
    /// HygonGenuine (licensed AMD Zen designs).
    pub const HYGON: Vendors = Vendors(1 << 2);
    /// "  Shanghai  " (Zhaoxin).
    pub const ZHAOXIN: Vendors = Vendors(1 << 3);
    /// CentaurHauls (VIA/Centaur).
    pub const CENTAUR: Vendors = Vendors(1 << 4);
    /// GenuineTMx86 (Transmeta), whose leaf 0x80860001 no one else defines.
    pub const TRANSMETA: Vendors = Vendors(1 << 5);
    /// Every vendor of the common x86 leaves: Intel, AMD, Hygon, Zhaoxin
    /// and Centaur (not Transmeta).
    pub const ALL: Vendors = Vendors(0x1f);

    const NAMES: [(Vendors, &'static str); 6] = [
        (Vendors::INTEL, "intel"),
        (Vendors::AMD, "amd"),
        (Vendors::HYGON, "hygon"),
        (Vendors::ZHAOXIN, "zhaoxin"),
        (Vendors::CENTAUR, "centaur"),
        (Vendors::TRANSMETA, "transmeta"),
    ];

    /// The raw bits.
    ///
    /// ```
    /// use cpuid_defs::Vendors;
    /// assert_eq!(Vendors::INTEL.union(Vendors::AMD).bits(), 0b11);
    /// ```
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Both sets together.
    pub const fn union(self, other: Vendors) -> Vendors {
        Vendors(self.0 | other.0)
    }

    /// True when every vendor of `other` is in `self`.
    pub const fn contains(self, other: Vendors) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when the set is empty.
    ///
    /// ```
    /// use cpuid_defs::{Vendor, Vendors};
    /// assert!(Vendors::NONE.is_empty());
    /// assert!(Vendor::Unknown.as_set().is_empty());
    /// assert!(!Vendors::ALL.is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when `vendor` is in the set (`Unknown` never is).
    ///
    /// ```
    /// use cpuid_defs::{Vendor, Vendors};
    /// assert!(Vendors::ALL.has(Vendor::Hygon));
    /// assert!(!Vendors::ALL.has(Vendor::Transmeta));
    /// assert!(!Vendors::ALL.has(Vendor::Unknown));
    /// ```
    pub const fn has(self, vendor: Vendor) -> bool {
        let v = vendor.as_set();
        !v.is_empty() && self.contains(v)
    }

    /// The lower-case names of the vendors in the set.
    ///
    /// ```
    /// use cpuid_defs::Vendors;
    /// let names: Vec<&str> = Vendors::INTEL.union(Vendors::HYGON).names().collect();
    /// assert_eq!(names, ["intel", "hygon"]);
    /// ```
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(v, _)| self.contains(*v))
            .map(|(_, n)| n)
    }
}

impl fmt::Display for Vendors {
    /// Comma-separated lower-case names, `-` for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
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

/// The CPU vendor named by CPUID leaf 0.
///
/// ```
/// use cpuid_defs::{Vendor, lookup};
/// let amd = Vendor::from_leaf0(0x6874_7541, 0x444d_4163, 0x6974_6e65);
/// assert_eq!(amd, Vendor::Amd);
/// // SSE4A is AMD's: the table says which vendors define a bit there.
/// assert!(lookup("SSE4A").unwrap().vendors.has(amd));
/// assert!(!lookup("SSE4A").unwrap().vendors.has(Vendor::Intel));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Vendor {
    /// `GenuineIntel`.
    Intel,
    /// `AuthenticAMD`.
    Amd,
    /// `HygonGenuine`.
    Hygon,
    /// `  Shanghai  `.
    Zhaoxin,
    /// `CentaurHauls`.
    Centaur,
    /// `GenuineTMx86`.
    Transmeta,
    /// Any other vendor string.
    Unknown,
}

impl Vendor {
    /// Identifies the vendor from leaf 0's EBX, ECX and EDX (the 12-byte
    /// string is EBX, EDX, ECX in that order).
    ///
    /// ```
    /// use cpuid_defs::Vendor;
    /// assert_eq!(Vendor::from_leaf0(0x756e_6547, 0x6c65_746e, 0x4965_6e69), Vendor::Intel);
    /// assert_eq!(Vendor::from_leaf0(0x6874_7541, 0x444d_4163, 0x6974_6e65), Vendor::Amd);
    /// ```
    pub fn from_leaf0(ebx: u32, ecx: u32, edx: u32) -> Vendor {
        let mut s = [0u8; 12];
        s[0..4].copy_from_slice(&ebx.to_le_bytes());
        s[4..8].copy_from_slice(&edx.to_le_bytes());
        s[8..12].copy_from_slice(&ecx.to_le_bytes());
        match &s {
            b"GenuineIntel" => Vendor::Intel,
            b"AuthenticAMD" => Vendor::Amd,
            b"HygonGenuine" => Vendor::Hygon,
            b"  Shanghai  " => Vendor::Zhaoxin,
            b"CentaurHauls" => Vendor::Centaur,
            b"GenuineTMx86" => Vendor::Transmeta,
            _ => Vendor::Unknown,
        }
    }

    /// The one-element [`Vendors`] set of this vendor (empty for `Unknown`).
    ///
    /// ```
    /// use cpuid_defs::{Vendor, Vendors};
    /// assert_eq!(Vendor::Amd.as_set(), Vendors::AMD);
    /// assert_eq!(Vendor::Unknown.as_set(), Vendors::NONE);
    /// ```
    pub const fn as_set(self) -> Vendors {
        match self {
            Vendor::Intel => Vendors::INTEL,
            Vendor::Amd => Vendors::AMD,
            Vendor::Hygon => Vendors::HYGON,
            Vendor::Zhaoxin => Vendors::ZHAOXIN,
            Vendor::Centaur => Vendors::CENTAUR,
            Vendor::Transmeta => Vendors::TRANSMETA,
            Vendor::Unknown => Vendors::NONE,
        }
    }
}

//! [`Class`]: how a pool of hosts combines a feature.

use core::fmt;
use core::str::FromStr;

/// How a pool of hosts combines a feature when computing what migrating
/// guests may see. `docs/cpuid-features.md` explains every non-`Intersect`
/// placement.
///
/// New classes may be added (the enum is `#[non_exhaustive]`): match with a
/// catch-all arm that takes the safe side, hiding the bit.
///
/// ```
/// use cpuid_defs::{Class, lookup};
/// assert_eq!(lookup("AVX2").unwrap().class, Class::Intersect);
/// assert_eq!(lookup("MD_CLEAR").unwrap().class, Class::Accumulate);
/// assert_eq!(lookup("X2APIC").unwrap().class, Class::Host);
/// assert_eq!(lookup("MONITOR").unwrap().class, Class::Hidden);
/// assert_eq!(lookup("VMX").unwrap().class, Class::OptIn);
/// assert_eq!("opt-in".parse::<Class>(), Ok(Class::OptIn));
/// assert_eq!(Class::Accumulate.to_string(), "accumulate");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Class {
    /// A guest may see it only if every host has it (the default).
    Intersect,
    /// Visible if any host has it: "needs mitigation" / "behaviour removed"
    /// bits, where hiding the bit from a guest that may land on an affected
    /// host is the unsafe direction.
    Accumulate,
    /// Reflects the host's OS, topology or virtualisation layer, is
    /// synthesised for each guest, and is never compared between hosts.
    Host,
    /// Never offered to migratable guests.
    Hidden,
    /// Offered only when asked for explicitly (nested virtualisation,
    /// invariant TSC, features Xen keeps off by default).
    OptIn,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 5] = [
        Class::Intersect,
        Class::Accumulate,
        Class::Host,
        Class::Hidden,
        Class::OptIn,
    ];

    /// The name used in data files, JSON and on the command line.
    ///
    /// ```
    /// use cpuid_defs::Class;
    /// let names: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
    /// assert_eq!(names, ["intersect", "accumulate", "host", "hidden", "opt-in"]);
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Intersect => "intersect",
            Class::Accumulate => "accumulate",
            Class::Host => "host",
            Class::Hidden => "hidden",
            Class::OptIn => "opt-in",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Class`].
///
/// ```
/// use cpuid_defs::{Class, ParseClassError};
/// assert_eq!("sometimes".parse::<Class>(), Err(ParseClassError));
/// assert!(ParseClassError.to_string().contains("opt-in"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseClassError;

impl fmt::Display for ParseClassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a class: intersect, accumulate, host, hidden or opt-in")
    }
}

impl FromStr for Class {
    type Err = ParseClassError;

    /// ```
    /// use cpuid_defs::Class;
    /// assert_eq!("opt-in".parse::<Class>(), Ok(Class::OptIn));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(ParseClassError)
    }
}

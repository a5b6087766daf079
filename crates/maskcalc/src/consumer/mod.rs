//! What the programs that read our outputs know, release by release: the
//! feature names libxl's `xl` parser, QEMU's `-cpu` option and libvirt's
//! `cpu_map` accept, and the CPU models QEMU and libvirt define.
//!
//! The facts are checked in under `crates/maskcalc/data/consumers/`, written
//! by `cargo xtask consumer-facts` from upstream sources (each table names
//! the release, tag or commit every version came from). A name is known to
//! a release `V` when a row has `first <= V` and no `gone <= V`; a release
//! between two extracted ones knows what the older of the two knew, so
//! every answer is one the real program gives or a more cautious one.
//!
//! ```
//! use maskcalc::consumer::{Consumer, NameTable, Version};
//! let xl = NameTable::builtin(Consumer::Xl);
//! let v419: Version = "4.19".parse().unwrap();
//! let v420: Version = "4.20".parse().unwrap();
//! assert!(xl.at(v420).knows("waitpkg"));
//! assert!(!xl.at(v419).knows("waitpkg"));
//! assert_eq!(xl.first_knowing_name("waitpkg"), Some(v420));
//! ```

pub mod baseline;
pub mod cpu_map;
pub mod kvm;
mod table;

use std::fmt;
use std::str::FromStr;

pub use baseline::{Baseline, GuestCpu, GuestRegister};
pub use table::{
    ModelRow, ModelTable, NameRow, NameTable, Names, Source, TableError, TableErrorKind,
};

use cpuid_defs::Location;

/// A consumer release, `MAJOR.MINOR` (a patch level is accepted and ignored:
/// point releases do not add names).
///
/// ```
/// use maskcalc::consumer::Version;
/// let v: Version = "7.2.22".parse().unwrap();
/// assert_eq!(v, Version::new(7, 2));
/// assert_eq!(v.to_string(), "7.2");
/// assert!(v < "10.0".parse().unwrap());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl Version {
    /// `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a version string is not one.
///
/// ```
/// let err = "4.17rc1".parse::<maskcalc::consumer::Version>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "expected a release as MAJOR.MINOR (for example 4.17), found `4.17rc1`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseVersionError(String);

impl fmt::Display for ParseVersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected a release as MAJOR.MINOR (for example 4.17), found `{}`",
            self.0
        )
    }
}

impl std::error::Error for ParseVersionError {}

impl FromStr for Version {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseVersionError(s.to_owned());
        let mut parts = s.trim().split('.');
        let number = |p: Option<&str>| -> Result<u16, ParseVersionError> {
            let p = p.ok_or_else(bad)?;
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        if let Some(patch) = parts.next() {
            number(Some(patch))?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Version { major, minor })
    }
}

/// A program that reads one of our outputs.
///
/// ```
/// use maskcalc::consumer::{Consumer, Release, check_supported};
/// assert_eq!(Consumer::Qemu.to_string(), "QEMU");
/// assert_eq!(Consumer::Xl.display_name(), "Xen");
/// // Outputs are written for a release: the names it knows (see Targets).
/// let qemu_7_2 = Release::builtin(Consumer::Qemu, "7.2".parse().unwrap());
/// assert_eq!(qemu_7_2.label(), "QEMU 7.2");
/// assert!(check_supported(Consumer::Qemu, "0.9".parse().unwrap()).is_err(), "older than the tables");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Consumer {
    /// libxl's `cpuid=` parser, as `xl` and libvirt's libxl driver use it.
    Xl,
    /// QEMU's `-cpu` option.
    Qemu,
    /// libvirt's `cpu_map` (the `<cpu>` element of a domain).
    Libvirt,
}

impl Consumer {
    /// The name users know the program by: `Xen`, `QEMU`, `libvirt`.
    pub const fn display_name(self) -> &'static str {
        match self {
            Consumer::Xl => "Xen",
            Consumer::Qemu => "QEMU",
            Consumer::Libvirt => "libvirt",
        }
    }
}

impl fmt::Display for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The leaf-0 vendor string of a vendor name as libvirt and QEMU spell it in
/// their model tables (`Intel`, `AMD`, `Hygon`, `Zhaoxin`, or the string itself).
///
/// ```
/// use maskcalc::consumer::vendor_string;
/// assert_eq!(vendor_string("Intel"), "GenuineIntel");
/// assert_eq!(vendor_string("CPUID_VENDOR_AMD"), "AuthenticAMD");
/// assert_eq!(vendor_string("GenuineIntel"), "GenuineIntel");
/// ```
pub fn vendor_string(name: &str) -> &str {
    match name {
        "Intel" | "CPUID_VENDOR_INTEL" => "GenuineIntel",
        "AMD" | "CPUID_VENDOR_AMD" => "AuthenticAMD",
        "Hygon" | "CPUID_VENDOR_HYGON" => "HygonGenuine",
        "Zhaoxin" | "CPUID_VENDOR_ZHAOXIN1" => "CentaurHauls",
        "CPUID_VENDOR_ZHAOXIN2" => "  Shanghai  ",
        other => other,
    }
}

/// What a KVM output starts from.
///
/// ```
/// use maskcalc::consumer::{CpuMode, Targets};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, PoolOptions};
/// let host = |name: &str, ecx: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, ecx, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // AVX (1.ECX[28]) on one host only.
/// let masks = compute(&[host("a", 1 << 28), host("b", 0)], &PoolOptions::default()).unwrap();
/// let mut targets = Targets::newest();
/// assert_eq!(targets.cpu_mode, CpuMode::Model);
/// targets.cpu_mode = CpuMode::Passthrough;
/// let guest = maskcalc::consumer::GuestCpu::from_masks(&masks);
/// let qemu = maskcalc::render::qemu(&masks, &guest, &targets);
/// // VMX too: nested HVM is not enabled.
/// assert_eq!(qemu.text, "-cpu host,-vmx,-avx\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CpuMode {
    /// A named CPU model every host supports, plus features to add and
    /// remove (`-cpu Skylake-Server-v4,+a,-b`, `<cpu mode='custom'>`): what
    /// `virsh hypervisor-cpu-baseline` gives, and what keeps family, model,
    /// caches and unnamed bits the same on every host.
    #[default]
    Model,
    /// The host's CPU with the masked features turned off (`-cpu host,-a`,
    /// `<cpu mode='host-passthrough'>`), as libvirt's libxl driver needs.
    Passthrough,
}

/// One release of one consumer: the names and models it knows. Built by
/// [`Release::builtin`], [`Release::newest`] or [`Release::from_tables`].
///
/// ```
/// use cpuid_defs::{Location, Register};
/// use maskcalc::consumer::{Consumer, ModelTable, NameTable, Release, Version};
/// let xen = Release::builtin(Consumer::Xl, Version::new(4, 17));
/// assert_eq!(xen.label(), "Xen 4.17");
/// assert!(xen.names.knows("avx512f") && xen.models.is_empty());
/// // WAITPKG (7.0.ECX[5]) got its xl name in 4.20.
/// let waitpkg = Location::cpuid(7, Some(0), Register::Ecx, 5);
/// assert_eq!(xen.first_naming(waitpkg), "Xen 4.20 is the first to name it");
/// assert!(Release::newest(Consumer::Xl).version >= Version::new(4, 20));
/// // The same release from tables given explicitly (an installed cpu_map, say).
/// let qemu = Release::from_tables(
///     NameTable::builtin(Consumer::Qemu),
///     ModelTable::builtin(Consumer::Qemu),
///     Version::new(7, 2),
/// );
/// assert!(qemu.models.iter().any(|m| m.name == "Skylake-Server-v4"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Release<'a> {
    /// Which consumer.
    pub consumer: Consumer,
    /// Which release.
    pub version: Version,
    /// The feature names it accepts.
    pub names: Names<'a>,
    /// The CPU models it defines, in table order (none for xl).
    pub models: Vec<&'a ModelRow>,
}

impl<'a> Release<'a> {
    /// The release `version` of `consumer` by the checked-in tables.
    pub fn builtin(consumer: Consumer, version: Version) -> Release<'static> {
        Release::from_tables(
            NameTable::builtin(consumer),
            ModelTable::builtin(consumer),
            version,
        )
    }

    /// The release `version` by the given tables (an installed cpu_map, say).
    pub fn from_tables(
        names: &'a NameTable,
        models: &'a ModelTable,
        version: Version,
    ) -> Release<'a> {
        Release {
            consumer: names.consumer,
            version,
            names: names.at(version),
            models: models.at(version).collect(),
        }
    }

    /// The newest release the checked-in tables know.
    pub fn newest(consumer: Consumer) -> Release<'static> {
        let version = NameTable::builtin(consumer)
            .newest()
            .unwrap_or(Version::new(0, 0));
        Release::builtin(consumer, version)
    }

    /// `QEMU 7.2`.
    pub fn label(&self) -> String {
        format!("{} {}", self.consumer, self.version)
    }

    /// Which release would name the bit at `location`, for a warning:
    /// `QEMU 8.0 is the first to name it`, or that none up to the newest does.
    pub fn first_naming(&self, location: Location) -> String {
        let table = self.names.table;
        match table.first_knowing(location) {
            Some(first) if first > self.version => match table.previous_source(first) {
                // Releases between the two extracted ones were not looked at.
                Some(previous) if previous > self.version && !adjacent(previous, first) => format!(
                    "{} {first} is the first known to name it ({previous} does not)",
                    self.consumer
                ),
                _ => format!("{} {first} is the first to name it", self.consumer),
            },
            Some(_) => format!("{} names it only under another name", self.label()),
            None => format!(
                "no {} release up to {} names it",
                self.consumer,
                table.newest().map_or("any".to_owned(), |v| v.to_string())
            ),
        }
    }
}

/// True when `b` is the release right after `a` in the numbering Xen, QEMU
/// and libvirt use (`4.17` → `4.18`, `9.2` → `10.0`).
fn adjacent(a: Version, b: Version) -> bool {
    (a.major == b.major && a.minor + 1 == b.minor) || (a.major + 1 == b.major && b.minor == 0)
}

/// The consumer releases an output is written for.
///
/// ```
/// use maskcalc::consumer::{Consumer, Release, Targets};
/// let mut targets = Targets::newest();
/// assert_eq!(targets.xen.consumer, Consumer::Xl);
/// // The Xen 4.17 of Debian bookworm, as `--xen-version 4.17` asks for.
/// targets.xen = Release::builtin(Consumer::Xl, "4.17".parse().unwrap());
/// assert_eq!(targets.xen.label(), "Xen 4.17");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Targets<'a> {
    /// libxl's parser, for `--format xl`.
    pub xen: Release<'a>,
    /// QEMU, for `--format qemu` and under libvirt.
    pub qemu: Release<'a>,
    /// libvirt, for `--format libvirt`.
    pub libvirt: Release<'a>,
    /// Named model or passthrough, for QEMU and libvirt.
    pub cpu_mode: CpuMode,
}

impl Targets<'static> {
    /// The newest release of each consumer the tables know, named models.
    pub fn newest() -> Self {
        Targets {
            xen: Release::newest(Consumer::Xl),
            qemu: Release::newest(Consumer::Qemu),
            libvirt: Release::newest(Consumer::Libvirt),
            cpu_mode: CpuMode::Model,
        }
    }
}

/// Checks that the tables can answer for `version` of `consumer`: a release
/// older than the oldest extracted one is refused (nothing is known of it).
///
/// ```
/// use maskcalc::consumer::{Consumer, ReleaseErrorKind, Version, check_supported};
/// assert!(check_supported(Consumer::Xl, Version::new(4, 17)).is_ok());
/// let err = check_supported(Consumer::Xl, Version::new(4, 11)).unwrap_err();
/// assert_eq!(err.kind, ReleaseErrorKind::OlderThanTables);
/// assert_eq!((err.consumer, err.version, err.oldest), (Consumer::Xl, Version::new(4, 11), Version::new(4, 14)));
/// assert!(err.to_string().starts_with("Xen 4.11 is older than the oldest release xenmig knows (Xen 4.14)"), "{err}");
/// ```
pub fn check_supported(consumer: Consumer, version: Version) -> Result<(), ReleaseError> {
    match NameTable::builtin(consumer).oldest() {
        Some(oldest) if version < oldest => Err(ReleaseError {
            kind: ReleaseErrorKind::OlderThanTables,
            consumer,
            version,
            oldest,
        }),
        _ => Ok(()),
    }
}

/// A consumer release the tables cannot answer for: what is wrong
/// ([`ReleaseErrorKind`]), for which consumer and release, and the oldest
/// release the tables know.
///
/// ```
/// use maskcalc::consumer::{Consumer, Version, check_supported};
/// let err = check_supported(Consumer::Qemu, Version::new(5, 2)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "QEMU 5.2 is older than the oldest release xenmig knows (QEMU 6.2); expected QEMU 6.2 or later"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReleaseError {
    /// What is wrong.
    pub kind: ReleaseErrorKind,
    /// The consumer.
    pub consumer: Consumer,
    /// The release asked for.
    pub version: Version,
    /// The oldest release the tables know for `consumer`.
    pub oldest: Version,
}

/// What is wrong in a [`ReleaseError`].
///
/// ```
/// use maskcalc::consumer::{Consumer, ReleaseErrorKind, Version, check_supported};
/// let err = check_supported(Consumer::Libvirt, Version::new(1, 0)).unwrap_err();
/// assert_eq!(err.kind, ReleaseErrorKind::OlderThanTables);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseErrorKind {
    /// Older than the oldest release the tables were extracted from.
    OlderThanTables,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ReleaseError {
            kind,
            consumer,
            version,
            oldest,
        } = self;
        match kind {
            ReleaseErrorKind::OlderThanTables => write!(
                f,
                "{consumer} {version} is older than the oldest release xenmig knows ({consumer} {oldest}); \
                 expected {consumer} {oldest} or later"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!("4.14".parse::<Version>().unwrap(), Version::new(4, 14));
        assert_eq!("10.2.2".parse::<Version>().unwrap(), Version::new(10, 2));
        for bad in [
            "", "4", "4.", "a.b", "4.17.1.2", "-1.0", "99999.0", "4.17rc1",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
        assert!(Version::new(4, 9) < Version::new(4, 14));
        assert!(Version::new(9, 2) < Version::new(10, 0));
    }
}

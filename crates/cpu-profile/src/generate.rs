//! A profile from the CPUID dumps of the hosts of a pool (see
//! [`crate::rules`] for what each bit becomes).
//!
//! ```
//! use cpu_profile::generate::generate;
//! use cpuid_defs::{FeatureRegister, Register};
//! use maskcalc::model::{CpuidInput, Host, HostCpuid};
//! let host = |name: &str, ecx: u32| {
//!     let mut cpuid = HostCpuid::default();
//!     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
//!     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, ecx, 0]);
//!     Host { name: name.into(), cpuid }
//! };
//! // SSE3 (bit 0) on both, PCLMULQDQ (bit 1) on one only.
//! let profile = generate("pool", &[host("a", 0b11), host("b", 0b01)]).unwrap();
//! let ecx = profile.defined(FeatureRegister::cpuid(1, None, Register::Ecx)).unwrap();
//! assert_eq!(ecx.value & 0b11, 0b01);
//! ```

use std::fmt;

use cpuid_defs::{Class, FeatureRegister};
use maskcalc::defs::register_value;
use maskcalc::model::{Host, HostCpuid};
use maskcalc::pool::{self, PoolErrorKind, PoolOptions};

use crate::rules::{self, FieldRule};
use crate::{Bits, Limits, PoolMask, Profile, SourceHost};

/// Why no profile can be made from the given hosts.
///
/// ```
/// use cpu_profile::generate::{generate, GenerateErrorKind};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, vendor: [u32; 3]| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [1, vendor[0], vendor[1], vendor[2]]);
///     Host { name: name.into(), cpuid }
/// };
/// let intel = host("intel", [0x756e6547, 0x6c65746e, 0x49656e69]);
/// let amd = host("amd", [0x68747541, 0x444d4163, 0x69746e65]);
/// let kind = |hosts: &[Host]| generate("pool", hosts).unwrap_err().kind;
/// assert_eq!(kind(&[]), GenerateErrorKind::NoHosts);
/// assert_eq!(kind(&[intel.clone(), amd]), GenerateErrorKind::MixedVendors);
/// assert_eq!(kind(&[Host { name: "empty".into(), cpuid: HostCpuid::default() }]), GenerateErrorKind::NoVendor);
/// assert!(generate("pool", &[intel]).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenerateErrorKind {
    /// No host was given.
    NoHosts,
    /// The hosts do not share one vendor.
    MixedVendors,
    /// A host's dump has no leaf 0, so its vendor is unknown.
    NoVendor,
    /// The pool computation refused the hosts for another reason.
    Pool,
}

/// No profile can be made from the given hosts: why, and which hosts.
///
/// ```
/// use cpu_profile::generate::{generate, GenerateErrorKind};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, vendor: [u32; 3]| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [1, vendor[0], vendor[1], vendor[2]]);
///     Host { name: name.into(), cpuid }
/// };
/// let intel = host("intel", [0x756e6547, 0x6c65746e, 0x49656e69]);
/// let amd = host("amd", [0x68747541, 0x444d4163, 0x69746e65]);
/// let err = generate("pool", &[intel, amd]).unwrap_err();
/// assert_eq!(err.kind, GenerateErrorKind::MixedVendors);
/// assert_eq!(err.hosts, [
///     ("intel".to_owned(), Some("GenuineIntel".to_owned())),
///     ("amd".to_owned(), Some("AuthenticAMD".to_owned())),
/// ]);
/// assert_eq!(err.to_string(), err.message);
/// assert!(err.message.starts_with("expected hosts of one CPU vendor"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenerateError {
    /// What went wrong.
    pub kind: GenerateErrorKind,
    /// The hosts to blame (for [`GenerateErrorKind::MixedVendors`] each
    /// host with its vendor string, the host's name alone otherwise).
    pub hosts: Vec<(String, Option<String>)>,
    /// What was expected and what was found.
    pub message: String,
}

impl GenerateError {
    fn no_hosts() -> GenerateError {
        GenerateError {
            kind: GenerateErrorKind::NoHosts,
            hosts: Vec::new(),
            message: "expected at least one host dump, found none".to_owned(),
        }
    }

    fn no_vendor(host: &str) -> GenerateError {
        GenerateError {
            kind: GenerateErrorKind::NoVendor,
            hosts: vec![(host.to_owned(), None)],
            message: format!(
                "{host}: expected CPUID leaf 0 (the vendor string), found a dump without it"
            ),
        }
    }

    fn mixed_vendors(hosts: Vec<(String, String)>) -> GenerateError {
        let listed: Vec<String> = hosts
            .iter()
            .map(|(name, vendor)| format!("{name}: {vendor}"))
            .collect();
        GenerateError {
            kind: GenerateErrorKind::MixedVendors,
            message: format!(
                "expected hosts of one CPU vendor (a profile has one vendor), found {}",
                listed.join(", ")
            ),
            hosts: hosts.into_iter().map(|(n, v)| (n, Some(v))).collect(),
        }
    }
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GenerateError {}

/// The profile a guest may see on every one of `hosts`. The result does not
/// depend on the order of `hosts` (the host list is sorted by name).
///
/// ```
/// use maskcalc::model::Host;
/// let host = |file: &str| -> Result<Host, Box<dyn std::error::Error>> {
///     let bytes = std::fs::read(format!("../../testdata/cpuid/{file}"))?;
///     Ok(Host { name: file.into(), cpuid: maskcalc::dump::parse(file, &bytes, None)? })
/// };
/// use cpu_profile::generate::{GenerateErrorKind, generate};
/// let pool = [
///     host("intel-icelake-sp-xeon-gold-6330.txt")?,
///     host("intel-skylake-sp-xeon-platinum-8180.txt")?,
/// ];
/// let profile = generate("pool", &pool)?;
/// let reversed = generate("pool", &[pool[1].clone(), pool[0].clone()])?;
/// assert_eq!(profile, reversed, "the order of the hosts does not matter");
/// assert!(matches!(generate("empty", &[]), Err(e) if e.kind == GenerateErrorKind::NoHosts));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate(name: &str, hosts: &[Host]) -> Result<Profile, GenerateError> {
    let first = hosts.first().ok_or_else(GenerateError::no_hosts)?;
    let vendor = first
        .cpuid
        .vendor_string()
        .ok_or_else(|| GenerateError::no_vendor(&first.name))?;
    let mut vendors = Vec::new();
    for host in hosts {
        let v = host
            .cpuid
            .vendor_string()
            .ok_or_else(|| GenerateError::no_vendor(&host.name))?;
        vendors.push((host.name.clone(), v));
    }
    if vendors.iter().any(|(_, v)| *v != vendor) {
        return Err(GenerateError::mixed_vendors(vendors));
    }
    let masks = pool::compute(hosts, &PoolOptions::default()).map_err(|e| match e.kind {
        PoolErrorKind::NoHosts => GenerateError::no_hosts(),
        PoolErrorKind::MixedVendors(list) => GenerateError::mixed_vendors(list),
        _ => GenerateError {
            kind: GenerateErrorKind::Pool,
            hosts: Vec::new(),
            message: e.to_string(),
        },
    })?;

    let mut profile = Profile::new(name, &vendor);
    profile.hosts = hosts
        .iter()
        .map(|h| SourceHost {
            name: h.name.clone(),
            signature: h.cpuid.register(1, 0, 0),
        })
        .collect();
    // Sorted, so that the file does not depend on the order the dumps were given in.
    profile
        .hosts
        .sort_by(|a, b| (&a.name, a.signature).cmp(&(&b.name, b.signature)));
    profile.limits = pool_limits(hosts);
    for reg in &masks.registers {
        if reg.clear != 0 || reg.set != 0 {
            profile.pool_masks.insert(
                reg.register,
                PoolMask {
                    clear: reg.clear,
                    set: reg.set,
                },
            );
        }
    }

    for register in rules::profile_registers() {
        if !profile.limits.covers(register) {
            continue;
        }
        let values: Option<Vec<u32>> = hosts
            .iter()
            .map(|h| register_value(&h.cpuid, register))
            .collect();
        // An MSR some dump does not carry: its value is unknown, leave it to the destination.
        let Some(values) = values else { continue };
        let clear = masks.register(register).map_or(0, |r| r.clear);
        let bits = combine(register, &values, clear);
        if bits.mask != 0 {
            profile.registers.insert(register, bits);
        }
    }
    profile.drop_unenumerated_msrs();
    drop_unowned_xstate(&mut profile);
    Ok(profile)
}

/// One register across the pool, by the rule of each bit.
fn combine(register: FeatureRegister, values: &[u32], clear: u32) -> Bits {
    let all = values.iter().fold(u32::MAX, |a, v| a & v);
    let any = values.iter().fold(0, |a, v| a | v);
    let mut out = Bits::default();
    let field_mask = rules::field_mask(register);
    for f in rules::fields_in(register) {
        let combined = match f.rule {
            FieldRule::Subset => f.field.extract(all),
            FieldRule::NotGreater => values
                .iter()
                .map(|v| f.field.extract(*v))
                .min()
                .unwrap_or(0),
        };
        out.value |= (combined << (f.field.shift & 31)) & f.field.mask();
        out.mask |= f.field.mask();
    }
    if !rules::is_feature_register(register) {
        return out;
    }
    let other_fields = rules::unchecked_field_bits(register);
    for bit in 0..32u8 {
        let b = 1u32 << bit;
        if (field_mask | other_fields) & b != 0 {
            continue;
        }
        let set = match rules::feature_at(register, bit) {
            Some(f) if f.class == Class::Host => continue,
            Some(f) if f.class == Class::Hidden => false,
            Some(f) if rules::reversed(f) => any & b != 0,
            _ => all & b != 0 && clear & b == 0,
        };
        out.mask |= b;
        if set {
            out.value |= b;
        }
    }
    out
}

/// True when the profile shows `feature` (defined and set).
fn shows(profile: &Profile, feature: &cpuid_defs::Feature) -> bool {
    let (register, bit) = feature.location.register();
    profile
        .defined(register)
        .is_some_and(|bits| bits.value & bits.mask & (1u32 << (bit & 31)) != 0)
}

/// Clears the XSAVE components whose features the profile hides.
fn drop_unowned_xstate(profile: &mut Profile) {
    for (field_name, bit, owners) in rules::XSTATE_OWNERS {
        let Some(field) = cpuid_defs::field(field_name) else {
            continue;
        };
        let owners_known: Vec<&cpuid_defs::Feature> = owners
            .iter()
            .filter_map(|n| cpuid_defs::lookup(n))
            .collect();
        if owners_known.is_empty() || owners_known.iter().any(|f| shows(profile, f)) {
            continue;
        }
        let b = 1u32 << ((field.shift + bit) & 31);
        if let Some(bits) = profile.registers.get_mut(&rules::field_register(field)) {
            bits.value &= !b;
        }
    }
}

/// The pool's limits: the smallest maximum leaves and address sizes, the
/// signature of the host with the lowest family, model and stepping.
fn pool_limits(hosts: &[Host]) -> Limits {
    let mut limits = Limits::default();
    for (i, def) in Limits::DEFS.iter().enumerate() {
        let values = hosts
            .iter()
            .map(|h| def.extract(limit_register(&h.cpuid, def.register)));
        let value = if def.not_greater {
            values.min().unwrap_or(0)
        } else {
            hosts
                .iter()
                .map(|h| h.cpuid.register(1, 0, 0))
                .min_by_key(|sig| (cpuid_defs::display_family_model_stepping(*sig), *sig))
                .unwrap_or(0)
        };
        limits.set(i, value);
    }
    // A host without extended leaves reports junk or nothing at 0x80000000.
    if limits.max_extended_leaf < maskcalc::model::EXTENDED_BASE {
        limits.max_extended_leaf = 0;
    }
    limits
}

fn limit_register(host: &HostCpuid, register: FeatureRegister) -> u32 {
    register_value(host, register).unwrap_or(0)
}

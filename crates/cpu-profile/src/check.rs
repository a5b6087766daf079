//! Can a host run guests of a profile? Every rule of [`crate::rules`],
//! applied per field across every register the profile defines, and each
//! failure named: the feature, its location and class; the limit or field
//! with both values; the vendor.
//!
//! ```
//! use cpu_profile::{check::{check, Problem}, Bits, Profile};
//! use cpuid_defs::{FeatureRegister, Register};
//! use maskcalc::model::{CpuidInput, Host, HostCpuid};
//! let mut profile = Profile::new("p", "GenuineIntel");
//! // AVX2 is 7.0.EBX bit 5.
//! profile.registers.insert(FeatureRegister::cpuid(7, Some(0), Register::Ebx), Bits { value: 1 << 5, mask: 1 << 5 });
//! let mut cpuid = HostCpuid::default();
//! cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
//! let report = check(&profile, &Host { name: "old".into(), cpuid });
//! assert!(matches!(&report.problems[..], [Problem::MissingFeature { feature: Some(f), .. }] if f.name == "AVX2"));
//! ```

use std::fmt;

use serde::Serialize;

use cpuid_defs::{Class, Feature, FeatureRegister};
use maskcalc::defs::register_value;
use maskcalc::model::Host;

use crate::Profile;
use crate::rules::{self, FieldRule};

/// One reason a host cannot run guests of a profile.
///
/// ```
/// use cpu_profile::check::Problem;
/// let p = Problem::Limit { name: "max_basic_leaf", profile: 0xf, host: 0xd };
/// assert_eq!(p.kind(), "limit");
/// assert_eq!(p.to_string(), "max_basic_leaf: profile needs 0xf, host has 0xd");
/// let lacking = |p: &Problem| match p {
///     Problem::MissingFeature { feature, .. } => feature.map(|f| f.name),
///     _ => None, // and kinds added later
/// };
/// assert_eq!(lacking(&p), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The vendor strings differ.
    Vendor {
        /// The profile's vendor string.
        profile: String,
        /// The host's vendor string (empty when its dump lacks leaf 0).
        host: String,
    },
    /// A limit (max leaf, address size) is greater in the profile than on the host.
    Limit {
        /// The limit's name (`max_basic_leaf`...).
        name: &'static str,
        /// The profile's value.
        profile: u32,
        /// The host's value.
        host: u32,
    },
    /// The profile has a feature bit the host lacks.
    MissingFeature {
        /// The feature, or `None` for a bit no one has named.
        feature: Option<&'static Feature>,
        /// Its register.
        register: FeatureRegister,
        /// Its bit within the register.
        bit: u8,
    },
    /// The host has a "needs mitigation" bit (accumulate class, RSBA/RRSBA)
    /// that the profile's guests do not see, so they would not mitigate.
    UnexpectedFeature {
        /// The feature.
        feature: &'static Feature,
        /// Its register.
        register: FeatureRegister,
        /// Its bit within the register.
        bit: u8,
    },
    /// A multi-bit field does not fit.
    Field {
        /// The field's name.
        name: &'static str,
        /// How it is compared.
        rule: FieldRule,
        /// The profile's value.
        profile: u32,
        /// The host's value.
        host: u32,
    },
}

impl Problem {
    /// A short tag for the kind of problem: `vendor`, `limit`, `missing`, `unexpected`, `field`.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Vendor { .. } => "vendor",
            Problem::Limit { .. } => "limit",
            Problem::MissingFeature { .. } => "missing",
            Problem::UnexpectedFeature { .. } => "unexpected",
            Problem::Field { .. } => "field",
        }
    }
}

fn class_name(feature: Option<&Feature>) -> &'static str {
    feature.map_or("unnamed", |f| f.class.as_str())
}

/// What a host is checked against, which decides the words of a problem: a
/// profile *needs* what its guests may see; the guest of a saved domain
/// *has* what it saw when it was saved.
///
/// ```
/// use cpu_profile::check::{Problem, Subject};
/// assert_eq!(Subject::default(), Subject::Profile, "what `check` reports for");
/// let p = Problem::Vendor { profile: "GenuineIntel".into(), host: "AuthenticAMD".into() };
/// assert_eq!(p.describe(Subject::Profile), "vendor: expected GenuineIntel, found AuthenticAMD");
/// assert_eq!(p.describe(Subject::Guest), "vendor: the guest has GenuineIntel, the host has AuthenticAMD");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Subject {
    /// A profile: "profile needs 0xf, host has 0xd".
    #[default]
    Profile,
    /// The guest of a saved domain or migration stream: "the guest has
    /// 0xf, the host has 0xd".
    Guest,
}

impl Problem {
    /// The problem as one line, in the words of `subject` (`Display` is
    /// [`Subject::Profile`]).
    ///
    /// ```
    /// use cpu_profile::check::{Problem, Subject};
    /// let p = Problem::Limit { name: "max_basic_leaf", profile: 0xf, host: 0xd };
    /// assert_eq!(p.describe(Subject::Profile), "max_basic_leaf: profile needs 0xf, host has 0xd");
    /// assert_eq!(p.describe(Subject::Guest), "max_basic_leaf: the guest has 0xf, the host has 0xd");
    /// ```
    pub fn describe(&self, subject: Subject) -> String {
        let guest = subject == Subject::Guest;
        match self {
            Problem::Vendor { profile, host } => {
                let host = if host.is_empty() { "no leaf 0" } else { host };
                if guest {
                    format!("vendor: the guest has {profile}, the host has {host}")
                } else {
                    format!("vendor: expected {profile}, found {host}")
                }
            }
            Problem::Limit {
                name,
                profile,
                host,
            }
            | Problem::Field {
                name,
                rule: FieldRule::NotGreater,
                profile,
                host,
            } => {
                if guest {
                    format!("{name}: the guest has {profile:#x}, the host has {host:#x}")
                } else {
                    format!("{name}: profile needs {profile:#x}, host has {host:#x}")
                }
            }
            Problem::MissingFeature {
                feature,
                register,
                bit,
            } => {
                let name = feature.map_or("(unnamed bit)", |f| f.name);
                let location = rules::describe_location(*register, *bit);
                let class = class_name(*feature);
                if guest {
                    format!("the guest has {name} ({location}, {class}), which the host lacks")
                } else {
                    format!("missing {name} ({location}, {class})")
                }
            }
            Problem::UnexpectedFeature {
                feature,
                register,
                bit,
            } => format!(
                "host has {} ({}, {}) which the {} not see",
                feature.name,
                rules::describe_location(*register, *bit),
                feature.class.as_str(),
                if guest {
                    "guest does"
                } else {
                    "profile's guests do"
                }
            ),
            Problem::Field {
                name,
                rule: FieldRule::Subset,
                profile,
                host,
            } => {
                let lacking = profile & !host;
                if guest {
                    format!(
                        "{name}: the guest has bits {lacking:#x} the host lacks (guest {profile:#x}, host {host:#x})"
                    )
                } else {
                    format!(
                        "{name}: profile needs bits {lacking:#x} the host lacks (profile {profile:#x}, host {host:#x})"
                    )
                }
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(Subject::Profile))
    }
}

/// The outcome for one host.
///
/// ```
/// use cpu_profile::{check::{check, Subject}, Bits, Profile};
/// use cpuid_defs::{FeatureRegister, MsrHalf, Register};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let mut profile = Profile::new("p", "GenuineIntel");
/// // AVX2 (7.0.EBX bit 5) on, and a bit of IA32_ARCH_CAPABILITIES (MSR 0x10a) off.
/// profile.registers.insert(FeatureRegister::cpuid(7, Some(0), Register::Ebx), Bits { value: 1 << 5, mask: 1 << 5 });
/// profile.registers.insert(FeatureRegister::Msr { index: 0x10a, half: MsrHalf::Low }, Bits { value: 0, mask: 1 });
/// // A host without AVX2 that has IA32_ARCH_CAPABILITIES (7.0.EDX bit 29),
/// // whose dump does not carry the MSR.
/// let mut cpuid = HostCpuid::default();
/// cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
/// cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, 1 << 29]);
/// let report = check(&profile, &Host { name: "old".into(), cpuid });
/// assert_eq!((report.host.as_str(), report.subject), ("old", Subject::Profile));
/// assert!(!report.is_compatible());
/// assert_eq!(report.missing_names(), ["AVX2"]);
/// assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
/// // What the dump cannot tell is not a problem, but is listed.
/// assert_eq!(report.unchecked_labels(), ["msr 0x10a"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostReport {
    /// The host's name.
    pub host: String,
    /// What the host was checked against (the words of the problems).
    pub subject: Subject,
    /// Every reason it cannot run the profile's guests; empty when it can.
    pub problems: Vec<Problem>,
    /// Registers the profile defines that the host's dump cannot tell (an
    /// MSR the dump does not carry); not counted as problems.
    pub unchecked: Vec<FeatureRegister>,
}

impl HostReport {
    /// True when the host can run the profile's guests.
    pub fn is_compatible(&self) -> bool {
        self.problems.is_empty()
    }

    /// The unchecked registers for people: `msr 0xce` once for both halves.
    pub fn unchecked_labels(&self) -> Vec<String> {
        // A set beside the list: a stream's MSR policy may leave tens of
        // thousands of MSRs unchecked, and a linear search per label would
        // make this quadratic.
        let mut seen = std::collections::BTreeSet::new();
        let mut labels: Vec<String> = Vec::new();
        for register in &self.unchecked {
            let label = match register {
                FeatureRegister::Msr { index, .. } => format!("msr {index:#x}"),
                other => other.to_string(),
            };
            if seen.insert(label.clone()) {
                labels.push(label);
            }
        }
        labels
    }

    /// The names of the features the host lacks (for tests and summaries).
    pub fn missing_names(&self) -> Vec<&'static str> {
        self.problems
            .iter()
            .filter_map(|p| match p {
                Problem::MissingFeature {
                    feature: Some(f), ..
                } => Some(f.name),
                _ => None,
            })
            .collect()
    }
}

/// Checks one host against a profile.
///
/// ```
/// use maskcalc::model::Host;
/// let host = |file: &str| -> Result<Host, Box<dyn std::error::Error>> {
///     let bytes = std::fs::read(format!("../../testdata/cpuid/{file}"))?;
///     Ok(Host { name: file.into(), cpuid: maskcalc::dump::parse(file, &bytes, None)? })
/// };
/// use cpu_profile::check::{Problem, check};
/// let pool = [
///     host("intel-icelake-sp-xeon-gold-6330.txt")?,
///     host("intel-sapphirerapids-xeon-w9-3475x.txt")?,
/// ];
/// let profile = cpu_profile::generate::generate("pool", &pool)?;
/// let report = check(&profile, &host("intel-skylake-sp-xeon-platinum-8180.txt")?);
/// assert!(!report.is_compatible());
/// assert!(report.missing_names().contains(&"AVX512_VBMI"), "{:?}", report.missing_names());
/// for problem in &report.problems {
///     match problem {
///         Problem::MissingFeature { .. } => {}
///         other => assert!(!other.kind().is_empty()), // and kinds added later
///     }
/// }
/// assert!(check(&profile, &pool[0]).is_compatible());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(profile: &Profile, host: &Host) -> HostReport {
    check_as(Subject::Profile, profile, host)
}

/// Checks one host against the guest of a saved domain, its policy made a
/// profile by [`crate::stream::guest_profile`]: can the guest be restored
/// there and keep what it saw?
///
/// The rules are those of [`check`] but one: Xen restores a guest that lacks
/// an accumulate feature the host has (MD_CLEAR, RSBA...), and a profile's
/// reason to refuse it (a pool's guests must be told to mitigate) does not
/// apply to one guest already running, so that is never a problem here.
/// The problems say "the guest has" ([`Subject::Guest`]).
///
/// ```
/// use cpu_profile::{check::{check, check_guest, Subject}, Bits, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// // A guest saved without MD_CLEAR (7.0.EDX bit 10, accumulate), a host with it.
/// let mut guest = Profile::new("guest", "GenuineIntel");
/// guest.registers.insert(FeatureRegister::cpuid(7, Some(0), Register::Edx), Bits { value: 0, mask: 1 << 10 });
/// let mut cpuid = HostCpuid::default();
/// cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
/// cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, 1 << 10]);
/// let host = Host { name: "new".into(), cpuid };
/// // A pool's guests must be told to mitigate; a running guest keeps what it saw.
/// assert_eq!(check(&guest, &host).problems[0].kind(), "unexpected");
/// let report = check_guest(&guest, &host);
/// assert!(report.is_compatible(), "{:?}", report.problems);
/// assert_eq!(report.subject, Subject::Guest);
/// ```
pub fn check_guest(guest: &Profile, host: &Host) -> HostReport {
    check_as(Subject::Guest, guest, host)
}

fn check_as(subject: Subject, profile: &Profile, host: &Host) -> HostReport {
    let mut report = HostReport {
        host: host.name.clone(),
        subject,
        problems: Vec::new(),
        unchecked: Vec::new(),
    };
    let host_vendor = host.cpuid.vendor_string().unwrap_or_default();
    if host_vendor != profile.vendor {
        report.problems.push(Problem::Vendor {
            profile: profile.vendor.clone(),
            host: host_vendor,
        });
    }
    for (def, value) in profile.limits.iter() {
        if !def.not_greater {
            continue;
        }
        let host_value = register_value(&host.cpuid, def.register).map_or(0, |v| def.extract(v));
        if value > host_value {
            report.problems.push(Problem::Limit {
                name: def.name,
                profile: value,
                host: host_value,
            });
        }
    }
    for (&register, bits) in &profile.registers {
        let Some(host_value) = register_value(&host.cpuid, register) else {
            report.unchecked.push(register);
            continue;
        };
        check_register(subject, register, bits, host_value, &mut report.problems);
    }
    report
}

/// Compares one register: the profile's `value` on the bits of `mask` with the host's.
fn check_register(
    subject: Subject,
    register: FeatureRegister,
    bits: &crate::Bits,
    host: u32,
    problems: &mut Vec<Problem>,
) {
    let (value, mask) = (bits.value, bits.mask);
    let mut field_bits = 0;
    for f in rules::fields_in(register) {
        let field_mask = f.field.mask();
        field_bits |= field_mask;
        if mask & field_mask == 0 {
            continue;
        }
        let want = f.field.extract(value);
        let have = f.field.extract(host);
        let fits = match f.rule {
            FieldRule::NotGreater => want <= have,
            FieldRule::Subset => want & !have == 0,
        };
        if !fits {
            problems.push(Problem::Field {
                name: f.field.name,
                rule: f.rule,
                profile: want,
                host: have,
            });
        }
    }
    for bit in 0..32u8 {
        let b = 1u32 << bit;
        if mask & b == 0 || field_bits & b != 0 {
            continue;
        }
        let feature = rules::feature_at(register, bit);
        if feature.is_some_and(|f| f.class == Class::Host) {
            continue;
        }
        match feature {
            Some(f) if rules::reversed(f) => {
                if subject == Subject::Profile && host & b != 0 && value & b == 0 {
                    problems.push(Problem::UnexpectedFeature {
                        feature: f,
                        register,
                        bit,
                    });
                }
            }
            _ => {
                if value & b != 0 && host & b == 0 {
                    problems.push(Problem::MissingFeature {
                        feature,
                        register,
                        bit,
                    });
                }
            }
        }
    }
}

/// A value of a JSON report that is a string in some entries and a number
/// in others (`profile` and `host` of a problem; `a` and `b` of a change).
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Value<'a> {
    /// A string.
    Text(&'a str),
    /// A number, or `null` when undefined.
    Number(Option<u32>),
}

/// The document of [`reports_json`]. The fields of these documents are in
/// alphabetical order, the order version 1 was first written in (a
/// serde_json::Value, whose maps sort their keys).
#[derive(Serialize)]
struct ReportsJson<'a> {
    compatible: bool,
    hosts: Vec<HostJson<'a>>,
    profile: &'a str,
}

#[derive(Serialize)]
struct HostJson<'a> {
    compatible: bool,
    host: &'a str,
    problems: Vec<ProblemJson<'a>>,
    unchecked: Vec<String>,
}

/// One problem: `kind` and `message`, and the fields of its kind.
#[derive(Serialize, Default)]
struct ProblemJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feature: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<Value<'a>>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<Value<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'static str>,
}

/// The reports as JSON: `{"compatible": bool, "hosts": [{"host", "compatible",
/// "problems": [{"kind", "message", ...}], "unchecked": [...]}], "profile"}`
/// (`docs/cpu-profile-format.md`); the typed form is the [`HostReport`]s.
///
/// ```
/// use cpu_profile::{check::{check, reports_json}, Bits, Profile};
/// use cpuid_defs::{FeatureRegister, Register};
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let mut profile = Profile::new("pool", "GenuineIntel");
/// profile.registers.insert(FeatureRegister::cpuid(7, Some(0), Register::Ebx), Bits { value: 1 << 5, mask: 1 << 5 });
/// let mut cpuid = HostCpuid::default();
/// cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
/// let report = check(&profile, &Host { name: "old".into(), cpuid });
/// let json: serde_json::Value = serde_json::from_str(&reports_json("pool", &[report]))?;
/// assert_eq!(json["compatible"], false);
/// assert_eq!(json["profile"], "pool");
/// assert_eq!(json["hosts"][0]["host"], "old");
/// assert_eq!(json["hosts"][0]["problems"][0]["kind"], "missing");
/// assert_eq!(json["hosts"][0]["problems"][0]["feature"], "AVX2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn reports_json(profile_name: &str, reports: &[HostReport]) -> String {
    let hosts = reports
        .iter()
        .map(|r| HostJson {
            compatible: r.is_compatible(),
            host: &r.host,
            problems: r
                .problems
                .iter()
                .map(|p| problem_json(p, r.subject))
                .collect(),
            unchecked: r.unchecked_labels(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&ReportsJson {
        compatible: reports.iter().all(HostReport::is_compatible),
        hosts,
        profile: profile_name,
    })
    .unwrap_or_default();
    text.push('\n');
    text
}

fn problem_json(problem: &Problem, subject: Subject) -> ProblemJson<'_> {
    let common = ProblemJson {
        kind: problem.kind(),
        message: problem.describe(subject),
        ..ProblemJson::default()
    };
    match problem {
        Problem::Vendor { profile, host } => ProblemJson {
            profile: Some(Value::Text(profile)),
            host: Some(Value::Text(host)),
            ..common
        },
        Problem::Limit {
            name,
            profile,
            host,
        } => ProblemJson {
            name: Some(name),
            profile: Some(Value::Number(Some(*profile))),
            host: Some(Value::Number(Some(*host))),
            ..common
        },
        Problem::MissingFeature {
            feature,
            register,
            bit,
        } => ProblemJson {
            feature: Some(feature.map(|f| f.name)),
            location: Some(rules::describe_location(*register, *bit)),
            class: Some(class_name(*feature)),
            ..common
        },
        Problem::UnexpectedFeature {
            feature,
            register,
            bit,
        } => ProblemJson {
            feature: Some(Some(feature.name)),
            location: Some(rules::describe_location(*register, *bit)),
            class: Some(feature.class.as_str()),
            ..common
        },
        Problem::Field {
            name,
            rule,
            profile,
            host,
        } => ProblemJson {
            name: Some(name),
            rule: Some(rule.as_str()),
            profile: Some(Value::Number(Some(*profile))),
            host: Some(Value::Number(Some(*host))),
            ..common
        },
    }
}

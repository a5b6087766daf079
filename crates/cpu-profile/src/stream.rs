//! The CPUID and MSR policy of a saved domain or a migration stream (libxc,
//! libxl or xl file), read in constant memory, as a profile that
//! [`crate::check`] compares with a host: can the guest be restored there?
//!
//! The policies are static data: the saver writes X86_CPUID_POLICY and
//! X86_MSR_POLICY before STATIC_DATA_END (v3 streams; Xen 4.14 and later),
//! and the restorer ignores policy records after it. So reading stops at
//! STATIC_DATA_END, or at the first PAGE_DATA or X86_PV_P2M_FRAMES record,
//! where a v2 stream's static data ends (a v3 stream that gets there without
//! STATIC_DATA_END is an error: Xen refuses to restore it); page data is
//! never read. A stream without a CPUID policy (v2, or converted from a
//! legacy image) is restored with a policy the destination builds for
//! itself, which this module reports as [`GuestPolicy::cpuid`] `None`.
//!
//! ```
//! use cpu_profile::stream::read_policy;
//! use migration_stream::{StreamReader, Writer, types::{DomainType, RecordType}, wire};
//! let mut w = Writer::new(Vec::new());
//! w.write_image_header(&wire::ImageHeader::new(3))?;
//! w.write_domain_header(&wire::DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
//! w.write_record(RecordType::STATIC_DATA_END.0, &[])?;
//! w.write_record(RecordType::END.0, &[])?;
//! let bytes = w.into_inner();
//! let policy = read_policy(StreamReader::new(&bytes[..])).unwrap();
//! assert!(policy.cpuid.is_none(), "no X86_CPUID_POLICY record");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::Read;

use cpuid_defs::FeatureRegister;
use maskcalc::defs::register_value;
use maskcalc::model::{CpuidInput, HostCpuid};
use migration_stream::payload::{CpuidPolicy, MsrPolicy};
use migration_stream::types::{RecordType, XEN_CPUID_NO_SUBLEAF};
use migration_stream::{Event, StreamFormat, StreamReader};

use crate::{Bits, Limits, Profile, rules};

/// The largest policy record body read (Xen's serialised policies are a few KiB).
///
/// ```
/// use cpu_profile::stream::{read_policy, PolicyErrorKind, MAX_POLICY_BYTES};
/// use migration_stream::{StreamReader, Writer, types::{DomainType, RecordType}, wire};
/// let mut w = Writer::new(Vec::new());
/// w.write_image_header(&wire::ImageHeader::new(3))?;
/// w.write_domain_header(&wire::DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
/// w.write_record(RecordType::X86_CPUID_POLICY.0, &vec![0; MAX_POLICY_BYTES as usize + 8])?;
/// let bytes = w.into_inner();
/// let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
/// assert_eq!(err.kind, PolicyErrorKind::TooLarge, "{err}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub const MAX_POLICY_BYTES: u32 = 1 << 20;

/// What is wrong with a stream whose policy cannot be read.
///
/// ```
/// use cpu_profile::stream::{read_policy, PolicyErrorKind};
/// use migration_stream::StreamReader;
/// let truncated = std::fs::read("../../testdata/profile/libxc-truncated.bin")?;
/// let err = read_policy(StreamReader::new(&truncated[..])).unwrap_err();
/// assert_eq!(err.kind, PolicyErrorKind::Stream, "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// Reading the stream failed: an I/O error, not bad input.
    Io,
    /// The stream's framing is broken (`migration-stream` refused it).
    Stream,
    /// A policy record is longer than [`MAX_POLICY_BYTES`].
    TooLarge,
    /// A second policy record of one type, or a CPUID leaf twice in one.
    Repeated,
    /// A policy record's body does not parse, or an MSR entry has its
    /// reserved flags set.
    MalformedRecord,
    /// A v3 stream reaches memory without STATIC_DATA_END.
    NoStaticDataEnd,
}

/// Why the policy of a stream cannot be read, and where.
///
/// ```
/// use cpu_profile::stream::{read_policy, PolicyErrorKind};
/// use migration_stream::{StreamReader, Writer, types::{DomainType, RecordType}, wire};
/// // A v3 stream that reaches memory without STATIC_DATA_END.
/// let mut w = Writer::new(Vec::new());
/// w.write_image_header(&wire::ImageHeader::new(3))?;
/// w.write_domain_header(&wire::DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
/// w.write_record(RecordType::PAGE_DATA.0, &[0; 8])?;
/// let bytes = w.into_inner();
/// let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
/// assert_eq!(err.kind, PolicyErrorKind::NoStaticDataEnd);
/// // After the image header (24 bytes) and the domain header (16).
/// assert_eq!((err.record, err.record_type, err.offset), (Some(0), Some(RecordType::PAGE_DATA), 40));
/// assert!(err.to_string().starts_with("PAGE_DATA record #0 at byte offset 40: expected STATIC_DATA_END"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyError {
    /// What went wrong.
    pub kind: PolicyErrorKind,
    /// The byte offset: of the record's header, or where the stream's
    /// framing broke.
    pub offset: u64,
    /// The running index of the record the error is in, if it is in one.
    pub record: Option<u64>,
    /// The type of the record the error is in, for an error in a policy or
    /// memory record (its `Display` is the upstream name, `X86_CPUID_POLICY`).
    pub record_type: Option<RecordType>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.record_type, self.record) {
            (Some(record_type), Some(index)) => write!(
                f,
                "{record_type} record #{index} at byte offset {}: {}",
                self.offset, self.message
            ),
            // migration-stream's own text says where.
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

impl From<migration_stream::Error> for PolicyError {
    fn from(e: migration_stream::Error) -> Self {
        PolicyError {
            kind: if e.is_io() {
                PolicyErrorKind::Io
            } else {
                PolicyErrorKind::Stream
            },
            offset: e.offset(),
            record: e.record().map(|r| r.index),
            record_type: None,
            message: e.to_string(),
        }
    }
}

/// What a stream says about its guest's CPU.
///
/// ```
/// use migration_stream::{StreamFormat, StreamReader};
/// let saved = std::fs::File::open("../../testdata/profile/libxc-v2-no-policy.bin")?;
/// let policy = cpu_profile::stream::read_policy(StreamReader::seekable(saved))?;
/// assert_eq!(policy.format, Some(StreamFormat::Libxc));
/// assert_eq!(policy.libxc_version, Some(2));
/// // Restored with a policy the destination builds for itself.
/// assert_eq!((policy.cpuid, policy.msr_count), (None, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuestPolicy {
    /// The outermost layer (xl, libxl or libxc).
    pub format: Option<StreamFormat>,
    /// The CPUID policy as leaves (subleaf 0 for leaves without subleaves),
    /// or `None` when the stream has no X86_CPUID_POLICY record.
    pub cpuid: Option<HostCpuid>,
    /// The number of MSRs in the X86_MSR_POLICY record, or `None` without one.
    pub msr_count: Option<usize>,
    /// The libxc version of the stream (2 or 3), when an image header was seen.
    pub libxc_version: Option<u32>,
}

fn record_error(
    kind: PolicyErrorKind,
    info: &migration_stream::RecordInfo,
    message: String,
) -> PolicyError {
    PolicyError {
        kind,
        offset: info.offset,
        record: Some(info.index),
        record_type: Some(info.libxc_type()),
        message,
    }
}

/// Reads the policy records of a stream, stopping where static data ends.
///
/// ```
/// use migration_stream::{StreamFormat, StreamReader};
/// let saved = std::fs::File::open("../../testdata/profile/xl-skylake-guest.bin")?;
/// let policy = cpu_profile::stream::read_policy(StreamReader::seekable(saved))?;
/// assert_eq!(policy.format, Some(StreamFormat::Xl));
/// let cpuid = policy.cpuid.expect("a v3 stream carries its CPUID policy");
/// assert_eq!(cpuid.vendor_string().as_deref(), Some("GenuineIntel"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_policy<R: Read>(mut stream: StreamReader<R>) -> Result<GuestPolicy, PolicyError> {
    let mut policy = GuestPolicy {
        format: None,
        cpuid: None,
        msr_count: None,
        libxc_version: None,
    };
    let mut body = Vec::new();
    let mut msrs = std::collections::BTreeMap::new();
    loop {
        let event = stream.next_event()?;
        policy.format = stream.format();
        match event {
            Event::ImageHeader(header) => policy.libxc_version = Some(header.version.get()),
            Event::LibxcRecord(info) => {
                let kind = info.libxc_type();
                if ends_static_data(&info, policy.libxc_version)? {
                    break;
                }
                if kind != RecordType::X86_CPUID_POLICY && kind != RecordType::X86_MSR_POLICY {
                    stream.skip_body()?;
                    continue;
                }
                if info.length > MAX_POLICY_BYTES {
                    return Err(record_error(
                        PolicyErrorKind::TooLarge,
                        &info,
                        format!(
                            "expected at most {MAX_POLICY_BYTES} bytes, found {}",
                            info.length
                        ),
                    ));
                }
                let bytes = stream.read_body(&mut body)?;
                if kind == RecordType::X86_CPUID_POLICY {
                    if policy.cpuid.is_some() {
                        return Err(record_error(
                            PolicyErrorKind::Repeated,
                            &info,
                            "expected one X86_CPUID_POLICY record, found a second".to_owned(),
                        ));
                    }
                    policy.cpuid = Some(cpuid_leaves(bytes, &info)?);
                } else {
                    if policy.msr_count.is_some() {
                        return Err(record_error(
                            PolicyErrorKind::Repeated,
                            &info,
                            "expected one X86_MSR_POLICY record, found a second".to_owned(),
                        ));
                    }
                    policy.msr_count = Some(msr_values(bytes, &info, &mut msrs)?);
                }
            }
            Event::End | Event::Trailing { .. } => break,
            _ => {}
        }
    }
    if let Some(cpuid) = &mut policy.cpuid {
        cpuid.msrs = msrs;
    }
    Ok(policy)
}

/// True when the libxc record `info` is where static data ends
/// (STATIC_DATA_END, END, or the first memory record of a v2 stream); an
/// error for memory before STATIC_DATA_END in a v3 stream.
fn ends_static_data(
    info: &migration_stream::RecordInfo,
    libxc_version: Option<u32>,
) -> Result<bool, PolicyError> {
    let kind = info.libxc_type();
    let memory = kind == RecordType::PAGE_DATA || kind == RecordType::X86_PV_P2M_FRAMES;
    // A v3 stream must end its static data explicitly; Xen's
    // restorer fails one that reaches memory first ("No
    // STATIC_DATA_END seen"), whatever its policy says.
    if memory && libxc_version.is_some_and(|v| v >= 3) {
        return Err(record_error(
            PolicyErrorKind::NoStaticDataEnd,
            info,
            "expected STATIC_DATA_END before memory in a v3 stream, found none; \
             Xen refuses to restore it"
                .to_owned(),
        ));
    }
    Ok(kind == RecordType::STATIC_DATA_END || memory || kind == RecordType::END)
}

/// The leaves of the X86_CPUID_POLICY record `info` whose body is `bytes`
/// (subleaf 0 for leaves without subleaves); each leaf at most once.
fn cpuid_leaves(
    bytes: &[u8],
    info: &migration_stream::RecordInfo,
) -> Result<HostCpuid, PolicyError> {
    let parsed = CpuidPolicy::parse(bytes)
        .map_err(|e| record_error(PolicyErrorKind::MalformedRecord, info, e.to_string()))?;
    let mut cpuid = HostCpuid::default();
    for leaf in parsed.iter() {
        let sub = leaf.subleaf.get();
        let sub = if sub == XEN_CPUID_NO_SUBLEAF { 0 } else { sub };
        let regs = [leaf.a.get(), leaf.b.get(), leaf.c.get(), leaf.d.get()];
        if cpuid
            .leaves
            .insert(CpuidInput::new(leaf.leaf.get(), sub), regs)
            .is_some()
        {
            return Err(record_error(
                PolicyErrorKind::Repeated,
                info,
                format!(
                    "leaf {:#x} subleaf {:#x} appears twice; expected each once",
                    leaf.leaf.get(),
                    leaf.subleaf.get()
                ),
            ));
        }
    }
    Ok(cpuid)
}

/// Adds the MSRs of the X86_MSR_POLICY record `info` whose body is `bytes`
/// to `msrs`; the number of entries, or an error for one with flags set.
fn msr_values(
    bytes: &[u8],
    info: &migration_stream::RecordInfo,
    msrs: &mut std::collections::BTreeMap<u32, u64>,
) -> Result<usize, PolicyError> {
    let parsed = MsrPolicy::parse(bytes)
        .map_err(|e| record_error(PolicyErrorKind::MalformedRecord, info, e.to_string()))?;
    // Such a guest is restored nowhere (see first_flagged).
    if let Some((i, entry)) = parsed.first_flagged() {
        return Err(record_error(
            PolicyErrorKind::MalformedRecord,
            info,
            format!(
                "entry {i} (MSR {:#x}): flags: expected 0 (reserved), found {:#x}",
                entry.idx.get(),
                entry.flags.get()
            ),
        ));
    }
    for entry in parsed.iter() {
        msrs.insert(entry.idx.get(), entry.val.get());
    }
    Ok(parsed.entries().len())
}

/// The guest's policy as a profile: every register `cpuid-defs` knows within
/// the guest's maximum leaves, every bit except those of `host`-class
/// features (the destination's hypervisor rewrites them) and of fields
/// profiles do not carry, and every MSR of the MSR policy. `None` when the policy has no leaf 0.
///
/// ```
/// use migration_stream::StreamReader;
/// use maskcalc::model::Host;
/// // libxl's pre-restore question: can this host restore that saved guest?
/// let saved = std::fs::File::open("../../testdata/profile/xl-skylake-guest.bin")?;
/// let policy = cpu_profile::stream::read_policy(StreamReader::seekable(saved))?;
/// let guest = cpu_profile::stream::guest_profile("guest", &policy.cpuid.unwrap()).unwrap();
/// let haswell = std::fs::read("../../testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt")?;
/// let host = Host { name: "haswell".into(), cpuid: maskcalc::dump::parse("haswell", &haswell, None)? };
/// let report = cpu_profile::check::check_guest(&guest, &host);
/// assert!(report.missing_names().contains(&"AVX512F"), "{:?}", report.missing_names());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn guest_profile(name: &str, cpuid: &HostCpuid) -> Option<Profile> {
    let vendor = cpuid.vendor_string()?;
    let mut profile = Profile::new(name, &vendor);
    let mut limits = Limits::default();
    for (i, def) in Limits::DEFS.iter().enumerate() {
        limits.set(
            i,
            register_value(cpuid, def.register).map_or(0, |v| def.extract(v)),
        );
    }
    if limits.max_extended_leaf < maskcalc::model::EXTENDED_BASE {
        limits.max_extended_leaf = 0;
    }
    profile.limits = limits;
    // A set: an MSR policy may list tens of thousands of MSRs, and a linear
    // `contains` per MSR would make this quadratic in the record's size.
    let mut registers: std::collections::BTreeSet<FeatureRegister> =
        rules::profile_registers().into_iter().collect();
    for &index in cpuid.msrs.keys() {
        for half in [cpuid_defs::MsrHalf::Low, cpuid_defs::MsrHalf::High] {
            registers.insert(FeatureRegister::Msr { index, half });
        }
    }
    for register in registers {
        if !limits.covers(register) {
            continue;
        }
        let Some(value) = register_value(cpuid, register) else {
            continue;
        };
        // An MSR without named bits has no host bits either; skipping the
        // table lookups keeps a large MSR policy cheap.
        let mask = if rules::is_feature_register(register) {
            !rules::host_bits(register) & !rules::unchecked_field_bits(register)
        } else if rules::msr_half(register).is_some() {
            u32::MAX
        } else {
            rules::field_mask(register)
        };
        if mask != 0 {
            profile.registers.insert(
                register,
                Bits {
                    value: value & mask,
                    mask,
                },
            );
        }
    }
    profile.drop_unenumerated_msrs();
    Some(profile)
}

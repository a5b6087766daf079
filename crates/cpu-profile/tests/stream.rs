//! Policies read from the generated streams in `testdata/profile/`, checked
//! against the real dumps.

use std::io::{self, Read};

use cpu_profile::check::{Problem, Subject, check, check_guest};
use cpu_profile::stream::{PolicyError, PolicyErrorKind, guest_profile, read_policy};
use maskcalc::model::Host;
use migration_stream::payload::{MsrPolicy, PageData};
use migration_stream::types::{DomainType, PAGE_SIZE, PageType, PfnEntry, RecordType};
use migration_stream::wire::{CpuidPolicyLeaf, DomainHeader, ImageHeader, MsrPolicyEntry};
use migration_stream::{StreamFormat, StreamReader, Writer};
use zerocopy::IntoBytes;

use xenmig_test_support::testdata;

fn host(name: &str) -> Host {
    let bytes = std::fs::read(testdata(&format!("cpuid/{name}.txt"))).unwrap();
    Host {
        name: name.to_owned(),
        cpuid: maskcalc::dump::parse(name, &bytes, None).unwrap(),
    }
}

/// What a policy record error says, and where: kind, record type, index, offset.
fn where_of(err: &PolicyError) -> (PolicyErrorKind, &'static str, u64, u64) {
    (
        err.kind,
        err.record_type.and_then(|t| t.name()).unwrap_or_default(),
        err.record.unwrap_or(u64::MAX),
        err.offset,
    )
}

fn policy_of(file: &str) -> Result<cpu_profile::stream::GuestPolicy, PolicyError> {
    let file = std::fs::File::open(testdata(&format!("profile/{file}"))).unwrap();
    read_policy(StreamReader::seekable(io::BufReader::new(file)))
}

#[test]
fn the_same_policy_is_found_through_every_layer() {
    let libxc = policy_of("libxc-skylake-guest.bin").unwrap();
    let libxl = policy_of("libxl-skylake-guest.bin").unwrap();
    let xl = policy_of("xl-skylake-guest.bin").unwrap();
    assert_eq!(libxc.format, Some(StreamFormat::Libxc));
    assert_eq!(libxl.format, Some(StreamFormat::Libxl));
    assert_eq!(xl.format, Some(StreamFormat::Xl));
    let cpuid = libxc.cpuid.clone().unwrap();
    assert_eq!(cpuid.leaves.len(), 9);
    assert_eq!(cpuid.msrs.get(&0xce), Some(&0x8000_0000));
    assert_eq!(libxl.cpuid.as_ref(), Some(&cpuid));
    assert_eq!(xl.cpuid.as_ref(), Some(&cpuid));
    assert_eq!(xl.msr_count, Some(1));
}

#[test]
fn a_guest_restores_on_its_own_host_and_not_on_an_older_one_by_name() {
    let policy = policy_of("xl-skylake-guest.bin").unwrap();
    let profile = guest_profile("guest", policy.cpuid.as_ref().unwrap()).unwrap();
    let report = check_guest(&profile, &host("intel-skylake-sp-xeon-platinum-8180"));
    assert!(report.is_compatible(), "{:?}", report.problems);
    assert_eq!(report.unchecked_labels(), ["msr 0xce"]);
    // Cascade Lake has every feature, and also MD_CLEAR (accumulate), which
    // the guest was saved without: Xen restores it, so that is no problem.
    let cascadelake = host("intel-cascadelake-sp-xeon-platinum-8280");
    let report = check_guest(&profile, &cascadelake);
    assert!(report.is_compatible(), "{:?}", report.problems);
    // A pool profile of the same bits is refused there: the pool's guests
    // would never be told to mitigate.
    let report = check(&profile, &cascadelake);
    assert!(
        matches!(&report.problems[..], [Problem::UnexpectedFeature { feature, .. }] if feature.name == "MD_CLEAR"),
        "{:?}",
        report.problems
    );
    let report = check_guest(&profile, &host("intel-haswell-ep-xeon-e5-2699-v3"));
    assert_eq!(report.subject, Subject::Guest);
    assert!(
        report
            .problems
            .iter()
            .map(|p| p.describe(report.subject))
            .any(|m| m == "the guest has AVX512F (0x7.0.ebx[16], intersect), which the host lacks"),
        "{:?}",
        report.problems
    );
    let missing = report.missing_names();
    for name in ["AVX512F", "AVX512BW", "CLWB", "XSAVES", "PKU"] {
        assert!(missing.contains(&name), "{name} not in {missing:?}");
    }
    assert!(report.problems.iter().any(|p| matches!(
        p,
        Problem::Field {
            name: "xcr0_supported_low",
            profile: 0x2ff,
            host: 0x7,
            ..
        }
    )));
    let report = check_guest(&profile, &host("amd-genoa-epyc-9654"));
    assert!(matches!(&report.problems[0], Problem::Vendor { host, .. } if host == "AuthenticAMD"));
}

#[test]
fn a_stream_without_policy_records_says_so() {
    let policy = policy_of("libxc-v2-no-policy.bin").unwrap();
    assert_eq!(policy.cpuid, None);
    assert_eq!(policy.msr_count, None);
    assert_eq!(policy.libxc_version, Some(2));
}

#[test]
fn a_truncated_stream_is_an_error_with_its_offset() {
    let err = policy_of("libxc-truncated.bin").unwrap_err();
    assert_eq!(err.kind, PolicyErrorKind::Stream, "{err}");
    assert!(err.record.is_some() && err.offset > 0, "{err:?}");
}

/// A reader that counts what is read and fails once past a limit.
struct Counting<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read >= self.limit {
            return Err(io::Error::other("read past the static data"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// A v3 stream: headers, the policy, STATIC_DATA_END, then `pages` pages of memory.
fn stream_with_pages(pages: u64) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    let leaves = [CpuidPolicyLeaf::new(
        0,
        0xffff_ffff,
        [1, 0x756e_6547, 0x6c65_746e, 0x4965_6e69],
    )];
    w.write_record(RecordType::X86_CPUID_POLICY.0, leaves.as_bytes())
        .unwrap();
    w.write_record(RecordType::STATIC_DATA_END.0, &[]).unwrap();
    for batch in 0..pages.div_ceil(64) {
        let entries: Vec<PfnEntry> = (0..64)
            .map(|i| PfnEntry::new(batch * 64 + i, PageType::NOTAB))
            .collect();
        let data = vec![0xa5; 64 * PAGE_SIZE];
        w.write_record(RecordType::PAGE_DATA.0, &PageData::encode(&entries, &data))
            .unwrap();
    }
    w.write_record(RecordType::END.0, &[]).unwrap();
    w.into_inner()
}

#[test]
fn page_data_is_never_read() {
    let bytes = stream_with_pages(1024);
    assert!(bytes.len() > 4 << 20);
    // The policy and SDE are within the first 200 bytes; a reader that fails
    // beyond 64 KiB (one buffer) proves nothing after them is read.
    let reader = Counting {
        inner: &bytes[..],
        read: 0,
        limit: 64 << 10,
    };
    let policy = read_policy(StreamReader::new(reader)).unwrap();
    assert_eq!(policy.cpuid.unwrap().max_basic_leaf(), Some(1));
}

#[test]
fn duplicate_and_oversized_policy_records_are_refused() {
    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    let leaf = CpuidPolicyLeaf::new(0, 0xffff_ffff, [1, 0, 0, 0]);
    w.write_record(RecordType::X86_CPUID_POLICY.0, [leaf, leaf].as_bytes())
        .unwrap();
    w.write_record(RecordType::STATIC_DATA_END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
    assert_eq!(
        where_of(&err),
        (PolicyErrorKind::Repeated, "X86_CPUID_POLICY", 0, 40)
    );

    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    w.write_record(RecordType::X86_CPUID_POLICY.0, &vec![0; 24 * 50_000])
        .unwrap();
    let bytes = w.into_inner();
    let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
    assert_eq!(
        where_of(&err),
        (PolicyErrorKind::TooLarge, "X86_CPUID_POLICY", 0, 40)
    );

    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    w.write_record(RecordType::X86_CPUID_POLICY.0, &[0; 25])
        .unwrap();
    let bytes = w.into_inner();
    let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
    assert_eq!(
        where_of(&err),
        (PolicyErrorKind::MalformedRecord, "X86_CPUID_POLICY", 0, 40)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Any feature the saved guest uses, taken away from its own host, is
    /// named in the report, and it is the only problem.
    #[test]
    fn a_destination_without_any_guest_feature_is_named(pick in 0usize..1000) {
        let policy = policy_of("libxc-skylake-guest.bin").unwrap();
        let profile = guest_profile("guest", policy.cpuid.as_ref().unwrap()).unwrap();
        let used: Vec<(&'static cpuid_defs::Feature, cpuid_defs::FeatureRegister, u8)> = profile
            .registers
            .iter()
            .filter(|(reg, _)| matches!(reg, cpuid_defs::FeatureRegister::Cpuid { .. }))
            .flat_map(|(reg, bits)| {
                (0..32u8).filter_map(move |bit| {
                    let f = cpuid_defs::at(maskcalc::pool::location_of(*reg, bit))?;
                    (!cpu_profile::rules::reversed(f) && bits.value & bits.mask & (1 << bit) != 0)
                        .then_some((f, *reg, bit))
                })
            })
            .collect();
        proptest::prop_assert!(used.len() > 30);
        let (feature, register, bit) = used[pick % used.len()];
        let mut dest = host("intel-skylake-sp-xeon-platinum-8180");
        let cpuid_defs::FeatureRegister::Cpuid { key, register: r } = register else { unreachable!() };
        let index = cpuid_defs::Register::ALL.iter().position(|x| *x == r).unwrap();
        let regs = dest.cpuid.leaves.get_mut(&maskcalc::model::CpuidInput::new(key.leaf, key.subleaf.unwrap_or(0))).unwrap();
        regs[index] &= !(1u32 << bit);
        let report = check_guest(&profile, &dest);
        proptest::prop_assert_eq!(report.missing_names(), vec![feature.name]);
        proptest::prop_assert_eq!(report.problems.len(), 1);
    }
}

/// A v3 HVM stream with the given CPUID leaves and MSR entries as its policy.
fn stream_with_policy(leaves: &[CpuidPolicyLeaf], msrs: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    w.write_record(RecordType::X86_CPUID_POLICY.0, leaves.as_bytes())
        .unwrap();
    w.write_record(RecordType::X86_MSR_POLICY.0, msrs).unwrap();
    w.write_record(RecordType::STATIC_DATA_END.0, &[]).unwrap();
    w.write_record(RecordType::END.0, &[]).unwrap();
    w.into_inner()
}

const INTEL_LEAF0: [u32; 4] = [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69];

#[test]
fn an_msr_entry_with_reserved_flags_set_is_refused_as_xen_refuses_it() {
    let mut entry = MsrPolicyEntry::new(0xce, 0);
    entry.flags.set(1);
    let bytes = stream_with_policy(
        &[CpuidPolicyLeaf::new(0, 0xffff_ffff, INTEL_LEAF0)],
        &MsrPolicy::encode(&[MsrPolicyEntry::new(0x10a, 1), entry]),
    );
    let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
    assert_eq!(
        where_of(&err),
        (PolicyErrorKind::MalformedRecord, "X86_MSR_POLICY", 1, 72)
    );
}

#[test]
fn the_largest_msr_policy_is_read_and_checked_in_linear_time() {
    // 65,536 entries fill the 1 MiB bound; each MSR is unknown to dumps, so
    // every one is listed as not checked, once, in order. Quadratic
    // bookkeeping (a linear search per register or label) took minutes here.
    let entries: Vec<MsrPolicyEntry> = (0..1u32 << 16)
        .map(|i| MsrPolicyEntry::new(0x4000_0000 + i, u64::from(i)))
        .collect();
    let bytes = stream_with_policy(
        &[CpuidPolicyLeaf::new(0, 0xffff_ffff, INTEL_LEAF0)],
        &MsrPolicy::encode(&entries),
    );
    let policy = read_policy(StreamReader::new(&bytes[..])).unwrap();
    assert_eq!(policy.msr_count, Some(1 << 16));
    let profile = guest_profile("guest", policy.cpuid.as_ref().unwrap()).unwrap();
    let report = check_guest(&profile, &host("intel-skylake-sp-xeon-platinum-8180"));
    assert!(report.is_compatible(), "{:?}", report.problems);
    let labels = report.unchecked_labels();
    assert_eq!(labels.len(), 1 << 16);
    assert_eq!(labels[0], "msr 0x40000000");
    assert_eq!(labels[(1 << 16) - 1], "msr 0x4000ffff");
}

/// Cascade Lake with IA32_ARCH_CAPABILITIES `arch_caps` in its dump.
fn cascadelake_with_arch_caps(arch_caps: u64) -> Host {
    let mut host = host("intel-cascadelake-sp-xeon-platinum-8280");
    host.cpuid.msrs.insert(0x10a, arch_caps);
    host
}

#[test]
fn arch_caps_of_the_msr_policy_is_a_subset_with_rsba_and_rrsba_reversed() {
    let policy = policy_of("libxc-cascadelake-guest.bin").unwrap();
    let cpuid = policy.cpuid.as_ref().unwrap();
    assert_eq!(cpuid.msrs.get(&0x10a), Some(&0x2b));
    let profile = guest_profile("guest", cpuid).unwrap();
    // RDCL_NO, EIBRS, SKIP_L1DFL and MDS_NO: the same on the destination fits.
    let report = check_guest(&profile, &cascadelake_with_arch_caps(0x2b));
    assert!(report.is_compatible(), "{:?}", report.problems);
    assert_eq!(report.unchecked_labels(), ["msr 0xce"]);
    // More `_NO` bits on the destination are fine, and so is RSBA there for
    // a saved guest: Xen restores it (its max policy offers RSBA to incoming
    // guests). A pool profile of the same bits is refused: the pool's guests
    // would not know their retpolines may be bypassed.
    let rsba_host = cascadelake_with_arch_caps(0x2b | 1 << 8 | 1 << 2);
    let report = check_guest(&profile, &rsba_host);
    assert!(report.is_compatible(), "{:?}", report.problems);
    let report = check(&profile, &rsba_host);
    let texts: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        texts,
        ["host has RSBA (msr 0x10a[2], accumulate) which the profile's guests do not see"]
    );
    // A destination without MDS_NO and RDCL_NO lacks them, by name.
    let report = check_guest(&profile, &cascadelake_with_arch_caps(0x0a));
    assert_eq!(report.missing_names(), ["RDCL_NO", "MDS_NO"]);
    // A dump without the MSR cannot tell: not checked, not a problem.
    let report = check_guest(&profile, &host("intel-cascadelake-sp-xeon-platinum-8280"));
    assert!(report.is_compatible(), "{:?}", report.problems);
    assert_eq!(report.unchecked_labels(), ["msr 0xce", "msr 0x10a"]);
    // Skylake-SP does not enumerate ARCH_CAPS: the guest's bit is missing.
    let report = check_guest(&profile, &host("intel-skylake-sp-xeon-platinum-8180"));
    assert!(
        report.missing_names().contains(&"ARCH_CAPS"),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_guest_with_rsba_fits_a_destination_without_it() {
    let policy = policy_of("libxc-cascadelake-guest.bin").unwrap();
    let mut cpuid = policy.cpuid.unwrap();
    cpuid.msrs.insert(0x10a, 0x2b | 1 << 2 | 1 << 19);
    let profile = guest_profile("guest", &cpuid).unwrap();
    assert!(check_guest(&profile, &cascadelake_with_arch_caps(0x2b)).is_compatible());
    assert!(check_guest(&profile, &cascadelake_with_arch_caps(0x2b | 1 << 2)).is_compatible());
}

#[test]
fn a_policy_record_declaring_128_mib_is_refused_before_its_body_is_read() {
    // Only the header: a reader that allocated the declared length, or read
    // on, would fail differently.
    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    let mut bytes = w.into_inner();
    for (length, expected) in [
        // Refused here, before migration-stream's own bound.
        (128u32 << 20, PolicyErrorKind::TooLarge),
        (u32::MAX, PolicyErrorKind::Stream),
    ] {
        let mut stream = bytes.clone();
        stream.extend_from_slice(&RecordType::X86_CPUID_POLICY.0.to_le_bytes());
        stream.extend_from_slice(&length.to_le_bytes());
        stream.extend_from_slice(&[0; 24]);
        let err = read_policy(StreamReader::new(&stream[..])).unwrap_err();
        assert_eq!((err.kind, err.offset), (expected, 40), "{err}");
    }
    // Thousands of policy records: the second one ends the reading.
    let leaf = CpuidPolicyLeaf::new(0, 0xffff_ffff, INTEL_LEAF0);
    let mut w = Writer::new(Vec::new());
    for _ in 0..5000 {
        w.write_record(RecordType::X86_CPUID_POLICY.0, [leaf].as_bytes())
            .unwrap();
    }
    bytes.extend_from_slice(&w.into_inner());
    let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
    assert_eq!(
        where_of(&err),
        (PolicyErrorKind::Repeated, "X86_CPUID_POLICY", 1, 72)
    );
    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    let msrs = MsrPolicy::encode(&[MsrPolicyEntry::new(0xce, 0)]);
    for _ in 0..3 {
        w.write_record(RecordType::X86_MSR_POLICY.0, &msrs).unwrap();
    }
    let bytes = w.into_inner();
    let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
    assert_eq!(
        where_of(&err),
        (PolicyErrorKind::Repeated, "X86_MSR_POLICY", 1, 64)
    );
}

#[test]
fn a_v3_stream_reaching_memory_without_static_data_end_is_refused_as_xen_refuses_it() {
    let mut w = Writer::new(Vec::new());
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
    let leaf = CpuidPolicyLeaf::new(0, 0xffff_ffff, INTEL_LEAF0);
    w.write_record(RecordType::X86_CPUID_POLICY.0, [leaf].as_bytes())
        .unwrap();
    let entries = [PfnEntry::new(0, PageType::NOTAB)];
    w.write_record(
        RecordType::PAGE_DATA.0,
        &PageData::encode(&entries, &[0; PAGE_SIZE]),
    )
    .unwrap();
    let bytes = w.into_inner();
    let err = read_policy(StreamReader::new(&bytes[..])).unwrap_err();
    assert_eq!(
        where_of(&err),
        (PolicyErrorKind::NoStaticDataEnd, "PAGE_DATA", 1, 72)
    );
    // A v2 stream has no STATIC_DATA_END: its first PAGE_DATA ends the static data.
    assert_eq!(policy_of("libxc-v2-no-policy.bin").unwrap().cpuid, None);
}

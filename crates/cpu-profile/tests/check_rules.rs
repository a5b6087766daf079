//! The per-field rules of `check` and `generate` on small made-up hosts.

use cpu_profile::Bits;
use cpu_profile::check::{Problem, check};
use cpu_profile::generate::{GenerateErrorKind, generate};
use cpuid_defs::{FeatureRegister, MsrHalf, Register};
use maskcalc::model::{CpuidInput, Host, HostCpuid};

const INTEL: [u32; 3] = [0x756e_6547, 0x6c65_746e, 0x4965_6e69];

/// An Intel host with leaf 7.0 EDX `edx7` and, if given, IA32_ARCH_CAPABILITIES.
fn host(name: &str, edx7: u32, arch_caps: Option<u64>) -> Host {
    let mut cpuid = HostCpuid::default();
    cpuid
        .leaves
        .insert(CpuidInput::new(0, 0), [7, INTEL[0], INTEL[1], INTEL[2]]);
    cpuid
        .leaves
        .insert(CpuidInput::new(1, 0), [0x306f2, 0, 0, 0]);
    cpuid.leaves.insert(CpuidInput::new(7, 0), [0, 0, 0, edx7]);
    if let Some(v) = arch_caps {
        cpuid.msrs.insert(0x10a, v);
    }
    Host {
        name: name.into(),
        cpuid,
    }
}

const ARCH_CAPS_BIT: u32 = 1 << 29;
const MD_CLEAR: u32 = 1 << 10;
const RDCL_NO: u64 = 1 << 0;
const RSBA: u64 = 1 << 2;
const RRSBA: u64 = 1 << 19;

#[test]
fn arch_caps_is_a_subset_with_rsba_and_rrsba_reversed() {
    let a = host("a", ARCH_CAPS_BIT | MD_CLEAR, Some(RDCL_NO | RSBA));
    let b = host("b", ARCH_CAPS_BIT, Some(RDCL_NO | RRSBA));
    let profile = generate("p", &[a.clone(), b.clone()]).unwrap();
    let low = profile
        .defined(FeatureRegister::Msr {
            index: 0x10a,
            half: MsrHalf::Low,
        })
        .unwrap();
    // RDCL_NO on both: kept; RSBA and RRSBA on one each: accumulated.
    assert_eq!(low.value, (RDCL_NO | RSBA | RRSBA) as u32);
    // MD_CLEAR accumulates too.
    let edx = profile
        .defined(FeatureRegister::cpuid(7, Some(0), Register::Edx))
        .unwrap();
    assert_eq!(
        edx.value & (ARCH_CAPS_BIT | MD_CLEAR),
        ARCH_CAPS_BIT | MD_CLEAR
    );
    assert!(check(&profile, &a).is_compatible());
    assert!(check(&profile, &b).is_compatible());

    // A host without RDCL_NO lacks a feature; one with RSBA where the profile
    // has none is the reversed direction.
    let mut strict = profile.clone();
    strict.registers.insert(
        FeatureRegister::Msr {
            index: 0x10a,
            half: MsrHalf::Low,
        },
        Bits {
            value: RDCL_NO as u32,
            mask: u32::MAX,
        },
    );
    let c = host("c", ARCH_CAPS_BIT | MD_CLEAR, Some(RSBA));
    let report = check(&strict, &c);
    let texts: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        texts,
        [
            "missing RDCL_NO (msr 0x10a[0], intersect)",
            "host has RSBA (msr 0x10a[2], accumulate) which the profile's guests do not see",
        ]
    );

    // Without the MSR in the dump, the register is reported as unchecked.
    let d = host("d", ARCH_CAPS_BIT | MD_CLEAR, None);
    let report = check(&profile, &d);
    assert!(report.is_compatible());
    assert_eq!(report.unchecked_labels(), ["msr 0x10a"]);
}

#[test]
fn a_profile_without_arch_caps_does_not_define_the_msr() {
    let a = host("a", 0, Some(RSBA));
    let profile = generate("p", &[a]).unwrap();
    assert!(
        profile
            .registers
            .keys()
            .all(|r| !matches!(r, FeatureRegister::Msr { .. }))
    );
}

#[test]
fn limits_and_vendor_are_checked() {
    let a = host("a", 0, None);
    let mut profile = generate("p", std::slice::from_ref(&a)).unwrap();
    profile.limits.max_basic_leaf = 0x20;
    profile.vendor = "AuthenticAMD".to_owned();
    let report = check(&profile, &a);
    assert_eq!(
        report.problems,
        [
            Problem::Vendor {
                profile: "AuthenticAMD".into(),
                host: "GenuineIntel".into()
            },
            Problem::Limit {
                name: "max_basic_leaf",
                profile: 0x20,
                host: 7
            },
        ]
    );
}

#[test]
fn hidden_and_host_bits_follow_their_class() {
    // 1.ECX: bit 3 MONITOR (hidden), bit 21 X2APIC (host), bit 0 SSE3 (intersect).
    let mut a = host("a", 0, None);
    a.cpuid
        .leaves
        .insert(CpuidInput::new(1, 0), [0x306f2, 0, 1 << 3 | 1 << 21 | 1, 0]);
    let profile = generate("p", &[a]).unwrap();
    let ecx = profile
        .defined(FeatureRegister::cpuid(1, None, Register::Ecx))
        .unwrap();
    for (bit, defined, value) in [(3, true, false), (21, false, false), (0, true, true)] {
        assert_eq!(ecx.mask & (1 << bit) != 0, defined, "bit {bit}");
        assert_eq!(ecx.value & (1 << bit) != 0, value, "bit {bit}");
    }
}

#[test]
fn profiles_refuse_mixed_vendors_and_empty_pools() {
    let mut amd = host("amd", 0, None);
    amd.cpuid.leaves.insert(
        CpuidInput::new(0, 0),
        [7, 0x6874_7541, 0x444d_4163, 0x6974_6e65],
    );
    let err = generate("p", &[host("intel", 0, None), amd]).unwrap_err();
    assert_eq!(err.kind, GenerateErrorKind::MixedVendors);
    assert_eq!(
        err.hosts,
        [
            ("intel".to_owned(), Some("GenuineIntel".to_owned())),
            ("amd".to_owned(), Some("AuthenticAMD".to_owned()))
        ]
    );
    assert_eq!(
        generate("p", &[]).unwrap_err().kind,
        GenerateErrorKind::NoHosts
    );
    let mut no_leaf0 = host("bare", 0, None);
    no_leaf0.cpuid.leaves.remove(&CpuidInput::new(0, 0));
    let err = generate("p", &[no_leaf0]).unwrap_err();
    assert_eq!(
        (err.kind, err.hosts),
        (GenerateErrorKind::NoVendor, vec![("bare".to_owned(), None)])
    );
}

/// An Intel host with basic leaves up to 0x24, AMX palettes `palette`
/// (0x1D.0 EAX) and AVX10 version `avx10` (0x24.0 EBX[7:0]).
fn counting_host(name: &str, palette: u32, avx10: u32) -> Host {
    let mut h = host(name, 0, None);
    h.cpuid
        .leaves
        .insert(CpuidInput::new(0, 0), [0x24, INTEL[0], INTEL[1], INTEL[2]]);
    h.cpuid
        .leaves
        .insert(CpuidInput::new(0x1d, 0), [palette, 0, 0, 0]);
    h.cpuid
        .leaves
        .insert(CpuidInput::new(0x24, 0), [0, 0x0007_0000 | avx10, 0, 0]);
    h
}

#[test]
fn counts_take_the_pools_smallest_and_a_host_needs_at_least_that() {
    let profile = generate("p", &[counting_host("a", 1, 2), counting_host("b", 2, 1)]).unwrap();
    let field = |leaf: u32, register: Register| {
        profile
            .defined(FeatureRegister::cpuid(leaf, Some(0), register))
            .unwrap()
    };
    assert_eq!(field(0x1d, Register::Eax).value, 1);
    assert_eq!(field(0x24, Register::Ebx).value & 0xff, 1);
    assert!(check(&profile, &counting_host("same", 1, 1)).is_compatible());
    assert!(check(&profile, &counting_host("newer", 2, 3)).is_compatible());
    let report = check(&profile, &counting_host("older", 0, 0));
    assert_eq!(
        report.problems,
        [
            Problem::Field {
                name: "amx_max_palette",
                rule: cpu_profile::rules::FieldRule::NotGreater,
                profile: 1,
                host: 0
            },
            Problem::Field {
                name: "avx10_version",
                rule: cpu_profile::rules::FieldRule::NotGreater,
                profile: 1,
                host: 0
            },
        ]
    );
    assert_eq!(
        report.problems[1].to_string(),
        "avx10_version: profile needs 0x1, host has 0x0"
    );
}

#[test]
fn a_field_inside_a_feature_register_is_left_to_the_destination() {
    // MAWAU is 7.0.ECX[21:17], a number beside feature bits. Taken bit by bit
    // as features, a pool of MAWAU 3 would refuse a host of MAWAU 4 for
    // "unnamed bits" 17 and 18, and a pool of 1 and 2 would define 0.
    let with_mawau = |name: &str, mawau: u32| {
        let mut h = host(name, 0, None);
        h.cpuid
            .leaves
            .insert(CpuidInput::new(7, 0), [0, 0, mawau << 17 | 1 << 2, 0]);
        h
    };
    let profile = generate("p", &[with_mawau("a", 1), with_mawau("b", 2)]).unwrap();
    let ecx = profile
        .defined(FeatureRegister::cpuid(7, Some(0), Register::Ecx))
        .unwrap();
    assert_eq!(ecx.mask & (0x1f << 17), 0, "{ecx:?}");
    // UMIP (bit 2), on both, is still defined.
    assert_eq!(ecx.value & ecx.mask & (1 << 2), 1 << 2);
    let profile = generate("p", &[with_mawau("a", 3)]).unwrap();
    let report = check(&profile, &with_mawau("c", 4));
    assert!(report.is_compatible(), "{:?}", report.problems);
}

//! Golden-file tests of `cpuid-features`: every subcommand, errors and exit codes.

mod support;

use support::{assert_golden, clean_failure, clean_success};

const EXE: &str = env!("CARGO_BIN_EXE_cpuid-features");

#[test]
fn list_table() {
    assert_golden("cpuid-features/list.txt", &clean_success(EXE, &["list"]));
}

#[test]
fn list_by_class() {
    let table = clean_success(EXE, &["list", "--class", "accumulate"]);
    assert_golden("cpuid-features/list-accumulate.txt", &table);
    let json: serde_json::Value = serde_json::from_str(&clean_success(
        EXE,
        &["list", "--json", "--class", "opt-in"],
    ))
    .unwrap();
    let opt_in = cpuid_defs::features()
        .iter()
        .filter(|f| f.class == cpuid_defs::Class::OptIn);
    assert_eq!(json.as_array().unwrap().len(), opt_in.count());
    assert!(
        clean_failure(EXE, &["list", "--class", "sometimes"], 2).contains("intersect, accumulate")
    );
}

#[test]
fn list_json_has_every_feature_with_the_promised_keys() {
    let json: serde_json::Value =
        serde_json::from_str(&clean_success(EXE, &["list", "--json"])).unwrap();
    let all = json.as_array().unwrap();
    assert_eq!(all.len(), cpuid_defs::features().len());
    for (obj, f) in all.iter().zip(cpuid_defs::features()) {
        assert_eq!(obj["name"], f.name);
        assert!(obj["bit"].is_u64());
        assert!(obj["aliases"].is_array() && obj["depends"].is_array());
        assert_eq!(obj["class"], f.class.as_str());
        assert_eq!(obj["description"], f.description);
        match f.location {
            cpuid_defs::Location::Cpuid { key, register, bit } => {
                assert_eq!(obj["leaf"], key.leaf);
                assert_eq!(
                    obj["subleaf"],
                    key.subleaf.map_or(serde_json::Value::Null, Into::into)
                );
                assert_eq!(obj["register"], register.as_str());
                assert_eq!(obj["bit"], bit);
                assert!(obj["msr"].is_null());
            }
            cpuid_defs::Location::Msr { index, bit } => {
                assert_eq!(obj["msr"], index);
                assert_eq!(obj["bit"], bit);
                assert!(obj["leaf"].is_null() && obj["register"].is_null());
            }
        }
    }
    // Spot checks, written out.
    let lahf = all.iter().find(|o| o["name"] == "LAHF_LM").unwrap();
    assert_eq!(lahf["leaf"], 0x8000_0001u32);
    assert_eq!(lahf["subleaf"], serde_json::Value::Null);
    assert_eq!(lahf["aliases"], serde_json::json!(["lahfsahf"]));
    assert_eq!(lahf["depends"], serde_json::json!(["LM"]));
    let rsba = all.iter().find(|o| o["name"] == "RSBA").unwrap();
    assert_eq!(rsba["msr"], 0x10a);
    assert_eq!(rsba["bit"], 2);
    assert_eq!(rsba["class"], "accumulate");
}

#[test]
fn show_features() {
    for (name, golden) in [
        ("lahfsahf", "show-lahf-lm.txt"),
        ("AVX512F", "show-avx512f.txt"),
        ("md-clear", "show-md-clear.txt"),
        ("xsave", "show-xsave.txt"),
        ("rrsba", "show-rrsba.txt"),
        ("kvm-pv-eoi", "show-kvm-pv-eoi.txt"),
        ("maxleaf", "show-field-maxleaf.txt"),
    ] {
        assert_golden(
            &format!("cpuid-features/{golden}"),
            &clean_success(EXE, &["show", name]),
        );
    }
    assert_golden(
        "cpuid-features/show-itsc.json",
        &clean_success(EXE, &["show", "--json", "invtsc"]),
    );
}

/// `show --json` of a field name prints the field as `fields --json` does
/// (the text form already shows fields).
#[test]
fn show_json_of_a_field() {
    let one: serde_json::Value =
        serde_json::from_str(&clean_success(EXE, &["show", "--json", "maxleaf"])).unwrap();
    let all: serde_json::Value =
        serde_json::from_str(&clean_success(EXE, &["fields", "--json"])).unwrap();
    let listed = all
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "max_basic_leaf")
        .unwrap();
    assert_eq!(&one, listed);
    assert_eq!(one["leaf"], 0);
    assert_eq!(one["subleaf"], serde_json::Value::Null);
    assert_eq!(one["width"], 32);
}

/// Odd command lines end in an error message and a usage or input status,
/// never a panic.
#[test]
fn odd_inputs_never_panic() {
    let long = "a".repeat(100_000);
    for (args, expected) in [
        (&["show", ""][..], 1),
        (&["show", &long], 1),
        (&["decode", "7.0", "ebx", "99999999999999999999999999"], 2),
        (&["decode", "--", "7.0", "ebx", "-1"], 2),
        (&["decode", "7.0", "ebx", "-1"], 2),
        (&["decode", "7.", "ebx", "1"], 2),
        (&["decode", "7..0", "ebx", "1"], 2),
        (&["decode", "0x", "ebx", "1"], 2),
        (&["decode", "0xffffffff.0xffffffff", "edx", "0xffffffff"], 1),
        (&["decode", "msr", "0x10a", "0x1_0000_0000_0000_0000"], 2),
        (&["decode", "msr", "0xffffffff", "1"], 1),
        (&["decode", "msr", "0x1_0000_0000", "1"], 2),
    ] {
        let err = clean_failure(EXE, args, expected);
        assert!(
            err.starts_with("cpuid-features: ") || err.starts_with("error: "),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn decode_registers() {
    for (args, golden) in [
        (
            &["decode", "7.0", "ebx", "0x37ab"][..],
            "decode-7.0-ebx.txt",
        ),
        (
            &["decode", "1", "ecx", "2147344383"],
            "decode-1-ecx-decimal.txt",
        ),
        (
            &["decode", "0x80000001", "edx", "0x2fd3fbff"],
            "decode-e1-edx.txt",
        ),
        (
            &["decode", "msr", "0x10a", "0x400000000c000069"],
            "decode-arch-caps.txt",
        ),
        (
            &["decode", "0xd.1", "eax", "0xffffffff"],
            "decode-d1-all-ones.txt",
        ),
        (
            &["decode", "0x40000104", "eax", "0x7f"],
            "decode-xen-viridian-base.txt",
        ),
        // CPUID reads a missing subleaf as 0 and ignores ECX for leaves
        // without subleaves; Xen's TSC leaf has a subleaf, also at 0x40000103.
        (&["decode", "7", "ebx", "0x29"], "decode-7-no-subleaf.txt"),
        (&["decode", "1.0", "ecx", "0x1"], "decode-1.0-ecx.txt"),
        (
            &["decode", "0x40000103", "eax", "7"],
            "decode-xen-tsc-viridian.txt",
        ),
    ] {
        assert_golden(
            &format!("cpuid-features/{golden}"),
            &clean_success(EXE, args),
        );
    }
    // Bits a multi-bit field covers (the AVX10 version) are not unnamed.
    let avx10 = clean_success(EXE, &["decode", "0x24.0", "ebx", "0x00070001"]);
    assert!(!avx10.contains("unnamed"), "{avx10}");
    for name in ["AVX10_VL128", "AVX10_VL256", "AVX10_VL512"] {
        assert!(avx10.contains(name), "{avx10}");
    }
    let unknown = clean_success(EXE, &["decode", "0x24.0", "ebx", "0x00080001"]);
    assert!(unknown.contains("unnamed bits: 0x00080000"), "{unknown}");
    assert_golden(
        "cpuid-features/decode-7.0-ebx.json",
        &clean_success(EXE, &["decode", "--json", "7.0", "ebx", "0x37ab"]),
    );
}

#[test]
fn fields_table() {
    assert_golden(
        "cpuid-features/fields.txt",
        &clean_success(EXE, &["fields"]),
    );
}

#[test]
fn unknown_names_suggest_and_exit_1() {
    let mut all = String::new();
    for name in ["avx512fx", "lahf-lmm", "sse41", "zzzzzzzzzzzz"] {
        all.push_str(&clean_failure(EXE, &["show", name], 1));
    }
    assert_golden("cpuid-features/unknown-names.txt", &all);
}

#[test]
fn registers_without_named_bits_exit_1() {
    let mut all = String::new();
    all.push_str(&clean_failure(EXE, &["decode", "7.3", "ebx", "1"], 1));
    all.push_str(&clean_failure(EXE, &["decode", "2", "eax", "1"], 1));
    assert_golden("cpuid-features/no-named-bits.txt", &all);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["bogus"],
        &["show"],
        &["decode", "7.0", "ebx"],
        &["decode", "7.0", "esi", "1"],
        &["decode", "7.x", "ebx", "1"],
        &["decode", "7.0", "ebx", "0x1_0000_0000"],
        &["decode", "7.0", "ebx", "37ab"],
        &["list", "--jsn"],
    ] {
        let err = clean_failure(EXE, args, 2);
        assert!(!err.is_empty(), "{args:?} said nothing");
    }
    let mut numbers = String::new();
    numbers.push_str(&clean_failure(EXE, &["decode", "7.0", "esi", "1"], 2));
    numbers.push_str(&clean_failure(
        EXE,
        &["decode", "7.0", "ebx", "0x1_0000_0000"],
        2,
    ));
    numbers.push_str(&clean_failure(EXE, &["decode", "7.0", "ebx", "37ab"], 2));
    assert_golden("cpuid-features/usage-errors.txt", &numbers);
}

#[test]
fn help_and_version() {
    assert_golden("cpuid-features/help.txt", &clean_success(EXE, &["--help"]));
    assert_golden(
        "cpuid-features/decode-help.txt",
        &clean_success(EXE, &["decode", "--help"]),
    );
    assert!(clean_success(EXE, &["--version"]).starts_with("cpuid-features "));
}

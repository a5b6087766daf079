//! The profile file format: round trips and malformed files.

use cpu_profile::json::{from_json, to_json};
use cpu_profile::{Bits, Limits, PoolMask, Profile, SourceHost};
use cpuid_defs::{FeatureRegister, MsrHalf, Register};
use proptest::prelude::*;

/// A register the [`Limits`] own (a leaf without subleaves and its subleaf 0
/// are the same register to CPUID).
fn is_limit_register(register: FeatureRegister) -> bool {
    let normal = |r: FeatureRegister| match r {
        FeatureRegister::Cpuid { key, register } => {
            Some((key.leaf, key.subleaf.unwrap_or(0), register))
        }
        FeatureRegister::Msr { .. } => None,
    };
    normal(register).is_some_and(|n| Limits::DEFS.iter().any(|d| normal(d.register) == Some(n)))
}

fn register() -> impl Strategy<Value = FeatureRegister> {
    let not_leaf0 = |r: &FeatureRegister| !matches!(r, FeatureRegister::Cpuid { key, .. } if key.leaf == 0 && key.subleaf.unwrap_or(0) == 0);
    prop_oneof![
        (any::<u32>(), proptest::option::of(0u32..64), 0usize..4)
            .prop_map(|(leaf, sub, r)| { FeatureRegister::cpuid(leaf, sub, Register::ALL[r]) }),
        (any::<u32>(), any::<bool>()).prop_map(|(index, high)| FeatureRegister::Msr {
            index,
            half: if high { MsrHalf::High } else { MsrHalf::Low },
        }),
    ]
    .prop_filter("limits own these", |r| !is_limit_register(*r))
    .prop_filter("the vendor owns leaf 0", not_leaf0)
}

fn bits() -> impl Strategy<Value = Bits> {
    (any::<u32>(), 1u32..).prop_map(|(value, mask)| Bits {
        value: value & mask,
        mask,
    })
}

fn pool_mask() -> impl Strategy<Value = PoolMask> {
    (any::<u32>(), any::<u32>())
        .prop_map(|(clear, set)| PoolMask {
            clear,
            set: set & !clear,
        })
        .prop_filter("empty masks are not stored", |m| *m != PoolMask::default())
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        ".{0,20}",
        "[ -~]{12}",
        proptest::collection::vec((".{0,12}", any::<u32>()), 0..4),
        proptest::array::uniform6(any::<u32>()),
        proptest::collection::btree_map(register(), bits(), 0..24),
        proptest::collection::btree_map(register(), pool_mask(), 0..8),
    )
        .prop_map(|(name, vendor, hosts, limits, registers, pool_masks)| {
            let mut profile = Profile::new(&name, &vendor);
            profile.hosts = hosts
                .into_iter()
                .map(|(name, signature)| SourceHost { name, signature })
                .collect();
            let mut l = Limits::default();
            for (i, def) in Limits::DEFS.iter().enumerate() {
                l.set(i, def.extract(limits[i]));
            }
            profile.limits = l;
            profile.registers = registers;
            profile.pool_masks = pool_masks;
            profile
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_profile_survives_the_json_round_trip(p in profile()) {
        let text = to_json(&p);
        let back = from_json("p.json", text.as_bytes());
        prop_assert_eq!(back.as_ref(), Ok(&p), "{}", text);
        // Writing again gives the same bytes: the format is stable.
        prop_assert_eq!(to_json(&back.unwrap()), text);
    }

    #[test]
    fn damaged_profiles_give_errors_naming_the_file_never_a_panic(
        p in profile(),
        cut in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let mut text = to_json(&p).into_bytes();
        let at = cut % text.len();
        text[at] = byte;
        if let Err(e) = from_json("damaged.json", &text) {
            prop_assert!(e.to_string().starts_with("damaged.json: "), "{}", e);
        }
        text.truncate(at);
        if let Err(e) = from_json("damaged.json", &text) {
            prop_assert!(e.to_string().starts_with("damaged.json: "), "{}", e);
        }
    }
}

/// A valid profile's JSON with one substitution applied.
fn edited(from: &str, to: &str) -> String {
    let mut p = Profile::new("t", "GenuineIntel");
    p.registers.insert(
        FeatureRegister::cpuid(7, Some(0), Register::Ebx),
        Bits {
            value: 0x20,
            mask: 0xff,
        },
    );
    p.registers.insert(
        FeatureRegister::Msr {
            index: 0x10a,
            half: MsrHalf::Low,
        },
        Bits { value: 4, mask: 4 },
    );
    p.pool_masks.insert(
        FeatureRegister::cpuid(1, None, Register::Ecx),
        PoolMask {
            clear: 0x20,
            set: 0,
        },
    );
    let text = to_json(&p);
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1)
}

#[test]
fn malformed_profiles_name_the_file_and_the_field() {
    let cases: Vec<(String, &str)> = vec![
        (
            "".to_owned(),
            "bad.json: expected JSON, found a syntax error at line 1 column 0 (EOF while parsing a value)",
        ),
        (
            "[]".to_owned(),
            "bad.json: expected an object, found a list",
        ),
        (
            edited("\"xenmig-cpu-profile\"", "\"other\""),
            "bad.json: format: expected \"xenmig-cpu-profile\", found \"other\"",
        ),
        (
            edited("\"version\": 1", "\"version\": 2"),
            "bad.json: version: expected 1, found 2",
        ),
        (
            edited("\"GenuineIntel\"", "\"Intel\""),
            "bad.json: vendor: expected a 12-character vendor string like \"GenuineIntel\", found \"Intel\"",
        ),
        (
            edited("\"name\": \"t\",", "\"name\": \"t\", \"colour\": 1,"),
            "bad.json: colour: unknown key; expected one of format, version, name, vendor, hosts, limits, cpuid, msrs, pool_masks",
        ),
        (
            edited(
                "\"max_basic_leaf\": \"0x00000000\"",
                "\"max_basic_leaf\": 13",
            ),
            "bad.json: limits.max_basic_leaf: expected a hex string like \"0x0000ffff\", found 13",
        ),
        (
            edited(
                "\"physical_address_bits\": \"0x00000000\"",
                "\"physical_address_bits\": \"0x100\"",
            ),
            "bad.json: limits.physical_address_bits: expected a 8-bit value, found 0x100",
        ),
        (
            edited(
                "\"linear_address_bits\": \"0x00000000\"",
                "\"linear_address_bits\": \"0x\"",
            ),
            "bad.json: limits.linear_address_bits: expected a hex string like \"0x0000ffff\", found the string \"0x\"",
        ),
        (
            edited("\"value\": \"0x00000020\"", "\"value\": \"0x00000120\""),
            "bad.json: cpuid[0].value: expected only bits of mask 0x000000ff, found 0x00000100 outside it",
        ),
        (
            edited("\"register\": \"ebx\"", "\"register\": \"esp\""),
            "bad.json: cpuid[0].register: expected eax, ebx, ecx or edx, found \"esp\"",
        ),
        (
            edited("\"subleaf\": 0,", "\"subleaf\": -1,"),
            "bad.json: cpuid[0].subleaf: expected null or a number from 0 to 4294967295, found -1",
        ),
        (
            edited("\"mask\": \"0x000000ff\"", "\"mask\": \"0x1000000ff\""),
            "bad.json: cpuid[0].mask: expected a 32-bit value, found 0x1000000ff",
        ),
        (
            edited("\"leaf\": \"0x00000007\"", "\"leaf\": \"0x00000000\""),
            "bad.json: cpuid[0]: 0x0.0.ebx is set by \"vendor\"; expected no cpuid entry for it",
        ),
        (
            edited("\"register\": \"ebx\"", "\"register\": \"eax\""),
            "bad.json: cpuid[0]: 0x7.0.eax is set by \"limits\"; expected no cpuid entry for it",
        ),
        (
            edited(
                "\"mask\": \"0x0000000000000004\"",
                "\"mask\": \"0x0000000000000000\"",
            ),
            "bad.json: msrs[0].value: expected only bits of mask 0x0000000000000000, found 0x0000000000000004 outside it",
        ),
        (
            edited(
                "\"clear\": \"0x00000020\", \"set\": \"0x00000000\"",
                "\"clear\": \"0x00000020\", \"set\": \"0x00000021\"",
            ),
            "bad.json: pool_masks[0]: expected no bit both cleared and set, found 0x20",
        ),
        (edited("\"hosts\": [],", ""), "bad.json: hosts: missing"),
        (
            edited("\"name\": \"t\",", "\"name\": \"t\", \"name\": \"u\","),
            "bad.json: name: expected each key once, found it again at line 4 column 21",
        ),
        (
            edited(
                "\"register\": \"ebx\"",
                "\"register\": \"ebx\", \"register\": \"ecx\"",
            ),
            "bad.json: cpuid[0].register: expected each key once, found it again at line 16 column 70",
        ),
        (
            edited("\"version\": 1", "\"version\": 1e400"),
            "bad.json: expected JSON, found a syntax error at line 3 column 18 (number out of range)",
        ),
        (
            edited("\"version\": 1", "\"version\": 18446744073709551617"),
            "bad.json: version: expected 1, found 1.8446744073709552e+19",
        ),
        (
            edited(
                "\"name\": \"t\"",
                &format!("\"name\": {}{}", "[".repeat(200), "]".repeat(200)),
            ),
            "bad.json: expected JSON, found a syntax error at line 4 column 137 (recursion limit exceeded)",
        ),
        (
            edited(
                "\"hosts\": []",
                "\"hosts\": [{\"name\": 3, \"signature\": \"0x1\"}]",
            ),
            "bad.json: hosts[0].name: expected a string, found 3",
        ),
    ];
    for (text, expected) in cases {
        let err = from_json("bad.json", text.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), expected, "for {text}");
    }
    // Duplicate registers.
    let text = edited(
        "\"cpuid\": [\n",
        "\"cpuid\": [\n    {\"leaf\": \"0x00000007\", \"subleaf\": 0, \"register\": \"ebx\", \"value\": \"0x00000000\", \"mask\": \"0x00000001\"},\n",
    );
    let err = from_json("dup.json", text.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dup.json: cpuid[1]: 0x7.0.ebx appears twice; expected each register once"
    );
    // A leaf without subleaves, once with subleaf null and once with 0.
    let text = edited(
        "\"cpuid\": [\n",
        "\"cpuid\": [\n    {\"leaf\": \"0x00000001\", \"subleaf\": null, \"register\": \"ecx\", \"value\": \"0x00000000\", \"mask\": \"0x00000001\"},\n    {\"leaf\": \"0x00000001\", \"subleaf\": 0, \"register\": \"ecx\", \"value\": \"0x00000001\", \"mask\": \"0x00000001\"},\n",
    );
    let err = from_json("dup.json", text.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dup.json: cpuid[1]: 0x1.0.ecx appears twice; expected each register once"
    );
}

#[test]
fn oversized_files_and_lists_are_refused_before_use() {
    let big = vec![b' '; cpu_profile::json::MAX_PROFILE_BYTES + 1];
    let err = from_json("big.json", &big).unwrap_err();
    assert_eq!(
        err.to_string(),
        "big.json: expected a profile of at most 4194304 bytes, found a larger one"
    );
    let many: Vec<String> = (0..=cpu_profile::json::MAX_ENTRIES)
        .map(|_| "{\"name\": \"h\", \"signature\": \"0x0\"}".to_owned())
        .collect();
    let text = edited("\"hosts\": []", &format!("\"hosts\": [{}]", many.join(",")));
    let err = from_json("many.json", text.as_bytes()).unwrap_err();
    assert_eq!(err.field, "hosts");
}

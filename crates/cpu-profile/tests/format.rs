//! The profile file format: round trips and malformed files.

use cpu_profile::json::{LoadErrorKind, from_json, to_json};
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
                .map(|(name, signature)| SourceHost::new(&name, signature))
                .collect();
            let [basic, leaf7, extended, signature, physical, linear] = limits;
            let mut l = Limits::default();
            l.max_basic_leaf = basic;
            l.max_leaf7_subleaf = leaf7;
            l.max_extended_leaf = extended;
            l.signature = signature;
            // Address sizes are 8-bit fields.
            l.physical_address_bits = physical & 0xff;
            l.linear_address_bits = linear & 0xff;
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
    let cases: Vec<(String, (LoadErrorKind, &str))> = vec![
        ("".to_owned(), (LoadErrorKind::Syntax, "")),
        ("[]".to_owned(), (LoadErrorKind::Malformed, "")),
        (
            edited("\"xenmig-cpu-profile\"", "\"other\""),
            (LoadErrorKind::NotAProfile, "format"),
        ),
        (
            edited("\"version\": 1", "\"version\": 2"),
            (LoadErrorKind::UnsupportedVersion, "version"),
        ),
        (
            edited("\"GenuineIntel\"", "\"Intel\""),
            (LoadErrorKind::Malformed, "vendor"),
        ),
        (
            edited("\"name\": \"t\",", "\"name\": \"t\", \"colour\": 1,"),
            (LoadErrorKind::Malformed, "colour"),
        ),
        (
            edited(
                "\"max_basic_leaf\": \"0x00000000\"",
                "\"max_basic_leaf\": 13",
            ),
            (LoadErrorKind::Malformed, "limits.max_basic_leaf"),
        ),
        (
            edited(
                "\"physical_address_bits\": \"0x00000000\"",
                "\"physical_address_bits\": \"0x100\"",
            ),
            (LoadErrorKind::Malformed, "limits.physical_address_bits"),
        ),
        (
            edited(
                "\"linear_address_bits\": \"0x00000000\"",
                "\"linear_address_bits\": \"0x\"",
            ),
            (LoadErrorKind::Malformed, "limits.linear_address_bits"),
        ),
        (
            edited("\"value\": \"0x00000020\"", "\"value\": \"0x00000120\""),
            (LoadErrorKind::ValueOutsideMask, "cpuid[0].value"),
        ),
        (
            edited("\"register\": \"ebx\"", "\"register\": \"esp\""),
            (LoadErrorKind::Malformed, "cpuid[0].register"),
        ),
        (
            edited("\"subleaf\": 0,", "\"subleaf\": -1,"),
            (LoadErrorKind::Malformed, "cpuid[0].subleaf"),
        ),
        (
            edited("\"mask\": \"0x000000ff\"", "\"mask\": \"0x1000000ff\""),
            (LoadErrorKind::Malformed, "cpuid[0].mask"),
        ),
        (
            edited("\"leaf\": \"0x00000007\"", "\"leaf\": \"0x00000000\""),
            (LoadErrorKind::OwnedRegister, "cpuid[0]"),
        ),
        (
            edited("\"register\": \"ebx\"", "\"register\": \"eax\""),
            (LoadErrorKind::OwnedRegister, "cpuid[0]"),
        ),
        (
            edited(
                "\"mask\": \"0x0000000000000004\"",
                "\"mask\": \"0x0000000000000000\"",
            ),
            (LoadErrorKind::ValueOutsideMask, "msrs[0].value"),
        ),
        (
            edited(
                "\"clear\": \"0x00000020\", \"set\": \"0x00000000\"",
                "\"clear\": \"0x00000020\", \"set\": \"0x00000021\"",
            ),
            (LoadErrorKind::ClearedAndSet, "pool_masks[0]"),
        ),
        (edited("\"hosts\": [],", ""), (LoadErrorKind::Malformed, "")),
        (
            edited("\"name\": \"t\",", "\"name\": \"t\", \"name\": \"u\","),
            (LoadErrorKind::Malformed, ""),
        ),
        (
            edited(
                "\"register\": \"ebx\"",
                "\"register\": \"ebx\", \"register\": \"ecx\"",
            ),
            (LoadErrorKind::Malformed, "cpuid[0]"),
        ),
        (
            edited("\"version\": 1", "\"version\": 1e400"),
            (LoadErrorKind::Syntax, "version"),
        ),
        (
            edited("\"version\": 1", "\"version\": 18446744073709551617"),
            (LoadErrorKind::Malformed, "version"),
        ),
        (
            edited(
                "\"name\": \"t\"",
                &format!("\"name\": {}{}", "[".repeat(200), "]".repeat(200)),
            ),
            (LoadErrorKind::Malformed, "name"),
        ),
        (
            edited(
                "\"hosts\": []",
                "\"hosts\": [{\"name\": 3, \"signature\": \"0x1\"}]",
            ),
            (LoadErrorKind::Malformed, "hosts[0].name"),
        ),
    ];
    for (text, expected) in cases {
        let err = from_json("bad.json", text.as_bytes()).unwrap_err();
        assert_eq!((err.kind, err.path.as_str()), expected, "for {text}: {err}");
    }
    // Duplicate registers.
    let text = edited(
        "\"cpuid\": [\n",
        "\"cpuid\": [\n    {\"leaf\": \"0x00000007\", \"subleaf\": 0, \"register\": \"ebx\", \"value\": \"0x00000000\", \"mask\": \"0x00000001\"},\n",
    );
    let err = from_json("dup.json", text.as_bytes()).unwrap_err();
    assert_eq!(
        (err.kind, err.path.as_str()),
        (LoadErrorKind::RepeatedRegister, "cpuid[1]")
    );
    // A leaf without subleaves, once with subleaf null and once with 0.
    let text = edited(
        "\"cpuid\": [\n",
        "\"cpuid\": [\n    {\"leaf\": \"0x00000001\", \"subleaf\": null, \"register\": \"ecx\", \"value\": \"0x00000000\", \"mask\": \"0x00000001\"},\n    {\"leaf\": \"0x00000001\", \"subleaf\": 0, \"register\": \"ecx\", \"value\": \"0x00000001\", \"mask\": \"0x00000001\"},\n",
    );
    let err = from_json("dup.json", text.as_bytes()).unwrap_err();
    assert_eq!(
        (err.kind, err.path.as_str()),
        (LoadErrorKind::RepeatedRegister, "cpuid[1]")
    );
}

#[test]
fn repeated_keys_are_refused_with_their_line() {
    // A struct's key (serde's own check) and a key of `limits` (a map).
    let twice = edited("\"name\": \"t\",", "\"name\": \"t\", \"name\": \"u\",");
    let err = from_json("dup.json", twice.as_bytes()).unwrap_err();
    assert_eq!(
        (err.kind, err.position),
        (LoadErrorKind::Malformed, Some((4, 21)))
    );
    let twice = edited(
        "\"signature\": \"0x00000000\",",
        "\"signature\": \"0x00000000\", \"signature\": \"0x00000001\",",
    );
    let err = from_json("dup.json", twice.as_bytes()).unwrap_err();
    assert_eq!(
        (err.kind, err.path.as_str()),
        (LoadErrorKind::Malformed, "limits")
    );
    assert_eq!(err.position.map(|(line, _)| line), Some(11), "{err}");
}

#[test]
fn objects_are_never_read_from_lists() {
    // serde's derived structs would take a list of the values in order.
    let listed = edited("\"hosts\": []", "\"hosts\": [[\"h\", \"0x00000001\"]]");
    let err = from_json("list.json", listed.as_bytes()).unwrap_err();
    assert_eq!(
        (err.kind, err.path.as_str()),
        (LoadErrorKind::Malformed, "hosts[0]")
    );
    let err = from_json("list.json", b"[\"xenmig-cpu-profile\", 1]").unwrap_err();
    assert_eq!(err.kind, LoadErrorKind::Malformed);
}

#[test]
fn oversized_files_and_lists_are_refused_before_use() {
    let big = vec![b' '; cpu_profile::json::MAX_PROFILE_BYTES + 1];
    let err = from_json("big.json", &big).unwrap_err();
    assert_eq!(err.kind, LoadErrorKind::TooLarge);
    let many: Vec<String> = (0..=cpu_profile::json::MAX_ENTRIES)
        .map(|_| "{\"name\": \"h\", \"signature\": \"0x0\"}".to_owned())
        .collect();
    let text = edited("\"hosts\": []", &format!("\"hosts\": [{}]", many.join(",")));
    let err = from_json("many.json", text.as_bytes()).unwrap_err();
    assert_eq!(
        (err.kind, err.path.as_str()),
        (LoadErrorKind::Malformed, "hosts")
    );
}

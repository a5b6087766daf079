//! Property tests: decode/encode round trips, lookup over arbitrary input,
//! FeatureSet against a model, family/model/stepping encoding.

use cpuid_defs::{
    FEATURE_COUNT, FeatureId, FeatureSet, decode, display_family_model_stepping, encode,
    feature_registers, features, features_in, lookup, suggest, unnamed_bits,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn any_register() -> impl Strategy<Value = cpuid_defs::FeatureRegister> {
    (0..feature_registers().len()).prop_map(|i| feature_registers()[i])
}

fn any_name() -> impl Strategy<Value = &'static str> {
    let names: Vec<&'static str> = features().iter().flat_map(|f| f.all_names()).collect();
    (0..names.len()).prop_map(move |i| names[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_then_encode_keeps_the_named_bits(reg in any_register(), value in any::<u32>()) {
        let named = encode(features_in(reg));
        prop_assert_eq!(encode(decode(reg, value)), value & named);
        prop_assert_eq!(encode(decode(reg, value)) | unnamed_bits(reg, value), value);
        // Decoding an encoded set gives the same set back.
        let picked: Vec<_> = decode(reg, value).map(|f| f.id).collect();
        let again: Vec<_> = decode(reg, encode(decode(reg, value))).map(|f| f.id).collect();
        prop_assert_eq!(picked, again);
    }

    #[test]
    fn lookup_and_suggest_accept_any_input(s in ".{0,80}") {
        if let Some(f) = lookup(&s) {
            let fold = |x: &str| x.to_ascii_lowercase().replace('-', "_");
            prop_assert!(f.all_names().any(|n| fold(n) == fold(&s)));
        }
        let _ = suggest(&s);
    }

    #[test]
    fn names_ignore_case_and_dashes(name in any_name(), mask in any::<u64>()) {
        let mangled: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let c = if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
                match c { '-' if mask & 1 == 1 => '_', '_' if mask & 2 == 2 => '-', c => c }
            })
            .collect();
        prop_assert_eq!(lookup(&mangled).map(|f| f.id), lookup(name).map(|f| f.id));
    }

    #[test]
    fn suggest_finds_a_name_with_one_typo(name in any_name(), at in any::<prop::sample::Index>()) {
        prop_assume!(name.len() >= 5);
        let i = at.index(name.len());
        let mut typo = name.to_owned();
        typo.remove(i);
        prop_assert!(suggest(&typo).is_some(), "no suggestion for {}", typo);
    }

    #[test]
    fn feature_set_behaves_like_a_set(ops in prop::collection::vec((any::<bool>(), 0..FEATURE_COUNT), 0..200)) {
        let mut set = FeatureSet::new();
        let mut model = BTreeSet::new();
        for (insert, i) in ops {
            let id = FeatureId::from_index(i).unwrap();
            if insert {
                prop_assert_eq!(set.insert(id), model.insert(i));
            } else {
                prop_assert_eq!(set.remove(id), model.remove(&i));
            }
        }
        prop_assert_eq!(set.len(), model.len());
        let listed: Vec<usize> = set.iter().map(|id| id.index()).collect();
        prop_assert_eq!(listed, model.iter().copied().collect::<Vec<_>>());
        let all = FeatureSet::all();
        prop_assert_eq!(set.union(&all), all);
        prop_assert_eq!(set.intersection(&all), set);
        prop_assert!(set.difference(&all).is_empty());
        prop_assert!(set.is_subset(&all));
    }

    /// libxl's encoding of family and model (cpuid.md §2.2) decodes back.
    #[test]
    fn family_model_stepping_round_trip(family in 0u32..=0x10e, model in 0u32..=0xff, stepping in 0u32..=0xf) {
        let model = if family == 6 || family >= 15 { model } else { model & 0xf };
        let family_bits = if family < 16 { family << 8 } else { (0xf << 8) | ((family - 15) << 20) };
        let family = if family == 15 { 15 } else { family };
        let eax = family_bits | ((model & 0xf) << 4) | ((model >> 4) << 16) | stepping;
        prop_assert_eq!(display_family_model_stepping(eax), (family, model, stepping));
    }
}

#[test]
fn from_index_is_bounded() {
    assert!(FeatureId::from_index(FEATURE_COUNT).is_none());
    assert!(FeatureId::from_index(usize::MAX).is_none());
}

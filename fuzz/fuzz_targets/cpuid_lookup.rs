//! Fuzzes the cpuid-defs queries with arbitrary input: name lookup and
//! suggestion, field lookup, and decoding arbitrary (possibly unknown)
//! registers and locations. None of them may panic.

#![no_main]

use cpuid_defs::{
    FeatureRegister, Location, MsrHalf, Register, at, decode, encode, feature_registers, field,
    features_in, lookup, suggest, unnamed_bits,
};
use libfuzzer_sys::fuzz_target;

fn word(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = data.get(at + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let leaf = word(data, 0);
    let sub = word(data, 4);
    let value = word(data, 8);
    let selector = data.get(12).copied().unwrap_or(0);
    let register = Register::ALL[usize::from(selector & 3)];
    let subleaf = (selector & 4 != 0).then_some(sub);

    // A register taken from the table, and an arbitrary one.
    let known = feature_registers()[usize::from(selector) % feature_registers().len()];
    let arbitrary = if selector & 8 != 0 {
        FeatureRegister::Msr { index: leaf, half: if selector & 16 != 0 { MsrHalf::High } else { MsrHalf::Low } }
    } else {
        FeatureRegister::cpuid(leaf, subleaf, register)
    };
    for reg in [known, arbitrary] {
        let named = encode(features_in(reg));
        assert_eq!(encode(decode(reg, value)) | unnamed_bits(reg, value), value);
        assert_eq!(encode(decode(reg, value)), value & named);
    }
    let _ = at(Location::cpuid(leaf, subleaf, register, (sub & 0xff) as u8));
    let _ = at(Location::Msr { index: leaf, bit: (sub & 0xff) as u8 });

    if let Ok(text) = std::str::from_utf8(data.get(13..).unwrap_or(&[])) {
        if let Some(f) = lookup(text) {
            assert!(f.all_names().any(|n| n.eq_ignore_ascii_case(text) || n.replace('-', "_").eq_ignore_ascii_case(&text.replace('-', "_"))));
        }
        let _ = suggest(text);
        let _ = field(text);
    }
});

//! Invariants of the pool computation and the dump parsers, over the real
//! dumps in `testdata/cpuid/` with random feature differences.

use std::path::PathBuf;
use std::sync::OnceLock;

use cpuid_defs::{Class, FeatureRegister};
use maskcalc::dump::{self, Format, write};
use maskcalc::model::{CpuidInput, Host, HostCpuid};
use maskcalc::pool::{self, PoolMasks, PoolOptions, location_of};
use proptest::prelude::*;

mod common;
use common::cpuid_registers;

fn testdata() -> PathBuf {
    xenmig_test_support::testdata("cpuid")
}

/// Every real dump (`*.txt` copied from the shared collection), parsed once.
fn real_dumps() -> &'static Vec<(String, HostCpuid)> {
    static DUMPS: OnceLock<Vec<(String, HostCpuid)>> = OnceLock::new();
    DUMPS.get_or_init(|| {
        let mut names: Vec<_> = std::fs::read_dir(testdata())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".txt") && !n.starts_with("readme-"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let bytes = std::fs::read(testdata().join(&name)).unwrap();
                let host = dump::parse(&name, &bytes, None).unwrap_or_else(|e| panic!("{e}"));
                (name, host)
            })
            .collect()
    })
}

/// A host: a real dump with some feature register bits flipped.
fn host_strategy() -> impl Strategy<Value = Host> {
    let dumps = real_dumps().len();
    let registers = cpuid_registers().len();
    (
        0..dumps,
        prop::collection::vec((0..registers, any::<u32>()), 0..4),
    )
        .prop_map(|(index, flips)| {
            let (name, mut cpuid) = real_dumps()[index].clone();
            let registers = cpuid_registers();
            for (reg, xor) in flips {
                if let FeatureRegister::Cpuid { key, register } = registers[reg] {
                    let input = CpuidInput::new(key.leaf, key.subleaf.unwrap_or(0));
                    let regs = cpuid.leaves.entry(input).or_insert([0; 4]);
                    regs[register as usize] ^= xor;
                }
            }
            Host { name, cpuid }
        })
}

fn options() -> PoolOptions {
    let mut options = PoolOptions::default();
    options.allow_mixed_vendors = true;
    options
}

fn mask_bits(masks: &PoolMasks) -> Vec<(FeatureRegister, u32, u32)> {
    masks
        .registers
        .iter()
        .map(|r| (r.register, r.clear, r.set))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn an_intersect_bit_is_never_exposed_when_a_host_lacks_it(hosts in prop::collection::vec(host_strategy(), 2..6)) {
        let masks = pool::compute(&hosts, &options()).unwrap();
        for reg in &masks.registers {
            for bit in 0..32u8 {
                let having = reg.values.iter().filter(|v| *v & (1 << bit) != 0).count();
                // A multi-bit field is a number (a version, a count), never
                // masked bit by bit: the pool leaves it to the consumer.
                if having == 0 || having == reg.values.len() || cpuid_defs::field_bits(reg.register) & (1 << bit) != 0 {
                    continue;
                }
                let class = cpuid_defs::at(location_of(reg.register, bit)).map_or(Class::Intersect, |f| f.class);
                // Issue 6: differing `intersect`, `hidden` and `opt-in` bits are masked,
                // `accumulate` bits forced on (or cleared by a dependency), `host` bits left alone.
                if matches!(class, Class::Intersect | Class::Hidden | Class::OptIn) {
                    prop_assert!(reg.clear & (1 << bit) != 0, "{} bit {bit} ({}) exposed", reg.register, class.as_str());
                }
                if class == Class::Accumulate {
                    prop_assert!((reg.clear | reg.set) & (1 << bit) != 0, "{} bit {bit} not forced", reg.register);
                }
            }
        }
    }

    #[test]
    fn the_order_of_hosts_does_not_matter(hosts in prop::collection::vec(host_strategy(), 2..6), rotate in 0usize..6) {
        let forward = pool::compute(&hosts, &options()).unwrap();
        let mut reordered = hosts.clone();
        reordered.reverse();
        let by = rotate % reordered.len();
        reordered.rotate_left(by);
        let other = pool::compute(&reordered, &options()).unwrap();
        prop_assert_eq!(mask_bits(&forward), mask_bits(&other));
        prop_assert_eq!(maskcalc::render::xend(&forward), maskcalc::render::xend(&other));
    }

    #[test]
    fn adding_a_host_never_unmasks_a_bit(hosts in prop::collection::vec(host_strategy(), 2..5), extra in host_strategy()) {
        let before = pool::compute(&hosts, &options()).unwrap();
        let mut more = hosts.clone();
        more.push(extra);
        let after = pool::compute(&more, &options()).unwrap();
        for (b, a) in before.registers.iter().zip(&after.registers) {
            prop_assert_eq!(b.register, a.register);
            let lost = (b.clear | b.set) & !(a.clear | a.set);
            prop_assert_eq!(lost, 0, "{} lost masks {:#x}", b.register, lost);
        }
    }

    #[test]
    fn the_same_cpu_in_two_formats_gives_the_same_mask(
        a in 0usize..64, b in 0usize..64, fa in 0usize..5, fb in 0usize..5,
    ) {
        let dumps = real_dumps();
        let (name_a, host_a) = &dumps[a % dumps.len()];
        let (name_b, host_b) = &dumps[b % dumps.len()];
        let reparse = |name: &str, host: &HostCpuid, format: Format| {
            let text = write::to_format(host, format);
            let parsed = dump::parse(name, text.as_bytes(), None).unwrap_or_else(|e| panic!("{format}: {e}"));
            Host { name: name.to_owned(), cpuid: parsed }
        };
        let original = [
            Host { name: name_a.clone(), cpuid: host_a.clone() },
            Host { name: name_b.clone(), cpuid: host_b.clone() },
        ];
        let converted = [
            reparse(name_a, host_a, Format::ALL[fa]),
            reparse(name_b, host_b, Format::ALL[fb]),
        ];
        prop_assert_eq!(&converted[0].cpuid, host_a);
        let expected = pool::compute(&original, &options()).unwrap();
        let actual = pool::compute(&converted, &options()).unwrap();
        prop_assert_eq!(mask_bits(&expected), mask_bits(&actual));
    }

    #[test]
    fn damaged_dumps_give_located_errors_never_panics(
        index in 0usize..64, format in 0usize..5, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let dumps = real_dumps();
        let (_, host) = &dumps[index % dumps.len()];
        let mut bytes = write::to_format(host, Format::ALL[format]).into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let lines = bytes.split(|&b| b == b'\n').count();
        if let Err(err) = dump::parse("damaged", &bytes, None) {
            prop_assert_eq!(&err.file, "damaged");
            prop_assert!(err.to_string().starts_with("damaged:"));
            if let Some(line) = err.line {
                prop_assert!(line >= 1 && line <= lines, "line {} of {}", line, lines);
            }
        }
    }
}

#[test]
fn every_real_dump_parses_with_vendor_and_leaves() {
    assert!(real_dumps().len() >= 19);
    for (name, host) in real_dumps() {
        assert!(host.vendor_string().is_some(), "{name}");
        assert!(host.max_basic_leaf().unwrap() >= 0xd, "{name}");
        // Junk probe leaves above the maxima are gone.
        assert!(
            !host
                .leaves
                .keys()
                .any(|k| k.leaf == 0x2000_0000 || k.leaf == 0x8086_0000),
            "{name}"
        );
    }
}

#[test]
fn all_cpu_dump_equals_its_first_cpu() {
    let all = real_dumps()
        .iter()
        .find(|(n, _)| n == "amd-zen5-kvm-guest-allcpus.txt")
        .unwrap();
    let one = real_dumps()
        .iter()
        .find(|(n, _)| n == "amd-zen5-kvm-guest.txt")
        .unwrap();
    assert_eq!(all.1, one.1);
}

#[test]
fn cpus_that_disagree_on_a_feature_are_refused() {
    let text = std::fs::read_to_string(testdata().join("amd-zen5-kvm-guest-allcpus.txt")).unwrap();
    // CPU 1's leaf 1 ECX loses AVX (bit 28): 0xfffa3203 -> 0xeffa3203 (second occurrence only).
    let first = text.find("ecx=0xfffa3203").unwrap();
    let second = first + 1 + text[first + 1..].find("ecx=0xfffa3203").unwrap();
    let mut damaged = text.clone();
    damaged.replace_range(second..second + "ecx=0xfffa3203".len(), "ecx=0xeffa3203");
    let err = dump::parse("all", damaged.as_bytes(), None).unwrap_err();
    assert_eq!(err.line, Some(76), "{err}");
    assert!(err.message.contains("CPU 1"), "{err}");
    assert!(err.message.contains("0x10000000"), "{err}");
    // The APIC id in leaf 1 EBX differs per CPU and is not compared.
    assert!(dump::parse("all", text.as_bytes(), None).is_ok());
}

//! Test-only helpers: paths to the checked-in test data and a minimal
//! parser of `cpuid -1r` / `cpuid -r` dumps. The real, hardened dump parsers
//! live in the maskcalc crate; this one only has to read our own copies.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

pub use xenmig_test_support::testdata;

/// A reference TSV under `testdata/reference/`, as rows of cells (header skipped).
pub fn reference_tsv(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(testdata(&format!("reference/{name}")))
        .unwrap_or_else(|e| panic!("reading {name}: {e}"));
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// One CPU's registers: (leaf, subleaf) -> [eax, ebx, ecx, edx].
pub type Cpu = BTreeMap<(u32, u32), [u32; 4]>;

fn hex(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("bad hex {s:?}"))
}

/// Parses a `cpuid -1r` or `cpuid -r` dump into one [`Cpu`] per `CPU...:` block.
pub fn parse_dump(text: &str) -> Vec<Cpu> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("CPU") && line.ends_with(':') {
            cpus.push(Cpu::new());
            continue;
        }
        let Some((key, regs)) = line.split_once(": ") else {
            continue;
        };
        let mut key = key.split_whitespace();
        let (leaf, sub) = (hex(key.next().unwrap()), hex(key.next().unwrap()));
        let mut values = [0u32; 4];
        for (slot, part) in values.iter_mut().zip(regs.split_whitespace()) {
            *slot = hex(part.split_once('=').unwrap().1);
        }
        cpus.last_mut()
            .expect("data before a CPU: header")
            .insert((leaf, sub), values);
    }
    cpus
}

/// The first CPU of a dump file under `testdata/cpuid/`.
pub fn dump(name: &str) -> Cpu {
    let text = std::fs::read_to_string(testdata(&format!("cpuid/{name}")))
        .unwrap_or_else(|e| panic!("reading {name}: {e}"));
    parse_dump(&text).into_iter().next().expect("a CPU block")
}

/// Every bare-metal single-CPU dump (not the KVM guest ones).
pub const BARE_METAL: [&str; 17] = [
    "amd-genoa-epyc-9654.txt",
    "amd-milan-epyc-7763.txt",
    "amd-naples-epyc-7551p.txt",
    "amd-raphael-ryzen-9-7950x.txt",
    "amd-rome-epyc-7742.txt",
    "amd-turin-epyc-9655.txt",
    "hygon-dhyana-c86-3185.txt",
    "intel-broadwell-ep-xeon-e5-2620-v4.txt",
    "intel-cascadelake-sp-xeon-platinum-8280.txt",
    "intel-emeraldrapids-xeon-platinum-8570.txt",
    "intel-graniterapids-xeon-658x.txt",
    "intel-haswell-ep-xeon-e5-2699-v3.txt",
    "intel-icelake-sp-xeon-gold-6330.txt",
    "intel-ivybridge-ep-xeon-e5-2697-v2.txt",
    "intel-raptorlake-core-i9-13900k.txt",
    "intel-sapphirerapids-xeon-w9-3475x.txt",
    "intel-skylake-sp-xeon-platinum-8180.txt",
];

/// The value of a CPUID feature register in a dump, if the CPU reports
/// that leaf (at or below its maximum basic / extended leaf).
pub fn register_value(cpu: &Cpu, reg: cpuid_defs::FeatureRegister) -> Option<u32> {
    let cpuid_defs::FeatureRegister::Cpuid { key, register } = reg else {
        return None;
    };
    let max_basic = cpu.get(&(0, 0))?[0];
    let max_ext = cpu.get(&(0x8000_0000, 0)).map_or(0, |r| r[0]);
    let in_range = match key.leaf {
        0x4000_0000..=0x4000_ffff => true,
        l if l >= 0x8000_0000 => l <= max_ext,
        l => l <= max_basic,
    };
    if !in_range {
        return None;
    }
    let regs = cpu.get(&(key.leaf, key.subleaf.unwrap_or(0)))?;
    Some(regs[register as usize])
}

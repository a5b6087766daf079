//! The profile JSON loader on arbitrary bytes; what loads is written back
//! (and must load to the same profile), shown, exported in every format,
//! diffed and checked against a host made from its own limits.

#![no_main]

use cpu_profile::export::{self, ExportFormat};
use cpu_profile::{check, diff, json, show};
use libfuzzer_sys::fuzz_target;
use maskcalc::model::{CpuidInput, Host, HostCpuid};

fuzz_target!(|data: &[u8]| {
    let profile = match json::from_json("fuzz.json", data) {
        Ok(profile) => profile,
        Err(err) => {
            assert_eq!(err.file, "fuzz.json");
            assert!(err.to_string().starts_with("fuzz.json: "));
            return;
        }
    };
    let text = json::to_json(&profile);
    let again = json::from_json("again.json", text.as_bytes()).expect("written profiles load");
    assert_eq!(again, profile);
    let _ = show::show(&profile);
    for format in [
        ExportFormat::Xl,
        ExportFormat::Xend,
        ExportFormat::Libvirt,
        ExportFormat::Qemu,
        ExportFormat::Firecracker,
        ExportFormat::CloudHypervisor,
    ] {
        let _ = export::render(&profile, format, &maskcalc::consumer::Targets::newest());
    }
    assert!(diff::diff(&profile, &again).is_empty());
    let mut cpuid = HostCpuid::default();
    let vendor = profile.vendor.as_bytes();
    let word = |i: usize| vendor.get(i..i + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    cpuid.leaves.insert(CpuidInput::new(0, 0), [profile.limits.max_basic_leaf, word(0), word(8), word(4)]);
    for (reg, bits) in &profile.registers {
        if let cpuid_defs::FeatureRegister::Cpuid { key, register } = *reg {
            let regs = cpuid.leaves.entry(CpuidInput::new(key.leaf, key.subleaf.unwrap_or(0))).or_default();
            regs[register as usize] = bits.value;
        }
    }
    let report = check::check(&profile, &Host { name: "fuzz".into(), cpuid });
    let _ = check::reports_json(&profile.name, &[report]);
});

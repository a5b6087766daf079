//! Profiles of pools made of the real CPUID dumps in `testdata/cpuid/`.

use std::path::PathBuf;

use cpu_profile::check::{Problem, check};
use cpu_profile::export::{ExportFormat, render};
use cpu_profile::generate::generate;
use cpu_profile::json;
use cpuid_defs::{Class, FeatureRegister};
use maskcalc::model::{CpuidInput, Host};
use maskcalc::pool::{PoolOptions, compute};
use proptest::prelude::*;

fn dump_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/cpuid")
}

/// Every bare-metal dump (not the KVM guests), by vendor.
fn real_hosts() -> Vec<Host> {
    let mut names: Vec<String> = std::fs::read_dir(dump_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            (n.starts_with("intel-") || n.starts_with("amd-") || n.starts_with("hygon-"))
                && n.ends_with(".txt")
                && !n.contains("kvm-guest")
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let bytes = std::fs::read(dump_dir().join(name)).unwrap();
            Host {
                name: name.clone(),
                cpuid: maskcalc::dump::parse(name, &bytes, None).unwrap(),
            }
        })
        .collect()
}

fn same_vendor(hosts: &[Host], vendor: &str) -> Vec<Host> {
    hosts
        .iter()
        .filter(|h| h.cpuid.vendor_string().as_deref() == Some(vendor))
        .cloned()
        .collect()
}

/// A pool: a non-empty subset of one vendor's dumps, chosen by a bit pattern.
fn pool(all: &[Host], intel: bool, pattern: u32) -> Vec<Host> {
    let hosts = same_vendor(
        all,
        if intel {
            "GenuineIntel"
        } else {
            "AuthenticAMD"
        },
    );
    let mut chosen: Vec<Host> = hosts
        .iter()
        .enumerate()
        .filter(|(i, _)| pattern & (1 << (i % 32)) != 0)
        .map(|(_, h)| h.clone())
        .collect();
    if chosen.is_empty() {
        chosen.push(hosts[pattern as usize % hosts.len()].clone());
    }
    chosen
}

#[test]
fn every_host_fits_the_profile_of_all_hosts_of_its_vendor() {
    let all = real_hosts();
    assert!(
        all.len() >= 15,
        "expected the real dumps, found {}",
        all.len()
    );
    for vendor in ["GenuineIntel", "AuthenticAMD"] {
        let hosts = same_vendor(&all, vendor);
        let profile = generate(vendor, &hosts).unwrap();
        for host in &hosts {
            let report = check(&profile, host);
            assert!(
                report.is_compatible(),
                "{}: {:?}",
                host.name,
                report.problems
            );
        }
        // And the oldest host's signature.
        let oldest = hosts
            .iter()
            .map(|h| cpuid_defs::display_family_model_stepping(h.cpuid.register(1, 0, 0)))
            .min()
            .unwrap();
        assert_eq!(profile.limits.family_model_stepping(), oldest);
    }
}

#[test]
fn a_newer_host_does_not_fit_an_older_hosts_profile_by_name() {
    let all = real_hosts();
    let find = |name: &str| all.iter().find(|h| h.name.contains(name)).unwrap().clone();
    let sapphire = generate("spr", &[find("sapphirerapids")]).unwrap();
    let report = check(&sapphire, &find("haswell"));
    assert!(!report.is_compatible());
    let missing = report.missing_names();
    for name in ["AVX512F", "AVX512BW", "AMX_TILE", "SERIALIZE"] {
        if cpuid_defs::lookup(name).is_some_and(|f| f.class != Class::Hidden) {
            assert!(missing.contains(&name), "{name} not in {missing:?}");
        }
    }
    assert!(
        report.problems.iter().any(|p| matches!(
            p,
            Problem::Limit {
                name: "max_basic_leaf",
                ..
            }
        )),
        "{:?}",
        report.problems
    );
    // An AMD host is a vendor problem.
    let report = check(&sapphire, &find("amd-genoa"));
    assert!(matches!(report.problems[0], Problem::Vendor { .. }));
}

#[test]
fn export_agrees_with_xen_maskcalc_for_pools_of_real_hosts() {
    let all = real_hosts();
    for (intel, pattern) in [
        (true, 0b11),
        (true, 0x2a5),
        (true, u32::MAX),
        (false, 0b111),
        (false, 0b1010),
    ] {
        let hosts = pool(&all, intel, pattern);
        if hosts.len() < 2 {
            continue;
        }
        let profile = generate("p", &hosts).unwrap();
        let reloaded = json::from_json("p.json", json::to_json(&profile).as_bytes()).unwrap();
        let masks = compute(&hosts, &PoolOptions::default()).unwrap();
        let guest = maskcalc::consumer::GuestCpu::from_masks(&masks);
        let mut targets = maskcalc::consumer::Targets::newest();
        assert_eq!(
            render(&reloaded, ExportFormat::Xend, &targets).text,
            maskcalc::render::xend(&masks)
        );
        assert_eq!(
            render(&reloaded, ExportFormat::Xl, &targets),
            maskcalc::render::xl(&masks, &targets)
        );
        assert_eq!(
            render(&reloaded, ExportFormat::Firecracker, &targets).text,
            maskcalc::render::firecracker(&masks).text
        );
        // Named models are chosen from what each side knows (a profile
        // defines what its guests see, by class; a pool what every host has),
        // so only the passthrough forms are the same bytes.
        // (The warnings differ: a profile keeps no reasons, so cannot tell a
        // dependency of a cleared feature from any other masked bit.)
        targets.cpu_mode = maskcalc::consumer::CpuMode::Passthrough;
        assert_eq!(
            render(&reloaded, ExportFormat::Libvirt, &targets).text,
            maskcalc::render::libvirt(&masks, &guest, &targets).text
        );
        assert_eq!(
            render(&reloaded, ExportFormat::Qemu, &targets).text,
            maskcalc::render::qemu(&masks, &guest, &targets).text
        );
    }
}

#[test]
fn cloud_hypervisor_export_applied_to_a_pool_host_gives_the_profile() {
    let all = real_hosts();
    // Cascade Lake, Emerald and Granite Rapids all have MD_CLEAR; Skylake
    // (bit 9) does not.
    let mut withheld_somewhere = false;
    for pattern in [0b1110, 0b10_0000_1110] {
        let hosts = pool(&all, true, pattern);
        withheld_somewhere |= cloud_hypervisor_export_gives_the_profile(&hosts);
    }
    assert!(
        withheld_somewhere,
        "no pool had an accumulate feature to withhold"
    );
}

/// Applies the Cloud Hypervisor export of `hosts`' profile to each host:
/// every register the profile defines reads as the profile's value, less
/// the `accumulate` features some host lacks (KVM guests are not given
/// them). True when there was such a feature.
fn cloud_hypervisor_export_gives_the_profile(hosts: &[Host]) -> bool {
    let profile = generate("p", hosts).unwrap();
    let text = render(
        &profile,
        ExportFormat::CloudHypervisor,
        &maskcalc::consumer::Targets::newest(),
    )
    .text;
    let not_on_every_host = |reg: FeatureRegister| {
        let (all, any) = hosts
            .iter()
            .map(|h| maskcalc::defs::register_value(&h.cpuid, reg).unwrap_or(0))
            .fold((u32::MAX, 0), |(all, any), v| (all & v, any | v));
        (0..32u8)
            .filter(|&bit| {
                cpuid_defs::at(maskcalc::pool::location_of(reg, bit))
                    .is_some_and(|f| f.class == Class::Accumulate)
            })
            .fold(0u32, |m, bit| m | (1 << bit))
            & any
            & !all
    };
    let mut withheld_any = false;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["cpu_vendor"], "Intel");
    assert_eq!(value["hypervisor"], "Kvm");
    let adjustments = value["adjustments"].as_array().unwrap();
    // Cloud Hypervisor's deserialize_u32_hex: a string, `0x` required.
    let hex = |v: &serde_json::Value| {
        u32::from_str_radix(v.as_str().unwrap().strip_prefix("0x").unwrap(), 16).unwrap()
    };
    // Apply the adjustments to each host as Cloud Hypervisor does: the result
    // must be the profile's value on every register the profile defines.
    for host in hosts {
        for (reg, bits) in &profile.registers {
            let FeatureRegister::Cpuid { key, register } = *reg else {
                continue;
            };
            let withheld = not_on_every_host(*reg);
            withheld_any |= withheld != 0;
            let sub = key.subleaf.unwrap_or(0);
            let matching: Vec<&serde_json::Value> = adjustments
                .iter()
                .filter(|a| {
                    let p = &a[0];
                    hex(&p["leaf"]) == key.leaf
                        && p["register"] == register.as_str().to_uppercase()
                        && hex(&p["sub_leaf"]["start"]) <= sub
                        && sub <= hex(&p["sub_leaf"]["end"])
                })
                .collect();
            assert_eq!(matching.len(), 1, "{reg}: {matching:?}");
            let adj = &matching[0][1];
            let host_value = maskcalc::defs::register_value(&host.cpuid, *reg).unwrap();
            let applied = (host_value & hex(&adj["mask"])) | hex(&adj["replacements"]);
            assert_eq!(
                applied & bits.mask,
                bits.value & !withheld,
                "{reg} on {}",
                host.name
            );
        }
    }
    withheld_any
}

#[test]
fn cloud_hypervisor_export_names_the_vendor_as_cloud_hypervisor_sees_the_host() {
    let all = real_hosts();
    for (name, vendor) in [
        ("intel-skylake", "Intel"),
        ("amd-rome", "AMD"),
        ("hygon", "Unknown"),
    ] {
        let host = all.iter().find(|h| h.name.contains(name)).unwrap();
        let profile = generate("p", std::slice::from_ref(host)).unwrap();
        let rendered = render(
            &profile,
            ExportFormat::CloudHypervisor,
            &maskcalc::consumer::Targets::newest(),
        );
        let value: serde_json::Value = serde_json::from_str(&rendered.text).unwrap();
        assert_eq!(value["cpu_vendor"], vendor);
        assert!(rendered.omitted.is_empty(), "{:?}", rendered.omitted);
        if vendor == "Unknown" {
            assert_eq!(
                rendered.notes,
                [
                    "cpu_vendor is Unknown: Cloud Hypervisor names only Intel and AMD, and sees a \
                     host of any other vendor (this profile's is HygonGenuine) as Unknown"
                ]
            );
        } else {
            assert!(rendered.notes.is_empty(), "{:?}", rendered.notes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A profile made from hosts H fits every host of H, survives the JSON
    /// round trip, and a host of H stripped of any `intersect` feature the
    /// profile shows is reported by that feature's name.
    #[test]
    fn pool_profiles_fit_their_hosts_and_name_what_is_missing(
        intel in any::<bool>(),
        pattern in any::<u32>(),
        victim in any::<usize>(),
        pick in any::<usize>(),
    ) {
        let all = real_hosts();
        let hosts = pool(&all, intel, pattern);
        let profile = generate("pool", &hosts).unwrap();
        let text = json::to_json(&profile);
        prop_assert_eq!(&json::from_json("pool.json", text.as_bytes()).unwrap(), &profile);
        // The same pool given in another order is the same file, byte for byte.
        let mut reversed = hosts.clone();
        reversed.reverse();
        prop_assert_eq!(json::to_json(&generate("pool", &reversed).unwrap()), text.clone());
        for host in &hosts {
            let report = check(&profile, host);
            prop_assert!(report.is_compatible(), "{}: {:?}", host.name, report.problems);
        }
        let shown: Vec<(&'static cpuid_defs::Feature, FeatureRegister, u8)> = profile
            .registers
            .iter()
            .filter(|(reg, _)| matches!(reg, FeatureRegister::Cpuid { .. }))
            .flat_map(|(reg, bits)| {
                (0..32u8).filter_map(move |bit| {
                    let f = cpuid_defs::at(maskcalc::pool::location_of(*reg, bit))?;
                    (f.class == Class::Intersect && bits.value & (1 << bit) != 0).then_some((f, *reg, bit))
                })
            })
            .collect();
        prop_assume!(!shown.is_empty());
        let (feature, register, bit) = shown[pick % shown.len()];
        let mut host = hosts[victim % hosts.len()].clone();
        let FeatureRegister::Cpuid { key, register: r } = register else { unreachable!() };
        let index = match r {
            cpuid_defs::Register::Eax => 0,
            cpuid_defs::Register::Ebx => 1,
            cpuid_defs::Register::Ecx => 2,
            cpuid_defs::Register::Edx => 3,
        };
        let regs = host.cpuid.leaves.get_mut(&CpuidInput::new(key.leaf, key.subleaf.unwrap_or(0))).unwrap();
        regs[index] &= !(1u32 << bit);
        let report = check(&profile, &host);
        prop_assert_eq!(report.missing_names(), vec![feature.name]);
        let message = report.problems[0].to_string();
        prop_assert!(message.contains(feature.name) && message.contains("intersect"), "{}", message);
    }
}

#[test]
fn hidden_features_take_their_xsave_state_with_them() {
    let all = real_hosts();
    let spr = all
        .iter()
        .find(|h| h.name.contains("sapphirerapids"))
        .unwrap();
    let raw = spr.cpuid.register(0xd, 0, 0);
    assert_eq!(
        raw & (0b11 << 17),
        0b11 << 17,
        "the host has AMX tile state"
    );
    let profile = generate("spr", std::slice::from_ref(spr)).unwrap();
    let xcr0 = profile
        .defined(FeatureRegister::cpuid(
            0xd,
            Some(0),
            cpuid_defs::Register::Eax,
        ))
        .unwrap();
    // AMX_TILE is hidden, so the tile state components go too; AVX-512 stays.
    assert_eq!(xcr0.value, raw & !(0b11 << 17));
    assert_eq!(xcr0.value & 0xe0, 0xe0);
    assert!(check(&profile, spr).is_compatible());
}

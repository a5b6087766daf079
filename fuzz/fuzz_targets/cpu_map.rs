//! libvirt cpu_map files (x86_features.xml and model files) from untrusted
//! bytes: parsing, parent resolution and the tables built from them never
//! panic, and a model chosen from them names only what the table has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maskcalc::consumer::{cpu_map, Release, Version};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line of the input splits it into a features file and model files.
    let (features, models) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = cpu_map::parse_features(features);
    let _ = cpu_map::parse_features(models);
    if let Ok(parsed) = cpu_map::parse_models(models) {
        let _ = cpu_map::resolve(&parsed);
    }
    let files: Vec<&str> = models.split("\u{1}").collect();
    if let Ok((names, table)) = cpu_map::tables(Version::new(9, 0), "fuzz", features, &files) {
        let release = Release::from_tables(&names, &table, Version::new(9, 0));
        let guest = maskcalc::consumer::GuestCpu::new("GenuineIntel");
        if let Some(chosen) = maskcalc::consumer::baseline::choose(&guest, &release, &release.models, |_| None) {
            assert!(release.models.iter().any(|m| m.name == chosen.model));
        }
    }
});

//! `migration_stream::wire` and `payload` are the only place stream bytes
//! become fields and fields become bytes: no library source outside
//! `crates/migration-stream` decodes or encodes integers by hand. The
//! exceptions below are the places whose bytes are not a Xen migration
//! stream, each with its reason; an exception that no longer applies fails
//! too, so the list stays exact.

use std::path::{Path, PathBuf};
use xtask::repo_root;

/// The hand conversions this guard looks for.
const CONVERSIONS: [&str; 4] = [
    "from_le_bytes",
    "from_be_bytes",
    "to_le_bytes",
    "to_be_bytes",
];

/// Files (relative to `crates/`) allowed to convert by hand, and why.
///
/// legacy-convert needs none: the legacy format's layouts are zerocopy
/// structs in `legacy-convert/src/wire.rs` (the one module of that crate
/// where legacy bytes become fields), and its v2 output goes through
/// migration-stream.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "cpuid-defs/src/vendor.rs",
        "the CPUID vendor string is leaf 0's EBX, EDX, ECX in ASCII order: CPU registers, not stream bytes",
    ),
    (
        "maskcalc/src/model.rs",
        "the vendor string of a dump's leaf 0 (CPU registers, not stream bytes)",
    ),
    (
        "cpu-profile/src/export.rs",
        "a profile's vendor string back to leaf 0 registers (CPU registers, not stream bytes)",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crates/<crate>/src` file outside migration-stream that converts
/// integers by hand, with the conversions it uses.
fn hand_conversions(crates: &Path) -> Vec<(String, Vec<&'static str>)> {
    let mut found = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(crates)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "migration-stream"))
        .collect();
    dirs.sort();
    for dir in dirs {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let used: Vec<&str> = CONVERSIONS
                .into_iter()
                .filter(|c| text.contains(c))
                .collect();
            if !used.is_empty() {
                let relative = file.strip_prefix(crates).unwrap();
                found.push((relative.to_string_lossy().replace('\\', "/"), used));
            }
        }
    }
    found
}

#[test]
fn only_migration_stream_turns_bytes_into_integers() {
    let crates = repo_root().join("crates");
    let found = hand_conversions(&crates);
    assert!(
        found.iter().any(|(f, _)| f.starts_with("cpuid-defs/")),
        "the scan found nothing where it must find something: wrong directory?"
    );
    let unjustified: Vec<String> = found
        .iter()
        .filter(|(file, _)| !EXCEPTIONS.iter().any(|(e, _)| e == file))
        .map(|(file, used)| format!("crates/{file} uses {}", used.join(", ")))
        .collect();
    assert!(
        unjustified.is_empty(),
        "decode and encode stream bytes through migration_stream::wire and payload, or \
         justify the exception in xtask/tests/wire_guard.rs:\n{}",
        unjustified.join("\n")
    );
    let stale: Vec<&str> = EXCEPTIONS
        .iter()
        .filter(|(e, _)| !found.iter().any(|(f, _)| f == e))
        .map(|(e, _)| *e)
        .collect();
    assert!(
        stale.is_empty(),
        "these exceptions no longer convert by hand: remove them from xtask/tests/wire_guard.rs: {stale:?}"
    );
}

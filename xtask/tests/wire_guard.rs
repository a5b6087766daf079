//! `migration_stream::wire` and `payload` are the only place stream bytes
//! become fields and fields become bytes: no library source outside
//! `crates/migration-stream` decodes or encodes integers by hand. The
//! exceptions below are the places whose bytes are not a Xen migration
//! stream, each with its reason; an exception that no longer applies fails
//! too, so the list stays exact. Comments and doc examples do not count.

use std::path::{Path, PathBuf};
use xtask::{repo_root, rust_files};

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
        let mut files = rust_files(&dir.join("src"));
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // Comments and doc examples are not the library's code: an
            // example may build its input bytes the way a caller would.
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let used: Vec<&str> = CONVERSIONS
                .into_iter()
                .filter(|c| code.contains(c))
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

/// The only source files that may allow `unsafe` (the workspace denies it),
/// and why; each `unsafe` block there has a SAFETY comment just above.
const UNSAFE_FILES: &[(&str, &str)] = &[
    (
        "cli/src/fdio.rs",
        "checking and adopting an inherited file descriptor",
    ),
    (
        "cli/src/fdio/output.rs",
        "the output's status flags (fcntl) and waiting for room (poll)",
    ),
    ("cli/src/fdio/replace.rs", "linkat of an unnamed file"),
    (
        "cli/src/fdio/writeback.rs",
        "sync_file_range and posix_fadvise of the file being written",
    ),
    (
        "capi/src/lib.rs",
        "the C boundary: exported symbols, the caller's pointers and descriptors",
    ),
];

#[test]
fn unsafe_is_allowed_only_where_the_architecture_says() {
    let crates = repo_root().join("crates");
    let mut found: Vec<String> = Vec::new();
    let mut missing_safety = Vec::new();
    for file in rust_files(&crates) {
        let relative = file.strip_prefix(&crates).unwrap();
        // Tests may count allocations with a global allocator.
        if !relative.components().any(|c| c.as_os_str() == "src") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.contains("allow(unsafe_code)") {
            continue;
        }
        let name = relative.to_string_lossy().into_owned();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("unsafe {") {
                let before = &lines[i.saturating_sub(4)..=i];
                if !before.iter().any(|l| l.contains("SAFETY")) {
                    missing_safety.push(format!("{name}:{}", i + 1));
                }
            }
        }
        found.push(name);
    }
    found.sort();
    let mut allowed: Vec<String> = UNSAFE_FILES.iter().map(|(f, _)| (*f).to_owned()).collect();
    allowed.sort();
    assert_eq!(found, allowed, "files that allow unsafe code");
    assert!(
        missing_safety.is_empty(),
        "unsafe without a SAFETY comment near: {missing_safety:?}"
    );
}

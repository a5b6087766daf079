//! Project chores, run as `cargo xtask <command>`.
//!
//! Generated files (test data, code tables) are produced in memory as a list
//! of [`GeneratedFile`]s; `cargo xtask gen-testdata` / `codegen` write them, and
//! the staleness tests in `xtask/tests/` regenerate them and fail when the
//! checked-in copies differ. One generator per area registers itself in
//! [`generators`].

// A developer's tool run in a terminal: printing is how it reports.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

pub mod bench_convert;
pub mod bench_maskcalc;
pub mod bench_plan;
pub mod bench_profile;
pub mod bench_util;
pub mod bench_verify;
pub mod c_text;
pub mod capi_codegen;
pub mod consumer_facts;
pub mod convert_floor;
pub mod copy_experiment;
pub mod cpuid_codegen;
pub mod dist;
pub mod doc_examples;
pub mod durability_experiment;
pub mod legacy;
pub mod legacy_crosscheck;
pub mod maskcalc_testdata;
pub mod profile_streams;
pub mod public_api;
pub mod stream_bench;
pub mod streams;
pub mod upstream;
pub mod verify_cases;

/// One file that a generator produces: a path relative to the repository root
/// and its full contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the repository root, with `/` separators.
    pub path: PathBuf,
    /// The exact bytes the file must contain.
    pub contents: Vec<u8>,
}

impl GeneratedFile {
    /// A generated file at `path` (relative to the repository root).
    pub fn new(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        GeneratedFile {
            path: path.into(),
            contents: contents.into(),
        }
    }
}

/// What kind of chore produces a file: `gen-testdata`, `codegen` or `public-api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Test data under `testdata/`.
    TestData,
    /// Generated Rust source checked into a crate.
    Code,
    /// The public API listings (`crates/NAME/public-api.txt`), from rustdoc.
    PublicApi,
}

/// A named generator: what it is called, its kind, and the function producing its files.
pub struct Generator {
    /// Short name, shown by `cargo xtask gen-testdata -v`.
    pub name: &'static str,
    /// Which command runs it.
    pub kind: Kind,
    /// Produces every file of this generator, given the repository root.
    pub run: fn(&Path) -> Result<Vec<GeneratedFile>, String>,
}

/// Every generator in the project.
pub fn generators() -> Vec<Generator> {
    vec![
        Generator {
            name: "cpuid-defs table",
            kind: Kind::Code,
            run: cpuid_codegen::generate,
        },
        Generator {
            name: "libxenmig header and pkg-config file",
            kind: Kind::Code,
            run: capi_codegen::generate,
        },
        Generator {
            name: "streams",
            kind: Kind::TestData,
            run: streams::generate,
        },
        Generator {
            name: "legacy",
            kind: Kind::TestData,
            run: legacy::generate,
        },
        Generator {
            name: "verify-cases",
            kind: Kind::TestData,
            run: verify_cases::generate,
        },
        Generator {
            name: "xen-maskcalc test data",
            kind: Kind::TestData,
            run: maskcalc_testdata::generate,
        },
        Generator {
            name: "cpu-profile streams",
            kind: Kind::TestData,
            run: profile_streams::generate,
        },
        Generator {
            name: "public API",
            kind: Kind::PublicApi,
            run: public_api::generate,
        },
    ]
}

/// The repository root (the parent of `xtask/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .into()
}

/// Every `.rs` file under `dir`, in no particular order (none when `dir`
/// does not exist): what the source guards of `xtask/tests` read.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Runs every generator of `kind` and returns the files it produces.
pub fn generate(kind: Kind, root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let mut files = Vec::new();
    for generator in generators().into_iter().filter(|g| g.kind == kind) {
        let produced = (generator.run)(root).map_err(|e| format!("{}: {e}", generator.name))?;
        files.extend(produced);
    }
    Ok(files)
}

/// The generated files whose checked-in copy is missing or differs.
pub fn stale_files(kind: Kind, root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut stale = Vec::new();
    for file in generate(kind, root)? {
        match std::fs::read(root.join(&file.path)) {
            Ok(on_disk) if on_disk == file.contents => {}
            _ => stale.push(file.path),
        }
    }
    Ok(stale)
}

/// Writes the generated files of `kind` under `root`, returning how many changed.
pub fn write_generated(kind: Kind, root: &Path) -> Result<usize, String> {
    let mut changed = 0;
    for file in generate(kind, root)? {
        let dest = root.join(&file.path);
        if std::fs::read(&dest).ok().as_deref() == Some(&file.contents[..]) {
            continue;
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&dest, &file.contents).map_err(|e| format!("{}: {e}", dest.display()))?;
        changed += 1;
    }
    Ok(changed)
}

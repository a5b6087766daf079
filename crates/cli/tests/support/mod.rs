//! Helpers shared by the CLI integration tests: running a tool and comparing
//! its output with a golden file under `testdata/golden/`.
//!
//! Set `XENMIG_BLESS=1` to rewrite the golden files from the current output
//! (then review the diff before committing).

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A path under `testdata/`.
pub fn testdata(relative: &str) -> PathBuf {
    repo_root().join("testdata").join(relative)
}

/// Runs a binary of this crate (its path from `env!("CARGO_BIN_EXE_<name>")`)
/// with `args` and no standard input, from the repository root.
pub fn run(exe: &str, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"))
}

/// The exit code of a finished tool (panics if it died from a signal).
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("tool was killed by a signal")
}

/// Compares `actual` with `testdata/golden/<name>`, or rewrites it under `XENMIG_BLESS=1`.
pub fn assert_golden(name: &str, actual: &str) {
    let path = repo_root().join("testdata/golden").join(name);
    if std::env::var_os("XENMIG_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} missing ({e}); run with XENMIG_BLESS=1",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "output differs from {}\n--- expected\n{expected}\n--- actual\n{actual}\n(run with XENMIG_BLESS=1 to accept)",
            path.display()
        );
    }
}

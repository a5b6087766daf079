//! What the workspace's tests share: where the repository and its
//! `testdata/` are, golden files, scratch directories, the legacy test
//! images, a reader that trickles, and `skip!`. A dev-dependency only
//! (`publish = false`): no library or binary links it.
//!
//! Set `XENMIG_BLESS=1` to rewrite the golden files from the current output
//! (then review the diff before committing).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// A path under `testdata/`.
pub fn testdata(relative: &str) -> PathBuf {
    repo_root().join("testdata").join(relative)
}

/// A fresh, empty scratch directory for one test (`name` unique within its
/// test binary).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xenmig-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory can be made");
    dir
}

/// Compares `actual` with `testdata/golden/<name>`, or rewrites it under
/// `XENMIG_BLESS=1`.
pub fn assert_golden(name: &str, actual: &str) {
    let path = repo_root().join("testdata/golden").join(name);
    if std::env::var_os("XENMIG_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden files are in a folder")).unwrap();
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

/// Every legacy test image of `testdata/legacy/` (`cargo xtask
/// gen-testdata` writes them): (file stem, bytes), sorted by stem.
pub fn legacy_images() -> Vec<(String, Vec<u8>)> {
    let mut images: Vec<(String, Vec<u8>)> = std::fs::read_dir(testdata("legacy"))
        .expect("testdata/legacy exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "img"))
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&path).unwrap())
        })
        .collect();
    images.sort();
    assert!(
        images.len() >= 10,
        "test images missing: run cargo xtask gen-testdata"
    );
    images
}

/// A reader that returns at most `step` bytes a call, the way a pipe or a
/// socket does, so that every boundary a parser buffers across is crossed.
#[derive(Debug)]
pub struct Trickle<R> {
    inner: R,
    step: usize,
}

impl<R: Read> Trickle<R> {
    /// `inner`, read at most `step` bytes at a time.
    pub fn new(inner: R, step: usize) -> Trickle<R> {
        Trickle { inner, step }
    }
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step);
        self.inner.read(&mut buf[..n])
    }
}

/// Says on standard error why (part of) a test is skipped; a macro, so that
/// the print is in the test function, where the lints allow it.
#[macro_export]
macro_rules! skip {
    ($reason:expr) => {
        eprintln!("skipped: {}", $reason)
    };
}

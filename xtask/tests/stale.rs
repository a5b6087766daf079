//! Fails when checked-in generated files differ from what the generators produce.
//! Fix with `cargo xtask gen-testdata` or `cargo xtask codegen`.

use xtask::{Kind, repo_root, stale_files};

#[test]
fn checked_in_test_data_is_current() {
    let stale = stale_files(Kind::TestData, &repo_root()).unwrap();
    assert!(
        stale.is_empty(),
        "stale test data, run `cargo xtask gen-testdata`: {stale:?}"
    );
}

#[test]
fn checked_in_generated_code_is_current() {
    let stale = stale_files(Kind::Code, &repo_root()).unwrap();
    assert!(
        stale.is_empty(),
        "stale generated code, run `cargo xtask codegen`: {stale:?}"
    );
}

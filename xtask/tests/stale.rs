//! Fails when checked-in generated files differ from what the generators produce.
//! Fix with `cargo xtask gen-testdata`, `cargo xtask codegen` or, after
//! reviewing the change to what embedders can use, `cargo xtask public-api`.

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

/// A change to a library's public API must be a reviewed one: the listing is
/// part of the diff.
#[test]
fn checked_in_public_api_listing_is_current() {
    let stale = stale_files(Kind::PublicApi, &repo_root()).unwrap();
    assert!(
        stale.is_empty(),
        "the public API changed; review crates/*/public-api.txt after `cargo xtask public-api`: {stale:?}"
    );
}

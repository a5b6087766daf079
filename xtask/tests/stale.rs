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

/// The libraries whose every public item has its example: for these an item
/// without one fails here, not only as a new line in review. A crate joins
/// the list when its `examples-missing.txt` empties.
const EXAMPLES_COMPLETE: &[&str] = &["cpuid-defs", "stream-verify"];

#[test]
fn libraries_with_complete_examples_stay_complete() {
    let root = repo_root();
    for package in xtask::public_api::LIBRARY_CRATES {
        let path = root.join(xtask::public_api::examples_missing_path(package));
        let text = std::fs::read_to_string(&path).unwrap();
        let missing: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        if EXAMPLES_COMPLETE.contains(package) {
            assert!(
                missing.is_empty(),
                "{package}: every public item had an example; these have none: {missing:?}"
            );
        } else {
            assert!(
                !missing.is_empty(),
                "{package} has an example for every public item: add it to EXAMPLES_COMPLETE"
            );
        }
    }
}

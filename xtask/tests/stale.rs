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

/// Every public item of every library has its example (the rule:
/// docs/decisions.md, "Every public item has an example"). The staleness
/// test above keeps `examples-missing.txt` true; this one keeps it empty,
/// so an item added without an example fails here.
#[test]
fn every_library_has_an_example_for_every_public_item() {
    let root = repo_root();
    for package in xtask::public_api::LIBRARY_CRATES {
        let path = root.join(xtask::public_api::examples_missing_path(package));
        let text = std::fs::read_to_string(&path).unwrap();
        let missing: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            missing.is_empty(),
            "{package}: these public items have no example: {missing:?}"
        );
    }
}

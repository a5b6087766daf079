//! `testdata/upstream/*.tsv` are what `cargo xtask upstream` writes: read
//! back and written again they come out byte for byte the same, and each
//! names the upstream files its extractor reads. The extractors also still
//! read the real upstream files a Debian machine installs (Xen 4.17's public
//! header from libxen-dev, libvirt 9.0's cpu_map from libvirt0): every bit
//! those releases name is in the checked-in facts of the newer upstream, at
//! the same place and under the same name.

use xtask::repo_root;
use xtask::upstream::{self, Facts, Row};

fn checked_in(source: &str) -> (String, Facts) {
    let path = repo_root().join(format!("testdata/upstream/{source}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let facts = upstream::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (text, facts)
}

#[test]
fn every_tsv_is_what_the_extractor_writes() {
    for (source, paths) in upstream::sources() {
        let (text, facts) = checked_in(source);
        let read: Vec<&str> = facts.origins.iter().map(|(_, p, _)| p.as_str()).collect();
        assert_eq!(read, paths, "{source}.tsv: the files its extractor reads");
        for (repo, _, commit) in &facts.origins {
            assert!(
                repo.contains('/') && !commit.is_empty(),
                "{source}.tsv: {repo} {commit}"
            );
        }
        assert!(!facts.rows.is_empty(), "{source}.tsv has no rows");
        assert_eq!(
            upstream::render(source, &facts.origins, &facts.rows),
            text,
            "testdata/upstream/{source}.tsv is not what `cargo xtask upstream {source}` writes: \
             extract it again instead of editing it"
        );
    }
}

/// The text of an installed upstream file, or why the test skips: the
/// package is missing and CI did not ask for it.
fn installed(path: &str, package: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        assert!(
            std::env::var_os("XENMIG_REQUIRE_UPSTREAM_PACKAGES").is_none(),
            "{path} ({package}): {e}, and XENMIG_REQUIRE_UPSTREAM_PACKAGES asks for it"
        );
        format!("skipped: {path} is not installed ({package})")
    })
}

/// Rows of `older` that the checked-in `source` facts lack at the same
/// position under the same name. (None today: neither Xen since 4.17 nor
/// libvirt since 9.0 renamed or moved a bit; a rename would be listed here
/// with the new name.)
fn missing<'a>(source: &str, older: &'a [Row]) -> Vec<&'a Row> {
    let (_, newer) = checked_in(source);
    older
        .iter()
        .filter(|r| {
            !newer
                .rows
                .iter()
                .any(|n| n.loc == r.loc && n.name == r.name)
        })
        .collect()
}

#[test]
fn xen_4_17_public_header_is_covered() {
    let header = match installed("/usr/include/xen/arch-x86/cpufeatureset.h", "libxen-dev") {
        Ok(text) => text,
        Err(skip) => return eprintln!("{skip}"),
    };
    // The installed header comes without gen-cpuid.py: no dependency graph.
    let rows = upstream::extract("xen", &[header, "deps = {\n}\n".to_owned()]).unwrap();
    assert!(
        rows.len() > 200,
        "{} rows from Xen 4.17's header",
        rows.len()
    );
    let lacking = missing("xen", &rows);
    assert!(
        lacking.is_empty(),
        "Xen 4.17 names bits master does not: {lacking:#?}"
    );
}

#[test]
fn libvirt_9_0_cpu_map_is_covered() {
    let xml = match installed("/usr/share/libvirt/cpu_map/x86_features.xml", "libvirt0") {
        Ok(text) => text,
        Err(skip) => return eprintln!("{skip}"),
    };
    let rows = upstream::extract("libvirt", &[xml]).unwrap();
    assert!(
        rows.len() > 150,
        "{} rows from libvirt 9.0's cpu_map",
        rows.len()
    );
    let lacking = missing("libvirt", &rows);
    assert!(
        lacking.is_empty(),
        "libvirt 9.0 names bits 12.8 does not: {lacking:#?}"
    );
}

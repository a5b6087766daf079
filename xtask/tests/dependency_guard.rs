//! Every crate depends on exactly what it uses: each `[dependencies]` entry
//! is named in the crate's `src/`, and each `[dev-dependencies]` entry in its
//! tests, benches, examples or `src/` (unit tests). A dependency used only by
//! tests is a dev-dependency. The check is by name (`serde_json`, `clap_complete`),
//! which is how Rust code reaches a crate.
//!
//! And the layering of docs/ARCHITECTURE.md: which workspace crate may
//! depend on which, and that only the cli crate knows clap.

use std::path::Path;
use xtask::repo_root;

/// The entries of one `[section]` of a Cargo.toml, as crate names.
fn section(manifest: &str, name: &str) -> Vec<String> {
    let mut inside = false;
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{name}]");
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or("");
        if !key.is_empty() {
            deps.push(key.to_owned());
        }
    }
    deps
}

/// True when a `.rs` file under `dir` names `ident` as a word.
fn names(dir: &Path, ident: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            return names(&path, ident);
        }
        if path.extension().is_none_or(|e| e != "rs") {
            return false;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.match_indices(ident).any(|(at, _)| {
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !word(text[..at].chars().next_back()) && !word(text[at + ident.len()..].chars().next())
        })
    })
}

#[test]
fn every_dependency_is_used_where_it_is_declared() {
    let root = repo_root();
    let mut members: Vec<_> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    members.push(root.join("xtask"));
    let mut problems = Vec::new();
    for member in members {
        let Ok(manifest) = std::fs::read_to_string(member.join("Cargo.toml")) else {
            continue;
        };
        let name = member.file_name().unwrap().to_string_lossy().into_owned();
        for dep in section(&manifest, "dependencies") {
            let ident = dep.replace('-', "_");
            if !names(&member.join("src"), &ident) {
                let in_tests = ["tests", "benches", "examples"]
                    .iter()
                    .any(|d| names(&member.join(d), &ident));
                let hint = if in_tests {
                    " (only tests use it: a dev-dependency)"
                } else {
                    ""
                };
                problems.push(format!(
                    "{name}: dependency {dep} is not used by src/{hint}"
                ));
            }
        }
        for dep in section(&manifest, "dev-dependencies") {
            let ident = dep.replace('-', "_");
            let used = ["src", "tests", "benches", "examples"]
                .iter()
                .any(|d| names(&member.join(d), &ident));
            if !used {
                problems.push(format!("{name}: dev-dependency {dep} is not used"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The layering of docs/ARCHITECTURE.md, bottom up: per crate (its folder
/// under `crates/`), the workspace crates its `[dependencies]` may name.
/// A library never depends on the cli crate; stream-verify and
/// legacy-convert know only migration-stream, maskcalc only cpuid-defs.
const LAYERS: &[(&str, &[&str])] = &[
    ("migration-stream", &[]),
    ("cpuid-defs", &[]),
    ("test-support", &[]),
    ("stream-verify", &["migration-stream"]),
    ("legacy-convert", &["migration-stream"]),
    ("maskcalc", &["cpuid-defs"]),
    (
        "cpu-profile",
        &["migration-stream", "cpuid-defs", "maskcalc"],
    ),
    (
        "cli",
        &[
            "migration-stream",
            "cpuid-defs",
            "stream-verify",
            "legacy-convert",
            "maskcalc",
            "cpu-profile",
        ],
    ),
    ("capi", &["stream-verify", "legacy-convert", "xenmig-cli"]),
];

/// The package name in a Cargo.toml.
fn package_name(manifest: &str) -> String {
    manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("name = "))
        .map(|n| n.trim_matches('"').to_owned())
        .expect("a package name")
}

#[test]
fn crates_depend_only_on_the_layers_below_and_only_the_cli_knows_clap() {
    let crates = repo_root().join("crates");
    let mut dirs: Vec<String> = std::fs::read_dir(&crates)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut layered: Vec<String> = LAYERS.iter().map(|(c, _)| (*c).to_owned()).collect();
    layered.sort();
    assert_eq!(dirs, layered, "every crate has its place in LAYERS");
    let manifest =
        |dir: &str| std::fs::read_to_string(crates.join(dir).join("Cargo.toml")).unwrap();
    let workspace: Vec<String> = dirs.iter().map(|d| package_name(&manifest(d))).collect();
    let mut problems = Vec::new();
    for (dir, allowed) in LAYERS {
        let text = manifest(dir);
        for dep in section(&text, "dependencies") {
            if workspace.contains(&dep) && !allowed.contains(&dep.as_str()) {
                problems.push(format!("{dir} depends on {dep}, which is not below it"));
            }
            if dep.starts_with("clap") && *dir != "cli" {
                problems.push(format!(
                    "{dir} depends on {dep}: only the cli crate knows clap"
                ));
            }
            if dep == "xenmig-test-support" {
                problems.push(format!(
                    "{dir}: xenmig-test-support is a dev-dependency only"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! Every crate depends on exactly what it uses: each `[dependencies]` entry
//! is named in the crate's `src/`, and each `[dev-dependencies]` entry in its
//! tests, benches, examples or `src/` (unit tests). A dependency used only by
//! tests is a dev-dependency. The check is by name (`serde_json`, `clap_complete`),
//! which is how Rust code reaches a crate.

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

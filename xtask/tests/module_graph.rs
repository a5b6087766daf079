//! No module cycles: within each crate listed here, the top-level modules
//! form a directed acyclic graph (module A depends on B when A's code, tests
//! aside, names `crate::B`, or an item the crate root re-exports from B).
//! A cycle means two modules are one concept split in two, or a third
//! module is missing below both (docs/ARCHITECTURE.md has the layering).
//!
//! Every crate under `crates/` is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use xtask::{repo_root, rust_files};

/// The crates whose module graph must stay acyclic: every crate under
/// `crates/`.
const CHECKED: &[&str] = &[
    "migration-stream",
    "legacy-convert",
    "stream-verify",
    "maskcalc",
    "cpu-profile",
    "cpuid-defs",
    "capi",
    "cli",
    "test-support",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The source of `text` without comments and without its test module (a
/// `#[cfg(test)] mod`, which comes last in this code base's files).
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]\nmod ").next().unwrap_or_default();
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every identifier that follows `crate::` in `code`, the names of a group
/// (`crate::{a, b::c}`) included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    paths_after(code, "crate::")
}

/// Every first name after `prefix` (`crate::` or `super::`), where the
/// prefix is not the tail of a longer name (`$crate::`, `xcrate::`).
fn paths_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, m) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
            continue;
        }
        let rest = &code[at + m.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level names of the group: depth-0 items between commas.
            let mut depth = 0usize;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        names.insert(ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

/// The top-level module a file under `src/` belongs to (`None` for the root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// `pub use module::{A, B}` / `pub use module::A` statements of the crate
/// root (a group may span lines): item name → the module it comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut items = BTreeMap::new();
    let code = code_of(lib);
    for (at, m) in code.match_indices("pub use ") {
        let rest = &code[at + m.len()..];
        let rest = rest.split(';').next().unwrap_or_default();
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let name = name.split(" as ").last().unwrap_or(name).trim();
            if !name.is_empty() {
                items.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    items
}

fn graph_of(krate: &str) -> Graph {
    let src = repo_root().join("crates").join(krate).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = root_reexports(&lib);
    let files = rust_files(&src);
    let mut graph = Graph::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        // Each file of src/bin is a crate of its own, using the library by name.
        if module == "bin" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let deps = graph.entry(module.clone()).or_default();
        // In a top-level module's own file, `super::` is the crate root.
        let relative = file.strip_prefix(&src).unwrap();
        let top_level = relative.components().count() == 1
            || relative.ends_with("mod.rs") && relative.components().count() == 2;
        let mut names = crate_paths(&code);
        if top_level {
            names.extend(paths_after(&code, "super::"));
        }
        for name in names {
            let target = reexports.get(&name).cloned().unwrap_or(name);
            if target != module {
                deps.insert(target);
            }
        }
    }
    // Names that are not modules (a root item that is not a re-export).
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    graph
}

/// One cycle of `graph`, if it has any (depth-first search).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn the_checked_crates_have_no_module_cycles() {
    let mut cycles = Vec::new();
    for krate in CHECKED {
        let graph = graph_of(krate);
        let files = rust_files(&repo_root().join("crates").join(krate).join("src"));
        let modules = files
            .iter()
            .filter(|f| !f.ends_with("lib.rs") && !f.components().any(|c| c.as_os_str() == "bin"))
            .count();
        assert!(
            modules == 0 || !graph.is_empty(),
            "{krate}: no modules found"
        );
        if let Some(cycle) = find_cycle(&graph) {
            cycles.push(format!("{krate}: module cycle {}", cycle.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

#[test]
fn every_crate_is_checked() {
    let mut crates: Vec<String> = std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("src").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let mut listed: Vec<String> = CHECKED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(crates, listed, "a crate under crates/ is not in CHECKED");
}

#[test]
fn the_guard_finds_a_cycle_and_follows_root_reexports() {
    let lib =
        "pub mod a;\npub use b::{Thing, Other as O};\npub use c::{\n    Wide,\n    Long,\n};\n";
    let reexports = root_reexports(lib);
    assert_eq!(reexports.get("Thing").map(String::as_str), Some("b"));
    assert_eq!(reexports.get("O").map(String::as_str), Some("b"));
    assert_eq!(reexports.get("Long").map(String::as_str), Some("c"));
    let code = code_of(
        "use crate::Thing;\n// crate::c in a comment\nfn f() { $crate::d }\n#[cfg(test)]\nmod tests {\n    use crate::e;\n}",
    );
    assert_eq!(crate_paths(&code), BTreeSet::from(["Thing".to_owned()]));
    let grouped = crate_paths("use crate::{a::{B, C}, d, E as F};\nuse crate::{self as g};");
    assert_eq!(
        grouped,
        BTreeSet::from(["a".to_owned(), "d".to_owned(), "E".to_owned()])
    );

    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
        graph.entry(from.into()).or_default().insert(to.into());
    }
    graph.entry("d".into()).or_default();
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&graph), None);
}

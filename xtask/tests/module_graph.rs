//! No module cycles: within each crate listed here, the top-level modules
//! form a directed acyclic graph (module A depends on B when A's code, tests
//! aside, names `crate::B`, or an item the crate root re-exports from B).
//! A cycle means two modules are one concept split in two, or a third
//! module is missing below both (docs/ARCHITECTURE.md has the layering).
//!
//! A crate joins `CHECKED` once its cycles are gone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use xtask::repo_root;

/// The crates whose module graph must stay acyclic.
const CHECKED: &[&str] = &["migration-stream", "legacy-convert", "cpuid-defs"];

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

/// Every identifier that follows `crate::` in `code`, including each first
/// segment of a `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, m) in code.match_indices("crate::") {
        // `$crate::` in macros and `xcrate::` are not the crate root.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[at + m.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|name| !name.is_empty());
    out
}

/// The top-level module a file under `src/` belongs to (`None` for the root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
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
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let deps = graph.entry(module.clone()).or_default();
        for name in crate_paths(&code) {
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
    for krate in CHECKED {
        let graph = graph_of(krate);
        assert!(graph.len() > 3, "{krate}: no modules found: {graph:?}");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{krate}: module cycle {}", cycle.join(" -> "));
        }
    }
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
    // A group names each of its first segments.
    let group = crate_paths("use crate::{f::G, h, i::{J, K}};");
    assert_eq!(group, BTreeSet::from(["f".into(), "h".into(), "i".into()]));

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

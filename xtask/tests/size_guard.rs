//! No function in the project's sources is over 80 lines and no source file
//! over 900 (docs/ARCHITECTURE.md, "Invariants"): a reader can hold a
//! function in view, and a file is one concept. A function is measured from
//! its `fn` line to its closing brace, as syn parses it; test functions and
//! `#[cfg(test)]` modules are exempt from the function limit (a test reads
//! top to bottom), not from the file limit. Generated tables are exempt.
//!
//! `OVER_THE_LIMIT` lists what is still over, each entry with its size today;
//! an entry that grows, or that no longer needs to be listed, fails too, so
//! the list only shrinks.

use std::path::{Path, PathBuf};
use syn::visit::Visit;
use xtask::{repo_root, rust_files};

const FUNCTION_LIMIT: usize = 80;
const FILE_LIMIT: usize = 900;

/// Files written by a generator, exempt from both limits.
const GENERATED: &[&str] = &["crates/cpuid-defs/src/generated.rs"];

/// What is over a limit today: (path, function name or "" for the file, lines).
const OVER_THE_LIMIT: &[(&str, &str, usize)] = &[];

/// A function or file over its limit: where, what, how long.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Oversize {
    path: String,
    function: String,
    lines: usize,
}

struct Functions<'a> {
    path: &'a str,
    found: Vec<Oversize>,
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("test")
            || (a.path().is_ident("cfg")
                && a.parse_args::<syn::Meta>()
                    .is_ok_and(|m| m.path().is_ident("test")))
    })
}

impl Functions<'_> {
    /// From the `fn` keyword (doc comments and attributes do not count) to
    /// the closing brace.
    fn measure(&mut self, signature: &syn::Signature, body: &syn::Block) {
        let name = &signature.ident;
        // Line numbers exist only with proc-macro2's span-locations feature.
        let start: proc_macro2::LineColumn = signature.fn_token.span.start();
        let end: proc_macro2::LineColumn = body.brace_token.span.close().end();
        let lines = end.line - start.line + 1;
        if lines > FUNCTION_LIMIT {
            self.found.push(Oversize {
                path: self.path.to_owned(),
                function: name.to_string(),
                lines,
            });
        }
    }
}

impl<'ast> Visit<'ast> for Functions<'_> {
    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        if !is_test(&module.attrs) {
            syn::visit::visit_item_mod(self, module);
        }
    }

    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        if is_test(&function.attrs) {
            return;
        }
        self.measure(&function.sig, &function.block);
        syn::visit::visit_item_fn(self, function);
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        self.measure(&function.sig, &function.block);
        syn::visit::visit_impl_item_fn(self, function);
    }

    fn visit_trait_item_fn(&mut self, function: &'ast syn::TraitItemFn) {
        if let Some(body) = &function.default {
            self.measure(&function.sig, body);
        }
        syn::visit::visit_trait_item_fn(self, function);
    }
}

/// The project's own sources: every crate's `src/` and `xtask/src/`.
fn sources(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.join("xtask/src")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        dirs.push(entry.path().join("src"));
    }
    let mut files: Vec<PathBuf> = dirs.iter().flat_map(|d| rust_files(d)).collect();
    files.sort();
    files
}

fn oversize(root: &Path) -> Vec<Oversize> {
    let mut found = Vec::new();
    for file in sources(root) {
        let path = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if GENERATED.contains(&path.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        if lines > FILE_LIMIT {
            found.push(Oversize {
                path: path.clone(),
                function: String::new(),
                lines,
            });
        }
        let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut functions = Functions {
            path: &path,
            found: Vec::new(),
        };
        functions.visit_file(&syntax);
        found.extend(functions.found);
    }
    found.sort();
    found
}

#[test]
fn no_function_over_80_lines_and_no_file_over_900_except_those_listed() {
    let root = repo_root();
    let found = oversize(&root);
    let mut problems = Vec::new();
    for o in &found {
        let what = if o.function.is_empty() {
            format!("{} is {} lines (limit {FILE_LIMIT})", o.path, o.lines)
        } else {
            format!(
                "{}: fn {} is {} lines (limit {FUNCTION_LIMIT})",
                o.path, o.function, o.lines
            )
        };
        match OVER_THE_LIMIT
            .iter()
            .find(|(p, f, _)| *p == o.path && *f == o.function)
        {
            None => problems.push(format!("{what}: split it")),
            Some((_, _, listed)) if o.lines > *listed => {
                problems.push(format!("{what}, listed at {listed}: it grew"))
            }
            Some(_) => {}
        }
    }
    for (path, function, lines) in OVER_THE_LIMIT {
        if !found
            .iter()
            .any(|o| o.path == *path && o.function == *function)
        {
            problems.push(format!(
                "{path} {function} (listed at {lines} lines) is within the limit now: remove it from OVER_THE_LIMIT"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_function_is_measured_from_fn_to_its_closing_brace() {
    let body: String = (0..FUNCTION_LIMIT)
        .map(|i| format!("    let _x{i} = {i};\n"))
        .collect();
    let text = format!("fn long() {{\n{body}}}\n#[test]\nfn long_test() {{\n{body}}}\n");
    let syntax = syn::parse_file(&text).unwrap();
    let mut functions = Functions {
        path: "x.rs",
        found: Vec::new(),
    };
    functions.visit_file(&syntax);
    assert_eq!(
        functions.found,
        [Oversize {
            path: "x.rs".into(),
            function: "long".into(),
            lines: FUNCTION_LIMIT + 2
        }]
    );
}

//! Which public items of a library have no example, from the same rustdoc
//! JSON as the public API listing (`crates/NAME/examples-missing.txt`).
//!
//! The rule (docs/decisions.md, "Every public item has an example"):
//! - a module-level function, struct, enum, union, trait or type alias has a
//!   Rust code block of its own;
//! - an inherent method or a trait's method has one of its own, or is named
//!   in a Rust code block of its own type's (or trait's) docs: a module's
//!   example does not count for methods, because a name like `new` or `name`
//!   in it may belong to any type of the module;
//! - constants, fields and variants are shown by their type's or module's
//!   example, so they need none of their own.
//!
//! A Rust code block is a fenced block whose info string is empty or says
//! `rust`, `no_run` or `should_panic`: rustdoc compiles those, and runs all
//! but `no_run`.
//! `ignore`, `compile_fail` and `text` blocks show no working use.

use crate::public_api::{Public, ids_of, item, public, tag};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// The items of one crate's rustdoc JSON that lack an example, as sorted
/// `kind path` lines, each item once under its shortest public path.
pub fn missing(doc: &Value) -> Result<Vec<String>, String> {
    let root = doc["root"].as_u64().ok_or("rustdoc JSON without a root")?;
    let name = item(doc, root)
        .and_then(|i| i["name"].as_str())
        .ok_or("rustdoc JSON: root module has no name")?;
    let mut walk = Walk {
        doc,
        missing: BTreeMap::new(),
        visited: HashSet::new(),
    };
    walk.module(root, name);
    let mut lines: Vec<String> = walk
        .missing
        .into_values()
        .map(|(path, kind)| format!("{kind} {path}"))
        .collect();
    lines.sort();
    Ok(lines)
}

/// The Rust code of every block rustdoc runs as a doc test, joined.
pub fn rust_blocks(docs: &str) -> String {
    let mut out = String::new();
    let mut inside: Option<bool> = None;
    for line in docs.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            inside = match inside {
                Some(_) => None,
                None => Some(runs_as_test(info)),
            };
            continue;
        }
        if inside == Some(true) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn runs_as_test(info: &str) -> bool {
    info.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|t| matches!(t, "rust" | "no_run" | "should_panic") || t.starts_with("edition"))
}

/// Whether `code` names `name` as a call or a path segment (`.name(`,
/// `::name`, `name(`), so a word that merely contains it does not count.
pub fn names(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        let word_char = |c: char| c.is_alphanumeric() || c == '_';
        !before.is_some_and(word_char) && !after.is_some_and(word_char)
    })
}

struct Walk<'a> {
    doc: &'a Value,
    /// Item id -> (shortest path, kind) of items lacking an example.
    missing: BTreeMap<u64, (String, &'static str)>,
    visited: HashSet<(u64, String)>,
}

impl Walk<'_> {
    fn module(&mut self, id: u64, path: &str) {
        // Re-exports can make paths circular; no real path is this deep.
        if path.matches("::").count() > 8 || !self.visited.insert((id, path.to_owned())) {
            return;
        }
        let Some(module) = item(self.doc, id) else {
            return;
        };
        for child in ids_of(&module["inner"]["module"]["items"]) {
            self.item(child, path);
        }
    }

    fn item(&mut self, id: u64, parent: &str) {
        let Some(Public {
            it,
            kind,
            inner,
            name,
        }) = public(self.doc, id)
        else {
            return;
        };
        let path = format!("{parent}::{name}");
        match kind {
            "module" => self.module(id, &path),
            "use" => self.reexport(inner, parent),
            "struct" | "enum" | "union" | "trait" | "function" | "type_alias" => {
                let own = docs_code(it);
                if own.is_empty() {
                    self.note(id, &path, item_kind(kind));
                }
                if kind == "trait" {
                    for member in ids_of(&inner["items"]) {
                        self.member(member, &path, &own, true);
                    }
                } else if kind != "function" && kind != "type_alias" {
                    self.inherent_members(&inner["impls"], &path, &own);
                }
            }
            _ => {}
        }
    }

    fn reexport(&mut self, inner: &Value, parent: &str) {
        let Some(target) = inner["id"].as_u64() else {
            return;
        };
        let Some(target_item) = item(self.doc, target) else {
            return;
        };
        let is_module = tag(&target_item["inner"]).is_some_and(|(k, _)| k == "module");
        if inner["is_glob"].as_bool().unwrap_or(false) {
            if is_module {
                self.module(target, parent);
            }
            return;
        }
        let shown = inner["name"].as_str().unwrap_or("_");
        if is_module {
            self.module(target, &format!("{parent}::{shown}"));
        } else if self.visited.insert((target, format!("{parent}::{shown}"))) {
            // The item's own docs decide, wherever and under whatever name
            // it is re-exported (a renamed one is listed under its own name).
            self.item(target, parent);
        }
    }

    fn inherent_members(&mut self, impls: &Value, path: &str, context: &str) {
        for id in ids_of(impls) {
            let Some(imp) = item(self.doc, id) else {
                continue;
            };
            let inner = &imp["inner"]["impl"];
            if inner["is_synthetic"] == true
                || !inner["blanket_impl"].is_null()
                || !inner["trait"].is_null()
            {
                continue;
            }
            for member in ids_of(&inner["items"]) {
                self.member(member, path, context, false);
            }
        }
    }

    fn member(&mut self, id: u64, path: &str, context: &str, in_trait: bool) {
        let Some(it) = item(self.doc, id) else { return };
        if !in_trait && it["visibility"] != "public" {
            return;
        }
        if tag(&it["inner"]).map(|(k, _)| k) != Some("function") {
            return;
        }
        let name = it["name"].as_str().unwrap_or("_");
        if docs_code(it).is_empty() && !names(context, name) {
            self.note(id, &format!("{path}::{name}"), "method");
        }
    }

    fn note(&mut self, id: u64, path: &str, kind: &'static str) {
        let entry = self
            .missing
            .entry(id)
            .or_insert_with(|| (path.to_owned(), kind));
        if path.len() < entry.0.len() {
            entry.0 = path.to_owned();
        }
    }
}

fn docs_code(it: &Value) -> String {
    rust_blocks(it["docs"].as_str().unwrap_or(""))
}

fn item_kind(kind: &str) -> &'static str {
    match kind {
        "struct" => "struct",
        "enum" => "enum",
        "union" => "union",
        "trait" => "trait",
        "function" => "fn",
        _ => "type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_blocks_that_rustdoc_runs_count() {
        let docs = "Intro.\n```\nlet a = f();\n```\n```text\nnot code\n```\n\
                    ```ignore\nskipped();\n```\n```no_run\nopen();\n```\n";
        assert_eq!(rust_blocks(docs), "let a = f();\nopen();\n");
    }

    #[test]
    fn a_name_counts_only_as_a_whole_word() {
        assert!(names("let n = stream.len();", "len"));
        assert!(names("Reader::new(x)", "new"));
        assert!(!names("let n = s.lenient();", "len"));
        assert!(!names("renew()", "new"));
    }
}

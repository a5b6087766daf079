//! The public API of every library crate, one item per line, from rustdoc's
//! JSON output (`crates/NAME/public-api.txt`).
//!
//! Until there is a released version for `cargo semver-checks` to compare
//! against, this listing is how a change to what an embedder can name is
//! noticed: the staleness test fails when the API differs from the checked-in
//! listing, and `cargo xtask public-api` rewrites it for review in the diff.
//!
//! Rustdoc's JSON output is unstable, so it is requested with
//! `RUSTC_BOOTSTRAP=1` from the pinned stable toolchain; the listing renders
//! only what it needs (paths, kinds, signatures, attributes that change what a
//! user may do, trait impls) so that a new JSON format version rarely matters.

use crate::GeneratedFile;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::Command;

/// The crates meant to be used by other programs, by package name.
pub const LIBRARY_CRATES: &[&str] = &[
    "cpuid-defs",
    "migration-stream",
    "stream-verify",
    "legacy-convert",
    "maskcalc",
    "cpu-profile",
];

/// The checked-in listing of a crate, relative to the repository root.
pub fn listing_path(package: &str) -> String {
    format!("crates/{package}/public-api.txt")
}

/// The checked-in list of a crate's public items without an example.
pub fn examples_missing_path(package: &str) -> String {
    format!("crates/{package}/examples-missing.txt")
}

/// The text of `examples-missing.txt`: a header saying what the file is,
/// then one line per item (none when every item has its example).
fn examples_missing(package: &str, doc: &Value) -> Result<String, String> {
    let missing = crate::doc_examples::missing(doc)?;
    let mut text = format!(
        "# Public items of {package} without an example (the rule: xtask/src/doc_examples.rs).\n\
         # Written by `cargo xtask public-api`; {} left.\n",
        missing.len()
    );
    for line in missing {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

/// Runs rustdoc on every library crate and returns the listings and the
/// lists of items without an example.
pub fn generate(root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let target = root.join("target").join("public-api");
    let mut files = Vec::new();
    for package in LIBRARY_CRATES {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args(["rustdoc", "--quiet", "--locked", "--lib", "-p", package])
            .arg("--target-dir")
            .arg(&target)
            .args(["--", "-Z", "unstable-options", "--output-format", "json"])
            .env("RUSTC_BOOTSTRAP", "1")
            .env_remove("RUSTDOCFLAGS")
            .current_dir(root)
            .output()
            .map_err(|e| format!("cargo rustdoc -p {package}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo rustdoc -p {package} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let json_path = target
            .join("doc")
            .join(format!("{}.json", package.replace('-', "_")));
        let text = std::fs::read_to_string(&json_path)
            .map_err(|e| format!("{}: {e}", json_path.display()))?;
        let doc: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json_path.display()))?;
        let lines = listing(&doc)?;
        let mut contents = String::new();
        for line in &lines {
            contents.push_str(line);
            contents.push('\n');
        }
        files.push(GeneratedFile::new(listing_path(package), contents));
        files.push(GeneratedFile::new(
            examples_missing_path(package),
            examples_missing(package, &doc)?,
        ));
    }
    Ok(files)
}

/// The sorted listing of one crate's rustdoc JSON.
pub fn listing(doc: &Value) -> Result<BTreeSet<String>, String> {
    let root = doc["root"].as_u64().ok_or("rustdoc JSON without a root")?;
    let name = item(doc, root)
        .and_then(|i| i["name"].as_str())
        .ok_or("rustdoc JSON: root module has no name")?
        .to_owned();
    let mut walk = Walk {
        doc,
        lines: BTreeSet::new(),
        visiting: HashSet::new(),
    };
    walk.module(root, &name);
    Ok(walk.lines)
}

pub(crate) fn item(doc: &Value, id: u64) -> Option<&Value> {
    doc["index"].get(id.to_string())
}

/// A public item of a crate's rustdoc JSON, taken apart.
pub(crate) struct Public<'a> {
    /// The item.
    pub(crate) it: &'a Value,
    /// What it is (`struct`, `use`, `function`, …): the one key of its `inner`.
    pub(crate) kind: &'a str,
    /// What `inner` says under that key.
    pub(crate) inner: &'a Value,
    /// Its name (`_` for none).
    pub(crate) name: &'a str,
}

/// The item `id` of `doc`'s index, when it is there and public.
pub(crate) fn public(doc: &Value, id: u64) -> Option<Public<'_>> {
    let it = item(doc, id)?;
    if it["visibility"] != "public" {
        return None;
    }
    let (kind, inner) = tag(&it["inner"])?;
    let name = it["name"].as_str().unwrap_or("_");
    Some(Public {
        it,
        kind,
        inner,
        name,
    })
}

/// The one key of an externally tagged rustdoc value (`{"struct": {...}}`).
pub(crate) fn tag(value: &Value) -> Option<(&str, &Value)> {
    match value {
        Value::Object(map) if map.len() == 1 => map.iter().next().map(|(k, v)| (k.as_str(), v)),
        Value::String(s) => Some((s.as_str(), &Value::Null)),
        _ => None,
    }
}

struct Walk<'a> {
    doc: &'a Value,
    lines: BTreeSet<String>,
    /// (item, path) pairs on the current path, so re-export cycles end.
    visiting: HashSet<(u64, String)>,
}

impl Walk<'_> {
    fn module(&mut self, id: u64, path: &str) {
        if !self.visiting.insert((id, path.to_owned())) {
            return;
        }
        let Some(module) = item(self.doc, id) else {
            return;
        };
        let items: Vec<u64> = module["inner"]["module"]["items"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        for child in items {
            self.item(child, path);
        }
        self.visiting.remove(&(id, path.to_owned()));
    }

    /// One item that appears in the module at `parent`.
    fn item(&mut self, id: u64, parent: &str) {
        let doc = self.doc;
        let Some(Public {
            it,
            kind,
            inner,
            name,
        }) = public(doc, id)
        else {
            return;
        };
        let path = format!("{parent}::{name}");
        let attrs = attributes(it);
        match kind {
            "module" => {
                self.lines.insert(format!("pub mod {path}"));
                self.module(id, &path);
            }
            "use" => self.reexport(inner, name, parent),
            "struct" => self.structure(inner, &path, &attrs),
            "union" => {
                self.lines.insert(format!("{attrs}pub union {path}"));
                self.fields(&ids_of(&inner["fields"]), &path, false);
                self.impls(&inner["impls"], &path);
            }
            "enum" => self.enumeration(inner, &path, &attrs),
            "function" => {
                self.lines
                    .insert(format!("{attrs}{}", function(doc, &path, inner)));
            }
            "trait" => self.trait_item(inner, &path, &attrs),
            "macro" => {
                self.lines.insert(format!("pub macro {}!", name));
            }
            other => {
                self.lines.insert(declaration(doc, other, inner, &path));
            }
        }
    }

    /// A `use` item: a glob of a module lists that module's items here, a
    /// re-export of a documented item lists that item at the name a user
    /// writes, and one of an item rustdoc did not document lists the `use`.
    fn reexport(&mut self, inner: &Value, name: &str, parent: &str) {
        let doc = self.doc;
        let target = inner["id"].as_u64();
        let glob = inner["is_glob"].as_bool().unwrap_or(false);
        match target.and_then(|t| item(doc, t).map(|i| (t, i))) {
            Some((target, target_item)) if glob => {
                if tag(&target_item["inner"]).is_some_and(|(k, _)| k == "module") {
                    self.module(target, parent);
                } else {
                    self.lines.insert(format!(
                        "pub use {}::*",
                        inner["source"].as_str().unwrap_or("?")
                    ));
                }
            }
            Some((target, target_item)) => {
                // A re-export under another name: list the item at the
                // name a user writes.
                let shown = inner["name"].as_str().unwrap_or(name);
                let mut renamed = target_item.clone();
                renamed["name"] = Value::String(shown.to_owned());
                renamed["visibility"] = Value::String("public".to_owned());
                self.item_value(target, &renamed, parent);
            }
            None => {
                let source = inner["source"].as_str().unwrap_or("?");
                let shown = inner["name"].as_str().unwrap_or(name);
                let star = if glob { "::*" } else { "" };
                self.lines
                    .insert(format!("pub use {parent}::{shown}{star} = {source}"));
            }
        }
    }

    /// A struct's line (with its tuple fields, or `{ .. }` when some named
    /// fields are private), then one line a public named field, then its impls.
    fn structure(&mut self, inner: &Value, path: &str, attrs: &str) {
        let doc = self.doc;
        let generics = generics_decl(&inner["generics"]);
        let (body, fields) = match tag(&inner["kind"]) {
            Some(("unit", _)) => (String::new(), Vec::new()),
            Some(("tuple", fields)) => {
                let ids: Vec<_> = fields.as_array().cloned().unwrap_or_default();
                let shown: Vec<String> = ids
                    .iter()
                    .map(|f| match f.as_u64().and_then(|f| item(doc, f)) {
                        Some(field) if field["visibility"] == "public" => {
                            format!("pub {}", ty(doc, &field["inner"]["struct_field"]))
                        }
                        _ => "_".to_owned(),
                    })
                    .collect();
                (format!("({})", shown.join(", ")), Vec::new())
            }
            Some(("plain", plain)) => {
                let stripped = plain["has_stripped_fields"].as_bool().unwrap_or(false);
                let ids = ids_of(&plain["fields"]);
                (
                    if stripped {
                        " { .. }".to_owned()
                    } else {
                        String::new()
                    },
                    ids,
                )
            }
            _ => (String::new(), Vec::new()),
        };
        self.lines
            .insert(format!("{attrs}pub struct {path}{generics}{body}"));
        self.fields(&fields, path, true);
        self.impls(&inner["impls"], path);
    }

    /// One line a named field of the struct or union at `path` (only the
    /// public ones when `public_only`).
    fn fields(&mut self, fields: &[u64], path: &str, public_only: bool) {
        let doc = self.doc;
        for &field in fields {
            if let Some(f) = item(doc, field)
                && (!public_only || f["visibility"] == "public")
            {
                let fname = f["name"].as_str().unwrap_or("_");
                self.lines.insert(format!(
                    "pub {path}::{fname}: {}",
                    ty(doc, &f["inner"]["struct_field"])
                ));
            }
        }
    }

    /// An enum's line, one line a variant with its shape, then its impls.
    fn enumeration(&mut self, inner: &Value, path: &str, attrs: &str) {
        let doc = self.doc;
        let generics = generics_decl(&inner["generics"]);
        self.lines
            .insert(format!("{attrs}pub enum {path}{generics}"));
        for variant in ids_of(&inner["variants"]) {
            let Some(v) = item(doc, variant) else {
                continue;
            };
            let vname = v["name"].as_str().unwrap_or("_");
            let vattrs = attributes(v);
            let shape = variant_shape(doc, &v["inner"]["variant"]["kind"]);
            self.lines
                .insert(format!("{vattrs}pub {path}::{vname}{shape}"));
        }
        self.impls(&inner["impls"], path);
    }

    /// A trait's line with its supertraits, its members, then its impls.
    fn trait_item(&mut self, inner: &Value, path: &str, attrs: &str) {
        let generics = generics_decl(&inner["generics"]);
        let unsafety = if inner["is_unsafe"] == true {
            "unsafe "
        } else {
            ""
        };
        let bounds = bounds(self.doc, &inner["bounds"]);
        let supertraits = if bounds.is_empty() {
            String::new()
        } else {
            format!(": {bounds}")
        };
        self.lines.insert(format!(
            "{attrs}pub {unsafety}trait {path}{generics}{supertraits}"
        ));
        for member in ids_of(&inner["items"]) {
            self.assoc(member, path, true);
        }
        for implementation in ids_of(&inner["implementations"]) {
            self.impl_line(implementation);
        }
    }

    /// An item reached through a `use`, already renamed to its shown name.
    fn item_value(&mut self, id: u64, value: &Value, parent: &str) {
        if !self.visiting.insert((id, format!("{parent}::use"))) {
            return;
        }
        // Reuse `item` by temporarily looking through a patched document is
        // more machinery than listing the few kinds that are re-exported.
        let name = value["name"].as_str().unwrap_or("_");
        let original = item(self.doc, id).and_then(|i| i["name"].as_str());
        if original == Some(name) {
            self.item(id, parent);
        } else {
            let kind = tag(&value["inner"]).map(|(k, _)| k).unwrap_or("item");
            let target = self.doc["paths"][id.to_string()]["path"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("::")
                })
                .unwrap_or_default();
            self.lines
                .insert(format!("pub use {parent}::{name} = {kind} {target}"));
        }
        self.visiting.remove(&(id, format!("{parent}::use")));
    }

    fn impls(&mut self, impls: &Value, path: &str) {
        for id in ids_of(impls) {
            let Some(imp) = item(self.doc, id) else {
                continue;
            };
            let inner = &imp["inner"]["impl"];
            if inner["is_synthetic"] == true || !inner["blanket_impl"].is_null() {
                continue;
            }
            if inner["trait"].is_null() {
                for member in ids_of(&inner["items"]) {
                    self.assoc(member, path, false);
                }
            } else {
                self.impl_line(id);
            }
        }
    }

    fn impl_line(&mut self, id: u64) {
        let doc = self.doc;
        let Some(imp) = item(doc, id) else { return };
        let inner = &imp["inner"]["impl"];
        if inner["is_synthetic"] == true || !inner["blanket_impl"].is_null() {
            return;
        }
        let negative = if inner["is_negative"] == true {
            "!"
        } else {
            ""
        };
        let generics = generics_decl(&inner["generics"]);
        let line = format!(
            "impl{generics} {negative}{} for {}",
            path_of(doc, &inner["trait"]),
            ty(doc, &inner["for"])
        );
        self.lines.insert(line);
    }

    /// A member of an inherent impl (only `pub` ones) or of a trait.
    fn assoc(&mut self, id: u64, path: &str, in_trait: bool) {
        let doc = self.doc;
        let Some(it) = item(doc, id) else { return };
        if !in_trait && it["visibility"] != "public" {
            return;
        }
        let name = it["name"].as_str().unwrap_or("_");
        let member = format!("{path}::{name}");
        let attrs = attributes(it);
        match tag(&it["inner"]) {
            Some(("function", f)) => {
                self.lines
                    .insert(format!("{attrs}{}", function(doc, &member, f)));
            }
            Some(("assoc_const", c)) | Some(("constant", c)) => {
                self.lines
                    .insert(format!("pub const {member}: {}", ty(doc, &c["type"])));
            }
            Some(("assoc_type", t)) => {
                let b = bounds(doc, &t["bounds"]);
                let b = if b.is_empty() {
                    String::new()
                } else {
                    format!(": {b}")
                };
                self.lines.insert(format!("pub type {member}{b}"));
            }
            Some((other, _)) => {
                self.lines.insert(format!("pub {other} {member}"));
            }
            None => {}
        }
    }
}

/// What follows a variant's name: `(T, U)`, ` { a: T, .. }` or nothing.
fn variant_shape(doc: &Value, kind: &Value) -> String {
    match tag(kind) {
        Some(("tuple", fields)) => {
            let shown: Vec<String> = fields
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|f| match f.as_u64().and_then(|f| item(doc, f)) {
                            Some(field) => ty(doc, &field["inner"]["struct_field"]),
                            None => "_".to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!("({})", shown.join(", "))
        }
        Some(("struct", s)) => {
            let shown: Vec<String> = ids_of(&s["fields"])
                .into_iter()
                .filter_map(|f| item(doc, f))
                .map(|f| {
                    format!(
                        "{}: {}",
                        f["name"].as_str().unwrap_or("_"),
                        ty(doc, &f["inner"]["struct_field"])
                    )
                })
                .collect();
            let more = if s["has_stripped_fields"].as_bool().unwrap_or(false) {
                ", .."
            } else {
                ""
            };
            format!(" {{ {}{more} }}", shown.join(", "))
        }
        _ => String::new(),
    }
}

/// The line of an item that has no members of its own: a constant, a static,
/// a type alias, or a kind this listing does not know (shown by its name).
fn declaration(doc: &Value, kind: &str, inner: &Value, path: &str) -> String {
    match kind {
        "constant" => format!("pub const {path}: {}", ty(doc, &inner["type"])),
        "static" => {
            let mutability = if inner["is_mutable"] == true {
                "mut "
            } else {
                ""
            };
            format!("pub static {mutability}{path}: {}", ty(doc, &inner["type"]))
        }
        "type_alias" => format!(
            "pub type {path}{} = {}",
            generics_decl(&inner["generics"]),
            ty(doc, &inner["type"])
        ),
        other => format!("pub {other} {path}"),
    }
}

/// The ids of a JSON array of item ids.
pub(crate) fn ids_of(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// The attributes that change what a user of the item may do.
fn attributes(it: &Value) -> String {
    let mut out = String::new();
    for attr in it["attrs"].as_array().into_iter().flatten() {
        match tag(attr) {
            Some(("non_exhaustive", _)) => out.push_str("#[non_exhaustive] "),
            Some(("must_use", _)) => {}
            Some(("repr", repr)) => {
                let kind = repr["kind"].as_str().unwrap_or("?");
                let int = repr["int"].as_str();
                match int {
                    Some(int) => out.push_str(&format!("#[repr({kind}, {int})] ")),
                    None => out.push_str(&format!("#[repr({kind})] ")),
                }
            }
            _ => {}
        }
    }
    if !it["deprecation"].is_null() {
        out.push_str("#[deprecated] ");
    }
    out
}

fn function(doc: &Value, path: &str, f: &Value) -> String {
    let header = &f["header"];
    let mut qualifiers = String::new();
    if header["is_const"] == true {
        qualifiers.push_str("const ");
    }
    if header["is_async"] == true {
        qualifiers.push_str("async ");
    }
    if header["is_unsafe"] == true {
        qualifiers.push_str("unsafe ");
    }
    if let Some((abi, _)) = tag(&header["abi"])
        && abi != "Rust"
    {
        qualifiers.push_str(&format!("extern \"{}\" ", abi.to_ascii_uppercase()));
    }
    let inputs: Vec<String> = f["sig"]["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            let name = pair[0].as_str().unwrap_or("_");
            let t = &pair[1];
            if name == "self" {
                match tag(t) {
                    Some(("generic", g)) if g == "Self" => "self".to_owned(),
                    Some(("borrowed_ref", r)) if r["type"]["generic"] == "Self" => {
                        let m = if r["is_mutable"] == true { "mut " } else { "" };
                        format!("&{m}self")
                    }
                    _ => format!("self: {}", ty(doc, t)),
                }
            } else {
                format!("{name}: {}", ty(doc, t))
            }
        })
        .collect();
    let output = match &f["sig"]["output"] {
        Value::Null => String::new(),
        t => format!(" -> {}", ty(doc, t)),
    };
    format!(
        "pub {qualifiers}fn {path}{}({}){output}{}",
        generics_decl(&f["generics"]),
        inputs.join(", "),
        where_clause(doc, &f["generics"])
    )
}

fn generics_decl(generics: &Value) -> String {
    let params: Vec<String> = generics["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            // `impl Trait` arguments show in the signature, not here.
            p["kind"]["type"]["is_synthetic"] != true
        })
        .map(|p| {
            let name = p["name"].as_str().unwrap_or("_").to_owned();
            match tag(&p["kind"]) {
                Some(("const", c)) => format!(
                    "const {name}: {}",
                    c["type"]["primitive"].as_str().unwrap_or("_")
                ),
                _ => name,
            }
        })
        .collect();
    if params.is_empty() {
        String::new()
    } else {
        format!("<{}>", params.join(", "))
    }
}

/// Bounds on type parameters, written as a `where` clause.
fn where_clause(doc: &Value, generics: &Value) -> String {
    let mut predicates = Vec::new();
    for p in generics["params"].as_array().into_iter().flatten() {
        if let Some(("type", t)) = tag(&p["kind"]) {
            if t["is_synthetic"] == true {
                continue;
            }
            let b = bounds(doc, &t["bounds"]);
            if !b.is_empty() {
                predicates.push(format!("{}: {b}", p["name"].as_str().unwrap_or("_")));
            }
        }
    }
    for w in generics["where_predicates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(("bound_predicate", b)) = tag(w) {
            predicates.push(format!(
                "{}: {}",
                ty(doc, &b["type"]),
                bounds(doc, &b["bounds"])
            ));
        }
    }
    if predicates.is_empty() {
        String::new()
    } else {
        format!(" where {}", predicates.join(", "))
    }
}

fn bounds(doc: &Value, bounds: &Value) -> String {
    let shown: Vec<String> = bounds
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| match tag(b) {
            Some(("trait_bound", t)) => {
                let maybe = if t["modifier"] == "maybe" { "?" } else { "" };
                format!("{maybe}{}", path_of(doc, &t["trait"]))
            }
            Some(("outlives", l)) => l.as_str().unwrap_or("'_").to_owned(),
            _ => "_".to_owned(),
        })
        .collect();
    shown.join(" + ")
}

/// A path to a type or trait: the canonical path when rustdoc knows it, so
/// that a `use` in the crate does not change the listing.
fn path_of(doc: &Value, path: &Value) -> String {
    let name = path["id"]
        .as_u64()
        .and_then(|id| doc["paths"][id.to_string()]["path"].as_array())
        .map(|p| {
            p.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("::")
        })
        .unwrap_or_else(|| path["path"].as_str().unwrap_or("?").to_owned());
    format!("{name}{}", generic_args(doc, &path["args"]))
}

fn generic_args(doc: &Value, args: &Value) -> String {
    match tag(args) {
        Some(("angle_bracketed", a)) => {
            let mut shown: Vec<String> = a["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|arg| match tag(arg) {
                    Some(("lifetime", l)) => l.as_str().unwrap_or("'_").to_owned(),
                    Some(("type", t)) => ty(doc, t),
                    Some(("const", c)) => c["expr"].as_str().unwrap_or("_").to_owned(),
                    _ => "_".to_owned(),
                })
                .collect();
            for c in a["constraints"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or("_");
                match tag(&c["binding"]) {
                    Some(("equality", e)) => {
                        let value = e.get("type").map(|t| ty(doc, t)).unwrap_or_default();
                        shown.push(format!("{name} = {value}"));
                    }
                    Some(("constraint", b)) => shown.push(format!("{name}: {}", bounds(doc, b))),
                    _ => {}
                }
            }
            if shown.is_empty() {
                String::new()
            } else {
                format!("<{}>", shown.join(", "))
            }
        }
        Some(("parenthesized", p)) => {
            let inputs: Vec<String> = p["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| ty(doc, t))
                .collect();
            let output = match &p["output"] {
                Value::Null => String::new(),
                t => format!(" -> {}", ty(doc, t)),
            };
            format!("({}){output}", inputs.join(", "))
        }
        _ => String::new(),
    }
}

fn ty(doc: &Value, t: &Value) -> String {
    match tag(t) {
        Some(("resolved_path", p)) => path_of(doc, p),
        Some(("primitive", p)) => p.as_str().unwrap_or("?").to_owned(),
        Some(("generic", g)) => g.as_str().unwrap_or("?").to_owned(),
        Some(("tuple", items)) => {
            let shown: Vec<String> = items
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| ty(doc, t))
                .collect();
            format!("({})", shown.join(", "))
        }
        Some(("slice", inner)) => format!("[{}]", ty(doc, inner)),
        Some(("array", a)) => format!(
            "[{}; {}]",
            ty(doc, &a["type"]),
            a["len"].as_str().unwrap_or("_")
        ),
        Some(("borrowed_ref", r)) => {
            let lifetime = r["lifetime"]
                .as_str()
                .map(|l| format!("{l} "))
                .unwrap_or_default();
            let m = if r["is_mutable"] == true { "mut " } else { "" };
            format!("&{lifetime}{m}{}", ty(doc, &r["type"]))
        }
        Some(("raw_pointer", r)) => {
            let m = if r["is_mutable"] == true {
                "mut"
            } else {
                "const"
            };
            format!("*{m} {}", ty(doc, &r["type"]))
        }
        Some(("impl_trait", b)) => format!("impl {}", bounds(doc, b)),
        Some(("dyn_trait", d)) => {
            let traits: Vec<String> = d["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| path_of(doc, &p["trait"]))
                .collect();
            let lifetime = d["lifetime"]
                .as_str()
                .map(|l| format!(" + {l}"))
                .unwrap_or_default();
            format!("dyn {}{lifetime}", traits.join(" + "))
        }
        Some(("qualified_path", q)) => {
            let self_type = ty(doc, &q["self_type"]);
            let name = q["name"].as_str().unwrap_or("?");
            if q["trait"].is_null() {
                format!("{self_type}::{name}")
            } else {
                format!("<{self_type} as {}>::{name}", path_of(doc, &q["trait"]))
            }
        }
        Some(("function_pointer", f)) => {
            let inputs: Vec<String> = f["sig"]["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|pair| ty(doc, &pair[1]))
                .collect();
            let output = match &f["sig"]["output"] {
                Value::Null => String::new(),
                t => format!(" -> {}", ty(doc, t)),
            };
            format!("fn({}){output}", inputs.join(", "))
        }
        Some(("infer", _)) => "_".to_owned(),
        Some((other, _)) => format!("<{other}>"),
        None => "?".to_owned(),
    }
}

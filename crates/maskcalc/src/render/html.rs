//! One self-contained HTML page about a pool: its hosts, its baseline in
//! every output format, the host × feature matrix of what differs, the plan,
//! and every masked feature with its reasons.
//!
//! The page needs nothing but itself: no network, no external file, a
//! Content-Security-Policy that forbids loading anything (the inline style
//! sheet and script are allowed by their SHA-256 hashes). It reads fully
//! without JavaScript; the small script only adds copy buttons, sortable
//! columns and a filter. States are never shown by colour alone: every cell
//! carries a symbol and a text (`✓`/`✗`, `0 cleared`, `1 forced on`), and the
//! colours (blue and orange, after Okabe and Ito) stay distinct with every
//! common colour-vision deficiency and in grey print. Every string that
//! comes from input (host and file names, brand strings, vendor strings) is
//! escaped.
//!
//! [`Page`] and the section helpers are public so other tools (`cpu-profile`)
//! build pages that look and behave the same.

mod masks;

use std::borrow::Cow;
use std::fmt::Write as _;

use super::plan::upper_first;
use crate::consumer::{GuestCpu, Targets};
use crate::model::Host;
use crate::plan::Plan;
use crate::pool::PoolMasks;

pub use masks::{class_meaning, class_rank, masked_table, matrix};

/// Escapes `text` for HTML text and for quoted attribute values: `&`, `<`,
/// `>`, `"` and `'` become character references.
///
/// ```
/// use maskcalc::render::html::escape;
/// assert_eq!(escape("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
/// assert_eq!(escape("plain"), "plain");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_chars(text, true)
}

/// Escapes `text` for HTML element content: `&`, `<` and `>` (quotes need
/// no escaping there). Use [`escape`] for attribute values.
///
/// ```
/// use maskcalc::render::html::escape_text;
/// assert_eq!(escape_text("{\"a\": \"<x>\"}"), "{\"a\": \"&lt;x&gt;\"}");
/// ```
pub fn escape_text(text: &str) -> Cow<'_, str> {
    escape_chars(text, false)
}

fn escape_chars(text: &str, quotes: bool) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '&' | '<' | '>') || (quotes && matches!(c, '"' | '\''));
    if !text.contains(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The page's style sheet. Its SHA-256 is [`STYLE_SHA256`] (a test checks it).
pub const STYLE: &str = r#"
:root { --yes-bg: #d5e8f6; --yes-fg: #0b4f7c; --no-bg: #fbe1cc; --no-fg: #8a3a00;
        --clear-bg: #f3d9ea; --clear-fg: #6b1f52; --set-bg: #e3e3e3; --line: #9a9a9a; }
body { font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: #111; background: #fff; margin: 1.5em 2em; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #333; margin-top: 1.8em; }
h3 { font-size: 1.1em; margin: 1.2em 0 .4em; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3em 1.4em; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border: 1px solid var(--line); padding: 2px 6px; text-align: left; vertical-align: top; }
thead th { background: #eee; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, td.loc { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; }
pre { background: #f6f6f6; border: 1px solid #ccc; padding: .6em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; margin: .2em 0 .8em; }
details { margin: .3em 0; }
summary { cursor: pointer; font-weight: bold; }
.note { color: #444; max-width: 60em; }
.legend span { display: inline-block; margin-right: 1.2em; }
td.y, .legend .y { background: var(--yes-bg); color: var(--yes-fg); text-align: center; font-weight: bold; }
td.n, .legend .n { background: var(--no-bg); color: var(--no-fg); text-align: center; font-weight: bold; }
td.m-cleared, .legend .m-cleared { background: var(--clear-bg); color: var(--clear-fg); font-weight: bold; white-space: nowrap; }
td.m-forced, .legend .m-forced { background: var(--set-bg); font-weight: bold; white-space: nowrap; }
td.m-host, td.m-kept { font-style: italic; }
tr.group th { background: #333; color: #fff; font-weight: bold; }
tr.subgroup th { background: #ddd; font-weight: normal; font-style: italic; }
#matrix-table thead th.host { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-weight: normal; padding: 4px 2px; }
#matrix-table td.y, #matrix-table td.n { min-width: 1.4em; padding: 2px 3px; }
.tier { border: 1px solid var(--line); border-left: 6px solid var(--yes-fg); padding: .2em .9em; margin: .8em 0; }
.tier:nth-of-type(even) { border-left-color: var(--no-fg); border-left-style: double; }
button.copy { float: right; font: inherit; font-size: 12px; margin: .2em 0 0 .4em; }
button.sort { font: inherit; font-weight: bold; border: 0; background: none; padding: 0; cursor: pointer; }
button.sort::after { content: " \2195"; color: #777; font-weight: normal; }
.filter { margin: .4em 0; }
.filter label { margin-right: 1.2em; }
footer { margin-top: 3em; color: #555; font-size: 12px; }
@media print {
  body { margin: 0; font-size: 10pt; }
  nav, .filter, button { display: none; }
  td.y, td.n, td.m-cleared, td.m-forced, tr.group th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  pre { white-space: pre-wrap; }
}
"#;

/// The page's script: copy buttons on `pre.copy`, sortable `table.sortable`
/// columns, the matrix filter, and every `details` opened for printing. Its
/// SHA-256 is [`SCRIPT_SHA256`] (a test checks it). It marks `<body>` with
/// `data-script="ready"` when it has run.
pub const SCRIPT: &str = r#"
(function () {
  "use strict";
  var doc = document;
  function each(list, f) { Array.prototype.forEach.call(list, f); }
  function selectText(node) {
    var range = doc.createRange();
    range.selectNodeContents(node);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  each(doc.querySelectorAll("pre.copy"), function (pre) {
    var button = doc.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(pre.textContent).then(done, function () { selectText(pre); });
      } else {
        selectText(pre);
      }
    });
    pre.parentNode.insertBefore(button, pre);
  });
  function sortKey(cell) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { v = cell.textContent; }
    var n = Number(v);
    return v !== "" && !isNaN(n) ? n : v.toLowerCase();
  }
  each(doc.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    each(heads, function (th, col) {
      var button = doc.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      button.title = "Sort by this column";
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        each(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = sortKey(a.cells[col]), y = sortKey(b.cells[col]);
          return (x < y ? -1 : x > y ? 1 : 0) * dir;
        });
        each(rows, function (r) { body.appendChild(r); });
      });
    });
  });
  var matrix = doc.getElementById("matrix-table");
  if (matrix) {
    var bar = doc.createElement("div");
    bar.className = "filter";
    bar.innerHTML = '<label>Filter features: <input type="search" id="matrix-filter" placeholder="name or location"></label>' +
      '<label><input type="checkbox" id="matrix-masked"> only bits the mask changes</label>' +
      '<label><input type="checkbox" id="matrix-visible"> only intersect features</label>';
    matrix.parentNode.insertBefore(bar, matrix);
    var input = doc.getElementById("matrix-filter");
    var masked = doc.getElementById("matrix-masked");
    var visible = doc.getElementById("matrix-visible");
    var apply = function () {
      var q = input.value.trim().toLowerCase();
      each(matrix.tBodies, function (body) {
        var shown = 0;
        each(body.rows, function (tr) {
          if (!tr.hasAttribute("data-location")) { return; }
          var text = (tr.getAttribute("data-feature") + " " + tr.getAttribute("data-location")).toLowerCase();
          var mask = tr.getAttribute("data-mask");
          var ok = text.indexOf(q) >= 0 &&
            (!masked.checked || mask === "cleared" || mask === "forced") &&
            (!visible.checked || tr.getAttribute("data-class") === "intersect");
          tr.hidden = !ok;
          if (ok) { shown += 1; }
        });
        body.hidden = shown === 0;
      });
    };
    input.addEventListener("input", apply);
    masked.addEventListener("change", apply);
    visible.addEventListener("change", apply);
  }
  window.addEventListener("beforeprint", function () {
    each(doc.querySelectorAll("details"), function (d) { d.open = true; });
  });
  doc.body.setAttribute("data-script", "ready");
})();
"#;

/// Base64 SHA-256 of [`STYLE`], for the Content-Security-Policy.
pub const STYLE_SHA256: &str = "v/H3SHIeL8xz8ejlRquL2PANDTEQmEa9cmtvnG4N6jY=";
/// Base64 SHA-256 of [`SCRIPT`], for the Content-Security-Policy.
pub const SCRIPT_SHA256: &str = "U9wI6NhgaRtq7gns1g3vHEe/2PiJSA4JJDW5cOovDzU=";

/// A page under construction: a title, sections with a table of contents,
/// and a footer; [`Page::finish`] wraps them in the document with the style
/// sheet, the script and the Content-Security-Policy.
///
/// ```
/// use maskcalc::render::html::Page;
/// let mut page = Page::new("Pool <a>");
/// page.intro("<p>An introduction.</p>\n");
/// page.section("one", "First", "<p>body</p>");
/// let html = page.finish("made by a test");
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// assert!(html.contains("<title>Pool &lt;a&gt;</title>"));
/// assert!(html.contains("<h1>Pool &lt;a&gt;</h1>\n<p>An introduction.</p>\n<nav>"));
/// assert!(html.contains("<li><a href=\"#one\">First</a></li>"));
/// assert!(html.contains("<section id=\"one\">"));
/// assert!(html.contains("<footer>made by a test</footer>"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Page {
    title: String,
    intro: String,
    toc: Vec<(String, String)>,
    body: String,
}

impl Page {
    /// An empty page with this title (plain text; it is escaped).
    pub fn new(title: &str) -> Page {
        Page {
            title: title.to_owned(),
            ..Page::default()
        }
    }

    /// HTML placed under the title, before the table of contents.
    pub fn intro(&mut self, html: &str) {
        self.intro.push_str(html);
    }

    /// Appends a section: `id` (an HTML id, trusted), `title` (plain text)
    /// and its body (HTML, already escaped where needed).
    pub fn section(&mut self, id: &str, title: &str, body_html: &str) {
        let _ = write!(
            self.body,
            "<section id=\"{id}\">\n<h2>{}</h2>\n{body_html}</section>\n",
            escape(title)
        );
        self.toc.push((id.to_owned(), title.to_owned()));
    }

    /// The whole document; `footer` is plain text.
    pub fn finish(self, footer: &str) -> String {
        let mut out = String::with_capacity(self.body.len() + STYLE.len() + SCRIPT.len() + 2048);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
             style-src 'sha256-{STYLE_SHA256}'; script-src 'sha256-{SCRIPT_SHA256}'; \
             img-src data:; base-uri 'none'; form-action 'none'\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <header>\n<h1>{title}</h1>\n{intro}",
            title = escape(&self.title),
            intro = self.intro,
        );
        out.push_str("<nav><ul>\n");
        for (id, title) in &self.toc {
            let _ = writeln!(out, "<li><a href=\"#{id}\">{}</a></li>", escape(title));
        }
        out.push_str("</ul></nav>\n</header>\n<main>\n");
        out.push_str(&self.body);
        let _ = write!(
            out,
            "</main>\n<footer>{}</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
            escape(footer)
        );
        out
    }
}

/// Copyable blocks, one per `(label, text)`, each in a `<details>` (open
/// when `open` says so), with the format's `notes` and the lines it
/// `omitted` listed under it.
///
/// ```
/// use maskcalc::render::html::{formats_block, Format};
/// let block = formats_block(&[Format {
///     id: "xl",
///     label: "xl.cfg".into(),
///     text: "cpuid = \"host,avx=0\"\n".into(),
///     omitted: vec!["0x7.0.ebx[31]: no name".into()],
///     notes: Vec::new(),
///     open: true,
/// }]);
/// assert!(block.starts_with("<details open id=\"format-xl\">\n<summary>xl.cfg</summary>\n"));
/// // Quotes need no escaping in element content, so the text copies as it is.
/// assert!(block.contains("<pre class=\"copy\" data-format=\"xl\">cpuid = \"host,avx=0\"\n</pre>"));
/// assert!(block.contains("Not expressible in this format:</p>\n<ul>\n<li>0x7.0.ebx[31]: no name</li>"));
/// assert!(!block.contains("How it was written"), "no notes, no list");
/// ```
pub fn formats_block(formats: &[Format]) -> String {
    let mut out = String::new();
    for f in formats {
        let _ = write!(
            out,
            "<details{open} id=\"format-{id}\">\n<summary>{label}</summary>\n\
             <pre class=\"copy\" data-format=\"{id}\">{text}</pre>\n",
            open = if f.open { " open" } else { "" },
            id = f.id,
            label = escape(&f.label),
            text = escape_text(&f.text),
        );
        if !f.notes.is_empty() {
            out.push_str("<p class=\"note\">How it was written:</p>\n<ul>\n");
            for line in &f.notes {
                let _ = writeln!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul>\n");
        }
        if !f.omitted.is_empty() {
            out.push_str("<p class=\"note\">Not expressible in this format:</p>\n<ul>\n");
            for line in &f.omitted {
                let _ = writeln!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</details>\n");
    }
    out
}

/// One output format for [`formats_block`].
///
/// ```
/// use maskcalc::consumer::Targets;
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b<1>", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let formats = maskcalc::render::html::baseline_formats(&masks, &Targets::newest());
/// let xl = &formats[0];
/// assert_eq!((xl.id, xl.open), ("xl", true));
/// assert_eq!(xl.text, maskcalc::render::xl(&masks, &Targets::newest()).text);
/// assert!(xl.omitted.is_empty() && xl.notes.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// An HTML id fragment (`xl`, `libvirt`; trusted).
    pub id: &'static str,
    /// What the block is, for people.
    pub label: String,
    /// The configuration text.
    pub text: String,
    /// What the format could not express.
    pub omitted: Vec<String>,
    /// How it was written (a fallback syntax, features a KVM guest is not
    /// offered, entries a template leaves alone): [`super::Rendered::notes`].
    pub notes: Vec<String>,
    /// Whether the block starts open.
    pub open: bool,
}

/// The pool's masks in every format `xen-maskcalc` writes, through its
/// renderers, for the consumer releases of `targets`.
///
/// ```
/// use maskcalc::consumer::Targets;
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b<1>", 0x0c00_0001, 0)];
/// let masks = maskcalc::pool::compute(&hosts, &Default::default())?;
/// let formats = maskcalc::render::html::baseline_formats(&masks, &Targets::newest());
/// let ids: Vec<&str> = formats.iter().map(|f| f.id).collect();
/// assert_eq!(ids, ["xl", "xend", "libvirt", "qemu", "firecracker", "json"]);
/// assert_eq!(formats[1].text, maskcalc::render::xend(&masks));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn baseline_formats(masks: &PoolMasks, targets: &Targets<'_>) -> Vec<Format> {
    let guest = GuestCpu::from_masks(masks);
    let named = |id, label: &str, r: super::Rendered, open| Format {
        id,
        label: label.to_owned(),
        text: r.text,
        omitted: r.omitted,
        notes: r.notes,
        open,
    };
    let plain = |id, label: &str, text: String, open| Format {
        id,
        label: label.to_owned(),
        text,
        omitted: Vec::new(),
        notes: Vec::new(),
        open,
    };
    vec![
        named(
            "xl",
            "xl.cfg, libxl syntax (--format xl)",
            super::xl(masks, targets),
            true,
        ),
        plain(
            "xend",
            "xl.cfg, xend syntax as xen_maskcalc.py writes it (default)",
            super::xend(masks),
            false,
        ),
        named(
            "libvirt",
            "libvirt domain XML <cpu> (--format libvirt)",
            super::libvirt(masks, &guest, targets),
            false,
        ),
        named(
            "qemu",
            "QEMU -cpu (--format qemu)",
            super::qemu(masks, &guest, targets),
            false,
        ),
        named(
            "firecracker",
            "Firecracker custom CPU template (--format firecracker)",
            super::firecracker(masks),
            false,
        ),
        plain(
            "json",
            "JSON: masks, reasons and pool summary (--format json)",
            super::json(masks),
            false,
        ),
    ]
}

fn code_list(names: impl Iterator<Item = &'static str>) -> String {
    let list: Vec<String> = names.map(|n| format!("<code>{n}</code>")).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(" ")
    }
}

/// The plan: the ranked costs and the tiers with their baselines.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b<1>", 0x0c00_0001, 0)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// let html = maskcalc::render::html::plan_section(&plan, &maskcalc::consumer::Targets::newest());
/// assert!(html.contains("<table class=\"sortable\" id=\"costs-table\">"));
/// // Host names are escaped; b<1> costs the pool AVX and AVX2.
/// assert!(html.contains("<tr data-host-name=\"b&lt;1&gt;\" data-cost=\"2\">"), "{html}");
/// assert!(html.contains("<div class=\"tier\" id=\"tier-1\" data-tier=\"1\">"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_section(plan: &Plan, targets: &Targets<'_>) -> String {
    let masks = &plan.masks;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<p class=\"note\">{}.</p>",
        escape(&upper_first(super::COST_RULE))
    );
    out.push_str(
        "<table class=\"sortable\" id=\"costs-table\">\n<thead><tr><th>rank</th><th>host</th><th>cost</th>\
         <th>tier</th><th>the others would gain</th><th>lacks alone, not counted</th></tr></thead>\n<tbody>\n",
    );
    for (rank, cost) in plan.costs.iter().enumerate() {
        let host = &masks.hosts[cost.host];
        let uncounted: Vec<String> = cost
            .uncounted
            .iter()
            .map(|u| {
                format!(
                    "<code title=\"{why}\">{name}</code>",
                    why = super::not_counted_reason(u.why),
                    name = escape(&super::uncounted_name(u))
                )
            })
            .collect();
        let tier = plan.tier_of(cost.host).map(|t| t + 1);
        let _ = writeln!(
            out,
            "<tr data-host-name=\"{name}\" data-cost=\"{count}\"><td class=\"num\">{rank}</td><td>{name}</td>\
             <td class=\"num\" data-sort=\"{count}\">{count}</td><td class=\"num\">{tier}</td><td>{gains}</td><td>{uncounted}</td></tr>",
            rank = rank + 1,
            name = escape(&host.name),
            count = cost.gains.len(),
            tier = tier.map(|t| t.to_string()).unwrap_or_default(),
            gains = code_list(cost.gains.features().map(|f| f.name)),
            uncounted = if uncounted.is_empty() {
                "none".to_owned()
            } else {
                uncounted.join(" ")
            },
        );
    }
    out.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        out,
        "<h3>Suggested tiers</h3>\n<p class=\"note\">{}. A guest configured with a tier's \
         baseline can migrate between the hosts of that tier; a guest configured with the whole \
         pool's baseline, anywhere.</p>",
        escape(&upper_first(&super::tier_rule(plan.tier_threshold)))
    );
    for (i, tier) in plan.tiers.iter().enumerate() {
        let added = super::tier_additions(plan, tier);
        let hosts: Vec<String> = tier
            .hosts
            .iter()
            .map(|&h| format!("<li>{}</li>", escape(&masks.hosts[h].name)))
            .collect();
        let _ = writeln!(
            out,
            "<div class=\"tier\" id=\"tier-{n}\" data-tier=\"{n}\">\n<h3>Tier {n}: {count} host{s}, \
             {features} guest-visible features ({added_count} more than the whole pool)</h3>\n\
             <ul>{hosts}</ul>\n<p>Adds: {adds}</p>\n<pre class=\"copy\">{xl}</pre>\n</div>",
            n = i + 1,
            count = tier.hosts.len(),
            s = if tier.hosts.len() == 1 { "" } else { "s" },
            features = tier.baseline.len(),
            added_count = added.len(),
            hosts = hosts.join(""),
            adds = code_list(added.features().map(|f| f.name)),
            xl = escape_text(&super::xl(&tier.masks, targets).text),
        );
    }
    out
}

/// The hosts table: name, vendor, brand string, family/model/stepping, and
/// (with a plan) cost and tier. `hosts` gives the brand strings; when it is
/// empty (a profile keeps none) the column is left out.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b<1>", 0x0c00_0001, 0)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// use maskcalc::render::html::hosts_table;
/// let html = hosts_table(&plan.masks, &hosts, Some(&plan));
/// assert!(html.contains("<th>processor</th>") && html.contains("<th>cost</th><th>tier</th>"));
/// assert!(html.contains("<td class=\"num\" data-sort=\"85\">0x55</td>"), "model 0x55: {html}");
/// // Without hosts (a profile keeps no brand strings) nor plan: fewer columns.
/// let bare = hosts_table(&plan.masks, &[], None);
/// assert!(!bare.contains("<th>processor</th>") && !bare.contains("<th>cost</th>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn hosts_table(masks: &PoolMasks, hosts: &[Host], plan: Option<&Plan>) -> String {
    let brands = !hosts.is_empty();
    let mut out = String::from(
        "<table class=\"sortable\" id=\"hosts-table\">\n<thead><tr><th>#</th><th>host</th><th>vendor</th>",
    );
    if brands {
        out.push_str("<th>processor</th>");
    }
    out.push_str("<th>family</th><th>model</th><th>stepping</th>");
    if plan.is_some() {
        out.push_str("<th>cost</th><th>tier</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (i, summary) in masks.hosts.iter().enumerate() {
        let (family, model, stepping) = summary.family_model_stepping;
        let brand = hosts
            .get(i)
            .and_then(|h| h.cpuid.brand_string())
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr data-host-name=\"{name}\"><td class=\"num\">{n}</td><td>{name}</td><td>{vendor}</td>",
            n = i + 1,
            name = escape(&summary.name),
            vendor = escape(&summary.vendor_string),
        );
        if brands {
            let _ = write!(out, "<td>{}</td>", escape(&brand));
        }
        let _ = write!(
            out,
            "<td class=\"num\" data-sort=\"{family}\">{family:#x}</td><td class=\"num\" data-sort=\"{model}\">{model:#x}</td>\
             <td class=\"num\" data-sort=\"{stepping}\">{stepping:#x}</td>"
        );
        if let Some(plan) = plan {
            let cost = plan
                .costs
                .iter()
                .find(|c| c.host == i)
                .map_or(0, |c| c.gains.len());
            let tier = plan
                .tier_of(i)
                .map(|t| (t + 1).to_string())
                .unwrap_or_default();
            let _ = write!(
                out,
                "<td class=\"num\">{cost}</td><td class=\"num\">{tier}</td>"
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// The page of a pool: summary (hosts, baseline in every format), plan,
/// matrix, masked features. `hosts` are the hosts the plan was made from
/// (for their brand strings); `generator` names the tool in the footer.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b<1>", 0x0c00_0001, 0)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// let html = maskcalc::render::html::pool_page(&plan, &hosts, "a test", &maskcalc::consumer::Targets::newest());
/// assert!(html.contains("<title>CPUID pool report: 2 hosts</title>"));
/// assert!(html.contains("Guests see <strong>2</strong> features on every host; 2 bits differ"), "{html}");
/// for id in ["summary", "plan", "matrix", "masked"] {
///     assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
/// }
/// assert!(html.contains("<footer>Written by a test. Self-contained: no network, no external files.</footer>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pool_page(plan: &Plan, hosts: &[Host], generator: &str, targets: &Targets<'_>) -> String {
    let masks = &plan.masks;
    let differing: usize = masks
        .registers
        .iter()
        .map(|r| r.differing().count_ones() as usize)
        .sum();
    let mut page = Page::new(&format!("CPUID pool report: {} hosts", masks.hosts.len()));
    let vendors = masks.vendor_strings();
    page.intro(&format!(
        "<p>{n} hosts ({vendors}). Guests see <strong>{baseline}</strong> features on every host; \
         {differing} bits differ between the hosts; the mask changes {masked}. The pool splits into \
         {tiers} tier{s}.</p>\n",
        n = masks.hosts.len(),
        vendors = escape(&vendors.join(", ")),
        baseline = plan.baseline.len(),
        masked = masks.bits.len(),
        tiers = plan.tiers.len(),
        s = if plan.tiers.len() == 1 { "" } else { "s" },
    ));
    let mut summary = hosts_table(masks, hosts, Some(plan));
    summary.push_str(
        "<h3>The baseline in every output format</h3>\n<p class=\"note\">What to give each toolstack so \
         guests can migrate across the whole pool. Each block can be copied.</p>\n",
    );
    summary.push_str(&formats_block(&baseline_formats(masks, targets)));
    summary.push_str(&format!(
        "<details id=\"baseline-features\"><summary>The {} guest-visible features of the baseline</summary>\n<p>{}</p>\n</details>\n",
        plan.baseline.len(),
        code_list(plan.baseline.features().map(|f| f.name))
    ));
    page.section("summary", "Pool summary", &summary);
    page.section(
        "plan",
        "Plan: what each host costs the pool",
        &plan_section(plan, targets),
    );
    page.section("matrix", "What differs: hosts × features", &matrix(masks));
    page.section("masked", "Hidden and forced features", &masked_table(masks));
    page.finish(&format!(
        "Written by {generator}. Self-contained: no network, no external files."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_handles_every_special_character_once() {
        assert_eq!(escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
        assert_eq!(escape("&amp;"), "&amp;amp;");
        assert!(matches!(escape("no specials"), Cow::Borrowed(_)));
    }

    #[test]
    fn inline_code_has_no_closing_tags_that_end_it_early() {
        assert!(!SCRIPT.contains("</script"));
        assert!(!STYLE.contains("</style"));
    }
}

//! Man pages and shell completions, made from each tool's clap definition.
//!
//! Every tool answers a hidden first argument, as ripgrep does:
//!
//! ```text
//! TOOL --generate man DIR         # TOOL.1 and TOOL-SUBCOMMAND.1 into DIR
//! TOOL --generate complete-bash   # the completion script on standard output
//! TOOL --generate complete-zsh
//! TOOL --generate complete-fish
//! ```
//!
//! so the pages and scripts that `cargo xtask dist` packages describe exactly
//! the binary they ship with. [`crate::parse_args`] answers it before clap
//! parses anything, so a tool needs no code of its own for it.
//!
//! A page is clap_mangen's NAME, SYNOPSIS, OPTIONS, SUBCOMMANDS and VERSION,
//! with the long help split into sections by its headings: a paragraph that
//! starts `Examples:` (or `Example:`) opens EXAMPLES, kept line for line; a
//! paragraph that starts `Exit status:` becomes EXIT STATUS, one entry per
//! code (`0 ok; 1 bad input; 2 usage or I/O error`); everything else is
//! DESCRIPTION, where indented lines are kept as they are. A page without an
//! `Exit status:` paragraph gets the table every tool shares. FILES and
//! ENVIRONMENT say where the package installs the tool for Xen; SEE ALSO
//! names the other tools and the documents the help points to.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Command;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

use crate::exit;

/// Where the package installs the documents a `--help` names.
pub const DOC_DIR: &str = "/usr/share/doc/xenmig";

/// Where upstream Xen keeps its helper programs (`LIBEXEC_BIN`): libxl runs
/// `LIBEXEC_BIN/convert-legacy-stream`, and the package links the converter
/// and the verifier there.
pub const XEN_LIBEXEC_BIN: &str = "/usr/lib/xen/bin";

/// The five tools, for SEE ALSO.
const TOOLS: [&str; 5] = [
    "verify-stream-v2",
    "convert-legacy-stream",
    "cpuid-features",
    "xen-maskcalc",
    "cpu-profile",
];

/// How `--generate` is used, for its error message.
const USAGE: &str = "usage: TOOL --generate man DIR | complete-bash | complete-zsh | complete-fish";

/// One man page: its file name (`cpu-profile-check.1`) and its roff source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    /// The file name, section included.
    pub file_name: String,
    /// The page in roff (man macros).
    pub source: String,
}

/// The man pages of a tool: its own, then one per subcommand (`TOOL-SUB.1`),
/// as git and cargo name theirs.
///
/// ```
/// let tool = clap::Command::new("demo")
///     .version("1.0")
///     .about("A demo tool.")
///     .long_about("A demo tool.\n\nExamples:\n  demo -v\n\nExit status: 0 ok; 1 bad input; 2 usage error.")
///     .arg(clap::Arg::new("verbose").short('v').action(clap::ArgAction::SetTrue));
/// let pages = xenmig_cli::manual::man_pages(tool);
/// assert_eq!(pages[0].file_name, "demo.1");
/// assert!(pages[0].source.contains(".SH \"EXIT STATUS\""));
/// ```
pub fn man_pages(command: Command) -> Vec<ManPage> {
    let mut root = command.disable_help_subcommand(true);
    root.build();
    let subcommands: Vec<Command> = root
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();
    let root_name = root.get_name().to_owned();
    let sub_names: Vec<String> = subcommands
        .iter()
        .map(|sub| format!("{root_name}-{}", sub.get_name()))
        .collect();
    let mut pages = vec![ManPage {
        file_name: format!("{root_name}.1"),
        source: page(&root, &root_name, None, &sub_names),
    }];
    for (sub, name) in subcommands.iter().zip(&sub_names) {
        pages.push(ManPage {
            file_name: format!("{name}.1"),
            source: page(sub, &root_name, Some(&root), &[]),
        });
    }
    pages
}

/// The completion script of a tool for `shell`.
///
/// ```
/// let tool = clap::Command::new("demo").arg(clap::Arg::new("verbose").long("verbose"));
/// let script = xenmig_cli::manual::completion(tool, clap_complete::Shell::Bash);
/// assert!(String::from_utf8(script).unwrap().contains("complete -F"));
/// ```
pub fn completion(command: Command, shell: Shell) -> Vec<u8> {
    let mut command = command;
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    script
}

/// Answers `TOOL --generate ...` when that is the command line, and says
/// with which exit code the tool ends; `None` for any other command line.
pub(crate) fn answer_generate(command: impl FnOnce() -> Command) -> Option<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_none_or(|first| first != "--generate") {
        return None;
    }
    let request: Vec<&str> = args[1..].iter().filter_map(|a| a.to_str()).collect();
    let outcome = match (request.as_slice(), request.len() == args.len() - 1) {
        (["man", dir], true) => write_man_pages(command(), Path::new(dir)),
        ([kind], true) if kind.starts_with("complete-") => {
            match shell(&kind["complete-".len()..]) {
                Some(shell) => write_out(&completion(command(), shell)),
                None => Err(USAGE.to_owned()),
            }
        }
        _ => Err(USAGE.to_owned()),
    };
    Some(match outcome {
        Ok(()) => ExitCode::from(exit::OK),
        Err(message) => {
            let name = command_name();
            let _ = writeln!(io::stderr(), "{name}: {message}");
            ExitCode::from(exit::USAGE_OR_IO)
        }
    })
}

fn command_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(Path::new)
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn shell(name: &str) -> Option<Shell> {
    match name {
        "bash" => Some(Shell::Bash),
        "zsh" => Some(Shell::Zsh),
        "fish" => Some(Shell::Fish),
        _ => None,
    }
}

fn write_man_pages(command: Command, dir: &Path) -> Result<(), String> {
    let mut listing = String::new();
    for page in man_pages(command) {
        let path = dir.join(&page.file_name);
        std::fs::write(&path, page.source).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = writeln!(listing, "{}", path.display());
    }
    write_out(listing.as_bytes())
}

fn write_out(bytes: &[u8]) -> Result<(), String> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("standard output: {e}"))
}

/// One page: `command` is the tool itself (`parent` None) or one of its
/// subcommands; `subpages` are the names of the tool's subcommand pages.
fn page(command: &Command, tool: &str, parent: Option<&Command>, subpages: &[String]) -> String {
    let version = parent.unwrap_or(command).get_version().unwrap_or_default();
    let man = Man::new(command.clone())
        .source(format!("xenmig {version}"))
        .manual("xenmig");
    let help = help_text(command);
    let mut sections = HelpSections::parse(&help);
    if sections.exit_status.is_empty()
        && let Some(parent) = parent
    {
        // A subcommand without codes of its own has the tool's.
        sections.exit_status = HelpSections::parse(&help_text(parent)).exit_status;
    }

    let mut out = String::new();
    render(&mut out, &man, Man::render_title, true);
    // Ragged right and no hyphenation: names such as LIBXL_CONVERT_HELPER
    // and cpu-profile(1) must stay whole.
    push_roff(&mut out, Roff::new().control("ad", ["l"]).control("nh", []));
    render(&mut out, &man, Man::render_name_section, false);
    render(&mut out, &man, Man::render_synopsis_section, false);
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    blocks(&mut roff, &sections.description);
    push_roff(&mut out, &roff);
    if command.get_arguments().any(|arg| !arg.is_hide_set()) {
        render(&mut out, &man, Man::render_options_section, false);
    }
    if command.get_subcommands().any(|sub| !sub.is_hide_set()) {
        render(&mut out, &man, Man::render_subcommands_section, false);
    }

    let mut roff = Roff::new();
    exit_status(&mut roff, &sections.exit_status);
    if !sections.examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        blocks(&mut roff, &sections.examples);
    }
    install_sections(&mut roff, tool);
    see_also(&mut roff, tool, parent.is_some(), subpages, &help);
    if !version.is_empty() {
        roff.control("SH", ["VERSION"]);
        roff.text([roman(format!("xenmig {version}"))]);
    }
    roff.control("SH", ["AUTHORS"]);
    roff.text([roman("The xenmig developers.")]);
    push_roff(&mut out, &roff);
    out
}

/// A command's long help as one text: what `--help` prints around the
/// options (the long about, then the text after the options).
fn help_text(command: &Command) -> String {
    let about = command
        .get_long_about()
        .or_else(|| command.get_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    let after = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    format!("{about}\n\n{after}")
}

/// Appends one of clap_mangen's sections; only the first keeps the
/// preamble roff writes at the start of every document.
fn render(
    out: &mut String,
    man: &Man,
    section: fn(&Man, &mut dyn Write) -> io::Result<()>,
    keep_preamble: bool,
) {
    let mut bytes = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = section(man, &mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let preamble = Roff::new().render();
    match text.strip_prefix(preamble.as_str()) {
        Some(rest) if !keep_preamble => out.push_str(rest),
        _ => out.push_str(&text),
    }
}

fn push_roff(out: &mut String, roff: &Roff) {
    out.push_str(&roff.to_roff());
}

/// A piece of help text: a paragraph to fill, or lines to keep as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Paragraph(String),
    Verbatim(Vec<String>),
}

/// A long help split at its `Examples:` and `Exit status:` headings.
#[derive(Debug, Default, PartialEq, Eq)]
struct HelpSections {
    description: Vec<Block>,
    examples: Vec<Block>,
    /// The lines after `Exit status:`, as written.
    exit_status: Vec<String>,
}

impl HelpSections {
    fn parse(text: &str) -> HelpSections {
        let mut sections = HelpSections::default();
        let mut in_examples = false;
        for paragraph in paragraphs(text) {
            let first = paragraph[0];
            let indented = first.starts_with(char::is_whitespace);
            if !indented {
                if let Some(rest) = examples_heading(first) {
                    in_examples = true;
                    let mut lines: Vec<&str> = Vec::new();
                    let (note, example) = rest;
                    if !note.is_empty() {
                        sections.examples.push(Block::Paragraph(note));
                    }
                    if !example.trim().is_empty() {
                        lines.push(example.trim());
                    }
                    lines.extend(&paragraph[1..]);
                    if !lines.is_empty() {
                        sections.examples.push(Block::Verbatim(dedent(&lines)));
                    }
                    continue;
                }
                if let Some(rest) = heading(first, &["Exit status:", "Exit codes:"]) {
                    in_examples = false;
                    sections.exit_status.push(rest.trim().to_owned());
                    sections
                        .exit_status
                        .extend(paragraph[1..].iter().map(|l| l.trim().to_owned()));
                    continue;
                }
                in_examples = false;
            }
            let block = if indented || paragraph.iter().skip(1).any(|l| l.starts_with("  ")) {
                Block::Verbatim(dedent(&paragraph))
            } else {
                Block::Paragraph(
                    paragraph
                        .iter()
                        .map(|l| l.trim())
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            };
            if in_examples {
                sections.examples.push(block);
            } else {
                sections.description.push(block);
            }
        }
        sections
    }
}

/// The paragraphs of a text: runs of non-blank lines.
fn paragraphs(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line.trim_end());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A line opening the examples: `Examples:`, `Example: CMD` or `Examples
/// (NOTE):`. Gives the note as a sentence (`From NOTE:`, or empty) and the
/// text after the colon.
fn examples_heading(line: &str) -> Option<(String, &str)> {
    let rest = heading(line, &["Examples", "Example"])?;
    let (note, after) = rest.split_once(':')?;
    let note = note.trim();
    let note = match note.strip_prefix('(').and_then(|n| n.strip_suffix(')')) {
        Some(inner) => {
            let mut chars = inner.chars();
            let first: String = chars
                .next()
                .map(|c| c.to_uppercase().collect())
                .unwrap_or_default();
            format!("{first}{}:", chars.as_str())
        }
        None if note.is_empty() => String::new(),
        None => return None,
    };
    Some((note, after))
}

/// The rest of `line` after one of `headings` (matched without regard to case).
fn heading<'a>(line: &'a str, headings: &[&str]) -> Option<&'a str> {
    headings.iter().find_map(|h| {
        let head = line.get(..h.len())?;
        head.eq_ignore_ascii_case(h).then(|| &line[h.len()..])
    })
}

/// The lines with their common leading whitespace removed.
fn dedent(lines: &[&str]) -> Vec<String> {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()).to_owned())
        .collect()
}

fn blocks(roff: &mut Roff, blocks: &[Block]) {
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        match block {
            Block::Paragraph(text) => {
                roff.text(with_code(text));
            }
            Block::Verbatim(lines) => {
                roff.control("RS", ["4"]);
                roff.control("nf", []);
                for line in lines {
                    roff.text([roman(line.as_str())]);
                }
                roff.control("fi", []);
                roff.control("RE", []);
            }
        }
    }
}

/// Text with its `code spans` in bold, as a man page sets literal text.
fn with_code(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| if i % 2 == 1 { bold(part) } else { roman(part) })
        .collect()
}

/// Splits `0 ok; 1 bad input (a, b); 2 usage error.` (or one code per line)
/// into its codes and their meanings. A code is a number of at most three
/// digits at the start of a line or after `;`, `,`, `.` or `:`. Text before the
/// first code comes back with code `None`.
fn exit_codes(lines: &[String]) -> Vec<(Option<u8>, String)> {
    let mut entries: Vec<(Option<u8>, String)> = Vec::new();
    for line in lines {
        let mut after_separator = true;
        for word in line.split_whitespace() {
            let number = word.trim_end_matches([':', ',', ';']);
            let code = (after_separator && (1..=3).contains(&number.len()))
                .then(|| number.parse::<u8>().ok())
                .flatten();
            match (code, entries.last_mut()) {
                (Some(code), _) => entries.push((Some(code), String::new())),
                (None, Some((_, text))) => {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(word);
                }
                (None, None) => entries.push((None, word.to_owned())),
            }
            after_separator = word.ends_with([';', ',', '.', ':']);
        }
    }
    for (_, text) in &mut entries {
        let trimmed = text.trim_end_matches([';', ',', '.']).trim();
        *text = trimmed.to_owned();
    }
    entries
}

fn exit_status(roff: &mut Roff, lines: &[String]) {
    roff.control("SH", ["EXIT STATUS"]);
    let mut entries = exit_codes(lines);
    if !entries.iter().any(|(code, _)| code.is_some()) {
        // The table every tool shares (see `crate::exit`).
        entries = vec![
            (Some(exit::OK), "success".to_owned()),
            (
                Some(exit::BAD_INPUT),
                "bad input: an invalid stream, a malformed dump, an incompatible host".to_owned(),
            ),
            (
                Some(exit::USAGE_OR_IO),
                "usage error, I/O error, or content the tool cannot handle".to_owned(),
            ),
        ];
    }
    for (code, text) in entries {
        match code {
            Some(code) => {
                roff.control("TP", []);
                roff.text([bold(code.to_string())]);
                roff.text(with_code(&text));
            }
            None => {
                roff.control("PP", []);
                roff.text(with_code(&text));
            }
        }
    }
}

/// FILES and ENVIRONMENT: where the package puts a tool for Xen's own
/// programs to find it.
fn install_sections(roff: &mut Roff, tool: &str) {
    let mut files: Vec<(String, String)> =
        vec![(format!("/usr/bin/{tool}"), "The program.".to_owned())];
    match tool {
        "convert-legacy-stream" => files.push((
            format!("{XEN_LIBEXEC_BIN}/{tool}"),
            "A link to the program where upstream libxl runs it (LIBEXEC_BIN) when it restores a \
             pre-Xen-4.6 image: --in FD --out FD --width 64|32 --guest hvm|pv --format libxl, \
             both descriptors inherited."
                .to_owned(),
        )),
        "verify-stream-v2" => files.push((
            format!("{XEN_LIBEXEC_BIN}/{tool}"),
            "A link to the program where upstream Xen installs its own verify-stream-v2."
                .to_owned(),
        )),
        "xen-maskcalc" => files.push((
            "/usr/sbin/xen_maskcalc".to_owned(),
            "A link to the program under the name openSUSE's xen package gives xen_maskcalc.py."
                .to_owned(),
        )),
        _ => {}
    }
    files.push((
        format!("{DOC_DIR}/"),
        "The documents the help points to, the licences and the changelog.".to_owned(),
    ));
    roff.control("SH", ["FILES"]);
    for (path, meaning) in files {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(meaning)]);
    }
    if tool == "convert-legacy-stream" {
        roff.control("SH", ["ENVIRONMENT"]);
        roff.control("TP", []);
        roff.text([bold("LIBXL_CONVERT_HELPER")]);
        roff.text([roman(format!(
            "Read by libxl, not by this tool: the program libxl runs instead of \
             LIBEXEC_BIN/convert-legacy-stream. Debian's libxl has LIBEXEC_BIN \
             /usr/lib/xen-4.17/bin, where its own xen-utils package keeps the Python script; \
             set LIBXL_CONVERT_HELPER={XEN_LIBEXEC_BIN}/convert-legacy-stream in the environment \
             of xl or libvirtd to have this converter used there."
        ))]);
    }
}

/// SEE ALSO: the subcommand pages (or the tool's page), the other tools, and
/// every document under [`DOC_DIR`] that the help names.
fn see_also(roff: &mut Roff, tool: &str, is_subcommand: bool, subpages: &[String], help: &str) {
    let mut pages: Vec<String> = Vec::new();
    if is_subcommand {
        pages.push(tool.to_owned());
    }
    pages.extend(subpages.iter().cloned());
    pages.extend(
        TOOLS
            .iter()
            .filter(|t| **t != tool)
            .map(|t| (*t).to_owned()),
    );
    pages.push("xl".to_owned());
    let mut line = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(page.as_str()));
        line.push(roman("(1)"));
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text(line);
    let mut documents: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';' | '`'))
        .map(|word| word.trim_end_matches(['.', ':']))
        .filter(|word| word.starts_with(DOC_DIR))
        .collect();
    documents.sort_unstable();
    documents.dedup();
    if documents.is_empty() {
        documents.push(DOC_DIR);
    }
    for document in documents {
        roff.control("PP", []);
        roff.text([italic(document)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn exit_codes_in_a_sentence() {
        let entries = exit_codes(&lines(
            "0 converted; 1 bad or truncated input; 2 usage, I/O error, or\n\
             content that cannot be converted (tmem, Remus compression).",
        ));
        assert_eq!(
            entries,
            vec![
                (Some(0), "converted".to_owned()),
                (Some(1), "bad or truncated input".to_owned()),
                (
                    Some(2),
                    "usage, I/O error, or content that cannot be converted (tmem, Remus compression)"
                        .to_owned()
                ),
            ]
        );
    }

    #[test]
    fn exit_codes_separated_by_commas_or_lines() {
        let commas = exit_codes(&lines("0 success, 1 unknown name, 2 usage error."));
        assert_eq!(commas.len(), 3);
        assert_eq!(commas[1], (Some(1), "unknown name".to_owned()));
        let table = exit_codes(&lines("0  ok\n1  bad input: fewer than 2 hosts\n2  usage"));
        assert_eq!(
            table,
            vec![
                (Some(0), "ok".to_owned()),
                (Some(1), "bad input: fewer than 2 hosts".to_owned()),
                (Some(2), "usage".to_owned()),
            ]
        );
    }

    #[test]
    fn exit_codes_keep_a_lead_in() {
        let entries = exit_codes(&lines("As upstream: 0 ok; 2 usage."));
        assert_eq!(entries[0], (None, "As upstream:".to_owned()));
        assert_eq!(entries[1], (Some(0), "ok".to_owned()));
    }

    #[test]
    fn help_splits_at_its_headings() {
        let help = "Does a thing.\n\nMore about it,\non two lines.\n\n  an indented line\n\n\
                    Exit status: 0 ok; 1 bad.\n\nExamples:\n\n  tool -v\n\n  tool -q\n\n\
                    A closing note.\n\nExample: tool --json";
        let sections = HelpSections::parse(help);
        assert_eq!(
            sections.description,
            vec![
                Block::Paragraph("Does a thing.".to_owned()),
                Block::Paragraph("More about it, on two lines.".to_owned()),
                Block::Verbatim(vec!["an indented line".to_owned()]),
                Block::Paragraph("A closing note.".to_owned()),
            ]
        );
        assert_eq!(
            sections.examples,
            vec![
                Block::Verbatim(vec!["tool -v".to_owned()]),
                Block::Verbatim(vec!["tool -q".to_owned()]),
                Block::Verbatim(vec!["tool --json".to_owned()]),
            ]
        );
        assert_eq!(sections.exit_status, vec!["0 ok; 1 bad.".to_owned()]);
    }

    #[test]
    fn an_examples_heading_may_carry_a_note() {
        let help =
            "Examples (from the root of a checkout):\n  $ tool -v\n  # A comment:\n  $ tool -q";
        let sections = HelpSections::parse(help);
        assert_eq!(
            sections.examples,
            vec![
                Block::Paragraph("From the root of a checkout:".to_owned()),
                Block::Verbatim(vec![
                    "$ tool -v".to_owned(),
                    "# A comment:".to_owned(),
                    "$ tool -q".to_owned()
                ]),
            ]
        );
        let prose = HelpSections::parse("Examples of use are below: none.");
        assert!(prose.examples.is_empty());
        assert_eq!(prose.description.len(), 1);
    }

    #[test]
    fn examples_keep_their_relative_indent() {
        let help =
            "Examples:\n  On every host:\n      cpuid -1r > node1\n  Then:\n      tool node*";
        let sections = HelpSections::parse(help);
        assert_eq!(
            sections.examples,
            vec![Block::Verbatim(vec![
                "On every host:".to_owned(),
                "    cpuid -1r > node1".to_owned(),
                "Then:".to_owned(),
                "    tool node*".to_owned(),
            ])]
        );
    }

    #[test]
    fn a_page_without_exit_status_gets_the_shared_table() {
        let tool = Command::new("demo").version("1").about("Demo.");
        let page = &man_pages(tool)[0].source;
        let status = &page[page.find(".SH \"EXIT STATUS\"").unwrap()..];
        for code in ["\\fB0\\fR", "\\fB1\\fR", "\\fB2\\fR"] {
            assert!(status.contains(code), "{code} missing in:\n{status}");
        }
        assert_eq!(
            page.matches(".ie \\n(.g").count(),
            1,
            "one preamble:\n{page}"
        );
    }

    #[test]
    fn subcommands_get_pages_of_their_own() {
        let tool = Command::new("demo").version("1").subcommand(
            Command::new("check")
                .about("Check it.")
                .long_about("Check it.\n\nExit status: 0 fits; 1 not."),
        );
        let pages = man_pages(tool);
        let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(names, ["demo.1", "demo-check.1"]);
        assert!(pages[0].source.contains("demo\\-check"));
        assert!(
            pages[1].source.contains(".TH demo-check 1"),
            "{}",
            pages[1].source
        );
        assert!(
            pages[1].source.contains("\\fB1\\fR\nnot"),
            "{}",
            pages[1].source
        );
    }

    #[test]
    fn see_also_names_the_documents_the_help_names() {
        let help = "Every rule: /usr/share/doc/xenmig/verify-rules.md. Formats in \
                    (/usr/share/doc/xenmig/stream-format.md).";
        let mut roff = Roff::new();
        see_also(&mut roff, "verify-stream-v2", false, &[], help);
        let text = roff.to_roff();
        assert!(
            text.contains("/usr/share/doc/xenmig/verify\\-rules.md\\fR"),
            "{text}"
        );
        assert!(
            text.contains("/usr/share/doc/xenmig/stream\\-format.md\\fR"),
            "{text}"
        );
        assert!(!text.contains("\\fBverify\\-stream\\-v2\\fR"), "{text}");
    }
}

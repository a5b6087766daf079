//! Every example in every `--help` works when pasted.
//!
//! An example is a help line that starts with `$ ` after its indentation (a
//! line ending in `\` continues on the next, as in the shell). Each
//! help page's examples run in order with `sh -c`, in a fresh directory that
//! holds a link to the repository's `testdata/` (so they behave as from the
//! root of a checkout, and what they write lands in the scratch directory),
//! with the tools first on `PATH`. An example succeeds (exit 0) unless its
//! comment (on its line or the line above) says `exits 1` or `exits 2` (or
//! `exits 0 or 1`, for those that depend on the
//! machine, such as `--local`). Help is read as an 80-column terminal shows
//! it: clap wraps long lines, and a wrapped example no longer pastes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{repo_root, scratch};

/// The directory holding the tools under test.
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_verify-stream-v2"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `tool [SUBCOMMAND] --help`, for the tool and every subcommand.
fn help_pages() -> Vec<(String, Vec<String>)> {
    let mut pages = Vec::new();
    for command in xenmig_cli::args::commands() {
        let tool = command.get_name().to_owned();
        pages.push((tool.clone(), vec!["--help".to_owned()]));
        for sub in command.get_subcommands() {
            pages.push((
                tool.clone(),
                vec![sub.get_name().to_owned(), "--help".to_owned()],
            ));
        }
    }
    pages
}

/// The examples of one help text, each with the exit codes it may give.
fn examples(help: &str) -> Vec<(String, Vec<i32>)> {
    let mut commands = Vec::new();
    let mut lines = help.lines();
    let mut comment_above = "";
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        let Some(first) = line.strip_prefix("$ ") else {
            comment_above = line.strip_prefix("# ").unwrap_or("");
            continue;
        };
        let mut command = first.to_owned();
        while let Some(head) = command.strip_suffix('\\') {
            command = format!("{head}{}", lines.next().unwrap_or("").trim_start());
        }
        commands.push((command, comment_above));
        comment_above = "";
    }
    commands
        .into_iter()
        .map(|(command, comment_above)| {
            let comment = command.split_once(" # ").map_or(comment_above, |(_, c)| c);
            let codes = if comment.contains("exits 0 or 1") {
                vec![0, 1]
            } else if comment.contains("exits 1") {
                vec![1]
            } else if comment.contains("exits 2") {
                vec![2]
            } else {
                vec![0]
            };
            (command, codes)
        })
        .collect()
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    run_with_columns(dir, program, args, 80)
}

fn run_with_columns(
    dir: &Path,
    program: &str,
    args: &[&str],
    columns: usize,
) -> std::process::Output {
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("COLUMNS", columns.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn every_help_page_has_examples_that_work_when_pasted() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (page, (tool, args)) in help_pages().into_iter().enumerate() {
        let dir = scratch(&format!("help-{page}"));
        std::os::unix::fs::symlink(repo_root().join("testdata"), dir.join("testdata")).unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let help = run_in(&dir, &tool, &args);
        assert_eq!(help.status.code(), Some(0), "{tool} {args:?}");
        let help = String::from_utf8(help.stdout).unwrap();
        let examples = examples(&help);
        let wide = run_with_columns(&dir, &tool, &args, 400);
        if examples != self::examples(&String::from_utf8(wide.stdout).unwrap()) {
            failures.push(format!(
                "{tool} {}: an example is wider than 80 columns",
                args.join(" ")
            ));
        }
        if examples.is_empty() {
            failures.push(format!("{tool} {}: no examples", args.join(" ")));
        }
        for (example, codes) in examples {
            count += 1;
            let out = run_in(&dir, "sh", &["-c", &example]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            if !code.is_some_and(|c| codes.contains(&c)) || stderr.contains("panicked") {
                failures.push(format!(
                    "{tool} {}: `{example}` exited {code:?}, expected one of {codes:?}\n{stderr}",
                    args.join(" ")
                ));
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(count >= 30, "only {count} examples found");
}

#[test]
fn short_help_is_the_tools_own_description() {
    // `-h` shows the first line of each tool's description, not the package's.
    for command in xenmig_cli::args::commands() {
        let tool = command.get_name().to_owned();
        let about = command
            .get_about()
            .expect("every tool has an about")
            .to_string();
        let out = run_in(&repo_root(), &tool, &["-h"]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with(&about), "{tool} -h:\n{text}");
        assert!(
            !text.contains("Command-line tools of xenmig"),
            "{tool} -h:\n{text}"
        );
    }
}

#[test]
fn every_exit_status_paragraph_is_the_one_in_docs_exit_codes() {
    // The exit-code table is documented once, in docs/exit-codes.md; each
    // --help carries its own line of it, word for word.
    let docs = std::fs::read_to_string(repo_root().join("docs/exit-codes.md")).unwrap();
    let docs = docs.split_whitespace().collect::<Vec<_>>().join(" ");
    for (tool, args) in help_pages() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let help = run_with_columns(&repo_root(), &tool, &args, 400);
        let help = String::from_utf8(help.stdout).unwrap();
        let Some(start) = help.find("Exit status:") else {
            if args.len() == 1 {
                panic!("{tool} --help has no Exit status paragraph");
            }
            continue;
        };
        let paragraph = help[start..].split("\n\n").next().unwrap();
        let paragraph = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            docs.contains(&paragraph),
            "{tool} {}: docs/exit-codes.md lacks\n{paragraph}",
            args.join(" ")
        );
    }
}

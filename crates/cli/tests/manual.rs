//! `TOOL --generate ...`: the man pages and completion scripts the package
//! ships, made from each tool's clap definition, and the documents every
//! `--help` points to.

mod support;

use std::path::Path;
use std::process::Command;

use support::{clean_success, failure, repo_root, scratch, success};

/// Every tool, with its binary.
const TOOLS: [(&str, &str); 5] = [
    ("verify-stream-v2", env!("CARGO_BIN_EXE_verify-stream-v2")),
    (
        "convert-legacy-stream",
        env!("CARGO_BIN_EXE_convert-legacy-stream"),
    ),
    ("cpuid-features", env!("CARGO_BIN_EXE_cpuid-features")),
    ("xen-maskcalc", env!("CARGO_BIN_EXE_xen-maskcalc")),
    ("cpu-profile", env!("CARGO_BIN_EXE_cpu-profile")),
];

/// Where the package puts the documents (`manual::DOC_DIR`).
const DOC_DIR: &str = "/usr/share/doc/xenmig/";

/// The subcommands a tool's `--help` lists under `Commands:` (without `help`).
fn subcommands(exe: &str) -> Vec<String> {
    let help = success(exe, &["--help"]);
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// A tool's `--help` and every subcommand's.
fn all_help(exe: &str) -> Vec<(String, String)> {
    let mut texts = vec![("--help".to_owned(), success(exe, &["--help"]))];
    for sub in subcommands(exe) {
        texts.push((format!("{sub} --help"), success(exe, &[&sub, "--help"])));
    }
    texts
}

/// True when `program` can be run; in CI (which installs it) it must be.
fn have(program: &str) -> bool {
    let found = Command::new(program).arg("--version").output().is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "{program} is missing; .ci/run installs it"
    );
    found
}

#[test]
fn man_pages_for_every_tool_and_subcommand() {
    for (tool, exe) in TOOLS {
        let dir = scratch(&format!("man-{tool}"));
        let listing = clean_success(exe, &["--generate", "man", dir.to_str().unwrap()]);
        let mut expected: Vec<String> = vec![format!("{tool}.1")];
        expected.extend(subcommands(exe).iter().map(|sub| format!("{tool}-{sub}.1")));
        let listed: Vec<String> = listing
            .lines()
            .map(|line| {
                let path = Path::new(line);
                assert_eq!(path.parent(), Some(dir.as_path()), "{line}");
                path.file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        assert_eq!(listed, expected, "{tool}");

        let page = std::fs::read_to_string(dir.join(format!("{tool}.1"))).unwrap();
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH OPTIONS",
            ".SH \"EXIT STATUS\"",
            ".SH EXAMPLES",
            ".SH FILES",
            ".SH \"SEE ALSO\"",
            ".SH VERSION",
        ] {
            assert!(page.contains(section), "{tool}.1 lacks {section}:\n{page}");
        }
        let status =
            &page[page.find(".SH \"EXIT STATUS\"").unwrap()..page.find(".SH EXAMPLES").unwrap()];
        for code in 0..=2 {
            assert!(
                status.contains(&format!(".TP\n\\fB{code}\\fR\n")),
                "{tool}.1: no entry for exit code {code}:\n{status}"
            );
        }
        // The examples are the help's, line for line (roff escapes `-` and `\`).
        let help = success(exe, &["--help"]);
        let example = help
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with(&format!("$ {tool} ")))
            .unwrap_or_else(|| panic!("{tool} --help has no example line"));
        let examples = &page[page.find(".SH EXAMPLES").unwrap()..];
        assert!(
            examples.contains(&example.replace('\\', "\\\\").replace('-', "\\-")),
            "{tool}.1 EXAMPLES lacks `{example}`:\n{examples}"
        );
        assert!(page.contains(&format!("\\fI{}", DOC_DIR.replace('-', "\\-"))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn man_pages_render_without_warnings() {
    if !have("man") {
        eprintln!("man not installed: this check is skipped outside CI");
        return;
    }
    for (tool, exe) in TOOLS {
        let dir = scratch(&format!("render-{tool}"));
        let listing = clean_success(exe, &["--generate", "man", dir.to_str().unwrap()]);
        for page in listing.lines() {
            let out = Command::new("man")
                .args(["--warnings", "-l", page])
                .env("MANWIDTH", "80")
                .output()
                .unwrap();
            let warnings = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && warnings.is_empty(),
                "{page}:\n{warnings}"
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("EXIT STATUS"), "{page} rendered:\n{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn help_points_at_the_installed_documents() {
    for (tool, exe) in TOOLS {
        let mut named = 0;
        for (args, text) in all_help(exe) {
            assert!(
                !text.contains(" docs/") && !text.contains("(docs/"),
                "`{tool} {args}` names a docs/ path, which an installed tool does not have:\n{text}"
            );
            for word in
                text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';'))
            {
                if let Some(file) = word.trim_end_matches(['.', ':']).strip_prefix(DOC_DIR) {
                    // The package installs docs/*.md there.
                    assert!(
                        repo_root().join("docs").join(file).is_file(),
                        "`{tool} {args}` names {DOC_DIR}{file}, which docs/ does not have"
                    );
                    named += 1;
                }
            }
        }
        assert!(named > 0, "{tool} --help names no document under {DOC_DIR}");
    }
}

#[test]
fn bash_completion_loads_and_completes() {
    for (tool, exe) in TOOLS {
        let dir = scratch(&format!("bash-{tool}"));
        let script = dir.join(tool);
        std::fs::write(
            &script,
            clean_success(exe, &["--generate", "complete-bash"]),
        )
        .unwrap();
        // Load the script as bash-completion would, then ask for `TOOL --`.
        let probe = format!(
            "source '{}' || exit 3
             spec=$(complete -p {tool}) || exit 4
             fn=${{spec#*-F }}; fn=${{fn%% *}}
             COMP_WORDS=({tool} --); COMP_CWORD=1; COMP_LINE='{tool} --'; COMP_POINT=${{#COMP_LINE}}
             \"$fn\" {tool} -- {tool}
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &probe])
            .output()
            .unwrap();
        let words = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && words.lines().any(|w| w == "--help"),
            "{tool}: {}\n{words}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn zsh_and_fish_completions_parse() {
    for (shell, check) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
        if !have(shell) {
            eprintln!("{shell} not installed: its check is skipped outside CI");
            continue;
        }
        for (tool, exe) in TOOLS {
            let dir = scratch(&format!("{shell}-{tool}"));
            let script = dir.join(tool);
            let text = clean_success(exe, &["--generate", &format!("complete-{shell}")]);
            assert!(text.contains(tool), "{shell} script of {tool}:\n{text}");
            std::fs::write(&script, text).unwrap();
            let out = Command::new(shell)
                .args(check)
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{shell} rejects the script of {tool}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

#[test]
fn generate_usage_errors_exit_2() {
    for (tool, exe) in TOOLS {
        for args in [
            &["--generate"][..],
            &["--generate", "man"],
            &["--generate", "complete-tcsh"],
            &["--generate", "html"],
        ] {
            let err = failure(exe, args, 2);
            assert!(
                err.contains("usage: TOOL --generate"),
                "{tool} {args:?}: {err}"
            );
        }
        let err = failure(exe, &["--generate", "man", "/nonexistent/dir"], 2);
        assert!(err.contains("/nonexistent/dir/"), "{tool}: {err}");
    }
}

//! Helpers shared by the CLI integration tests: running a tool and checking
//! its exit code and output. What every crate's tests share (paths, golden
//! files, scratch directories) is `xenmig-test-support`'s, re-exported here.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::process::{Command, Output, Stdio};

pub use xenmig_test_support::{assert_golden, repo_root, scratch, testdata};

/// The newest consumer releases the tables know, so that outputs do not
/// depend on which libxl, QEMU or libvirt this machine has installed.
pub const NEWEST_CONSUMERS: [&str; 6] = [
    "--xen-version",
    "4.22",
    "--qemu-version",
    "10.2",
    "--libvirt-version",
    "12.8",
];

/// Runs a binary of this crate (its path from `env!("CARGO_BIN_EXE_<name>")`)
/// with `args` and no standard input, from the repository root.
pub fn run(exe: &str, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"))
}

/// The exit code of a finished tool (panics if it died from a signal).
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("tool was killed by a signal")
}

/// A tool's standard output as UTF-8 (panics if it is not).
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// A tool's standard error as UTF-8 (panics if it is not).
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Checks that a finished tool exited with `expected_code` and said `needle`
/// on standard error.
pub fn fails_saying(output: &Output, expected_code: i32, needle: &str) {
    let err_text = stderr(output);
    assert_eq!(code(output), expected_code, "{err_text}");
    assert!(err_text.contains(needle), "{err_text}");
}

/// Runs `exe` with `args` (see [`run`]), checks that it exits with
/// `expected_code`, and returns its (standard output, standard error).
pub fn outcome(exe: &str, args: &[&str], expected_code: i32) -> (String, String) {
    let out = run(exe, args);
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    assert_eq!(
        code(&out),
        expected_code,
        "{args:?}\n{out_text}\n{err_text}"
    );
    (out_text, err_text)
}

/// Runs a command that must succeed (exit code 0); returns its standard output.
pub fn success(exe: &str, args: &[&str]) -> String {
    outcome(exe, args, 0).0
}

/// Runs a command that must exit with `expected_code`; returns its standard error.
pub fn failure(exe: &str, args: &[&str], expected_code: i32) -> String {
    outcome(exe, args, expected_code).1
}

/// Like [`success`], and standard error must stay empty but for the
/// warnings about dumps taken by a 32-bit program ([`without_quirks`]).
pub fn clean_success(exe: &str, args: &[&str]) -> String {
    let (out_text, err_text) = outcome(exe, args, 0);
    assert!(
        without_quirks(&err_text).is_empty(),
        "{args:?} wrote to stderr: {err_text}"
    );
    out_text
}

/// Standard error without the warnings of `maskcalc::dump::quirks`: most of
/// the Intel dumps in testdata/cpuid were taken by a 32-bit `cpuid`, and
/// every tool that reads one says so (tested in xen_maskcalc.rs).
pub fn without_quirks(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.ends_with("(take the dump with a 64-bit cpuid)"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Like [`failure`], and standard output must stay empty.
pub fn clean_failure(exe: &str, args: &[&str], expected_code: i32) -> String {
    let (out_text, err_text) = outcome(exe, args, expected_code);
    assert!(out_text.is_empty(), "{args:?} wrote to stdout");
    err_text
}

/// Runs `exe` with `args` from the repository root, its standard output a pipe
/// whose reader is already gone (like `tool | head -0`), so every write fails
/// with EPIPE; standard error is captured.
pub fn run_with_closed_stdout(exe: &str, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(exe)
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"))
}

/// Runs `exe` with `args` from the repository root, `input` fed to its
/// standard input through a pipe by another thread; returns its output and
/// how feeding went (a tool may stop reading early, so a failed write is for
/// the caller to judge).
pub fn run_piped(exe: &str, args: &[&str], input: Vec<u8>) -> (Output, std::io::Result<()>) {
    use std::io::Write;
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {exe}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    (output, feeder.join().unwrap())
}

/// Every real Intel dump, `testdata/cpuid/intel-*.txt` relative to the
/// repository root, sorted as the shell expands the glob.
pub fn intel_pool() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(testdata("cpuid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("intel-") && n.ends_with(".txt"))
        .map(|n| format!("testdata/cpuid/{n}"))
        .collect();
    names.sort();
    names
}

/// `flags` followed by `files`, as one argument list.
pub fn with_files<'a>(flags: &[&'a str], files: &'a [String]) -> Vec<&'a str> {
    flags
        .iter()
        .copied()
        .chain(files.iter().map(String::as_str))
        .collect()
}

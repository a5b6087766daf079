//! The contract of the five tools, as one table: every tool against every
//! class of bad input and every hostile output, with the exit code the
//! contract gives (docs/exit-codes.md) and what the message must say.
//!
//! The exit code of a row comes from its class alone ([`Class::code`]), so
//! the table states the rule once: an input that cannot be read is 2, one
//! that does not parse is 1, a usage mistake is 2, a closed pipe on a
//! report keeps the verdict. Every error message must name the file and
//! say what was expected (the row's needles), and no row may panic.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{repo_root, scratch};

const NODE1: &str = "testdata/cpuid/readme-node1.txt";
const NODE2: &str = "testdata/cpuid/readme-node2.txt";
const MILAN: &str = "testdata/cpuid/amd-milan-epyc-7763.txt";
const GENOA: &str = "testdata/cpuid/amd-genoa-epyc-9654.txt";
const IVYBRIDGE: &str = "testdata/cpuid/intel-ivybridge-ep-xeon-e5-2697-v2.txt";
const STREAM: &str = "testdata/streams/xl-hvm-v3.bin";
const IMAGE: &str = "testdata/legacy/pv64-guest64.img";
const SAVED_GUEST: &str = "testdata/profile/xl-skylake-guest.bin";

/// What a row does to the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The input path does not exist.
    Missing,
    /// The input path is a directory.
    Directory,
    /// The input is an empty file.
    Empty,
    /// The input is binary garbage.
    Garbage,
    /// The input is a valid file cut short.
    Truncated,
    /// The command line is wrong: conflicting or unknown flags.
    Usage,
    /// Output into a pipe whose reader is gone: a report (output a person
    /// reads) keeps its verdict, data fails with 2 (docs/decisions.md, "Data
    /// and reports").
    ClosedStdout {
        /// The code the tool gives with an open standard output (a report),
        /// or 2 (data).
        verdict: i32,
    },
    /// Standard error is a pipe whose reader is gone, on a failing input.
    ClosedStderrOnError,
    /// Standard error is a pipe whose reader is gone, on a run that warns.
    ClosedStderrOnWarning,
    /// Standard output is `/dev/full`.
    FullStdout,
}

impl Class {
    /// The exit code the contract gives this class.
    fn code(self) -> i32 {
        match self {
            Class::Missing | Class::Directory | Class::Usage | Class::FullStdout => 2,
            Class::Empty | Class::Garbage | Class::Truncated | Class::ClosedStderrOnError => 1,
            Class::ClosedStdout { verdict } => verdict,
            Class::ClosedStderrOnWarning => 0,
        }
    }
}

/// Where the tool's standard streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Streams {
    Captured,
    ClosedStdout,
    ClosedStderr,
    FullStdout,
}

impl Class {
    fn streams(self) -> Streams {
        match self {
            Class::ClosedStdout { .. } => Streams::ClosedStdout,
            Class::ClosedStderrOnError | Class::ClosedStderrOnWarning => Streams::ClosedStderr,
            Class::FullStdout => Streams::FullStdout,
            _ => Streams::Captured,
        }
    }
}

/// One row: a tool, its arguments, the class, and what standard error must
/// contain (each needle is `a|b|...`: one of the alternatives).
struct Row {
    tool: &'static str,
    args: Vec<String>,
    class: Class,
    needles: Vec<String>,
}

/// The kinds of input the tools read, and the files of each class.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Stream,
    LegacyImage,
    Dump,
    Profile,
}

struct Inputs {
    dir: PathBuf,
    profile: String,
}

impl Inputs {
    fn new() -> Inputs {
        let dir = scratch("contract");
        std::fs::create_dir(dir.join("a-directory")).unwrap();
        std::fs::write(dir.join("empty"), b"").unwrap();
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        std::fs::write(dir.join("garbage"), garbage).unwrap();
        let cut = |from: &str, to: &str, len: usize| {
            let bytes = std::fs::read(repo_root().join(from)).unwrap();
            std::fs::write(dir.join(to), &bytes[..len]).unwrap();
        };
        cut(STREAM, "truncated.stream", 100);
        cut(IMAGE, "truncated.img", 100);
        cut(NODE1, "truncated.dump", 2000);
        let profile = dir.join("pool.json");
        let out = tool("cpu-profile")
            .args(["generate", NODE1, NODE2, "-o"])
            .arg(&profile)
            .current_dir(repo_root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = std::fs::read(&profile).unwrap();
        std::fs::write(dir.join("truncated.json"), &text[..text.len() / 2]).unwrap();
        Inputs {
            profile: profile.display().to_string(),
            dir,
        }
    }

    /// The file of `class` for an input of `kind`.
    fn path(&self, kind: Kind, class: Class) -> String {
        let name = match class {
            Class::Missing => "missing".to_owned(),
            Class::Directory => "a-directory".to_owned(),
            Class::Empty => "empty".to_owned(),
            Class::Garbage => "garbage".to_owned(),
            Class::Truncated => match kind {
                Kind::Stream => "truncated.stream",
                Kind::LegacyImage => "truncated.img",
                Kind::Dump => "truncated.dump",
                Kind::Profile => "truncated.json",
            }
            .to_owned(),
            _ => unreachable!("{class:?} is not an input class"),
        };
        self.dir.join(name).display().to_string()
    }

    /// What the message must say besides the file's name.
    fn needle(kind: Kind, class: Class) -> &'static str {
        match (class, kind) {
            (Class::Missing, _) => "No such file or directory",
            (Class::Directory, _) => "Is a directory",
            (Class::Empty, Kind::Dump) => "expected a CPUID dump, found an empty file",
            (Class::Empty, Kind::LegacyImage) => "empty|only 0 bytes",
            (Class::Empty, _) => "expected|empty",
            (Class::Garbage, Kind::Stream) => "expected|neither",
            (Class::Garbage, Kind::LegacyImage) => "expected|exceeded",
            (Class::Garbage, _) => "expected",
            (Class::Truncated, Kind::Profile) => "expected JSON",
            (Class::Truncated, _) => "truncated",
            _ => unreachable!(),
        }
    }
}

/// A command for one of the tools under test.
fn tool(name: &str) -> Command {
    let exe = match name {
        "verify-stream-v2" => env!("CARGO_BIN_EXE_verify-stream-v2"),
        "convert-legacy-stream" => env!("CARGO_BIN_EXE_convert-legacy-stream"),
        "cpuid-features" => env!("CARGO_BIN_EXE_cpuid-features"),
        "xen-maskcalc" => env!("CARGO_BIN_EXE_xen-maskcalc"),
        "cpu-profile" => env!("CARGO_BIN_EXE_cpu-profile"),
        other => panic!("no tool {other}"),
    };
    let mut command = Command::new(exe);
    command.env("NO_COLOR", "1").stdin(Stdio::null());
    command
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Every row of the contract.
fn rows(inputs: &Inputs) -> Vec<Row> {
    let mut rows = Vec::new();
    let out = |name: &str| inputs.dir.join(name).display().to_string();
    let p = inputs.profile.as_str();
    // The commands that read one input, with `{}` where it goes.
    let readers: Vec<(&'static str, Kind, Vec<String>)> = vec![
        ("verify-stream-v2", Kind::Stream, strings(&["-i", "{}"])),
        (
            "convert-legacy-stream",
            Kind::LegacyImage,
            vec!["-i".into(), "{}".into(), "-o".into(), out("converted")],
        ),
        ("xen-maskcalc", Kind::Dump, strings(&["{}", NODE1])),
        (
            "cpu-profile",
            Kind::Dump,
            vec![
                "generate".into(),
                "{}".into(),
                "-o".into(),
                out("generated.json"),
            ],
        ),
        ("cpu-profile", Kind::Profile, strings(&["show", "{}"])),
        (
            "cpu-profile",
            Kind::Profile,
            strings(&["export", "--format", "xl", "{}"]),
        ),
        (
            "cpu-profile",
            Kind::Profile,
            strings(&["check", "--profile", "{}", NODE1]),
        ),
        (
            "cpu-profile",
            Kind::Dump,
            strings(&["check", "--profile", p, "{}"]),
        ),
        (
            "cpu-profile",
            Kind::Stream,
            strings(&["check", "--stream", "{}", NODE1]),
        ),
        ("cpu-profile", Kind::Profile, strings(&["diff", "{}", p])),
        ("cpu-profile", Kind::Dump, strings(&["diff", p, "{}"])),
    ];
    for (tool, kind, args) in &readers {
        for class in [
            Class::Missing,
            Class::Directory,
            Class::Empty,
            Class::Garbage,
            Class::Truncated,
        ] {
            let path = inputs.path(*kind, class);
            rows.push(Row {
                tool,
                args: args.iter().map(|a| a.replace("{}", &path)).collect(),
                class,
                needles: vec![path.clone(), Inputs::needle(*kind, class).to_owned()],
            });
        }
    }
    // cpuid-features reads names and numbers, not files.
    for (args, class, needle) in [
        (
            &["show", "zzzz"][..],
            Class::Garbage,
            "unknown feature name \"zzzz\"",
        ),
        (&["show", ""], Class::Empty, "unknown feature name \"\""),
        (
            &["decode", "7.0", "ebx", "0xzz"],
            Class::Usage,
            "expected a number",
        ),
    ] {
        rows.push(Row {
            tool: "cpuid-features",
            args: strings(args),
            class,
            needles: vec![needle.to_owned()],
        });
    }

    // Usage: unknown and conflicting flags.
    for tool in [
        "verify-stream-v2",
        "convert-legacy-stream",
        "cpuid-features",
        "xen-maskcalc",
        "cpu-profile",
    ] {
        rows.push(Row {
            tool,
            args: strings(&["--no-such-flag"]),
            class: Class::Usage,
            needles: vec!["unexpected argument '--no-such-flag'".to_owned()],
        });
    }
    rows.push(Row {
        tool: "cpu-profile",
        args: strings(&["check", "--profile", p, "--stream", SAVED_GUEST, NODE1]),
        class: Class::Usage,
        needles: vec!["cannot be used with".to_owned()],
    });
    rows.push(Row {
        tool: "xen-maskcalc",
        args: strings(&["--hide", "avx", "--keep", "avx", NODE1, NODE2]),
        class: Class::Usage,
        needles: vec!["expected each feature in at most one of --hide and --keep".to_owned()],
    });
    rows.push(Row {
        tool: "convert-legacy-stream",
        args: strings(&["-i", IMAGE]),
        class: Class::Usage,
        needles: vec!["--out".to_owned()],
    });
    rows.push(Row {
        tool: "cpu-profile",
        args: strings(&["show", "--input-format", "cpuid", p]),
        class: Class::Usage,
        needles: vec!["unexpected argument '--input-format'".to_owned()],
    });

    // Reports into a closed pipe keep their verdict.
    for (tool, args, verdict) in [
        ("verify-stream-v2", strings(&["-v", "-i", STREAM]), 0),
        ("cpuid-features", strings(&["list"]), 0),
        ("cpuid-features", strings(&["list", "--json"]), 0),
        ("xen-maskcalc", strings(&["--diff", NODE1, NODE2]), 0),
        ("cpu-profile", strings(&["show", p]), 0),
        ("cpu-profile", strings(&["check", "--profile", p, NODE1]), 0),
        (
            "cpu-profile",
            strings(&["check", "--profile", p, IVYBRIDGE]),
            1,
        ),
        ("cpu-profile", strings(&["diff", p, IVYBRIDGE]), 1),
    ] {
        rows.push(Row {
            tool,
            args,
            class: Class::ClosedStdout { verdict },
            needles: Vec::new(),
        });
    }

    // Data into a closed pipe is never success: exit 2, and it says so.
    for (tool, args) in [
        ("convert-legacy-stream", strings(&["-i", IMAGE, "-o", "1"])),
        ("convert-legacy-stream", strings(&["-i", IMAGE, "-o", "-"])),
        ("cpu-profile", strings(&["generate", NODE1, "-o", "-"])),
        ("cpu-profile", strings(&["export", "--format", "xl", p])),
        ("xen-maskcalc", strings(&[NODE1, NODE2])),
        ("xen-maskcalc", strings(&["-v", NODE1, NODE2])),
        (
            "xen-maskcalc",
            strings(&["--format", "libvirt", NODE1, NODE2]),
        ),
    ] {
        rows.push(Row {
            tool,
            args,
            class: Class::ClosedStdout { verdict: 2 },
            needles: vec!["standard output: the reader went away".to_owned()],
        });
    }

    // A closed standard error never turns into a panic.
    let garbage = inputs.path(Kind::Dump, Class::Garbage);
    for (tool, args) in [
        ("verify-stream-v2", strings(&["-i", &garbage])),
        (
            "convert-legacy-stream",
            vec![
                "-i".into(),
                garbage.clone(),
                "-o".into(),
                out("closed-stderr"),
            ],
        ),
        ("cpuid-features", strings(&["show", "zzzz"])),
        ("xen-maskcalc", strings(&[&garbage, NODE1])),
        ("cpu-profile", strings(&["check", "--profile", p, &garbage])),
    ] {
        rows.push(Row {
            tool,
            args,
            class: Class::ClosedStderrOnError,
            needles: Vec::new(),
        });
    }
    for (tool, args) in [
        ("xen-maskcalc", strings(&["--format", "xl", MILAN, GENOA])),
        (
            "xen-maskcalc",
            strings(&["-v", "--format", "json", MILAN, GENOA]),
        ),
    ] {
        rows.push(Row {
            tool,
            args,
            class: Class::ClosedStderrOnWarning,
            needles: Vec::new(),
        });
    }

    // Output that cannot be written is an I/O error.
    for (tool, args) in [
        ("cpuid-features", strings(&["list"])),
        ("cpuid-features", strings(&["show", "--json", "avx"])),
        ("xen-maskcalc", strings(&[NODE1, NODE2])),
        ("cpu-profile", strings(&["show", p])),
        ("cpu-profile", strings(&["generate", NODE1, "-o", "-"])),
        ("cpu-profile", strings(&["check", "--profile", p, NODE1])),
    ] {
        rows.push(Row {
            tool,
            args,
            class: Class::FullStdout,
            needles: vec!["standard output: No space left on device".to_owned()],
        });
    }
    rows
}

/// Runs one row from the repository root with its standard streams set up.
fn run(row: &Row) -> Output {
    let mut command = tool(row.tool);
    command.args(&row.args).current_dir(repo_root());
    match row.class.streams() {
        Streams::Captured => command.output(),
        Streams::ClosedStdout => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            command.stdout(writer).stderr(Stdio::piped()).output()
        }
        Streams::ClosedStderr => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            command.stdout(Stdio::null()).stderr(writer).output()
        }
        Streams::FullStdout => {
            let full = File::options().write(true).open("/dev/full").unwrap();
            command.stdout(full).stderr(Stdio::piped()).output()
        }
    }
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", row.tool))
}

/// What is wrong with a row's outcome, if anything.
fn check(row: &Row, out: &Output) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let mut problems = Vec::new();
    if code != Some(row.class.code()) {
        problems.push(format!("exit {code:?}, expected {}", row.class.code()));
    }
    if stderr.contains("panicked") {
        problems.push("panicked".to_owned());
    }
    for needle in &row.needles {
        if !needle.split('|').any(|n| stderr.contains(n)) {
            problems.push(format!("message lacks {needle:?}"));
        }
    }
    if problems.is_empty() {
        return None;
    }
    Some(format!(
        "{} {} [{:?}]: {}\n    stderr: {}",
        row.tool,
        row.args.join(" "),
        row.class,
        problems.join("; "),
        stderr.trim_end().replace('\n', "\n            ")
    ))
}

#[test]
fn every_tool_keeps_the_contract_for_every_class_of_bad_input() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this machine");
        return;
    }
    let inputs = Inputs::new();
    let rows = rows(&inputs);
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| check(row, &run(row)))
        .collect();
    std::fs::remove_dir_all(&inputs.dir).unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} rows break the contract:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

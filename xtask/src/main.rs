//! `cargo xtask`: test data, code generation and benchmarks.

// A developer's tool run in a terminal: printing is how it reports.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use xtask::{Kind, repo_root, write_generated};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  gen-testdata   regenerate the checked-in test data under testdata/
  codegen        regenerate checked-in generated source files
  public-api     rewrite crates/*/public-api.txt, the listing of each library's public API
  bench [NAME]   run the benchmarks (all, or one by name) and print the ratios against cat/cp
  consumer-facts xl|qemu|libvirt ARGS…
                 extract what consumer releases know into crates/maskcalc/data/consumers/
  copy-experiment [--batches N] [--rounds N] [--settle-ms N] [--only TEXT]
                 the converter's copy pattern without the converter: copy_file_range
                 per batch, aligned or not, against read+write through buffers of
                 1-16 MiB, written whole, in pieces or dropped behind, against cp;
                 --settle-ms waits between deleting a copy and making the next, so
                 that freed memory goes back to the host; --only 'A;B' runs the
                 methods whose names contain A or B (see docs/performance.md)
  copy-experiment --durability [--mib N] [--rounds N] [--dir DIR]
                 -o FILE's writeback policies against each other (write + commit
                 of N MiB through the tool's own output, in DIR)
  screenshot     render docs/images/xen-maskcalc-page.png (and the .html beside it) in headless chromium
  dist           build the Debian package, its -dbgsym and a tarball in target/packages/
  upstream SOURCE --repo OWNER/NAME --commit COMMIT FILE...
                 extract Xen, Linux, QEMU or libvirt CPUID facts into testdata/upstream/
  crosscheck-legacy XEN/tools/python
                 compare convert-legacy-stream with Xen's script on testdata/legacy
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    let result = match args.first().map(String::as_str) {
        Some("gen-testdata") => write_generated(Kind::TestData, &root).map(report),
        Some("codegen") => write_generated(Kind::Code, &root).map(report),
        Some("public-api") => write_generated(Kind::PublicApi, &root).map(report),
        Some("bench") => xtask_bench(&args[1..]),
        Some("consumer-facts") => xtask::consumer_facts::run(&root, &args[1..]),
        Some("copy-experiment") => xtask::copy_experiment::main(&args[1..]),
        Some("screenshot") => screenshot(&root),
        Some("dist") => xtask::dist::run(&root).map(|made| xtask::dist::report(&made)),
        Some("crosscheck-legacy") => match args.get(1) {
            Some(dir) => xtask::legacy_crosscheck::run(&root, std::path::Path::new(dir)),
            None => Err("usage: cargo xtask crosscheck-legacy XEN/tools/python".to_owned()),
        },
        Some("upstream") => xtask::upstream::run(&root, &args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The docs screenshot is made by the browser test that also checks it, in
/// its bless mode: one place knows how to drive chromium.
fn screenshot(root: &std::path::Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "test",
            "--quiet",
            "-p",
            "xenmig-cli",
            "--test",
            "xen_maskcalc_browser",
            "docs_screenshot_is_current",
        ])
        .env("XENMIG_BLESS", "1")
        .env("XENMIG_REQUIRE_CHROMIUM", "1")
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo test: {e}"))?;
    if !status.success() {
        return Err("rendering the screenshot failed (see the test output above)".to_owned());
    }
    println!("wrote docs/images/xen-maskcalc-page.png and docs/images/xen-maskcalc-page.html");
    Ok(())
}

fn report(changed: usize) {
    println!("{changed} file(s) updated");
}

/// A benchmark: given the repository root, runs and prints its report.
type Bench = fn(&std::path::Path) -> Result<(), String>;

/// Every benchmark, by name.
const BENCHES: &[(&str, Bench)] = &[
    ("maskcalc", xtask::bench_maskcalc::run),
    ("plan", xtask::bench_plan::run),
    ("stream-read", xtask::stream_bench::run),
    ("verify", xtask::bench_verify::run),
    ("convert", xtask::bench_convert::run),
    ("cpu-profile", xtask::bench_profile::run),
];

fn xtask_bench(args: &[String]) -> Result<(), String> {
    let names: Vec<&str> = BENCHES.iter().map(|(name, _)| *name).collect();
    let wanted = args.first().map(String::as_str);
    let selected: Vec<_> = BENCHES
        .iter()
        .filter(|(name, _)| wanted.is_none_or(|w| w == "all" || w == *name))
        .collect();
    if selected.is_empty() {
        return Err(format!(
            "usage: cargo xtask bench [all|{}]",
            names.join("|")
        ));
    }
    for (name, run) in selected {
        println!("== bench {name}");
        run(&repo_root())?;
    }
    Ok(())
}

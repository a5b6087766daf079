//! `cargo xtask`: test data, code generation and benchmarks.

use std::process::ExitCode;
use xtask::{Kind, repo_root, write_generated};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  gen-testdata   regenerate the checked-in test data under testdata/
  codegen        regenerate checked-in generated source files
  bench          run the benchmarks and print the ratios against cat/cp
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    let result = match args.first().map(String::as_str) {
        Some("gen-testdata") => write_generated(Kind::TestData, &root).map(report),
        Some("codegen") => write_generated(Kind::Code, &root).map(report),
        Some("bench") => xtask_bench(&args[1..]),
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

fn report(changed: usize) {
    println!("{changed} file(s) updated");
}

fn xtask_bench(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("stream-read") => xtask::stream_bench::run(&repo_root()),
        Some("verify") => xtask::bench_verify::run(&repo_root()),
        Some("convert") => xtask::bench_convert::run(&repo_root()),
        _ => Err(
            "usage: cargo xtask bench <name>; benchmarks: stream-read, verify, convert".to_owned(),
        ),
    }
}

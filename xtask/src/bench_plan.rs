//! `cargo xtask bench plan`: `xen-maskcalc --plan` (and `--format html`)
//! against the plain `xen-maskcalc` on the same pools of 250 to 2,000 hosts,
//! and, in process, the plan's leave-one-out costs against recomputing the
//! pool once per host.
//!
//! The pools are those of `cargo xtask bench maskcalc` (the real `intel-*`
//! dumps, a few bits cleared per host at random with a fixed seed). End to
//! end, the release binaries take turns within each round and the median of
//! 7 rounds is reported, so the ratio against the plain computation is paired.
//! In process, `crates/maskcalc/examples/plan_timing.rs` (release build)
//! checks that both ways find the same costs, then times them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bench_maskcalc::{Lcg, intel_dumps, write_pool};
use crate::bench_util::{Profile, TempDir, build_cli, median_interleaved, run_silent};
use maskcalc::model::HostCpuid;

const POOL_SIZES: [usize; 4] = [250, 500, 1000, 2000];
const IN_PROCESS_SIZES: [usize; 4] = [10, 100, 250, 1000];
const ROUNDS: usize = 7;

fn build_example(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "maskcalc",
            "--example",
            "plan_timing",
        ])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release --example plan_timing failed".to_owned());
    }
    Ok(root.join("target/release/examples/plan_timing"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the benchmark and prints its two tables.
pub fn run(root: &Path) -> Result<(), String> {
    let tool = build_cli(root, "xen-maskcalc", Profile::Release)?;
    let example = build_example(root)?;
    let bases = intel_dumps(root)?;
    if bases.is_empty() {
        return Err("no intel-* dumps in testdata/cpuid".to_owned());
    }
    let dir = TempDir::new("bench-plan")?;
    end_to_end(&tool, dir.path(), &bases)?;
    println!();
    in_process(&example, dir.path(), &bases)
}

/// For each of `sizes`, a pool of that many hosts written to `dir` (the
/// hosts drawn with the seed `seed`), given to `each` and removed after.
fn for_each_pool(
    dir: &Path,
    bases: &[HostCpuid],
    sizes: [usize; 4],
    seed: u64,
    mut each: impl FnMut(usize, &[PathBuf]) -> Result<(), String>,
) -> Result<(), String> {
    let mut rng = Lcg(seed);
    for hosts in sizes {
        let paths = write_pool(dir, bases, hosts, &mut rng)?;
        each(hosts, &paths)?;
        for path in &paths {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

/// The first table: `tool` plain, with `--plan` and with `--format html`
/// on pools (in `dir`) of [`POOL_SIZES`] hosts.
fn end_to_end(tool: &Path, dir: &Path, bases: &[HostCpuid]) -> Result<(), String> {
    println!(
        "xen-maskcalc end to end, release build, median of {ROUNDS} interleaved rounds; \
         ratios against the plain computation (default xend output)"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>8} {:>10} {:>8}",
        "hosts", "plain", "--plan", "ratio", "html", "ratio"
    );
    for_each_pool(dir, bases, POOL_SIZES, 0x5eed, |hosts, paths| {
        let with = |flags: &[&str]| -> Vec<PathBuf> {
            flags
                .iter()
                .map(PathBuf::from)
                .chain(paths.iter().cloned())
                .collect()
        };
        let (plain_args, plan_args, html_args) =
            (with(&[]), with(&["--plan"]), with(&["--format", "html"]));
        let medians = median_interleaved(
            ROUNDS,
            &mut [
                &mut || run_silent(tool, &plain_args),
                &mut || run_silent(tool, &plan_args),
                &mut || run_silent(tool, &html_args),
            ],
        )?;
        let [plain, plan, html] = medians[..] else {
            return Err("expected three medians".to_owned());
        };
        println!(
            "{hosts:>6} {:>8.1}ms {:>8.1}ms {:>7.2}x {:>8.1}ms {:>7.2}x",
            ms(plain),
            ms(plan),
            plan.as_secs_f64() / plain.as_secs_f64(),
            ms(html),
            html.as_secs_f64() / plain.as_secs_f64(),
        );
        Ok(())
    })
}

/// The second table: the `plan_timing` example on pools (in `dir`) of
/// [`IN_PROCESS_SIZES`] hosts.
fn in_process(example: &Path, dir: &Path, bases: &[HostCpuid]) -> Result<(), String> {
    println!(
        "in process, release build: pool::compute once, plan::plan (costs and tiers), and the \
         leave-one-out costs by recomputing the pool once per host (median of 7, of 1 above 500 hosts)"
    );
    println!(
        "{:>6} {:>12} {:>12} {:>14} {:>16} {:>6}",
        "hosts", "compute", "plan", "recompute", "recompute/plan", "tiers"
    );
    for_each_pool(dir, bases, IN_PROCESS_SIZES, 0x91a2, |hosts, paths| {
        let output = Command::new(example)
            .args(paths)
            .output()
            .map_err(|e| format!("{}: {e}", example.display()))?;
        if !output.status.success() {
            return Err(format!(
                "plan_timing failed: {}",
                String::from_utf8_lossy(&output.stderr).trim_end()
            ));
        }
        let line = String::from_utf8_lossy(&output.stdout).into_owned();
        let field = |name: &str| -> Result<f64, String> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no {name} in {line:?}"))
        };
        let (compute, plan, recompute, tiers) = (
            field("compute_ms")?,
            field("plan_ms")?,
            field("recompute_ms")?,
            field("tiers")?,
        );
        println!(
            "{hosts:>6} {compute:>10.2}ms {plan:>10.2}ms {recompute:>12.1}ms {:>15.0}x {tiers:>6}",
            recompute / plan
        );
        Ok(())
    })
}

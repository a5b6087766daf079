//! `cargo xtask bench maskcalc`: `xen-maskcalc` over pools of 250 to 2,000
//! host dumps, against `cat` of the same files in the same run.
//!
//! The dumps are the real ones of `testdata/cpuid/` (Intel only, so the pool
//! has one vendor), each host with a few feature bits cleared at random
//! (fixed seed), written as `cpuid -1r` files into a temporary directory.
//! The release binary is timed end to end (start, read, parse, compute,
//! print); the best of several runs is reported, with peak RSS from
//! `/usr/bin/time` when it is installed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use maskcalc::dump::{self, write};
use maskcalc::model::{CpuidInput, HostCpuid};

use crate::bench_util::{
    Profile, TempDir, best_wall, build_cli, mib, peak_rss_of_shell, ratio, rss_cell, run_silent,
    shell_quote,
};

const POOL_SIZES: [usize; 4] = [250, 500, 1000, 2000];
const RUNS: usize = 5;

/// A small deterministic generator, so every run benchmarks the same pools.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next 32-bit number.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

/// The `intel-*` dumps of `testdata/cpuid/`, parsed, in file name order.
pub fn intel_dumps(root: &Path) -> Result<Vec<HostCpuid>, String> {
    let dir = root.join("testdata/cpuid");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("intel-"))
        })
        .collect();
    names.sort();
    names
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            dump::parse(&path.display().to_string(), &bytes, None).map_err(|e| e.to_string())
        })
        .collect()
}

/// `hosts` hosts, each one of `bases` (picked at random) with one or two
/// random bits of leaf 7.0 EBX/ECX cleared: hosts with different microcode
/// or BIOS settings.
pub fn random_pool(bases: &[HostCpuid], hosts: usize, rng: &mut Lcg) -> Vec<HostCpuid> {
    (0..hosts)
        .map(|_| {
            let mut host = bases[rng.next_u32() as usize % bases.len()].clone();
            if let Some(regs) = host.leaves.get_mut(&CpuidInput::new(7, 0)) {
                regs[1] &= !(1 << (rng.next_u32() % 32));
                regs[2] &= !(1 << (rng.next_u32() % 32));
            }
            host
        })
        .collect()
}

/// Writes [`random_pool`] as `cpuid -1r` files `host00000`... into `dir`.
pub fn write_pool(
    dir: &Path,
    bases: &[HostCpuid],
    hosts: usize,
    rng: &mut Lcg,
) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::with_capacity(hosts);
    for (i, host) in random_pool(bases, hosts, rng).iter().enumerate() {
        let path = dir.join(format!("host{i:05}"));
        std::fs::write(&path, write::cpuid_tool(host))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// Best wall time of `RUNS` runs of `program args`, and its peak RSS in KiB if measurable.
fn time_command(
    program: &Path,
    args: &[PathBuf],
    dir: &Path,
) -> Result<(Duration, Option<u64>), String> {
    let best = best_wall(RUNS, || run_silent(program, args))?;
    let command: Vec<String> = std::iter::once(program)
        .chain(args.iter().map(PathBuf::as_path))
        .map(shell_quote)
        .collect();
    Ok((best, peak_rss_of_shell(&command.join(" "), dir)))
}

/// Runs the benchmark and prints a table.
pub fn run(root: &Path) -> Result<(), String> {
    let tool = build_cli(root, "xen-maskcalc", Profile::Release)?;
    let bases = intel_dumps(root)?;
    if bases.is_empty() {
        return Err("no intel-* dumps in testdata/cpuid".to_owned());
    }
    let dir = TempDir::new("bench-maskcalc")?;
    let dir = dir.path();
    let mut rng = Lcg(0x5eed);
    println!("xen-maskcalc: default (xend) output, best of {RUNS} runs, release build");
    println!(
        "{:>6} {:>10} {:>12} {:>10} {:>10} {:>14} {:>12}",
        "hosts", "MiB", "xen-maskcalc", "cat", "ratio", "µs per host", "peak RSS"
    );
    for hosts in POOL_SIZES {
        let paths = write_pool(dir, &bases, hosts, &mut rng)?;
        let bytes: u64 = paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let (ours, rss) = time_command(&tool, &paths, dir)?;
        let (cat, _) = time_command(Path::new("cat"), &paths, dir)?;
        println!(
            "{hosts:>6} {:>10.2} {:>10.1}ms {:>8.1}ms {:>9.1}x {:>14.1} {:>12}",
            mib(bytes),
            ours.as_secs_f64() * 1e3,
            cat.as_secs_f64() * 1e3,
            ratio(ours, cat),
            ours.as_secs_f64() * 1e6 / hosts as f64,
            rss_cell(rss),
        );
        for path in &paths {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

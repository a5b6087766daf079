//! `cargo xtask copy-experiment --durability`: when `-o FILE` should ask
//! the kernel to write its data back.
//!
//! `-o FILE` is durable when the tool exits 0 (file fsynced, named,
//! directory fsynced); what is left to choose is the
//! [`WritebackPolicy`] that paces the writeback while the file is written.
//! This writes `mib` MiB (read from a page-cached source in 8 MiB blocks, as
//! the converter writes) through the tool's own [`Output`] with each policy,
//! commits it, and times write + commit; plus plain `write` + `fsync` with no
//! temporary file and no rename. The variants run paired and interleaved,
//! each round starting with the next one, and before each run the previous
//! file is deleted and the deletion committed to the journal, so that no run
//! pays for the one before it. It reports the median time of each variant
//! and the median of its per-round ratios to "fsync at commit".

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xenmig_cli::fdio::{Output, OutputOptions, PRIVATE, Target, WritebackPolicy};

use crate::bench_util::{load_average, median, self_cpu};

/// How the experiment is run.
#[derive(Debug, Clone)]
pub struct Config {
    /// MiB written per run (a multiple of 8).
    pub mib: u64,
    /// Interleaved rounds.
    pub rounds: usize,
    /// Where the files go (a directory on the disk to measure); the
    /// temporary directory when `None`.
    pub dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mib: 1024,
            rounds: 7,
            dir: None,
        }
    }
}

/// The block the source is read in, as the converter writes a replaced file.
const BLOCK: usize = 8 << 20;

/// The variants: `None` is plain `write` + `fsync` (no temporary, no rename).
const VARIANTS: [(&str, Option<WritebackPolicy>); 7] = [
    ("plain write + fsync (no temporary file, no rename)", None),
    ("fsync at commit only", Some(WritebackPolicy::AtCommit)),
    (
        "sync_file_range(WRITE) every 8 MiB",
        Some(WritebackPolicy::Start { window: 8 << 20 }),
    ),
    (
        "sync_file_range(WRITE) every 32 MiB",
        Some(WritebackPolicy::Start { window: 32 << 20 }),
    ),
    (
        "start every 8 MiB, wait for the 8 MiB before",
        Some(WritebackPolicy::StartAndWait { window: 8 << 20 }),
    ),
    (
        "start every 32 MiB, wait for the 32 MiB before",
        Some(WritebackPolicy::StartAndWait { window: 32 << 20 }),
    ),
    (
        "start every 8 MiB, wait for the one before, drop it from the page cache (the default)",
        Some(WritebackPolicy::DEFAULT),
    ),
];

/// Index of the baseline in [`VARIANTS`] ("fsync at commit only").
const BASELINE: usize = 1;

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: f64,
}

/// Runs the experiment and prints its table.
pub fn run(config: &Config) -> Result<(), String> {
    let base = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("xenmig-durability-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = run_in(&dir, config);
    let _ = fs::remove_dir_all(&dir);
    result
}

fn run_in(dir: &Path, config: &Config) -> Result<(), String> {
    let source = dir.join("source");
    write_source(&source, config.mib.div_ceil(8)).map_err(|e| format!("source: {e}"))?;
    let dest = dir.join("dest");
    let mut block = vec![0u8; BLOCK];
    let load_before = load_average();
    // Warms the source's page cache.
    timed(&source, &dest, dir, None, &mut block)?;
    let mut samples = vec![Vec::new(); VARIANTS.len()];
    for round in 0..config.rounds {
        // Each round starts with another variant, so none always runs first.
        for k in 0..VARIANTS.len() {
            let i = (round + k) % VARIANTS.len();
            samples[i].push(timed(&source, &dest, dir, VARIANTS[i].1, &mut block)?);
        }
    }
    println!(
        "durability experiment: {} MiB per run in {}, {} rounds, paired and interleaved; \
         load average before {load_before}, after {}",
        config.mib.div_ceil(8) * 8,
        dir.display(),
        config.rounds,
        load_average()
    );
    println!(
        "| variant | wall (median) | CPU (median) | ratio to fsync at commit (median of rounds) |"
    );
    println!("|---|---|---|---|");
    for (i, (name, _)) in VARIANTS.iter().enumerate() {
        let walls: Vec<f64> = samples[i].iter().map(|s| s.wall.as_secs_f64()).collect();
        let cpus: Vec<f64> = samples[i].iter().map(|s| s.cpu).collect();
        let ratios: Vec<f64> = samples[i]
            .iter()
            .zip(&samples[BASELINE])
            .map(|(s, b)| s.wall.as_secs_f64() / b.wall.as_secs_f64())
            .collect();
        println!(
            "| {name} | {:.3} s | {:.2} s | {:.2} |",
            median(&walls),
            median(&cpus),
            median(&ratios)
        );
    }
    Ok(())
}

/// `blocks` blocks of 8 MiB of varied bytes, fsynced.
fn write_source(path: &Path, blocks: u64) -> io::Result<()> {
    let mut file = File::create(path)?;
    let block: Vec<u8> = (0..BLOCK as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for _ in 0..blocks {
        file.write_all(&block)?;
    }
    file.sync_all()
}

/// Copies `source` to `dest` with `policy` (see [`VARIANTS`]), timing
/// write + commit after deleting the previous copy durably.
fn timed(
    source: &Path,
    dest: &Path,
    dir: &Path,
    policy: Option<WritebackPolicy>,
    block: &mut [u8],
) -> Result<Sample, String> {
    let io = |e: io::Error| format!("{}: {e}", dest.display());
    // The previous run's file is freed (and, on a `discard` mount, trimmed)
    // at the next journal commit: force that commit now.
    let _ = fs::remove_file(dest);
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    std::thread::sleep(Duration::from_millis(200));
    let mut input = File::open(source).map_err(io)?;
    let cpu = self_cpu();
    let start = Instant::now();
    match policy {
        None => {
            let mut file = File::create(dest).map_err(io)?;
            copy_blocks(&mut input, &mut file, block).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Some(policy) => {
            let options = OutputOptions {
                new_file_mode: PRIVATE,
                input: None,
                read_files: &[],
            };
            let mut out = Output::create(&Target::Path(dest.to_owned()), &options).map_err(io)?;
            out.set_writeback(policy);
            copy_blocks(&mut input, &mut out, block).map_err(io)?;
            out.commit().map_err(io)?;
        }
    }
    Ok(Sample {
        wall: start.elapsed(),
        cpu: self_cpu() - cpu,
    })
}

/// Reads `input` in `block`-sized reads and writes each whole.
fn copy_blocks(input: &mut File, output: &mut impl Write, block: &mut [u8]) -> io::Result<()> {
    loop {
        let n = input.read(block)?;
        if n == 0 {
            return Ok(());
        }
        output.write_all(block.get(..n).unwrap_or_default())?;
    }
}

//! `cargo xtask bench convert`: speed and memory of `convert-legacy-stream`.
//!
//! In a temporary directory it writes a 1 GiB HVM legacy image (256 batches of
//! 1024 pages), converts it to a file with the release binary and copies it
//! with `cp` (and `cp` + `sync`) in the same run, in interleaved rounds; then it times
//! an image of 65,536 one-page batches for the cost per record. Peak RSS is
//! the child's `VmHWM`, sampled from `/proc` while it runs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use legacy_convert::format::{PAGE_SIZE, Width};
use legacy_convert::writer::ImageWriter;

use crate::bench_util::{Profile, Run, TempDir, build_cli, file_mib, ratio, sampled, which};

const GIB: u64 = 1 << 30;

/// Writes an HVM image of `batches` batches of `per_batch` pages.
fn write_image(path: &Path, batches: u64, per_batch: u64) -> Result<(), String> {
    let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = ImageWriter::new(BufWriter::with_capacity(1 << 20, file), Width::W64);
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    w.p2m_size(batches * per_batch).map_err(io)?;
    let mut pages = vec![0u8; (per_batch as usize) * PAGE_SIZE];
    for (i, b) in pages.iter_mut().enumerate() {
        *b = (i as u64).wrapping_mul(0x9E37_79B9) as u8;
    }
    let mut entries = Vec::with_capacity(per_batch as usize);
    for batch in 0..batches {
        entries.clear();
        entries.extend((0..per_batch).map(|i| batch * per_batch + i));
        pages[0] = batch as u8;
        w.page_batch(&entries, &pages).map_err(io)?;
    }
    w.end_of_body().map_err(io)?;
    w.hvm_tail([1, 2, 3], &[0xAB; 2048]).map_err(io)?;
    w.qemu(
        legacy_convert::format::QemuSignature::DeviceModelRecord0002,
        &[0xCD; 64 * 1024],
    )
    .map_err(io)?;
    let mut inner = w.into_inner();
    inner.flush().map_err(io)
}

/// Best wall time, best CPU time and highest RSS of `runs` runs, removing `clean` before each.
fn best_of(
    runs: usize,
    clean: &Path,
    mut f: impl FnMut() -> Result<Run, String>,
) -> Result<Run, String> {
    let mut best = Run {
        wall: Duration::MAX,
        cpu: f64::MAX,
        rss_kib: 0,
    };
    for _ in 0..runs {
        let _ = std::fs::remove_file(clean);
        let run = f()?;
        best.wall = best.wall.min(run.wall);
        best.cpu = best.cpu.min(run.cpu);
        best.rss_kib = best.rss_kib.max(run.rss_kib);
    }
    let _ = std::fs::remove_file(clean);
    Ok(best)
}

/// Rounds of each measurement.
const ROUNDS: usize = 5;

/// Runs the benchmark and prints its report.
pub fn run(root: &Path) -> Result<(), String> {
    let tool = build_cli(root, "convert-legacy-stream", Profile::Release)?;
    let dir = TempDir::new("bench-convert")?;
    run_in(&tool, dir.path())
}

fn run_in(tool: &Path, dir: &Path) -> Result<(), String> {
    let big = dir.join("hvm-1g.img");
    let small = dir.join("hvm-65536x1.img");
    let out = dir.join("out.v2");
    let copy = dir.join("copy.img");
    write_image(&big, GIB / (1024 * PAGE_SIZE as u64), 1024)?;
    write_image(&small, 65_536, 1)?;
    let p = |p: &Path| p.to_str().unwrap_or_default().to_owned();
    let (out_s, copy_s) = (p(&out), p(&copy));
    let cp = which("cp").unwrap_or_else(|| PathBuf::from("/bin/cp"));
    let sh = which("sh").unwrap_or_else(|| PathBuf::from("/bin/sh"));
    println!(
        "convert-legacy-stream benchmark (best of {ROUNDS} interleaved rounds, warm page cache, same run)"
    );
    for (label, image, format) in [
        (
            "1 GiB HVM image, 256 batches of 1024 pages, -f libxl",
            &big,
            "libxl",
        ),
        (
            "65,536 one-page batches (256 MiB), -f libxc",
            &small,
            "libxc",
        ),
    ] {
        let image_s = p(image);
        let convert_args = ["-i", &image_s, "-w", "64", "-g", "hvm", "-f", format, "-q"];
        // Warm the page cache for every contender.
        sampled(&cp, &[&image_s, &copy_s], None)?;
        // Interleaved rounds, so that a burst of load on the machine hits all
        // four contenders alike; the best of each is reported.
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let to_fd = best_of(1, &out, || {
                sampled(
                    tool,
                    &[&convert_args[..], &["-o", "1"]].concat(),
                    Some(&out),
                )
            })?;
            let cp_run = best_of(1, &copy, || sampled(&cp, &[&image_s, &copy_s], None))?;
            let to_file = best_of(1, &out, || {
                sampled(tool, &[&convert_args[..], &["-o", &out_s]].concat(), None)
            })?;
            let cp_sync = best_of(1, &copy, || {
                let script = format!("cp '{image_s}' '{copy_s}' && sync '{copy_s}'");
                sampled(&sh, &["-c", &script], None)
            })?;
            rounds.push([to_fd, cp_run, to_file, cp_sync]);
        }
        let pick = |i: usize| Run::best(&rounds.iter().map(|r| r[i]).collect::<Vec<_>>());
        let (to_fd, cp_run, to_file, cp_sync) = (pick(0), pick(1), pick(2), pick(3));
        let mib = file_mib(image)?;
        println!("  {label} ({mib:.0} MiB):");
        println!(
            "    to an fd (no fsync): {:.3} s wall, {:.2} s CPU, {:.0} MiB/s; cp {:.3} s, {:.2} s CPU; ratio {:.2}",
            to_fd.wall.as_secs_f64(),
            to_fd.cpu,
            mib / to_fd.wall.as_secs_f64(),
            cp_run.wall.as_secs_f64(),
            cp_run.cpu,
            ratio(to_fd.wall, cp_run.wall)
        );
        println!(
            "    to a FILE (temp file, fsync, rename): {:.3} s; cp + sync {:.3} s; ratio {:.2}",
            to_file.wall.as_secs_f64(),
            cp_sync.wall.as_secs_f64(),
            ratio(to_file.wall, cp_sync.wall)
        );
        if image == &small {
            println!(
                "    per record: {:.2} µs wall, {:.2} µs CPU",
                to_fd.wall.as_secs_f64() * 1e6 / 65_536.0,
                to_fd.cpu * 1e6 / 65_536.0
            );
        }
        println!(
            "    peak RSS {:.1} MiB",
            to_fd.rss_kib.max(to_file.rss_kib) as f64 / 1024.0
        );
    }
    Ok(())
}

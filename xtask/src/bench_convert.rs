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
use std::process::Command;
use std::time::{Duration, Instant};

use legacy_convert::format::{PAGE_SIZE, Width};
use legacy_convert::writer::ImageWriter;

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

/// CPU time (user + system) of this process's waited-for children, in seconds
/// (fields 16 and 17 of `/proc/self/stat`, in clock ticks of 1/100 s).
fn children_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(after_name) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): cutime is field 16, cstime 17.
    let tick = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(16) + tick(17)) / 100.0
}

/// One timed run: wall time, CPU time and peak RSS (KiB).
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: f64,
    rss_kib: u64,
}

/// Runs a command (standard output to `stdout` when given), sampling its peak RSS.
fn timed(program: &Path, args: &[&str], stdout: Option<&Path>) -> Result<Run, String> {
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut command = Command::new(program);
    command.args(args);
    if let Some(path) = stdout {
        command.stdout(File::create(path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
            && let Some(kib) = line.split_whitespace().nth(1).and_then(|v| v.parse().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = start.elapsed();
    if !status.success() {
        return Err(format!("{} {args:?} failed: {status}", program.display()));
    }
    Ok(Run {
        wall,
        cpu: children_cpu() - cpu_before,
        rss_kib: peak_kib,
    })
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

fn build_release(root: &Path) -> Result<PathBuf, String> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "xenmig-cli",
            "--bin",
            "convert-legacy-stream",
        ])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    Ok(root.join("target/release/convert-legacy-stream"))
}

/// Rounds of each measurement.
const ROUNDS: usize = 5;

fn best(runs: &[Run]) -> Run {
    Run {
        wall: runs.iter().map(|r| r.wall).min().unwrap_or_default(),
        cpu: runs.iter().map(|r| r.cpu).fold(f64::MAX, f64::min),
        rss_kib: runs.iter().map(|r| r.rss_kib).max().unwrap_or_default(),
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Runs the benchmark and prints its report.
pub fn run(root: &Path) -> Result<(), String> {
    let tool = build_release(root)?;
    let dir = std::env::temp_dir().join(format!("xenmig-bench-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = run_in(&tool, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
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
    let cp = which(Path::new("cp")).unwrap_or_else(|| PathBuf::from("/bin/cp"));
    let sh = which(Path::new("sh")).unwrap_or_else(|| PathBuf::from("/bin/sh"));
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
        timed(&cp, &[&image_s, &copy_s], None)?;
        // Interleaved rounds, so that a burst of load on the machine hits all
        // four contenders alike; the best of each is reported.
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            let to_fd = best_of(1, &out, || {
                timed(
                    tool,
                    &[&convert_args[..], &["-o", "1"]].concat(),
                    Some(&out),
                )
            })?;
            let cp_run = best_of(1, &copy, || timed(&cp, &[&image_s, &copy_s], None))?;
            let to_file = best_of(1, &out, || {
                timed(tool, &[&convert_args[..], &["-o", &out_s]].concat(), None)
            })?;
            let cp_sync = best_of(1, &copy, || {
                let script = format!("cp '{image_s}' '{copy_s}' && sync '{copy_s}'");
                timed(&sh, &["-c", &script], None)
            })?;
            rounds.push([to_fd, cp_run, to_file, cp_sync]);
        }
        let pick = |i: usize| best(&rounds.iter().map(|r| r[i]).collect::<Vec<_>>());
        let (to_fd, cp_run, to_file, cp_sync) = (pick(0), pick(1), pick(2), pick(3));
        let mib =
            std::fs::metadata(image).map_err(|e| e.to_string())?.len() as f64 / f64::from(1 << 20);
        println!("  {label} ({mib:.0} MiB):");
        println!(
            "    to an fd (no fsync): {:.3} s wall, {:.2} s CPU, {:.0} MiB/s; cp {:.3} s, {:.2} s CPU; ratio {:.2}",
            secs(to_fd.wall),
            to_fd.cpu,
            mib / secs(to_fd.wall),
            secs(cp_run.wall),
            cp_run.cpu,
            secs(to_fd.wall) / secs(cp_run.wall)
        );
        println!(
            "    to a FILE (temp file, fsync, rename): {:.3} s; cp + sync {:.3} s; ratio {:.2}",
            secs(to_file.wall),
            secs(cp_sync.wall),
            secs(to_file.wall) / secs(cp_sync.wall)
        );
        if image == &small {
            println!(
                "    per record: {:.2} µs wall, {:.2} µs CPU",
                secs(to_fd.wall) * 1e6 / 65_536.0,
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

fn which(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

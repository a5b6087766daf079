//! `cargo xtask bench convert`: speed and memory of `convert-legacy-stream`.
//!
//! In a temporary directory it writes a 1 GiB HVM legacy image (256 batches of
//! 1024 pages), converts it to a file with the release binary and copies it
//! with `cp` in the same run, alternating, best of three each; then it times
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

/// Runs a command, returning its wall time and the peak RSS seen (KiB).
fn timed(program: &Path, args: &[&str]) -> Result<(Duration, u64), String> {
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
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
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(format!("{} {args:?} failed: {status}", program.display()));
    }
    Ok((elapsed, peak_kib))
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

fn best_of<F: FnMut() -> Result<(Duration, u64), String>>(
    runs: usize,
    mut f: F,
) -> Result<(Duration, u64), String> {
    let mut best = Duration::MAX;
    let mut peak = 0;
    for _ in 0..runs {
        let (t, rss) = f()?;
        best = best.min(t);
        peak = peak.max(rss);
    }
    Ok((best, peak))
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
    let (big_s, small_s, out_s, copy_s) = (p(&big), p(&small), p(&out), p(&copy));
    let cp = Path::new("cp");
    let cp = which(cp).unwrap_or_else(|| PathBuf::from("/bin/cp"));
    // Warm the page cache for both contenders.
    timed(&cp, &[&big_s, &copy_s])?;

    let mut convert_best = Duration::MAX;
    let mut cp_best = Duration::MAX;
    let mut peak_big = 0;
    for _ in 0..3 {
        let _ = std::fs::remove_file(&out);
        let (t, rss) = timed(
            tool,
            &[
                "-i", &big_s, "-o", &out_s, "-w", "64", "-g", "hvm", "-f", "libxl", "-q",
            ],
        )?;
        convert_best = convert_best.min(t);
        peak_big = peak_big.max(rss);
        let _ = std::fs::remove_file(&copy);
        let (t, _) = timed(&cp, &[&big_s, &copy_s])?;
        cp_best = cp_best.min(t);
    }
    let big_len = std::fs::metadata(&big).map_err(|e| e.to_string())?.len();
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_file(&out);
    let (small_convert, peak_small) = best_of(3, || {
        let _ = std::fs::remove_file(&out);
        timed(
            tool,
            &["-i", &small_s, "-o", &out_s, "-w", "64", "-g", "hvm", "-q"],
        )
    })?;
    let (small_cp, _) = best_of(3, || {
        let _ = std::fs::remove_file(&copy);
        timed(&cp, &[&small_s, &copy_s])
    })?;
    let mib = big_len as f64 / f64::from(1 << 20);
    println!("convert-legacy-stream benchmark (best of 3, warm page cache, file to file)");
    println!(
        "  1 GiB HVM image ({} MiB, 256 batches of 1024 pages), -f libxl:",
        mib.round()
    );
    println!(
        "    convert {:.3} s ({:.0} MiB/s), cp {:.3} s ({:.0} MiB/s), ratio convert/cp {:.2}",
        secs(convert_best),
        mib / secs(convert_best),
        secs(cp_best),
        mib / secs(cp_best),
        secs(convert_best) / secs(cp_best)
    );
    println!("    peak RSS {:.1} MiB", peak_big as f64 / 1024.0);
    println!("  65,536 one-page batches (256 MiB), -f libxc:");
    println!(
        "    convert {:.3} s, cp {:.3} s, ratio {:.2}, {:.2} µs per record ({:.2} µs over cp)",
        secs(small_convert),
        secs(small_cp),
        secs(small_convert) / secs(small_cp),
        secs(small_convert) * 1e6 / 65_536.0,
        (secs(small_convert) - secs(small_cp)) * 1e6 / 65_536.0
    );
    println!("    peak RSS {:.1} MiB", peak_small as f64 / 1024.0);
    Ok(())
}

fn which(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

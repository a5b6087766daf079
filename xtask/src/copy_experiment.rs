//! `cargo xtask copy-experiment`: where the converter's time goes, without the
//! converter.
//!
//! The converter copies page data from a legacy image into a v2 stream: per
//! batch of 1024 pages it reads an 8,196-byte header (marker and pfn list) and
//! writes an 8,208-byte one (record header, PAGE_DATA header, pfns), and the
//! 4 MiB of pages between them are copied as they are. So the pages never sit
//! at the same offset within a 4 KiB page in the input and in the output.
//! This experiment writes a source file of that layout and copies it with the
//! same I/O pattern in several ways, each producing output of the converter's
//! layout, against `cp` of the same file, in interleaved rounds:
//!
//! * `copy_file_range` per batch after a small header `write` (what the
//!   converter did before the block writer), with the converter's layout and
//!   with a page-aligned layout (8 KiB headers in both files), which isolates
//!   the cost of misalignment;
//! * `read` + `write` through one buffer of 1–16 MiB written only whole
//!   (page data read straight into it), which isolates the write size;
//! * the same 8 MiB buffer written at the end of every batch (large writes
//!   at unaligned offsets, partly filled), which isolates the alignment of
//!   the writes to the buffer size.
//!
//! For each method it reports the median wall and CPU time, the median of
//! the per-round ratios to `cp`, and how many 2 MiB page-cache folios the
//! output got (`nr_file_hugepages` in `/proc/vmstat` after the copy, minus
//! before: the kernel only builds large folios for large, aligned writes).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bench_util::{TempDir, load_average, median, self_cpu, which};

/// Pages per batch, as the legacy saver writes them.
const BATCH_PAGES: usize = 1024;
const PAGE: usize = 4096;
const BATCH_DATA: usize = BATCH_PAGES * PAGE;
/// Input header per batch: the `i32` marker and 1024 `u64` pfn entries.
const IN_HEADER: usize = 4 + 8 * BATCH_PAGES;
/// Output header per batch: record header, PAGE_DATA header, 1024 pfns.
const OUT_HEADER: usize = 8 + 8 + 8 * BATCH_PAGES;
/// Header size of the page-aligned variant (input and output).
const ALIGNED_HEADER: usize = 2 * PAGE;

/// How the experiment is run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Batches of 4 MiB (256 for 1 GiB).
    pub batches: usize,
    /// Interleaved rounds (the median is reported).
    pub rounds: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batches: 256,
            rounds: 7,
        }
    }
}

/// The source layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The converter's: 8,196-byte headers in, 8,208-byte headers out.
    Converter,
    /// 8 KiB headers in and out: every page 4 KiB-aligned in both files.
    Aligned,
}

impl Layout {
    fn in_header(self) -> usize {
        match self {
            Layout::Converter => IN_HEADER,
            Layout::Aligned => ALIGNED_HEADER,
        }
    }
    fn out_header(self) -> usize {
        match self {
            Layout::Converter => OUT_HEADER,
            Layout::Aligned => ALIGNED_HEADER,
        }
    }
}

/// One way of copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// `cp SRC DST` (one `copy_file_range` of the whole file).
    Cp,
    /// Per batch: `write` of the header, `copy_file_range` of the pages.
    RangePerBatch(Layout),
    /// Read + write through one buffer of this many bytes, written only when full.
    WholeBuffer(usize),
    /// The same, but the buffer is written at the end of every batch.
    FlushPerBatch(usize),
}

impl Method {
    fn label(self) -> String {
        match self {
            Method::Cp => "cp".to_owned(),
            Method::RangePerBatch(Layout::Converter) => {
                "copy_file_range per batch, converter layout (the old converter)".to_owned()
            }
            Method::RangePerBatch(Layout::Aligned) => {
                "copy_file_range per batch, pages 4 KiB-aligned".to_owned()
            }
            Method::WholeBuffer(size) => {
                format!("read+write, {} MiB buffer, whole-buffer writes", size >> 20)
            }
            Method::FlushPerBatch(size) => format!(
                "read+write, {} MiB buffer, written per batch (unaligned)",
                size >> 20
            ),
        }
    }

    fn source(self) -> Layout {
        match self {
            Method::RangePerBatch(layout) => layout,
            _ => Layout::Converter,
        }
    }
}

/// Every method measured, in the order of each round.
fn methods() -> Vec<Method> {
    let mut all = vec![
        Method::Cp,
        Method::RangePerBatch(Layout::Converter),
        Method::RangePerBatch(Layout::Aligned),
    ];
    all.extend([1, 2, 4, 8, 16].map(|mib| Method::WholeBuffer(mib << 20)));
    all.push(Method::FlushPerBatch(8 << 20));
    all
}

/// Writes a source file of `layout` with `batches` batches.
fn write_source(path: &Path, layout: Layout, batches: usize) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let header = vec![0x11u8; layout.in_header()];
    let mut data = vec![0u8; BATCH_DATA];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i as u64).wrapping_mul(0x9E37_79B9) as u8;
    }
    for batch in 0..batches {
        data[0] = batch as u8;
        out.write_all(&header)?;
        out.write_all(&data)?;
    }
    out.flush()
}

/// Copies `src` to `dst` the way `method` says.
fn copy(method: Method, src: &Path, dst: &Path, batches: usize) -> io::Result<()> {
    let layout = method.source();
    let mut input = File::open(src)?;
    let mut output = File::create(dst)?;
    let mut header_in = vec![0u8; layout.in_header()];
    let header_out = vec![0x22u8; layout.out_header()];
    match method {
        Method::Cp => unreachable!("cp is a process"),
        Method::RangePerBatch(_) => {
            for _ in 0..batches {
                input.read_exact(&mut header_in)?;
                output.write_all(&header_out)?;
                // std turns a File-to-File copy into copy_file_range(2).
                let copied = io::copy(&mut (&mut input).take(BATCH_DATA as u64), &mut output)?;
                if copied != BATCH_DATA as u64 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
        Method::WholeBuffer(size) | Method::FlushPerBatch(size) => {
            let per_batch = matches!(method, Method::FlushPerBatch(_));
            let mut buffer = vec![0u8; size];
            let mut fill = 0;
            for _ in 0..batches {
                input.read_exact(&mut header_in)?;
                let mut header: &[u8] = &header_out;
                while !header.is_empty() {
                    let n = header.len().min(size - fill);
                    buffer[fill..fill + n].copy_from_slice(&header[..n]);
                    (fill, header) = (fill + n, &header[n..]);
                    if fill == size {
                        output.write_all(&buffer)?;
                        fill = 0;
                    }
                }
                let mut left = BATCH_DATA;
                while left > 0 {
                    let room = left.min(size - fill);
                    input.read_exact(&mut buffer[fill..fill + room])?;
                    fill += room;
                    left -= room;
                    if fill == size {
                        output.write_all(&buffer)?;
                        fill = 0;
                    }
                }
                if per_batch && fill > 0 {
                    output.write_all(&buffer[..fill])?;
                    fill = 0;
                }
            }
            output.write_all(&buffer[..fill])?;
        }
    }
    // The bytes must be the same whatever the method: check the length here
    // (and the contents once, in `check_outputs_agree`).
    let expected = (batches * (layout.out_header() + BATCH_DATA)) as u64;
    if output.seek(SeekFrom::End(0))? != expected {
        return Err(io::Error::other(format!(
            "{}: wrong output length",
            method.label()
        )));
    }
    Ok(())
}

/// `nr_file_hugepages` of `/proc/vmstat`, when the kernel reports it.
fn file_hugepages() -> Option<i64> {
    let vmstat = std::fs::read_to_string("/proc/vmstat").ok()?;
    let line = vmstat
        .lines()
        .find(|l| l.starts_with("nr_file_hugepages "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One measured copy.
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: f64,
    hugepages: Option<i64>,
}

fn measure(
    method: Method,
    sources: &Sources,
    dst: &Path,
    batches: usize,
) -> Result<Sample, String> {
    let _ = std::fs::remove_file(dst);
    let src = sources.path(method.source());
    let before = file_hugepages();
    let cpu = self_cpu();
    let start = Instant::now();
    match method {
        Method::Cp => {
            let status = std::process::Command::new(&sources.cp)
                .arg(src)
                .arg(dst)
                .status()
                .map_err(|e| format!("cp: {e}"))?;
            if !status.success() {
                return Err(format!("cp failed: {status}"));
            }
        }
        _ => copy(method, src, dst, batches).map_err(|e| format!("{}: {e}", method.label()))?,
    }
    let wall = start.elapsed();
    // cp's CPU is its own (a child): measured by wall time only.
    let cpu = if method == Method::Cp {
        f64::NAN
    } else {
        self_cpu() - cpu
    };
    let hugepages = before.zip(file_hugepages()).map(|(b, a)| a - b);
    let _ = std::fs::remove_file(dst);
    Ok(Sample {
        wall,
        cpu,
        hugepages,
    })
}

struct Sources {
    converter: PathBuf,
    aligned: PathBuf,
    cp: PathBuf,
}

impl Sources {
    fn path(&self, layout: Layout) -> &Path {
        match layout {
            Layout::Converter => &self.converter,
            Layout::Aligned => &self.aligned,
        }
    }
}

/// Every buffered method writes exactly the bytes of the per-batch copy.
fn check_outputs_agree(sources: &Sources, dir: &Path, batches: usize) -> Result<(), String> {
    let batches = batches.min(4);
    let reference = dir.join("reference");
    let candidate = dir.join("candidate");
    let io = |e: io::Error| e.to_string();
    copy(
        Method::RangePerBatch(Layout::Converter),
        &sources.converter,
        &reference,
        batches,
    )
    .map_err(io)?;
    let expected = std::fs::read(&reference).map_err(io)?;
    for method in methods() {
        if matches!(method, Method::WholeBuffer(_) | Method::FlushPerBatch(_)) {
            copy(method, &sources.converter, &candidate, batches).map_err(io)?;
            if std::fs::read(&candidate).map_err(io)? != expected {
                return Err(format!("{} writes different bytes", method.label()));
            }
        }
    }
    let _ = std::fs::remove_file(&reference);
    let _ = std::fs::remove_file(&candidate);
    Ok(())
}

/// Runs the experiment in a scratch directory under `$TMPDIR` and prints its table.
pub fn run(config: Config) -> Result<(), String> {
    let dir = TempDir::new("copy-experiment")?;
    let sources = Sources {
        converter: dir.path().join("source-converter-layout"),
        aligned: dir.path().join("source-aligned"),
        cp: which("cp").unwrap_or_else(|| PathBuf::from("/bin/cp")),
    };
    let io = |e: io::Error| e.to_string();
    write_source(&sources.converter, Layout::Converter, config.batches).map_err(io)?;
    write_source(&sources.aligned, Layout::Aligned, config.batches).map_err(io)?;
    check_outputs_agree(&sources, dir.path(), config.batches)?;
    let dst = dir.path().join("copy");
    let all = methods();
    println!(
        "copy experiment: {} MiB of page data in {} batches of 1024 pages, {} interleaved rounds, \
         median; load average at start {}",
        config.batches * 4,
        config.batches,
        config.rounds,
        load_average()
    );
    // Warm the page cache for both sources.
    for method in [Method::Cp, Method::RangePerBatch(Layout::Aligned)] {
        measure(method, &sources, &dst, config.batches)?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); all.len()];
    for _ in 0..config.rounds {
        for (i, &method) in all.iter().enumerate() {
            samples[i].push(measure(method, &sources, &dst, config.batches)?);
        }
    }
    println!(
        "| method | wall (median) | CPU (median) | ratio to cp (median of rounds) | 2 MiB folios |"
    );
    println!("|---|---|---|---|---|");
    for (i, method) in all.iter().enumerate() {
        let walls: Vec<f64> = samples[i].iter().map(|s| s.wall.as_secs_f64()).collect();
        let cpus: Vec<f64> = samples[i].iter().map(|s| s.cpu).collect();
        let ratios: Vec<f64> = samples[i]
            .iter()
            .zip(&samples[0])
            .map(|(s, cp)| s.wall.as_secs_f64() / cp.wall.as_secs_f64())
            .collect();
        let folios: Vec<f64> = samples[i]
            .iter()
            .filter_map(|s| s.hugepages.map(|h| h as f64))
            .collect();
        let cpu = median(&cpus);
        println!(
            "| {} | {:.3} s | {} | {:.2} | {} |",
            method.label(),
            median(&walls),
            if cpu.is_nan() {
                "-".to_owned()
            } else {
                format!("{cpu:.2} s")
            },
            median(&ratios),
            if folios.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.0}", median(&folios))
            }
        );
    }
    println!("load average at end {}", load_average());
    Ok(())
}

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
//! And, with a pipe as the output (as libxl reads the converter), drained by
//! `cat > /dev/null`, against `cat SRC | cat > /dev/null`:
//!
//! * the per-batch header `write` and page copy (which std turns into
//!   `sendfile`/`splice` from a file to a pipe: the pages never enter user
//!   space);
//! * read + write through a 4 MiB buffer written only whole;
//! * both again with a pipe as the input too (`cat SRC |`, as in a
//!   migration), where the per-batch copy is `splice`, against
//!   `cat SRC | cat | cat > /dev/null`.
//!
//! Each round starts with the next method in turn. For each method it
//! reports the median wall and CPU time, the median of
//! the per-round ratios to its baseline (`cp`, or `cat | cat` for a pipe),
//! and how many 2 MiB page-cache folios the output got (`nr_file_hugepages` in `/proc/vmstat` after the copy, minus
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
#[derive(Debug, Clone)]
pub struct Config {
    /// Batches of 4 MiB (256 for 1 GiB).
    pub batches: usize,
    /// Interleaved rounds (the median is reported).
    pub rounds: usize,
    /// Milliseconds to wait after deleting the previous copy and before the
    /// next one starts. On a guest whose kernel reports free pages to its
    /// host (virtio-balloon free page reporting), a few seconds are enough
    /// for the freed page cache to be handed back, so that the next copy
    /// writes into memory the host must fault in again.
    pub settle_ms: u64,
    /// Only the methods whose label contains one of these `;`-separated
    /// strings (and their baselines).
    pub only: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batches: 256,
            rounds: 7,
            settle_ms: 0,
            only: None,
        }
    }
}

/// `cargo xtask copy-experiment ARGS`: the copy experiment, or with
/// `--durability` the durability one ([`crate::durability_experiment`]).
pub fn main(args: &[String]) -> Result<(), String> {
    if args.first().is_some_and(|a| a == "--durability") {
        return durability_main(&args[1..]);
    }
    if args.first().is_some_and(|a| a == "--floor") {
        return floor_main(&args[1..]);
    }
    let mut config = Config::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let text = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--only" {
            config.only = Some(text.clone());
            continue;
        }
        let value = text
            .parse::<usize>()
            .ok()
            .filter(|&v| v > 0 || flag == "--settle-ms")
            .ok_or_else(|| format!("{flag} needs a positive number"))?;
        match flag.as_str() {
            "--batches" => config.batches = value,
            "--rounds" => config.rounds = value,
            "--settle-ms" => config.settle_ms = value as u64,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    run(config)
}

/// `copy-experiment --floor copy|gather|scatter|mapped IMAGE REFERENCE OUT PREFIX RECORDS`:
/// one run of a floor program of `bench convert` ([`crate::convert_floor`]).
fn floor_main(args: &[String]) -> Result<(), String> {
    let usage = "--floor copy|gather|scatter|mapped IMAGE REFERENCE OUT PREFIX RECORDS";
    let [pattern, image, reference, out, prefix, records] = args else {
        return Err(format!("usage: {usage}"));
    };
    let pattern = crate::convert_floor::Pattern::parse(pattern).ok_or(usage)?;
    let number = |text: &str| text.parse::<usize>().map_err(|_| usage.to_owned());
    crate::convert_floor::run(
        pattern,
        Path::new(image),
        Path::new(reference),
        Path::new(out),
        number(prefix)?,
        number(records)?,
    )
}

/// `copy-experiment --durability [--mib N] [--rounds N] [--dir DIR]`.
fn durability_main(args: &[String]) -> Result<(), String> {
    let mut config = crate::durability_experiment::Config::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let text = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            text.parse::<u64>()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| format!("{flag} needs a positive number"))
        };
        match flag.as_str() {
            "--mib" => config.mib = number()?,
            "--rounds" => config.rounds = number()? as usize,
            "--dir" => config.dir = Some(PathBuf::from(text)),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    crate::durability_experiment::run(&config)
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
    /// A buffer of the first size filled as `WholeBuffer`, written in
    /// pieces of the second (the page cache then gets folios no larger than
    /// a piece).
    Pieces(usize, usize),
    /// `Pieces` of this size with the converter's writeback pacing: after
    /// every 8 MiB, start its writeback, wait for the previous 8 MiB and
    /// drop it from the page cache (no fsync).
    DropBehind(usize),
    /// `cat SRC | cat > /dev/null`: the baseline for a pipe as the output.
    CatPipe,
    /// This method, into a pipe drained by `cat > /dev/null`.
    ToPipe(PipeMethod),
    /// `cat SRC | cat | cat > /dev/null`: the baseline from a pipe to a pipe.
    CatPipePipe,
    /// This method, from `cat SRC` through a pipe into `cat > /dev/null`.
    PipeToPipe(PipeMethod),
}

/// The methods tried with a pipe as the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PipeMethod {
    /// Header `write`, then the pages by `io::copy` (`sendfile`/`splice`).
    CopyPerBatch,
    /// Read + write through a buffer of this many bytes, written only whole.
    WholeBuffer(usize),
}

/// `size` bytes as "N MiB" or "N KiB".
fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
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
                format!(
                    "read+write, {} buffer, whole-buffer writes",
                    size_label(size)
                )
            }
            Method::FlushPerBatch(size) => format!(
                "read+write, {} MiB buffer, written per batch (unaligned)",
                size >> 20
            ),
            Method::Pieces(size, piece) => format!(
                "read+write, {} buffer, written in {} pieces",
                size_label(size),
                size_label(piece)
            ),
            Method::DropBehind(piece) => format!(
                "read+write, 4 MiB buffer, {} writes, 8 MiB writeback windows dropped behind",
                size_label(piece)
            ),
            Method::CatPipe => "`cat SRC \\| cat` (baseline to a pipe)".to_owned(),
            Method::CatPipePipe => {
                "`cat SRC \\| cat \\| cat` (baseline from a pipe to a pipe)".to_owned()
            }
            Method::PipeToPipe(PipeMethod::CopyPerBatch) => {
                "pipe to pipe: header write + splice per batch".to_owned()
            }
            Method::PipeToPipe(PipeMethod::WholeBuffer(size)) => format!(
                "pipe to pipe: read+write, {} buffer, whole-buffer writes",
                size_label(size)
            ),
            Method::ToPipe(PipeMethod::CopyPerBatch) => {
                "to a pipe: header write + sendfile/splice per batch".to_owned()
            }
            Method::ToPipe(PipeMethod::WholeBuffer(size)) => format!(
                "to a pipe: read+write, {} buffer, whole-buffer writes",
                size_label(size)
            ),
        }
    }

    /// The method whose time this one's ratio is taken against.
    fn baseline(self) -> Method {
        match self {
            Method::CatPipe | Method::ToPipe(_) => Method::CatPipe,
            Method::CatPipePipe | Method::PipeToPipe(_) => Method::CatPipePipe,
            _ => Method::Cp,
        }
    }

    /// The same copy with a file as the output, for a method to a pipe.
    fn to_file(self) -> Method {
        match self {
            Method::ToPipe(PipeMethod::CopyPerBatch)
            | Method::PipeToPipe(PipeMethod::CopyPerBatch) => {
                Method::RangePerBatch(Layout::Converter)
            }
            Method::ToPipe(PipeMethod::WholeBuffer(size))
            | Method::PipeToPipe(PipeMethod::WholeBuffer(size)) => Method::WholeBuffer(size),
            other => other,
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
    all.extend(
        [64 << 10, 128 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20].map(Method::WholeBuffer),
    );
    all.push(Method::FlushPerBatch(8 << 20));
    all.extend([32, 64, 128, 256, 1024].map(|kib| Method::Pieces(4 << 20, kib << 10)));
    all.push(Method::Pieces(128 << 10, 64 << 10));
    all.extend([64 << 10, 4 << 20].map(Method::DropBehind));
    all.extend([
        Method::CatPipe,
        Method::ToPipe(PipeMethod::CopyPerBatch),
        Method::ToPipe(PipeMethod::WholeBuffer(128 << 10)),
        Method::ToPipe(PipeMethod::WholeBuffer(4 << 20)),
        Method::CatPipePipe,
        Method::PipeToPipe(PipeMethod::CopyPerBatch),
        Method::PipeToPipe(PipeMethod::WholeBuffer(128 << 10)),
        Method::PipeToPipe(PipeMethod::WholeBuffer(4 << 20)),
    ]);
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
    copy_into(method, File::open(src)?, File::create(dst)?, batches)
}

/// Copies `input` into `output` (files, or pipes for the methods with pipes).
fn copy_into(method: Method, mut input: File, mut output: File, batches: usize) -> io::Result<()> {
    let method = method.to_file();
    let layout = method.source();
    let mut header_in = vec![0u8; layout.in_header()];
    let header_out = vec![0x22u8; layout.out_header()];
    match method {
        Method::Cp | Method::CatPipe | Method::CatPipePipe => {
            unreachable!("cp and cat are processes")
        }
        Method::ToPipe(_) | Method::PipeToPipe(_) => unreachable!("to_file gave the file method"),
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
        Method::WholeBuffer(_)
        | Method::FlushPerBatch(_)
        | Method::Pieces(..)
        | Method::DropBehind(_) => copy_buffered(method, &mut input, &mut output, batches)?,
    }
    // The bytes must be the same whatever the method: check the length here
    // (and the contents once, in `check_outputs_agree`). A pipe cannot say.
    if !output.metadata()?.is_file() {
        return Ok(());
    }
    let expected = (batches * (layout.out_header() + BATCH_DATA)) as u64;
    if output.seek(SeekFrom::End(0))? != expected {
        return Err(io::Error::other(format!(
            "{}: wrong output length",
            method.label()
        )));
    }
    Ok(())
}

/// The buffered methods: headers and page data gathered in one buffer,
/// written whole, in pieces or dropped behind as `method` says.
fn copy_buffered(
    method: Method,
    input: &mut File,
    output: &mut File,
    batches: usize,
) -> io::Result<()> {
    let layout = method.source();
    let mut header_in = vec![0u8; layout.in_header()];
    let header_out = vec![0x22u8; layout.out_header()];
    let (size, piece) = match method {
        Method::WholeBuffer(size) | Method::FlushPerBatch(size) => (size, size),
        Method::Pieces(size, piece) => (size, piece),
        Method::DropBehind(piece) => (4 << 20, piece),
        _ => unreachable!("the buffered methods"),
    };
    let per_batch = matches!(method, Method::FlushPerBatch(_));
    let mut out = Paced {
        file: output,
        piece,
        drop_behind: matches!(method, Method::DropBehind(_)),
        written: 0,
        started: 0,
    };
    let output = &mut out;
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
    Ok(())
}

/// Writes in pieces of at most `piece` bytes and, with `drop_behind`, paces
/// the writeback as the converter's `-o FILE` does.
struct Paced<'a> {
    file: &'a mut File,
    piece: usize,
    drop_behind: bool,
    written: u64,
    started: u64,
}

/// The writeback window of [`Paced`].
const WINDOW: u64 = 8 << 20;

impl Paced<'_> {
    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = bytes.len().min(self.piece);
            self.file.write_all(&bytes[..n])?;
            bytes = &bytes[n..];
            self.written += n as u64;
            while self.drop_behind && self.written - self.started >= WINDOW {
                use std::os::fd::AsRawFd;
                let fd = self.file.as_raw_fd();
                let start = self.started;
                // SAFETY: sync_file_range and posix_fadvise take a descriptor
                // we own and integers; they touch no memory of ours.
                #[allow(unsafe_code)]
                unsafe {
                    libc::sync_file_range(
                        fd,
                        start as i64,
                        WINDOW as i64,
                        libc::SYNC_FILE_RANGE_WRITE,
                    );
                    if start >= WINDOW {
                        let previous = (start - WINDOW) as i64;
                        libc::sync_file_range(
                            fd,
                            previous,
                            WINDOW as i64,
                            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                                | libc::SYNC_FILE_RANGE_WRITE
                                | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                        );
                        libc::posix_fadvise(fd, previous, WINDOW as i64, libc::POSIX_FADV_DONTNEED);
                    }
                }
                self.started += WINDOW;
            }
        }
        Ok(())
    }
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
    settle: Duration,
) -> Result<Sample, String> {
    let _ = std::fs::remove_file(dst);
    std::thread::sleep(settle);
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
        Method::CatPipe | Method::CatPipePipe => {
            let middle = if method == Method::CatPipePipe {
                "| cat "
            } else {
                ""
            };
            let script = format!("cat '{}' {middle}| cat > /dev/null", src.display());
            let status = std::process::Command::new("sh")
                .args(["-c", &script])
                .status()
                .map_err(|e| format!("sh: {e}"))?;
            if !status.success() {
                return Err(format!("{script} failed: {status}"));
            }
        }
        Method::ToPipe(_) | Method::PipeToPipe(_) => to_pipe(method, src, batches)?,
        _ => copy(method, src, dst, batches).map_err(|e| format!("{}: {e}", method.label()))?,
    }
    let wall = start.elapsed();
    // cp's and cat's CPU is their own (children): measured by wall time only.
    let cpu = if matches!(method, Method::Cp | Method::CatPipe | Method::CatPipePipe) {
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

/// `method` into a pipe that `cat > /dev/null` drains (from a pipe that
/// `cat SRC` fills, for a method from a pipe).
fn to_pipe(method: Method, src: &Path, batches: usize) -> Result<(), String> {
    let mut feeder = None;
    let input = if matches!(method, Method::PipeToPipe(_)) {
        let mut cat = std::process::Command::new("cat")
            .arg(src)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cat: {e}"))?;
        let pipe = cat.stdout.take().ok_or("cat has no stdout")?;
        feeder = Some(cat);
        File::from(std::os::fd::OwnedFd::from(pipe))
    } else {
        File::open(src).map_err(|e| format!("{}: {e}", src.display()))?
    };
    let mut cat = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cat: {e}"))?;
    let pipe = cat.stdin.take().ok_or("cat has no stdin")?;
    let pipe = File::from(std::os::fd::OwnedFd::from(pipe));
    let copied = copy_into(method, input, pipe, batches);
    let status = cat.wait().map_err(|e| format!("cat: {e}"))?;
    if let Some(mut feeder) = feeder {
        feeder.wait().map_err(|e| format!("cat: {e}"))?;
    }
    copied.map_err(|e| format!("{}: {e}", method.label()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cat failed: {status}"))
    }
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
        if matches!(
            method,
            Method::WholeBuffer(_)
                | Method::FlushPerBatch(_)
                | Method::Pieces(..)
                | Method::DropBehind(_)
        ) {
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
    let all = selected(config.only.as_deref());
    let settle = Duration::from_millis(config.settle_ms);
    println!(
        "copy experiment: {} MiB of page data in {} batches of 1024 pages, {} interleaved rounds, \
         median; {} ms between deleting a copy and the next; load average at start {}",
        config.batches * 4,
        config.batches,
        config.rounds,
        config.settle_ms,
        load_average()
    );
    // Warm the page cache for both sources.
    for method in [Method::Cp, Method::RangePerBatch(Layout::Aligned)] {
        measure(method, &sources, &dst, config.batches, Duration::ZERO)?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); all.len()];
    for round in 0..config.rounds {
        // Each round starts with the next method, so that none always runs
        // first (after the longest time since a copy was freed).
        for k in 0..all.len() {
            let i = (round + k) % all.len();
            samples[i].push(measure(all[i], &sources, &dst, config.batches, settle)?);
        }
    }
    print_table(&all, &samples);
    println!("load average at end {}", load_average());
    Ok(())
}

/// The methods to run: all, or those whose label contains one of `only`'s
/// `;`-separated strings, with their baselines.
fn selected(only: Option<&str>) -> Vec<Method> {
    let mut all = methods();
    if let Some(only) = only {
        let wanted: Vec<Method> = all
            .iter()
            .filter(|m| only.split(';').any(|w| m.label().contains(w)))
            .flat_map(|m| [m.baseline(), *m])
            .collect();
        all.retain(|m| wanted.contains(m));
    }
    all
}

/// Prints a row per method: medians, and the median ratio to its baseline.
fn print_table(all: &[Method], samples: &[Vec<Sample>]) {
    println!(
        "| method | wall (median) | CPU (median) | ratio to its baseline (cp, or cat \\| cat; median of rounds) | 2 MiB folios |"
    );
    println!("|---|---|---|---|---|");
    for (i, method) in all.iter().enumerate() {
        let base = all
            .iter()
            .position(|m| *m == method.baseline())
            .unwrap_or(0);
        let walls: Vec<f64> = samples[i].iter().map(|s| s.wall.as_secs_f64()).collect();
        let cpus: Vec<f64> = samples[i].iter().map(|s| s.cpu).collect();
        let ratios: Vec<f64> = samples[i]
            .iter()
            .zip(&samples[base])
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
}

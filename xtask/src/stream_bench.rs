//! `cargo xtask bench stream-read`: throughput of the migration-stream
//! reader and writer against `cat`, `cat | cat` and `cp` on the same file,
//! same run; from a pipe, skipping by reading versus by splicing.
//!
//! A 256 MiB libxl HVM stream (64 PAGE_DATA records of 1024 pages) is
//! written to `target/bench/`, read once to warm the page cache, then each
//! contender runs three times and the best time counts.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use migration_stream::payload::PageData;
use migration_stream::types::{
    DomainType, LibxlRecordType, MAX_BATCH, PAGE_SIZE, PageType, PfnEntry, RecordType,
};
use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};
use migration_stream::{Event, Reader, StreamReader, Writer};

use crate::bench_util::{best_wall, mib, ratio, run_silent, vm_hwm_kib};

const RECORDS: u64 = 64;
/// Runs of each contender; the best counts.
const RUNS: usize = 3;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn generate(path: &Path) -> Result<(), String> {
    let file = File::create(path).map_err(err)?;
    let mut w = Writer::new(BufWriter::with_capacity(1 << 20, file));
    w.write_libxl_header(&LibxlHeader::new(0)).map_err(err)?;
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
        .map_err(err)?;
    w.write_image_header(&ImageHeader::new(3)).map_err(err)?;
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .map_err(err)?;
    w.write_record(RecordType::STATIC_DATA_END.0, &[])
        .map_err(err)?;
    let mut pages = vec![0u8; MAX_BATCH * PAGE_SIZE];
    for record in 0..RECORDS {
        let first = record * MAX_BATCH as u64;
        let entries: Vec<PfnEntry> = (first..first + MAX_BATCH as u64)
            .map(|pfn| PfnEntry::new(pfn, PageType::NOTAB))
            .collect();
        for (i, page) in pages.chunks_exact_mut(PAGE_SIZE).enumerate() {
            page.fill((record as usize + i) as u8);
        }
        let len = PageData::body_len(&entries) as u32;
        w.begin_record(RecordType::PAGE_DATA.0, len).map_err(err)?;
        w.write_body(&PageData::encode_prefix(&entries))
            .map_err(err)?;
        w.write_body(&pages).map_err(err)?;
        w.end_record().map_err(err)?;
    }
    w.write_record(RecordType::END.0, &[]).map_err(err)?;
    w.write_record(LibxlRecordType::END.0, &[]).map_err(err)?;
    w.into_inner().flush().map_err(err)
}

/// Reads every event; bodies are read whole (and PAGE_DATA parsed) or skipped.
fn read_stream(path: &Path, skip: bool) -> Result<(), String> {
    let file = File::open(path).map_err(err)?;
    let mut stream = if skip {
        StreamReader::seekable(file)
    } else {
        StreamReader::new(file)
    };
    let mut body = Vec::new();
    let mut pages = 0usize;
    loop {
        match stream.next_event().map_err(err)? {
            Event::LibxcRecord(_) | Event::LibxlRecord(_) if skip => {
                stream.skip_body().map_err(err)?
            }
            Event::LibxcRecord(info) if info.libxc_type() == RecordType::PAGE_DATA => {
                let body = stream.read_body(&mut body).map_err(err)?;
                pages += PageData::parse(body).map_err(err)?.data_page_count();
            }
            Event::End => break,
            _ => {}
        }
    }
    if !skip && pages != RECORDS as usize * MAX_BATCH {
        return Err(format!("read {pages} pages"));
    }
    Ok(())
}

/// `cat FILE | cat > /dev/null`: the pipe baseline.
fn cat_through_pipe(path: &Path) -> Result<(), String> {
    let status = Command::new("sh")
        .args(["-c", "cat \"$1\" | cat > /dev/null", "sh"])
        .arg(path)
        .status()
        .map_err(|e| format!("sh: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cat | cat failed: {status}"))
    }
}

/// Reads the stream from `cat FILE` through a pipe, skipping every body:
/// spliced into /dev/null ([`Reader::pipe`]) or read and dropped ([`Reader::new`]).
fn skip_from_pipe(path: &Path, splice: bool) -> Result<(), String> {
    let mut cat = Command::new("cat")
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cat: {e}"))?;
    let pipe = File::from(OwnedFd::from(cat.stdout.take().ok_or("cat has no stdout")?));
    let reader = if splice {
        Reader::pipe(pipe)
    } else {
        Reader::new(pipe)
    };
    let mut stream = StreamReader::from_reader(reader, None);
    let walked = loop {
        match stream.next_event() {
            Ok(Event::LibxcRecord(_) | Event::LibxlRecord(_)) => {
                if let Err(e) = stream.skip_body() {
                    break Err(err(e));
                }
            }
            Ok(Event::End) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(err(e)),
        }
    };
    drop(stream);
    let status = cat.wait().map_err(err)?;
    walked?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cat failed: {status}"))
    }
}

/// Copies the stream record by record through Reader and Writer.
fn copy_stream(from: &Path, to: &Path) -> Result<(), String> {
    let mut stream = StreamReader::new(File::open(from).map_err(err)?);
    let mut w = Writer::new(BufWriter::with_capacity(
        1 << 20,
        File::create(to).map_err(err)?,
    ));
    let mut body = Vec::new();
    loop {
        match stream.next_event().map_err(err)? {
            Event::LibxlHeader(h) => w.write_libxl_header(&h).map_err(err)?,
            Event::ImageHeader(h) => w.write_image_header(&h).map_err(err)?,
            Event::DomainHeader(h) => w.write_domain_header(&h).map_err(err)?,
            Event::LibxcRecord(info) | Event::LibxlRecord(info) => {
                let body = stream.read_body(&mut body).map_err(err)?;
                w.write_record(info.raw_type, body).map_err(err)?;
            }
            Event::XlHeader(h) => w.write_xl_header(&h).map_err(err)?,
            Event::Trailing { .. } => return Err("unexpected trailing data".into()),
            Event::End => break,
            other => return Err(format!("unexpected event {other:?}")),
        }
    }
    w.into_inner().flush().map_err(err)
}

/// Compares two files in constant memory.
fn same_contents(a: &Path, b: &Path) -> Result<bool, String> {
    use std::io::Read;
    let (mut a, mut b) = (File::open(a).map_err(err)?, File::open(b).map_err(err)?);
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut x).map_err(err)?;
        if n == 0 {
            return Ok(b.read(&mut y[..1]).map_err(err)? == 0);
        }
        b.read_exact(&mut y[..n]).map_err(err)?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

/// User plus system CPU time of this process so far, in clock ticks (1/100 s
/// on Linux), from /proc/self/stat; 0 when unavailable.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at
    // field 3; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Runs the benchmark and prints the results. A debug build of xtask (what
/// the `cargo xtask` alias runs) hands over to an optimised build of itself,
/// since unoptimised numbers say nothing.
pub fn run(root: &Path) -> Result<(), String> {
    if cfg!(debug_assertions) && std::env::var_os("XENMIG_BENCH_OPTIMISED").is_none() {
        return run_optimised(root);
    }
    let dir: PathBuf = root.join("target/bench");
    std::fs::create_dir_all(&dir).map_err(err)?;
    let input = dir.join("stream-read.bin");
    let copy = dir.join("stream-read.copy");
    generate(&input)?;
    let size = std::fs::metadata(&input).map_err(err)?.len();
    run_silent(Path::new("cat"), &[&input])?;
    let timings = Timings::measure(&input, &copy)?;
    let peak = vm_hwm_kib("self").map_or_else(|| "unknown".to_owned(), |kib| format!("{kib} kB"));
    let same = same_contents(&input, &copy)?;
    std::fs::remove_file(&copy).map_err(err)?;
    std::fs::remove_file(&input).map_err(err)?;
    timings.print(mib(size));
    println!("copy identical to input: {same}; peak RSS (generation, reads, copies): {peak}");
    if same {
        Ok(())
    } else {
        Err("the copy differs from the input".into())
    }
}

/// `cargo run --release` of this benchmark.
fn run_optimised(root: &Path) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "bench",
            "stream-read",
        ])
        .env("XENMIG_BENCH_OPTIMISED", "1")
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("optimised run failed: {status}"))
    }
}

/// The best of [`RUNS`] of each way to read or copy the stream, and the CPU
/// time of the pipe readers.
struct Timings {
    cat: Duration,
    read: Duration,
    skip: Duration,
    cat_pipe: Duration,
    pipe_read: Duration,
    read_ticks: u64,
    pipe_splice: Duration,
    splice_ticks: u64,
    cp: Duration,
    copied: Duration,
}

impl Timings {
    /// Times each way on `input`, copying to `copy`.
    fn measure(input: &Path, copy: &Path) -> Result<Timings, String> {
        let cat = best_wall(RUNS, || run_silent(Path::new("cat"), &[input]))?;
        let read = best_wall(RUNS, || read_stream(input, false))?;
        let skip = best_wall(RUNS, || read_stream(input, true))?;
        let cat_pipe = best_wall(RUNS, || cat_through_pipe(input))?;
        let ticks = cpu_ticks();
        let pipe_read = best_wall(RUNS, || skip_from_pipe(input, false))?;
        let read_ticks = cpu_ticks() - ticks;
        let ticks = cpu_ticks();
        let pipe_splice = best_wall(RUNS, || skip_from_pipe(input, true))?;
        let splice_ticks = cpu_ticks() - ticks;
        let cp = best_wall(RUNS, || run_silent(Path::new("cp"), &[input, copy]))?;
        let copied = best_wall(RUNS, || copy_stream(input, copy))?;
        Ok(Timings {
            cat,
            read,
            skip,
            cat_pipe,
            pipe_read,
            read_ticks,
            pipe_splice,
            splice_ticks,
            cp,
            copied,
        })
    }

    /// The results table of a stream of `mib` MiB.
    fn print(&self, mib: f64) {
        let rate = |d: Duration| mib / d.as_secs_f64();
        println!("stream-read: {mib:.0} MiB libxl HVM stream, best of 3");
        println!("| what | time | MiB/s | ratio |");
        println!("|---|---|---|---|");
        println!(
            "| `cat` (baseline) | {:.3} s | {:.0} | 1.00 |",
            self.cat.as_secs_f64(),
            rate(self.cat)
        );
        println!(
            "| StreamReader, read every body, parse PAGE_DATA | {:.3} s | {:.0} | {:.2}× cat |",
            self.read.as_secs_f64(),
            rate(self.read),
            ratio(self.read, self.cat)
        );
        println!(
            "| StreamReader::seekable, skip every body | {:.4} s | {:.0} | {:.3}× cat |",
            self.skip.as_secs_f64(),
            rate(self.skip),
            ratio(self.skip, self.cat)
        );
        println!(
            "| `cat \\| cat` (pipe baseline) | {:.3} s | {:.0} | 1.00 |",
            self.cat_pipe.as_secs_f64(),
            rate(self.cat_pipe)
        );
        for (what, time, ticks) in [
            ("Reader::new", self.pipe_read, self.read_ticks),
            (
                "Reader::pipe (spliced)",
                self.pipe_splice,
                self.splice_ticks,
            ),
        ] {
            println!(
                "| `cat \\|` {what}, skip every body (reader CPU, 3 runs: {:.2} s) | {:.3} s | {:.0} | {:.2}× cat \\| cat |",
                ticks as f64 / 100.0,
                time.as_secs_f64(),
                rate(time),
                time.as_secs_f64() / self.cat_pipe.as_secs_f64()
            );
        }
        println!(
            "| `cp` (baseline) | {:.3} s | {:.0} | 1.00 |",
            self.cp.as_secs_f64(),
            rate(self.cp)
        );
        println!(
            "| StreamReader → Writer copy | {:.3} s | {:.0} | {:.2}× cp |",
            self.copied.as_secs_f64(),
            rate(self.copied),
            ratio(self.copied, self.cp)
        );
    }
}

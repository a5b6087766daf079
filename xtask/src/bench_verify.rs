//! `cargo xtask bench verify`: the release `verify-stream-v2` against `cat`.
//!
//! Generates, in a temporary directory that is removed afterwards, a ≥ 1 GiB
//! HVM stream (PAGE_DATA records of 1024 pages, as the saver writes), a stream
//! of 65,536 one-page PAGE_DATA records, and a stream with hostile lengths
//! (a 128 MiB PAGE_DATA of 16 million pfns, the largest pfn array the
//! duplicate check takes, a 128 MiB emulator record). Then, in the same run:
//! the verifier reading the file (it seeks over page data) against
//! `cat FILE > /dev/null`, the verifier reading `cat FILE |` against
//! `cat FILE | cat > /dev/null` (wall time and the consumer's CPU time), and
//! the verifier's peak RSS, all through `/usr/bin/time`.

use migration_stream::Writer;
use migration_stream::payload::{EmulatorRecord, HvmContext, HvmParams, PageData};
use migration_stream::types::{
    DomainType, EmulatorId, HvmParam, HvmSaveCode, LibxlRecordType, PageType, PfnEntry, RecordType,
};
use migration_stream::wire::{DomainHeader, HvmSaveHeader, ImageHeader, LibxlHeader};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zerocopy::IntoBytes;

use crate::bench_util::{
    Profile, TempDir, best_shell, build_cli, gnu_time, median, mib, ratio, shell_quote,
};

/// Runs the benchmark and prints its table.
pub fn run(root: &Path) -> Result<(), String> {
    println!("building the release verifier...");
    let exe = build_cli(root, "verify-stream-v2", Profile::Release)?;
    let dir = TempDir::new("bench-verify")?;
    measure_all(&exe, dir.path())
}

fn measure_all(exe: &Path, dir: &Path) -> Result<(), String> {
    let big = dir.join("hvm-1gib.libxc");
    let small = dir.join("one-page-records.libxc");
    let hostile = dir.join("hostile-lengths.libxl");
    println!("generating streams in {} ...", dir.display());
    write_stream(&big, |w| big_hvm(w, 258)).map_err(|e| format!("{}: {e}", big.display()))?;
    write_stream(&small, |w| one_page_records(w, 65_536))
        .map_err(|e| format!("{}: {e}", small.display()))?;
    write_stream(&hostile, hostile_lengths).map_err(|e| format!("{}: {e}", hostile.display()))?;

    println!();
    println!(
        "File wall times are the best of {RUNS} runs; consumer CPU is the user+system time of the \
         process reading the pipe, summed over the {RUNS} runs (robust on a busy machine)."
    );
    println!();
    println!(
        "| stream | size | cat file | verifier file (seeks) | verifier/cat | cat \\| cat | cat \\| verifier | \
         throughput vs cat (wall) | consumer CPU cat / verifier | peak RSS pipe / file |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, path, expect_valid) in [
        ("HVM, 1024-page records", &big, true),
        ("65,536 one-page records", &small, true),
        ("hostile lengths", &hostile, false),
    ] {
        let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
        let file = shell_quote(path);
        let verifier = shell_quote(exe);
        // Warm the page cache so the first contender is not penalised.
        time_best(&format!("cat {file} > /dev/null"), 1)?;
        let cat_file = time_best(&format!("cat {file} > /dev/null"), RUNS)?;
        let verify_file = time_best(&format!("{verifier} -q -i {file}"), RUNS)?;
        let (cat_pipe, verify_pipe, throughput) = pipe_pair(
            &format!("cat {file} |"),
            &format!("{verifier} -q"),
            dir,
            expect_valid,
        )?;
        let verify_seek = consumer("", &format!("{verifier} -q -i {file}"), dir, expect_valid)?;
        let mib = mib(size);
        println!(
            "| {name} | {mib:.0} MiB | {} | {} | {:.1}% | {} | {} | {:.0}% ({:.0}–{:.0}%) | {:.2} s / {:.2} s | {:.1} / {:.1} MiB |",
            secs(cat_file),
            secs(verify_file),
            100.0 * ratio(verify_file, cat_file),
            secs(cat_pipe.wall),
            secs(verify_pipe.wall),
            100.0 * median(&throughput),
            100.0 * throughput.iter().copied().fold(f64::MAX, f64::min),
            100.0 * throughput.iter().copied().fold(0.0, f64::max),
            cat_pipe.cpu,
            verify_pipe.cpu,
            verify_pipe.rss_kib as f64 / 1024.0,
            verify_seek.rss_kib as f64 / 1024.0,
        );
    }
    println!();
    println!(
        "throughput vs cat = (cat | cat) / (cat | verifier) wall time, paired: the two pipelines \
         run back to back in each of {RUNS} rounds (which goes first alternates), median of the \
         rounds' ratios (range in brackets); the target is >= 90%. Pipe wall times are medians."
    );
    println!("peak RSS target: < 16 MiB for every stream.");
    Ok(())
}

/// Runs per measurement.
const RUNS: usize = 7;

/// What `/usr/bin/time` says about the consumer at the end of a pipeline.
#[derive(Default)]
struct Consumer {
    /// Wall-clock time of the whole pipeline (best or median, as the caller says).
    wall: Duration,
    /// User + system seconds of the consumer, summed over the runs.
    cpu: f64,
    /// Largest peak RSS of the consumer, KiB.
    rss_kib: u64,
}

/// `{producer} cat > /dev/null` and `{producer} {consumer}` in [`RUNS`]
/// paired rounds (which goes first alternates): both as [`Consumer`]s with
/// median wall times, and each round's throughput ratio (cat's wall time
/// over the consumer's).
fn pipe_pair(
    producer: &str,
    consumer: &str,
    dir: &Path,
    expect_success: bool,
) -> Result<(Consumer, Consumer, Vec<f64>), String> {
    let out = dir.join("time.txt");
    let mut walls = [Vec::new(), Vec::new()];
    let mut sides = [Consumer::default(), Consumer::default()];
    for round in 0..RUNS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let (command, expect) = if side == 0 {
                ("cat > /dev/null", true)
            } else {
                (consumer, expect_success)
            };
            let (wall, status, report) = gnu_time(producer, command, &out)?;
            if status.success() != expect {
                return Err(format!(
                    "{producer} {command}: unexpected exit status {status}"
                ));
            }
            walls[side].push(wall);
            sides[side].cpu += report.user + report.system;
            sides[side].rss_kib = sides[side].rss_kib.max(report.peak_rss_kib);
        }
    }
    let ratios = walls[0]
        .iter()
        .zip(&walls[1])
        .map(|(cat, ours)| ratio(*cat, *ours))
        .collect();
    for (side, walls) in sides.iter_mut().zip(&walls) {
        let secs: Vec<f64> = walls.iter().map(Duration::as_secs_f64).collect();
        side.wall = Duration::from_secs_f64(median(&secs));
    }
    let [cat, ours] = sides;
    Ok((cat, ours, ratios))
}

/// Runs `{producer} /usr/bin/time … {consumer}` [`RUNS`] times.
fn consumer(
    producer: &str,
    consumer: &str,
    dir: &Path,
    expect_success: bool,
) -> Result<Consumer, String> {
    let out = dir.join("time.txt");
    let mut result = Consumer {
        wall: Duration::MAX,
        cpu: 0.0,
        rss_kib: 0,
    };
    for _ in 0..RUNS {
        let (wall, status, report) = gnu_time(producer, consumer, &out)?;
        result.wall = result.wall.min(wall);
        if status.success() != expect_success {
            return Err(format!(
                "{producer} {consumer}: unexpected exit status {status}"
            ));
        }
        result.cpu += report.user + report.system;
        result.rss_kib = result.rss_kib.max(report.peak_rss_kib);
    }
    Ok(result)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Best wall-clock time of `runs` runs of a shell command (exit status ignored:
/// the hostile stream is invalid on purpose).
fn time_best(command: &str, runs: usize) -> Result<Duration, String> {
    best_shell(command, runs).map(|(best, _)| best)
}

fn write_stream(
    path: &PathBuf,
    body: impl FnOnce(&mut Writer<BufWriter<File>>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut writer = Writer::new(file);
    body(&mut writer)?;
    writer.into_inner().flush()
}

fn headers(w: &mut Writer<BufWriter<File>>) -> std::io::Result<()> {
    w.write_image_header(&ImageHeader::new(3))?;
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 17))?;
    w.write_record(RecordType::STATIC_DATA_END.0, &[])
}

fn tail(w: &mut Writer<BufWriter<File>>) -> std::io::Result<()> {
    let header = HvmSaveHeader::new(0x0004_0011, 0, 0);
    let context = HvmContext::encode(&[
        (HvmSaveCode::HEADER, 0, header.as_bytes()),
        (HvmSaveCode::CPU, 0, &[0; 1024]),
        (HvmSaveCode::END, 0, &[]),
    ]);
    w.write_record(RecordType::HVM_CONTEXT.0, &context)?;
    w.write_record(
        RecordType::HVM_PARAMS.0,
        &HvmParams::encode(&[(HvmParam::STORE_PFN, 0xfeffc)]),
    )?;
    w.write_record(RecordType::END.0, &[])
}

/// `records` PAGE_DATA records of 1024 pages each (4 MiB of data apiece).
fn big_hvm(w: &mut Writer<BufWriter<File>>, records: u64) -> std::io::Result<()> {
    headers(w)?;
    let pages: Vec<u8> = (0..1024 * 4096).map(|i: usize| (i % 253) as u8).collect();
    for record in 0..records {
        let entries: Vec<PfnEntry> = (0..1024)
            .map(|i| PfnEntry::new(record * 1024 + i, PageType::NOTAB))
            .collect();
        let header = PageData::encode(&entries, &[]);
        let length = u32::try_from(header.len() + pages.len()).unwrap_or(u32::MAX);
        w.begin_record(RecordType::PAGE_DATA.0, length)?;
        w.write_body(&header)?;
        w.write_body(&pages)?;
        w.end_record()?;
    }
    tail(w)
}

fn one_page_records(w: &mut Writer<BufWriter<File>>, records: u64) -> std::io::Result<()> {
    headers(w)?;
    let page = vec![0x3cu8; 4096];
    for pfn in 0..records {
        w.write_record(
            RecordType::PAGE_DATA.0,
            &PageData::encode(&[PfnEntry::new(pfn, PageType::NOTAB)], &page),
        )?;
    }
    tail(w)
}

/// Lengths chosen to make a careless verifier allocate: a pfn array at the
/// duplicate check's limit, a 128 MiB pfn array, a 128 MiB emulator record,
/// then a truncated 4 GiB emulator record.
fn hostile_lengths(w: &mut Writer<BufWriter<File>>) -> std::io::Result<()> {
    w.write_libxl_header(&LibxlHeader::new(0))?;
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
    headers(w)?;
    for count in [1u32 << 17, (128 << 20) / 8 - 1] {
        w.begin_record(RecordType::PAGE_DATA.0, 8 + 8 * count)?;
        w.write_body(&count.to_le_bytes())?;
        w.write_body(&0u32.to_le_bytes())?;
        // Distinct pfns, so the duplicate check has to look at all of them.
        let mut chunk = Vec::with_capacity(8 * 4096);
        let mut next: u64 = 0;
        while next < u64::from(count) {
            chunk.clear();
            let end = (next + 4096).min(u64::from(count));
            for pfn in next..end {
                let raw = PfnEntry::new(pfn, PageType::XTAB).to_raw();
                chunk.extend_from_slice(&raw.to_le_bytes());
            }
            w.write_body(&chunk)?;
            next = end;
        }
        w.end_record()?;
    }
    tail(w)?;
    let blob = vec![0u8; 1 << 20];
    w.begin_record(LibxlRecordType::EMULATOR_CONTEXT.0, 128 << 20)?;
    w.write_body(&EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, &[]))?;
    let mut left: u64 = (128 << 20) - 8;
    while left > 0 {
        let n = left.min(blob.len() as u64) as usize;
        w.write_body(&blob[..n])?;
        left -= n as u64;
    }
    w.end_record()?;
    // Header only: the body it announces never comes.
    w.write_raw(&LibxlRecordType::EMULATOR_CONTEXT.0.to_le_bytes())?;
    w.write_raw(&u32::MAX.to_le_bytes())
}

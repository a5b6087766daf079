//! `cargo xtask bench verify`: the release `verify-stream-v2` against `cat`.
//!
//! Generates, in a temporary directory that is removed afterwards, a ≥ 1 GiB
//! HVM stream (PAGE_DATA records of 1024 pages, as the saver writes), a stream
//! of 65,536 one-page PAGE_DATA records, and a stream with hostile lengths
//! (a 128 MiB PAGE_DATA of 16 million pfns, the largest pfn array the
//! duplicate check takes, a 128 MiB emulator record). Then, in the same run,
//! paired and interleaved (each round runs every contender once, in turn):
//! the verifier reading the file (it seeks over page data) against
//! `cat FILE > /dev/null`, and the verifier reading `cat FILE |` against
//! `cat FILE | cat > /dev/null`; every run goes through `/usr/bin/time` for
//! the consumer's CPU time and peak RSS. Ratios are medians of the per-round
//! ratios. Where valgrind is installed, the verifier's instruction counts
//! (callgrind, the repeatable figure on a shared machine) follow.
//!
//! `XENMIG_BENCH_VERIFY_BASELINE=PATH` adds another `verify-stream-v2` binary
//! (e.g. one built from an older commit) as a contender in every row, for
//! before/after comparisons in the same run; `XENMIG_BENCH_ROUNDS` sets the
//! number of rounds (default 9).

use migration_stream::Writer;
use migration_stream::payload::{EmulatorRecord, HvmContext, HvmParams, PageData};
use migration_stream::types::{
    DomainType, EmulatorId, HvmParam, HvmSaveCode, LibxlRecordType, PageType, PfnEntry, RecordType,
};
use migration_stream::wire::{DomainHeader, HvmSaveHeader, ImageHeader, LibxlHeader};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use zerocopy::IntoBytes;

use crate::bench_util::{
    Profile, TempDir, build_cli, gnu_time, load_average, median, mib, shell_quote, which,
};

/// Rounds of interleaved runs, unless `XENMIG_BENCH_ROUNDS` says otherwise.
const RUNS: usize = 9;
/// Records and pfns of the generated streams, for the per-record figures.
const BIG_RECORDS: u64 = 258;
const SMALL_RECORDS: u64 = 65_536;

/// Runs the benchmark and prints its tables.
pub fn run(root: &Path) -> Result<(), String> {
    println!("building the release verifier...");
    let exe = build_cli(root, "verify-stream-v2", Profile::Release)?;
    let baseline = std::env::var_os("XENMIG_BENCH_VERIFY_BASELINE").map(PathBuf::from);
    if let Some(path) = &baseline
        && !path.is_file()
    {
        return Err(format!(
            "XENMIG_BENCH_VERIFY_BASELINE: {} is not a file",
            path.display()
        ));
    }
    let runs = match std::env::var("XENMIG_BENCH_ROUNDS") {
        Ok(n) => n
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or("XENMIG_BENCH_ROUNDS must be a positive number")?,
        Err(_) => RUNS,
    };
    let dir = TempDir::new("bench-verify")?;
    let streams = write_streams(dir.path())?;
    let verifiers: Vec<(&str, &Path)> = std::iter::once(("verifier", exe.as_path()))
        .chain(baseline.as_deref().map(|b| ("baseline", b)))
        .collect();
    println!();
    println!(
        "load average at the start: {}; {runs} interleaved rounds; medians.",
        load_average()
    );
    if let Some(path) = &baseline {
        println!("baseline: {}", path.display());
    }
    wall_table(&streams, &verifiers, dir.path(), runs)?;
    instruction_table(&streams, &verifiers, dir.path())
}

/// One generated stream.
struct Stream {
    name: &'static str,
    path: PathBuf,
    valid: bool,
    /// What the per-unit instruction figure divides by, and its name.
    units: (u64, &'static str),
}

fn write_streams(dir: &Path) -> Result<Vec<Stream>, String> {
    let big = dir.join("hvm-1gib.libxc");
    let small = dir.join("one-page-records.libxc");
    let hostile = dir.join("hostile-lengths.libxl");
    println!("generating streams in {} ...", dir.display());
    write_stream(&big, |w| big_hvm(w, BIG_RECORDS))
        .map_err(|e| format!("{}: {e}", big.display()))?;
    write_stream(&small, |w| one_page_records(w, SMALL_RECORDS))
        .map_err(|e| format!("{}: {e}", small.display()))?;
    write_stream(&hostile, hostile_lengths).map_err(|e| format!("{}: {e}", hostile.display()))?;
    Ok(vec![
        Stream {
            name: "HVM, 1024-page records",
            path: big,
            valid: true,
            units: (BIG_RECORDS * 1024, "pfn"),
        },
        Stream {
            name: "65,536 one-page records",
            path: small,
            valid: true,
            units: (SMALL_RECORDS, "record"),
        },
        Stream {
            name: "hostile lengths",
            path: hostile,
            valid: false,
            units: (HOSTILE_PFNS, "pfn"),
        },
    ])
}

/// What one contender measured over the rounds.
#[derive(Default)]
struct Samples {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    rss_kib: u64,
}

/// Runs every `(producer, consumer, expect_success)` once per round, in turn.
fn interleaved(
    contenders: &[(String, String, bool)],
    dir: &Path,
    runs: usize,
) -> Result<Vec<Samples>, String> {
    let report = dir.join("time.txt");
    let mut samples: Vec<Samples> = contenders.iter().map(|_| Samples::default()).collect();
    // One unmeasured round warms the page cache for everyone.
    for round in 0..=runs {
        for ((producer, consumer, expect_success), s) in contenders.iter().zip(&mut samples) {
            let (wall, status, time) = gnu_time(producer, consumer, &report)?;
            if status.success() != *expect_success {
                return Err(format!(
                    "{producer} {consumer}: unexpected exit status {status}"
                ));
            }
            if round > 0 {
                s.wall.push(wall.as_secs_f64());
                s.cpu.push(time.user + time.system);
                s.rss_kib = s.rss_kib.max(time.peak_rss_kib);
            }
        }
    }
    Ok(samples)
}

/// The median of the per-round ratios `ours / baseline` (paired runs).
fn paired_ratio(ours: &Samples, baseline: &Samples) -> f64 {
    let ratios: Vec<f64> = ours
        .wall
        .iter()
        .zip(&baseline.wall)
        .map(|(o, b)| o / b)
        .collect();
    median(&ratios)
}

fn wall_table(
    streams: &[Stream],
    verifiers: &[(&str, &Path)],
    dir: &Path,
    runs: usize,
) -> Result<(), String> {
    println!();
    println!(
        "| stream | size | contender | file: wall | file: vs cat | pipe: wall | pipe: throughput vs cat \\| cat | \
         pipe: consumer CPU | peak RSS pipe / file |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for stream in streams {
        let size = std::fs::metadata(&stream.path)
            .map_err(|e| e.to_string())?
            .len();
        let file = shell_quote(&stream.path);
        let mut from_file = vec![(String::new(), format!("cat {file}"), true)];
        let mut from_pipe = vec![(format!("cat {file} |"), "cat > /dev/null".to_owned(), true)];
        for (_, exe) in verifiers {
            let exe = shell_quote(exe);
            from_file.push((String::new(), format!("{exe} -q -i {file}"), stream.valid));
            from_pipe.push((format!("cat {file} |"), format!("{exe} -q"), stream.valid));
        }
        let files = interleaved(&from_file, dir, runs)?;
        let pipes = interleaved(&from_pipe, dir, runs)?;
        let (cat_file, cat_pipe) = (&files[0], &pipes[0]);
        println!(
            "| {} | {:.0} MiB | cat | {:.3} s | | {:.3} s | | {:.2} s | {:.1} / {:.1} MiB |",
            stream.name,
            mib(size),
            median(&cat_file.wall),
            median(&cat_pipe.wall),
            median(&cat_pipe.cpu),
            cat_pipe.rss_kib as f64 / 1024.0,
            cat_file.rss_kib as f64 / 1024.0,
        );
        for (i, (name, _)) in verifiers.iter().enumerate() {
            let (file, pipe) = (&files[i + 1], &pipes[i + 1]);
            println!(
                "| | | {name} | {:.3} s | {:.1}% | {:.3} s | {:.0}% | {:.2} s | {:.1} / {:.1} MiB |",
                median(&file.wall),
                100.0 * paired_ratio(file, cat_file),
                median(&pipe.wall),
                100.0 / paired_ratio(pipe, cat_pipe),
                median(&pipe.cpu),
                pipe.rss_kib as f64 / 1024.0,
                file.rss_kib as f64 / 1024.0,
            );
        }
    }
    println!();
    println!(
        "file: vs cat = verifier / `cat FILE > /dev/null` wall time; pipe: throughput = \
         (`cat FILE | cat > /dev/null`) / (`cat FILE | verifier`) wall time, target >= 90%; \
         consumer CPU = user + system of the process reading the pipe; peak RSS target < 16 MiB."
    );
    Ok(())
}

/// Instructions the verifier executes (callgrind), reading the file and the
/// pipe: the figure that does not swing with the machine's load.
fn instruction_table(
    streams: &[Stream],
    verifiers: &[(&str, &Path)],
    dir: &Path,
) -> Result<(), String> {
    if which("valgrind").is_none() {
        println!();
        println!("(no valgrind: instruction counts skipped)");
        return Ok(());
    }
    println!();
    println!("| stream | contender | instructions, file | instructions, pipe | per unit, pipe |");
    println!("|---|---|---|---|---|");
    for stream in streams {
        let file = shell_quote(&stream.path);
        for (name, exe) in verifiers {
            let exe = shell_quote(exe);
            let from_file = callgrind("", &format!("{exe} -q -i {file}"), dir)?;
            let from_pipe = callgrind(&format!("cat {file} |"), &format!("{exe} -q"), dir)?;
            let (units, unit) = stream.units;
            println!(
                "| {} | {name} | {:.1} M | {:.1} M | {:.1} per {unit} |",
                stream.name,
                from_file as f64 / 1e6,
                from_pipe as f64 / 1e6,
                from_pipe as f64 / units as f64,
            );
        }
    }
    Ok(())
}

/// Instructions of `consumer` (after `producer |`, if any) under callgrind.
fn callgrind(producer: &str, consumer: &str, dir: &Path) -> Result<u64, String> {
    let out = dir.join("callgrind.out");
    let command = format!(
        "{producer} valgrind --tool=callgrind --callgrind-out-file={} {consumer} 2>/dev/null",
        shell_quote(&out)
    );
    Command::new("sh")
        .args(["-c", &command])
        .status()
        .map_err(|e| format!("{command}: {e}"))?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary: ")
                .or_else(|| line.strip_prefix("totals: "))
        })
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{command}: no instruction count in the callgrind output"))
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

/// The pfn counts of the hostile stream's two PAGE_DATA records.
const HOSTILE_COUNTS: [u32; 2] = [1 << 17, (128 << 20) / 8 - 1];
const HOSTILE_PFNS: u64 = HOSTILE_COUNTS[0] as u64 + HOSTILE_COUNTS[1] as u64;

/// Lengths chosen to make a careless verifier allocate: a pfn array at the
/// duplicate check's limit, a 128 MiB pfn array, a 128 MiB emulator record,
/// then a truncated 4 GiB emulator record.
fn hostile_lengths(w: &mut Writer<BufWriter<File>>) -> std::io::Result<()> {
    w.write_libxl_header(&LibxlHeader::new(0))?;
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
    headers(w)?;
    for count in HOSTILE_COUNTS {
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

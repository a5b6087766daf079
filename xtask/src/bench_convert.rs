//! `cargo xtask bench convert`: speed and memory of `convert-legacy-stream`.
//!
//! In a temporary directory it writes a 1 GiB HVM legacy image (256 batches
//! of 1024 pages) and an image of 65,536 one-page batches, then measures the
//! release binary against `cp` in pairs: in each round every pair runs once,
//! the converter and its baseline back to back (which goes first alternates
//! from round to round), and the ratio of the two is that round's ratio. The
//! report gives the median of those paired ratios over the rounds (and their
//! range), so a burst of load from other processes hits both sides of a pair
//! alike. The pairs:
//!
//! * to a descriptor (`-o 1`, standard output a new file) against `cp`;
//! * to a file (`-o FILE`: temporary file, paced writeback, fsync, rename,
//!   fsync of the directory) against `cp` followed by an fsync of the copy;
//! * the one-page image, both ways, and three floors of the descriptor
//!   case against `cp` (a copy through user space costs a second kernel copy
//!   that `cp`'s `copy_file_range` does not, and one-page batches leave no
//!   run of pages long enough for `copy_file_range`): `dd ibs=128K obs=64K`
//!   copying the image with the converter's read and write sizes, and four
//!   programs that write exactly the converter's output with no conversion
//!   logic ([`crate::convert_floor`]): the converter's design (each record
//!   copied from the read buffer into the output block), two with no copy in
//!   user space (`writev` from the read buffer, `readv` into the block) and
//!   one with a single kernel copy (`writev` from a mapping of the image);
//! * a file to a pipe, as libxl runs it for `xl restore` (`convert -i IMG
//!   -o 1 | cat`) against `cat IMG | cat`;
//! * pipe to pipe, as in a migration (`cat IMG | convert -i 0 -o 1 | cat`)
//!   against `cat IMG | cat | cat`.
//!
//! The CPU ratio is the converter's user + system time over its baseline's
//! (for `cp` + fsync, the fsync's time in this process included); it moves
//! far less with load from other processes than the wall-clock ratio.
//! Peak RSS is the converter's `VmHWM`, sampled from `/proc` while it runs.
//! Before each run the previous output is deleted and the deletion made
//! durable, so that no run pays for the one before it. The number of rounds
//! is `XENMIG_BENCH_ROUNDS` (default 7).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use legacy_convert::format::{PAGE_SIZE, Width};
use legacy_convert::writer::ImageWriter;

use crate::bench_util::{
    Profile, Run, TempDir, build_cli, file_mib, load_average, median, sampled, self_cpu,
    shell_quote, which,
};
use crate::convert_floor::Pattern;

const GIB: u64 = 1 << 30;

/// Default number of rounds (the median of the paired ratios is reported).
const ROUNDS: usize = 7;

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

/// Deletes `path` (if it is there) and makes the deletion durable, so that
/// the next timed run does not pay for the journal commit of this one.
fn clean(path: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("fsync {}: {e}", dir.display()))
}

/// One side of a pair: how to run it and which file it writes.
struct Contender {
    /// Runs once and says how it went.
    run: Box<dyn Fn() -> Result<Run, String>>,
    /// The file it writes (deleted before each run), if any.
    output: Option<PathBuf>,
}

impl Contender {
    fn measure(&self) -> Result<Run, String> {
        if let Some(output) = &self.output {
            clean(output)?;
        }
        (self.run)()
    }
}

/// A measurement: the converter and its baseline.
struct Pair {
    label: String,
    baseline_label: &'static str,
    ours: Contender,
    baseline: Contender,
    /// Records per run, for the cost per record (the one-page image).
    records: Option<u64>,
    /// Whether the converter's RSS is measured (not through a shell).
    rss: bool,
    target: &'static str,
}

/// `cp SRC DST`, and with `fsync`, an fsync of the copy after it (timed together).
fn cp(cp: &Path, src: &Path, dst: &Path, fsync: bool) -> Contender {
    let (cp, src, dst) = (cp.to_owned(), src.to_owned(), dst.to_owned());
    let output = Some(dst.clone());
    Contender {
        run: Box::new(move || {
            let start = Instant::now();
            let mut run = sampled(&cp, &[path_str(&src)?, path_str(&dst)?], None)?;
            if fsync {
                let cpu = self_cpu();
                File::open(&dst)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| format!("fsync {}: {e}", dst.display()))?;
                run.wall = start.elapsed();
                // The fsync's CPU is this process's: count it with cp's.
                run.cpu += self_cpu() - cpu;
            }
            Ok(run)
        }),
        output,
    }
}

/// The converter on `image` with `-o OUT` (to a file) or, with `to_fd`,
/// `-o 1` and standard output the new file `out`.
fn convert(tool: &Path, image: &Path, format: &str, out: &Path, to_fd: bool) -> Contender {
    let (tool, image, out, format) = (
        tool.to_owned(),
        image.to_owned(),
        out.to_owned(),
        format.to_owned(),
    );
    let output = Some(out.clone());
    Contender {
        run: Box::new(move || {
            let image = path_str(&image)?;
            let target = if to_fd { "1" } else { path_str(&out)? };
            let args = [
                "-i", image, "-w", "64", "-g", "hvm", "-f", &format, "-q", "-o", target,
            ];
            sampled(&tool, &args, to_fd.then_some(out.as_path()))
        }),
        output,
    }
}

/// `dd` copying `src` to `dst` in the converter's read and write sizes
/// (128 KiB reads, as its input buffer; 64 KiB writes, as its block writer
/// writes a regular file): the same system calls without the conversion.
fn dd_floor(src: &Path, dst: &Path) -> Contender {
    let (src, dst) = (src.to_owned(), dst.to_owned());
    let output = Some(dst.clone());
    Contender {
        run: Box::new(move || {
            let dd = which("dd").unwrap_or_else(|| PathBuf::from("/bin/dd"));
            let input = format!("if={}", path_str(&src)?);
            let output = format!("of={}", path_str(&dst)?);
            sampled(
                &dd,
                &[&input, &output, "ibs=128K", "obs=64K", "status=none"],
                None,
            )
        }),
        output,
    }
}

/// The layout of the one-page image and of its conversion, for the floor
/// programs (see [`crate::convert_floor`]).
struct FloorLayout {
    /// The optimised xtask binary that runs them.
    program: PathBuf,
    image: PathBuf,
    /// The converter's output of `image` (libxc).
    reference: PathBuf,
    /// Bytes of `reference` before its first record.
    prefix: usize,
    records: usize,
}

/// A floor program (`xtask copy-experiment --floor`, optimised)
/// writing the converter's output of the one-page image to `dst`.
fn floor(pattern: Pattern, layout: &Rc<FloorLayout>, dst: &Path) -> Contender {
    let (layout, dst) = (Rc::clone(layout), dst.to_owned());
    let output = Some(dst.clone());
    Contender {
        run: Box::new(move || {
            let (prefix, records) = (layout.prefix.to_string(), layout.records.to_string());
            let args = [
                "copy-experiment",
                "--floor",
                pattern.name(),
                path_str(&layout.image)?,
                path_str(&layout.reference)?,
                path_str(&dst)?,
                &prefix,
                &records,
            ];
            sampled(&layout.program, &args, None)
        }),
        output,
    }
}

/// `sh -c command`, timed (its CPU is the children's; no RSS).
fn shell(command: String) -> Contender {
    Contender {
        run: Box::new(move || {
            let sh = which("sh").unwrap_or_else(|| PathBuf::from("/bin/sh"));
            let mut run = sampled(&sh, &["-c", &command], None)?;
            run.rss_kib = 0;
            Ok(run)
        }),
        output: None,
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{}: not UTF-8", path.display()))
}

/// Runs the benchmark and prints its report.
pub fn run(root: &Path) -> Result<(), String> {
    let tool = build_cli(root, "convert-legacy-stream", Profile::Release)?;
    let floor_program = crate::convert_floor::build(root)?;
    let dir = TempDir::new("bench-convert")?;
    let rounds = std::env::var("XENMIG_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(ROUNDS);
    run_in(&tool, &floor_program, dir.path(), rounds)
}

fn pairs(tool: &Path, dir: &Path, big: &Path, small: &Path, layout: &Rc<FloorLayout>) -> Vec<Pair> {
    let mut pairs = big_file_pairs(tool, dir, big);
    pairs.extend(one_page_pairs(tool, dir, small, layout));
    pairs.extend(pipe_pairs(tool, big));
    pairs
}

/// The 1 GiB image to a descriptor and to `-o FILE`.
fn big_file_pairs(tool: &Path, dir: &Path, big: &Path) -> Vec<Pair> {
    let cp_path = which("cp").unwrap_or_else(|| PathBuf::from("/bin/cp"));
    let (out, copy) = (dir.join("out.v2"), dir.join("copy.img"));
    vec![
        Pair {
            label: "1 GiB, to a descriptor (-o 1 > new file)".to_owned(),
            baseline_label: "cp",
            ours: convert(tool, big, "libxl", &out, true),
            baseline: cp(&cp_path, big, &copy, false),
            records: None,
            rss: true,
            target: "≤ 1.05",
        },
        Pair {
            label: "1 GiB, -o FILE (durable)".to_owned(),
            baseline_label: "cp + fsync",
            ours: convert(tool, big, "libxl", &out, false),
            baseline: cp(&cp_path, big, &copy, true),
            records: None,
            rss: true,
            target: "≤ 1.10",
        },
    ]
}

/// The floor programs of [`crate::convert_floor`], each with its label.
const FLOORS: [(Pattern, &str); 4] = [
    (
        Pattern::Copy,
        "floor, the converter's design: read 128 KiB, copy each record into a 128 KiB block, \
         write it 64 KiB at a time (its output bytes, nothing parsed)",
    ),
    (
        Pattern::Gather,
        "floor, no copy in user space: read 128 KiB, writev the headers and the pages from the \
         read buffer, ~64 KiB a call (its output bytes)",
    ),
    (
        Pattern::Scatter,
        "floor, no copy in user space: readv each page into its place in a 128 KiB block, write \
         it 64 KiB at a time (its output bytes)",
    ),
    (
        Pattern::Mapped,
        "floor, one kernel copy: mmap the image, writev the headers and the pages from the \
         mapping, ~64 KiB a call (its output bytes)",
    ),
];

/// The one-page image both ways, and the floors of the descriptor case.
fn one_page_pairs(tool: &Path, dir: &Path, small: &Path, layout: &Rc<FloorLayout>) -> Vec<Pair> {
    let cp_path = which("cp").unwrap_or_else(|| PathBuf::from("/bin/cp"));
    let (out, copy) = (dir.join("out.v2"), dir.join("copy.img"));
    let floors = FLOORS.iter().map(|&(pattern, label)| Pair {
        label: label.to_owned(),
        baseline_label: "cp",
        ours: floor(
            pattern,
            layout,
            &dir.join(format!("floor-{}.out", pattern.name())),
        ),
        baseline: cp(&cp_path, small, &copy, false),
        records: Some(65_536),
        rss: false,
        target: "-",
    });
    let mut pairs = vec![
        Pair {
            label: "65,536 one-page batches, to a descriptor".to_owned(),
            baseline_label: "cp",
            ours: convert(tool, small, "libxc", &out, true),
            baseline: cp(&cp_path, small, &copy, false),
            records: Some(65_536),
            rss: true,
            target: "≤ 1.25",
        },
        Pair {
            label: "floor of the one-page case: dd ibs=128K obs=64K of the image (its reads and writes, nothing converted)".to_owned(),
            baseline_label: "cp",
            ours: dd_floor(small, &dir.join("floor.out")),
            baseline: cp(&cp_path, small, &copy, false),
            records: None,
            rss: false,
            target: "-",
        },
        Pair {
            label: "65,536 one-page batches, -o FILE (durable)".to_owned(),
            baseline_label: "cp + fsync",
            ours: convert(tool, small, "libxc", &out, false),
            baseline: cp(&cp_path, small, &copy, true),
            records: Some(65_536),
            rss: true,
            target: "-",
        },
    ];
    // The floors after the dd floor, before the -o FILE row.
    let at = pairs.len() - 1;
    pairs.splice(at..at, floors);
    pairs
}

/// The 1 GiB image from a file to a pipe and from a pipe to a pipe.
fn pipe_pairs(tool: &Path, big: &Path) -> Vec<Pair> {
    let pipe = |middle: &str, image: &Path| {
        format!("cat {} | {middle} | cat > /dev/null", shell_quote(image))
    };
    let quoted = shell_quote(tool);
    vec![
        Pair {
            label: "1 GiB, file to pipe (convert -i IMG -o 1 | cat)".to_owned(),
            baseline_label: "cat IMG | cat",
            ours: shell(format!(
                "{quoted} -i {} -o 1 -w 64 -g hvm -f libxl -q | cat > /dev/null",
                shell_quote(big)
            )),
            baseline: shell(format!("cat {} | cat > /dev/null", shell_quote(big))),
            records: None,
            rss: false,
            target: "-",
        },
        Pair {
            label: "1 GiB, pipe to pipe (cat | convert -i 0 -o 1 | cat)".to_owned(),
            baseline_label: "cat | cat | cat",
            ours: shell(pipe(
                &format!("{quoted} -i 0 -o 1 -w 64 -g hvm -f libxl -q"),
                big,
            )),
            baseline: shell(pipe("cat", big)),
            records: None,
            rss: false,
            target: "-",
        },
    ]
}

fn run_in(tool: &Path, floor_program: &Path, dir: &Path, rounds: usize) -> Result<(), String> {
    let big = dir.join("hvm-1g.img");
    let small = dir.join("hvm-65536x1.img");
    write_image(&big, GIB / (1024 * PAGE_SIZE as u64), 1024)?;
    write_image(&small, 65_536, 1)?;
    check_identical(tool, dir, &small)?;
    let layout = Rc::new(floor_layout(tool, floor_program, dir, &small)?);
    println!(
        "images: {:.0} MiB (256 batches of 1024 pages), {:.0} MiB (65,536 one-page batches)",
        file_mib(&big)?,
        file_mib(&small)?
    );
    let pairs = pairs(tool, dir, &big, &small, &layout);
    check_floors(&pairs, &layout)?;
    let load_before = load_average();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    // Warm the page cache (and the binary) for every contender.
    for pair in &pairs {
        pair.ours.measure()?;
        pair.baseline.measure()?;
    }
    let mut samples: Vec<Vec<(Run, Run)>> = pairs.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (pair, samples) in pairs.iter().zip(&mut samples) {
            let (ours, baseline) = if round % 2 == 0 {
                let ours = pair.ours.measure()?;
                (ours, pair.baseline.measure()?)
            } else {
                let baseline = pair.baseline.measure()?;
                (pair.ours.measure()?, baseline)
            };
            samples.push((ours, baseline));
        }
    }
    for pair in &pairs {
        for contender in [&pair.ours, &pair.baseline] {
            if let Some(output) = &contender.output {
                clean(output)?;
            }
        }
    }
    println!(
        "convert-legacy-stream benchmark: {rounds} rounds, paired and interleaved, warm page cache; \
         {cpus} CPUs; load average before {load_before}, after {}",
        load_average()
    );
    println!(
        "| pair | converter (median) | CPU (median) | baseline (median) | ratio (median of rounds) | range | target | CPU ratio | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (pair, samples) in pairs.iter().zip(&samples) {
        print_row(pair, samples);
    }
    Ok(())
}

fn print_row(pair: &Pair, samples: &[(Run, Run)]) {
    let secs = |d: Duration| d.as_secs_f64();
    let ours: Vec<f64> = samples.iter().map(|(o, _)| secs(o.wall)).collect();
    let cpu: Vec<f64> = samples.iter().map(|(o, _)| o.cpu).collect();
    let base: Vec<f64> = samples.iter().map(|(_, b)| secs(b.wall)).collect();
    let ratios: Vec<f64> = samples
        .iter()
        .map(|(o, b)| secs(o.wall) / secs(b.wall))
        .collect();
    // CPU against CPU: what each side made the machine do, which load from
    // other processes disturbs far less than the wall time.
    let cpu_ratios: Vec<f64> = samples
        .iter()
        .filter(|(_, b)| b.cpu > 0.0)
        .map(|(o, b)| o.cpu / b.cpu)
        .collect();
    let low = ratios.iter().copied().fold(f64::MAX, f64::min);
    let high = ratios.iter().copied().fold(0.0, f64::max);
    let rss = samples.iter().map(|(o, _)| o.rss_kib).max().unwrap_or(0);
    let per_record = pair.records.map_or(String::new(), |n| {
        format!(" ({:.2} µs CPU per record)", median(&cpu) * 1e6 / n as f64)
    });
    println!(
        "| {} | {:.3} s | {:.2} s{per_record} | {} {:.3} s | {:.2} | {low:.2}–{high:.2} | {} | {} | {} |",
        pair.label,
        median(&ours),
        median(&cpu),
        pair.baseline_label,
        median(&base),
        median(&ratios),
        pair.target,
        if cpu_ratios.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.2}", median(&cpu_ratios))
        },
        if pair.rss {
            format!("{:.1} MiB", rss as f64 / 1024.0)
        } else {
            "-".to_owned()
        }
    );
}

/// The descriptor and file outputs are the same bytes (the tests check this
/// on every test image; here it guards the benchmark's own images).
fn check_identical(tool: &Path, dir: &Path, image: &Path) -> Result<(), String> {
    let (a, b) = (dir.join("check-fd.v2"), dir.join("check-file.v2"));
    convert(tool, image, "libxc", &a, true).measure()?;
    convert(tool, image, "libxc", &b, false).measure()?;
    let read = |p: &Path| -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        File::open(p)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(bytes)
    };
    let same = read(&a)? == read(&b)?;
    clean(&a)?;
    clean(&b)?;
    if same {
        Ok(())
    } else {
        Err("-o 1 and -o FILE wrote different bytes".to_owned())
    }
}

/// Converts the one-page image once (the floors' reference) and finds its layout.
fn floor_layout(
    tool: &Path,
    program: &Path,
    dir: &Path,
    small: &Path,
) -> Result<FloorLayout, String> {
    let reference = dir.join("floor-reference.v2");
    convert(tool, small, "libxc", &reference, false).measure()?;
    let prefix = crate::convert_floor::prefix_len(&reference)?;
    Ok(FloorLayout {
        program: program.to_owned(),
        image: small.to_owned(),
        reference,
        prefix,
        records: 65_536,
    })
}

/// Each floor program writes exactly the converter's bytes.
fn check_floors(pairs: &[Pair], layout: &FloorLayout) -> Result<(), String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let expected = read(&layout.reference)?;
    for pair in pairs.iter().filter(|p| p.label.starts_with("floor,")) {
        pair.ours.measure()?;
        let Some(output) = &pair.ours.output else {
            continue;
        };
        if read(output)? != expected {
            return Err(format!("{}: not the converter's bytes", pair.label));
        }
        clean(output)?;
    }
    Ok(())
}

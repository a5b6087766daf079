//! Plumbing shared by the `cargo xtask bench` benchmarks (and the legacy
//! cross-check): building a tool, timing commands best-of-N, measuring peak
//! RSS, scratch directories and the numbers' formatting.
//!
//! Each benchmark keeps what is its own (the data it generates, what it
//! compares, the table it prints); how a command is run and measured is
//! decided here once, so that every ratio against `cat`/`cp` means the same.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Which cargo profile [`build_cli`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `--release`: what every benchmark times.
    Release,
    /// The dev profile, for a functional comparison that times nothing.
    Debug,
}

/// Builds one binary of the `xenmig-cli` package and returns its path under
/// `target/`.
///
/// Cargo is the one running `cargo xtask` (the `CARGO` variable), so the same
/// toolchain builds the tool as built this task.
pub fn build_cli(root: &Path, bin: &str, profile: Profile) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
    let mut command = Command::new(cargo);
    command.arg("build");
    if profile == Profile::Release {
        command.arg("--release");
    }
    let status = command
        .args(["--quiet", "-p", "xenmig-cli", "--bin", bin])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(match profile {
            Profile::Release => "cargo build --release failed".to_owned(),
            Profile::Debug => "cargo build failed".to_owned(),
        });
    }
    let dir = match profile {
        Profile::Release => "target/release",
        Profile::Debug => "target/debug",
    };
    Ok(root.join(dir).join(bin))
}

/// A scratch directory, `$TMPDIR/xenmig-<name>-<pid>`, removed with everything
/// in it when dropped (also when a benchmark fails half-way).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the directory for `name` (e.g. `"bench-convert"`).
    pub fn new(name: &str) -> Result<TempDir, String> {
        let path = std::env::temp_dir().join(format!("xenmig-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Best (shortest) wall time of `runs` calls of `f`; the first error stops the
/// measurement.
pub fn best_wall(
    runs: usize,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<Duration, String> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed());
    }
    Ok(best)
}

/// Median wall time of each contender over `runs` rounds, the contenders
/// taking turns within each round (paired and interleaved, so a machine that
/// gets busier or quieter affects all of them alike).
pub fn median_interleaved(
    runs: usize,
    contenders: &mut [&mut dyn FnMut() -> Result<(), String>],
) -> Result<Vec<Duration>, String> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); contenders.len()];
    for _ in 0..runs {
        for (f, t) in contenders.iter_mut().zip(&mut times) {
            let start = Instant::now();
            f()?;
            t.push(start.elapsed());
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t.get(t.len() / 2).copied().unwrap_or_default()
        })
        .collect())
}

/// Runs `program args` with its output discarded, and fails unless it exits with 0 (the error
/// then carries what it wrote to standard error).
pub fn run_silent<S: AsRef<std::ffi::OsStr>>(program: &Path, args: &[S]) -> Result<(), String> {
    // Standard error is kept, not shown: a tool's warnings would bury the table,
    // but a failure should say why.
    let output = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}: {}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

/// Runs `sh -c command` with standard output and error discarded, and returns
/// its exit code (`None` when a signal killed it). The command redirects
/// itself where it must (`cat FILE > /dev/null`).
pub fn run_shell(command: &str) -> Result<Option<i32>, String> {
    let status = Command::new("sh")
        .args(["-c", command])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("sh -c {command}: {e}"))?;
    Ok(status.code())
}

/// Best wall time of `runs` runs of a shell command, and the exit code of the
/// last run (whatever it is: a benchmark of invalid input expects failure).
pub fn best_shell(command: &str, runs: usize) -> Result<(Duration, Option<i32>), String> {
    let mut code = None;
    let best = best_wall(runs, || {
        code = run_shell(command)?;
        Ok(())
    })?;
    Ok((best, code))
}

/// A path quoted for `sh -c`, whatever characters it holds.
pub fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// What GNU `/usr/bin/time -f '%U %S %M'` reports about one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnuTime {
    /// User CPU seconds.
    pub user: f64,
    /// System CPU seconds.
    pub system: f64,
    /// Peak resident set size, KiB.
    pub peak_rss_kib: u64,
}

/// One run of `{producer} /usr/bin/time … {consumer}` through `sh -c`: GNU
/// time measures the last process of the pipeline only (the one under test;
/// `producer` is e.g. `"cat FILE |"`, or empty). Its report goes to
/// `report_file`, so the consumer's own standard error stays untouched.
/// Returns the pipeline's wall time, its exit status and the report.
pub fn gnu_time(
    producer: &str,
    consumer: &str,
    report_file: &Path,
) -> Result<(Duration, ExitStatus, GnuTime), String> {
    let command = format!(
        "{producer} /usr/bin/time -f '%U %S %M' -o {} {consumer}",
        shell_quote(report_file)
    );
    let start = Instant::now();
    let status = Command::new("sh")
        .args(["-c", &command])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{command}: {e}"))?;
    let wall = start.elapsed();
    let text = std::fs::read_to_string(report_file)
        .map_err(|e| format!("{}: {e}", report_file.display()))?;
    // GNU time prints "Command exited with non-zero status N" before its line.
    let line = text.lines().last().unwrap_or_default();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [user, system, rss] = fields[..] else {
        return Err(format!("unexpected /usr/bin/time output {text:?}"));
    };
    let number = |f: &str| f.parse::<f64>().map_err(|e| format!("{f:?}: {e}"));
    let report = GnuTime {
        user: number(user)?,
        system: number(system)?,
        peak_rss_kib: number(rss)? as u64,
    };
    Ok((wall, status, report))
}

/// Peak RSS (KiB) of the last command of a shell pipeline (`a | b | c`), from
/// [`gnu_time`]; `None` when it cannot be measured (no `/usr/bin/time`).
/// Report files go in `dir`.
pub fn peak_rss_of_shell(command: &str, dir: &Path) -> Option<u64> {
    let (producer, consumer) = match command.rsplit_once(" | ") {
        Some((feeder, last)) => (format!("{feeder} |"), last),
        None => (String::new(), command),
    };
    let (_, _, report) = gnu_time(&producer, consumer, &dir.join("rss")).ok()?;
    Some(report.peak_rss_kib)
}

/// The `VmHWM` (peak resident set, KiB) line of a `/proc/<pid>/status` file;
/// `"self"` for this process.
pub fn vm_hwm_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) of this process's waited-for children, in seconds
/// (fields 16 and 17 of `/proc/self/stat`, in clock ticks of 1/100 s).
pub fn children_cpu() -> f64 {
    proc_stat_ticks(&[16, 17])
}

/// CPU time (user + system) of this process so far, in seconds (fields 14
/// and 15 of `/proc/self/stat`, in clock ticks of 1/100 s).
pub fn self_cpu() -> f64 {
    proc_stat_ticks(&[14, 15])
}

/// The sum of the given fields (1-based, as in proc(5)) of `/proc/self/stat`,
/// in seconds of clock ticks.
fn proc_stat_ticks(fields_wanted: &[usize]) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(after_name) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return 0.0;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state).
    let tick = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    fields_wanted.iter().map(|&i| tick(i)).sum::<f64>() / 100.0
}

/// The median of `values` (the mean of the middle two for an even count; NaN
/// for none). NaNs sort last.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One run measured by [`sampled`]: wall time, CPU time and peak RSS.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Wall-clock time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU seconds of the child.
    pub cpu: f64,
    /// Highest `VmHWM` seen while it ran, KiB.
    pub rss_kib: u64,
}

impl Run {
    /// The best of several runs: shortest wall, least CPU, highest RSS.
    pub fn best(runs: &[Run]) -> Run {
        Run {
            wall: runs.iter().map(|r| r.wall).min().unwrap_or_default(),
            cpu: runs.iter().map(|r| r.cpu).fold(f64::MAX, f64::min),
            rss_kib: runs.iter().map(|r| r.rss_kib).max().unwrap_or_default(),
        }
    }
}

/// Runs a command (standard output to the file `stdout` when given) without
/// `/usr/bin/time`: the peak RSS is the child's `VmHWM`, sampled from `/proc`
/// every 2 ms while it runs. Fails unless it exits with 0.
pub fn sampled(program: &Path, args: &[&str], stdout: Option<&Path>) -> Result<Run, String> {
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
    let pid = child.id().to_string();
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(&pid) {
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

/// The first `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Size of a file in MiB.
pub fn file_mib(path: &Path) -> Result<f64, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(mib(meta.len()))
}

/// How much longer `ours` took than `baseline` (1.0: as fast).
pub fn ratio(ours: Duration, baseline: Duration) -> f64 {
    ours.as_secs_f64() / baseline.as_secs_f64()
}

/// A peak RSS for a table: `"12.3 MiB"`, or `"-"` when unmeasured.
pub fn rss_cell(kib: Option<u64>) -> String {
    kib.map_or("-".to_owned(), |kib| {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote(Path::new("a b")), "'a b'");
        assert_eq!(shell_quote(Path::new("it's")), "'it'\\''s'");
    }

    #[test]
    fn best_of_runs() {
        let runs = [
            Run {
                wall: Duration::from_millis(5),
                cpu: 2.0,
                rss_kib: 10,
            },
            Run {
                wall: Duration::from_millis(3),
                cpu: 4.0,
                rss_kib: 30,
            },
        ];
        let best = Run::best(&runs);
        assert_eq!(best.wall, Duration::from_millis(3));
        assert_eq!((best.cpu, best.rss_kib), (2.0, 30));
    }

    #[test]
    fn interleaved_medians_are_per_contender() {
        let mut calls = Vec::new();
        let mut a = || {
            calls.push('a');
            Ok(())
        };
        let medians = {
            let mut b = || Ok(());
            median_interleaved(3, &mut [&mut a, &mut b]).unwrap()
        };
        assert_eq!(medians.len(), 2);
        assert_eq!(calls, ['a', 'a', 'a']);
    }

    #[test]
    fn table_cells() {
        assert_eq!(rss_cell(None), "-");
        assert_eq!(rss_cell(Some(1536)), "1.5 MiB");
        assert_eq!(mib(3 << 20), 3.0);
        assert_eq!(ratio(Duration::from_secs(3), Duration::from_secs(2)), 1.5);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn own_peak_rss_is_readable() {
        assert!(vm_hwm_kib("self").is_some_and(|kib| kib > 0));
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("bench-util-test").unwrap();
        let path = dir.path().to_owned();
        std::fs::write(path.join("f"), b"x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}

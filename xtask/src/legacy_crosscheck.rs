//! `cargo xtask crosscheck-legacy XEN_TOOLS_PYTHON`: runs Xen's own
//! `convert-legacy-stream` (from a Xen source tree's `tools/python`, which needs
//! nothing but `python3`) and ours on every image of `testdata/legacy/`, in
//! both formats, with and without `--skip-qemu`, and compares the outputs and
//! the `-v` lines byte for byte wherever Xen's script succeeds.
//!
//! Expected differences, by design: with `-f libxl --skip-qemu` we leave the
//! qemu record out (upstream ignores the option there), and Xen's `-x` fails
//! under Python 3, so xl images are compared only when it does not.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench_util::{Profile, TempDir, build_cli};

/// Runs the comparison; `python_dir` is a Xen tree's `tools/python`.
pub fn run(root: &Path, python_dir: &Path) -> Result<(), String> {
    let script = python_dir.join("scripts/convert-legacy-stream");
    if !script.is_file() {
        return Err(format!(
            "{} not found: give a Xen tree's tools/python",
            script.display()
        ));
    }
    let ours = build_cli(root, "convert-legacy-stream", Profile::Debug)?;
    let dir = TempDir::new("crosscheck")?;
    let converters = Converters {
        script: &script,
        python_dir,
        ours: &ours,
        dir: dir.path(),
    };
    let (mut identical, mut differ, mut upstream_failed) = (0, 0, 0);
    for image in &legacy_images(root)? {
        let stem = image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (guest, width) = guest_and_width(&stem);
        for format in ["libxc", "libxl"] {
            for skip in [false, true] {
                let mut args = vec!["-v", "-w", width, "-g", guest, "-f", format];
                if stem.contains("-xl") {
                    args.push("-x");
                }
                if skip {
                    args.push("--skip-qemu");
                }
                let case = format!(
                    "{stem} -f {format}{}",
                    if skip { " --skip-qemu" } else { "" }
                );
                match converters.compare(image, &args, &case)? {
                    Outcome::Identical => identical += 1,
                    Outcome::Different => differ += 1,
                    Outcome::UpstreamFailed => upstream_failed += 1,
                }
            }
        }
    }
    println!("{identical} identical, {differ} different, {upstream_failed} where upstream fails");
    Ok(())
}

/// The images of `testdata/legacy/`, sorted.
fn legacy_images(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut images: Vec<PathBuf> = std::fs::read_dir(root.join("testdata/legacy"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "img"))
        .collect();
    images.sort();
    Ok(images)
}

/// The `-g` and `-w` arguments an image's name says (`pv32-guest64`,
/// `unsupported-hvm64-tmem`): the guest type and the toolstack's width.
fn guest_and_width(stem: &str) -> (&'static str, &'static str) {
    let rest = stem.strip_prefix("unsupported-").unwrap_or(stem);
    let guest = if rest.starts_with("pv") { "pv" } else { "hvm" };
    let width = if rest
        .trim_start_matches("pv")
        .trim_start_matches("hvm")
        .starts_with("32")
    {
        "32"
    } else {
        "64"
    };
    (guest, width)
}

/// Xen's script and ours, and where they write.
struct Converters<'a> {
    script: &'a Path,
    python_dir: &'a Path,
    ours: &'a Path,
    dir: &'a Path,
}

/// How one case of the comparison came out.
enum Outcome {
    Identical,
    Different,
    UpstreamFailed,
}

impl Converters<'_> {
    /// Runs both converters on `image` with `args` and prints how `case` came out.
    fn compare(&self, image: &Path, args: &[&str], case: &str) -> Result<Outcome, String> {
        let up_out = self.dir.join("upstream.out");
        let our_out = self.dir.join("ours.out");
        let upstream = Command::new("python3")
            .arg(self.script)
            .args(args)
            .args([
                "-i",
                &image.to_string_lossy(),
                "-o",
                &up_out.to_string_lossy(),
            ])
            .env("PYTHONPATH", self.python_dir)
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        let mine = Command::new(self.ours)
            .args(args)
            .args([
                "-i",
                &image.to_string_lossy(),
                "-o",
                &our_out.to_string_lossy(),
            ])
            .output()
            .map_err(|e| format!("{}: {e}", self.ours.display()))?;
        if !upstream.status.success() {
            println!(
                "  {case}: upstream fails (exit {:?}), ours exits {:?}",
                upstream.status.code(),
                mine.status.code()
            );
            return Ok(Outcome::UpstreamFailed);
        }
        let same_bytes = std::fs::read(&up_out).ok() == std::fs::read(&our_out).ok();
        let same_lines = upstream.stdout == mine.stdout;
        if same_bytes && same_lines {
            println!("  {case}: identical output and -v lines");
            Ok(Outcome::Identical)
        } else {
            println!("  {case}: DIFFERENT (output {same_bytes}, -v lines {same_lines})");
            Ok(Outcome::Different)
        }
    }
}

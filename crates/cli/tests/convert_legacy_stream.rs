//! `convert-legacy-stream` from the outside: upstream's verbose lines (golden
//! files), exit codes, atomic output, and the drop-in options.

mod support;

use std::path::Path;
use std::process::Output;

use support::{assert_golden, code, run, run_piped, scratch, testdata};

const EXE: &str = env!("CARGO_BIN_EXE_convert-legacy-stream");

fn image(stem: &str) -> String {
    testdata(&format!("legacy/{stem}.img"))
        .display()
        .to_string()
}

/// Runs the converter from the file `input` to the file `out`, with `extra`
/// arguments after those.
fn convert(input: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["-i", input.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(EXE, &args)
}

/// Checks that a conversion failed on malformed input: exit code 1, and a
/// message that names the byte offset (`case` says which conversion).
/// Returns the message.
fn malformed(result: &Output, case: &str) -> String {
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert_eq!(code(result), 1, "{case}: {stderr}");
    assert!(stderr.contains("byte offset"), "{stderr}");
    stderr
}

fn dir_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

fn verbose_golden(golden: &str, args: &[&str]) {
    let dir = scratch(golden);
    let out = dir.join("out");
    let mut all = vec!["-v", "-o", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let result = run(EXE, &all);
    assert_eq!(
        code(&result),
        0,
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        result.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_golden(
        &format!("convert-legacy-stream/{golden}.txt"),
        &String::from_utf8(result.stdout).unwrap(),
    );
    assert!(out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verbose_output_matches_upstream_lines() {
    let pv = image("pv64-guest64");
    verbose_golden("pv64-guest64-libxc", &["-i", &pv, "-w", "64", "-g", "pv"]);
    let pv32 = image("pv32-guest32");
    verbose_golden(
        "pv32-guest32-libxl",
        &["-i", &pv32, "-w", "32", "--guest", "pv", "-f", "libxl"],
    );
    let hvm = image("hvm64-upstream");
    verbose_golden(
        "hvm64-upstream-libxl",
        &["-i", &hvm, "-w", "64", "-g", "hvm", "-f", "libxl"],
    );
    let hvm32 = image("hvm32-all-chunks");
    verbose_golden(
        "hvm32-all-chunks-libxc",
        &["-i", &hvm32, "--width", "32", "--guest-type", "hvm"],
    );
    let xl = image("pv64-xl");
    verbose_golden(
        "pv64-xl-libxl",
        &["-i", &xl, "-x", "-w", "64", "-g", "pv", "-f", "libxl"],
    );
}

#[test]
fn verbose_output_says_what_was_detected() {
    let pv = image("pv32-guest64");
    verbose_golden("pv32-guest64-detected", &["-i", &pv, "-f", "libxl"]);
    let hvm = image("hvm64-remus-qemu");
    verbose_golden("hvm64-remus-qemu-detected", &["-i", &hvm, "-g", "hvm"]);
}

#[test]
fn output_equals_the_library_and_an_fd_output_gets_the_same_bytes() {
    let dir = scratch("fd");
    let out = dir.join("out");
    let img = image("hvm64-all-chunks");
    let result = run(
        EXE,
        &["-i", &img, "-o", out.to_str().unwrap(), "-f", "libxl"],
    );
    assert_eq!(code(&result), 0);
    let from_file = std::fs::read(&out).unwrap();
    let mut expected = Vec::new();
    let mut options = legacy_convert::Options::default();
    options.format = legacy_convert::OutputFormat::Libxl;
    legacy_convert::convert(
        &std::fs::read(&img).unwrap()[..],
        &mut expected,
        &options,
        &mut legacy_convert::convert::Quiet,
    )
    .unwrap();
    assert_eq!(from_file, expected);
    let result = run(EXE, &["-i", &img, "-o", "1", "-f", "libxl", "-q"]);
    assert_eq!(code(&result), 0);
    assert_eq!(result.stdout, expected, "fd 1 is standard output");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_input_exits_1_and_leaves_no_output() {
    let dir = scratch("truncated");
    for stem in ["pv64-guest32", "hvm32-upstream"] {
        let bytes = std::fs::read(image(stem)).unwrap();
        let cuts = [0, 3, 7, 20, 100, 4097, bytes.len() / 2, bytes.len() - 1];
        for cut in cuts {
            let input = dir.join("in");
            std::fs::write(&input, &bytes[..cut]).unwrap();
            let out = dir.join("out");
            let result = convert(&input, &out, &["-f", "libxl"]);
            let stderr = malformed(&result, &format!("{stem} cut at {cut}"));
            assert!(stderr.starts_with("convert-legacy-stream: "), "{stderr}");
            std::fs::remove_file(&input).unwrap();
            assert!(
                dir_is_empty(&dir),
                "{stem} cut at {cut}: output or temporary file left"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_content_exits_2_naming_the_chunk() {
    let dir = scratch("unsupported");
    let out = dir.join("out");
    for (stem, name) in [
        ("unsupported-hvm64-tmem", "tmem"),
        ("unsupported-pv32-compression", "enable_compression"),
        ("unsupported-hvm32-tmem-extra", "tmem_extra"),
        ("unsupported-pv64-compressed-data", "compressed_data"),
    ] {
        let result = run(EXE, &["-i", &image(stem), "-o", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(code(&result), 2, "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(dir_is_empty(&dir));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn xl_header_with_libxc_output_is_refused_and_writes_nothing() {
    let dir = scratch("xl-libxc");
    let out = dir.join("out");
    let xl = image("pv64-xl");
    let result = run(
        EXE,
        &["-i", &xl, "-x", "-f", "libxc", "-o", out.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(code(&result), 2, "{stderr}");
    assert!(stderr.contains("--format libxl"), "{stderr}");
    assert!(dir_is_empty(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2_and_version_works() {
    let img = image("pv64-guest64");
    for args in [
        vec!["-o", "/dev/null"],
        vec!["-i", img.as_str()],
        vec!["-i", img.as_str(), "-o", "/dev/null", "-w", "48"],
        vec!["-i", img.as_str(), "-o", "/dev/null", "-g", "pvh"],
        vec!["-i", img.as_str(), "-o", "/dev/null", "-f", "json"],
    ] {
        let result = run(EXE, &args);
        assert_eq!(code(&result), 2, "{args:?}");
    }
    let result = run(EXE, &["-i", "/nonexistent/image", "-o", "/dev/null"]);
    assert_eq!(code(&result), 2);
    assert!(String::from_utf8_lossy(&result.stderr).contains("/nonexistent/image"));
    let result = run(EXE, &["--version"]);
    assert_eq!(code(&result), 0);
    assert!(String::from_utf8_lossy(&result.stdout).starts_with("convert-legacy-stream "));
    let result = run(EXE, &["--help"]);
    assert_eq!(code(&result), 0);
    assert!(String::from_utf8_lossy(&result.stdout).contains("--skip-qemu"));
}

#[test]
fn quiet_silences_errors() {
    let dir = scratch("quiet");
    let input = dir.join("in");
    std::fs::write(&input, [0u8; 5]).unwrap();
    let result = run(
        EXE,
        &[
            "-q",
            "-i",
            input.to_str().unwrap(),
            "-o",
            dir.join("out").to_str().unwrap(),
            "-w",
            "64",
            "-g",
            "pv",
        ],
    );
    assert_eq!(code(&result), 1);
    assert!(result.stderr.is_empty() && result.stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_conversion_keeps_an_existing_output_file() {
    let dir = scratch("keep");
    let out = dir.join("out");
    std::fs::write(&out, b"previous contents").unwrap();
    let bytes = std::fs::read(image("hvm64-upstream")).unwrap();
    let input = dir.join("in");
    std::fs::write(&input, &bytes[..bytes.len() - 10]).unwrap();
    let result = convert(&input, &out, &[]);
    assert_eq!(code(&result), 1);
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "temporary file left behind"
    );
    std::fs::write(&input, &bytes).unwrap();
    let result = convert(&input, &out, &[]);
    assert_eq!(code(&result), 0);
    assert_ne!(std::fs::read(&out).unwrap(), b"previous contents");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn libxl_invocation_reads_and_writes_inherited_pipes() {
    // As libxl runs it: `--in <fd> --out <fd> --width --guest --format libxl`,
    // both ends pipes (so no input size is known and nothing can seek).
    for (stem, width, guest) in [
        ("hvm32-qemu-to-end", "32", "hvm"),
        ("pv64-guest64", "64", "pv"),
    ] {
        let bytes = std::fs::read(image(stem)).unwrap();
        let (result, fed) = run_piped(
            EXE,
            &[
                "--in", "0", "--out", "1", "--width", width, "--guest", guest, "--format", "libxl",
            ],
            bytes.clone(),
        );
        fed.unwrap();
        assert_eq!(
            code(&result),
            0,
            "{stem}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        let mut expected = Vec::new();
        let mut options = legacy_convert::Options::default();
        options.format = legacy_convert::OutputFormat::Libxl;
        legacy_convert::convert(
            &bytes[..],
            &mut expected,
            &options,
            &mut legacy_convert::convert::Quiet,
        )
        .unwrap();
        assert_eq!(result.stdout, expected, "{stem}");
    }
}

#[test]
fn malformed_input_exits_1_with_its_message_and_leaves_no_output() {
    use legacy_convert::format::Width;
    use legacy_convert::writer::{BodyItem, LegacyImage};
    let dir = scratch("malformed");
    let input = dir.join("in");
    let out = dir.join("out");
    for (body, message) in [
        (
            BodyItem::Raw(1025i32.to_le_bytes().to_vec()),
            "Page batch (1025) exceeded MAX_BATCH (1024)",
        ),
        (BodyItem::pages(&[(0, 7), (0xD, 7)], 0), "Duplicate pfns"),
        (
            BodyItem::Raw((-22i32).to_le_bytes().to_vec()),
            "Unrecognised chunk -22",
        ),
    ] {
        let image = LegacyImage::hvm(Width::W64, 0x100).with_body(vec![body]);
        std::fs::write(&input, image.to_bytes()).unwrap();
        let result = convert(&input, &out, &["-g", "hvm"]);
        let stderr = malformed(&result, message);
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "{message}: output or temporary file left"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn progress_bar_only_on_a_terminal_and_never_with_quiet() {
    // util-linux `script` runs the tool on a pseudo-terminal and copies what
    // the terminal shows to its standard output.
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: no /usr/bin/script to provide a terminal");
        return;
    }
    let dir = scratch("terminal");
    let out = dir.join("out");
    let on_terminal = |extra: &str| {
        let command = format!(
            "{EXE} -i {} -o {} {extra}",
            image("hvm64-all-chunks"),
            out.display()
        );
        let result = std::process::Command::new(script)
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .output()
            .unwrap();
        assert_eq!(code(&result), 0, "{command}");
        String::from_utf8_lossy(&result.stdout).into_owned()
    };
    let shown = on_terminal("");
    assert!(
        shown.contains("ETA"),
        "no progress bar on a terminal: {shown:?}"
    );
    assert_eq!(on_terminal("-q"), "", "-q on a terminal");
    // A summary on the same terminal would tangle with the bar: summary only.
    let verbose = on_terminal("-v");
    assert!(verbose.contains("P2M Size: 0x"), "{verbose:?}");
    assert!(!verbose.contains("ETA"), "{verbose:?}");
    // Not a terminal: nothing on standard error (see also verbose_golden).
    let result = run(
        EXE,
        &[
            "-i",
            &image("hvm64-all-chunks"),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&result), 0);
    assert!(result.stderr.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn syslog_takes_the_summary_and_errors_still_reach_stderr() {
    let dir = scratch("syslog");
    let out = dir.join("out");
    let img = image("pv64-guest64");
    let result = run(
        EXE,
        &["--syslog", "-v", "-i", &img, "-o", out.to_str().unwrap()],
    );
    assert_eq!(code(&result), 0);
    assert!(result.stdout.is_empty(), "summary went to stdout");
    let input = dir.join("in");
    std::fs::write(&input, &std::fs::read(&img).unwrap()[..100]).unwrap();
    let result = run(
        EXE,
        &[
            "--syslog",
            "-i",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&result), 1);
    assert!(String::from_utf8_lossy(&result.stderr).contains("byte offset"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_output_write_error_exits_2_naming_the_output() {
    // `-o 1` with standard output on /dev/full: every write fails (ENOSPC).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let result = std::process::Command::new(EXE)
        .args(["-i", &image("pv64-guest64"), "-o", "1"])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(code(&result), 2, "{stderr}");
    assert!(
        stderr.contains("standard output: No space left"),
        "{stderr}"
    );
}

/// Runs the converter on `input` with `extra` options; its exit code and
/// standard error.
fn convert_error(input: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["-i", input, "-o", "/dev/null"];
    args.extend_from_slice(extra);
    let result = run(EXE, &args);
    (
        code(&result),
        String::from_utf8_lossy(&result.stderr).into_owned(),
    )
}

#[test]
fn an_xl_file_without_x_says_so_and_suggests_x() {
    let (status, stderr) = convert_error(&image("hvm64-xl"), &[]);
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("starts with an xl save header"), "{stderr}");
    assert!(stderr.contains("give -x/--xl"), "{stderr}");
    assert!(!stderr.contains("MAX_BATCH"), "{stderr}");
    // Also when width and guest type are given (nothing is probed then).
    let (status, stderr) = convert_error(&image("pv64-xl"), &["-w", "64", "-g", "pv"]);
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("give -x/--xl"), "{stderr}");
}

#[test]
fn an_empty_input_says_it_is_empty() {
    for extra in [&[][..], &["-w", "64", "-g", "pv"], &["-x", "-f", "libxl"]] {
        let (status, stderr) = convert_error("/dev/null", extra);
        assert_eq!(status, 1, "{extra:?}: {stderr}");
        assert!(
            stderr.contains("/dev/null: the input is empty"),
            "{extra:?}: {stderr}"
        );
        assert!(!stderr.contains("-w and -g"), "{extra:?}: {stderr}");
    }
}

#[test]
fn a_wrong_width_or_guest_type_is_named_as_the_likely_cause() {
    for (stem, extra, detected, advice) in [
        (
            "pv64-guest64",
            &["-w", "32"][..],
            "64-bit toolstack",
            "try -w 64 instead of -w 32",
        ),
        (
            "hvm64-upstream",
            &["-w", "32", "-g", "hvm"],
            "64-bit toolstack",
            "try -w 64",
        ),
        (
            "pv32-guest32",
            &["-w", "64"],
            "32-bit toolstack",
            "try -w 32 instead of -w 64",
        ),
        (
            "hvm32-upstream",
            &["-w", "64", "-g", "hvm"],
            "32-bit toolstack",
            "try -w 32",
        ),
        ("pv64-guest64", &["-g", "hvm"], "of a PV guest", "try -g pv"),
        (
            "hvm64-upstream",
            &["-g", "pv"],
            "of an HVM guest",
            "try -g hvm",
        ),
    ] {
        let (status, stderr) = convert_error(&image(stem), extra);
        assert_eq!(status, 1, "{stem} {extra:?}: {stderr}");
        assert!(
            stderr.contains(&format!("the image looks like one {detected}"))
                || stderr.contains(&format!("the image looks like one from a {detected}")),
            "{stem} {extra:?}: {stderr}"
        );
        assert!(stderr.contains("is the likely cause"), "{stderr}");
        assert!(stderr.contains(advice), "{stem} {extra:?}: {stderr}");
    }
    // The right width gives no such hint on a damaged image.
    let dir = scratch("no-hint");
    let input = dir.join("in");
    let bytes = std::fs::read(image("pv64-guest64")).unwrap();
    std::fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
    let (status, stderr) = convert_error(input.to_str().unwrap(), &["-w", "64"]);
    assert_eq!(status, 1, "{stderr}");
    assert!(!stderr.contains("likely cause"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verbose_escapes_terminal_controls_in_physmap_names() {
    use legacy_convert::format::Width;
    use legacy_convert::writer::{BodyItem, LegacyImage, PhysmapEntry, encode_physmap};
    let hostile = b"vga\x1b]0;owned\x07\x1b[2J\r\xe2\x80\xae".to_vec();
    let physmap = encode_physmap(
        Width::W64,
        &[PhysmapEntry {
            phys_offset: 0xf000_0000,
            start_addr: 0xfc00_0000,
            size: 0x1000,
            name: Some(hostile),
        }],
        0,
    );
    let image = LegacyImage::hvm(Width::W64, 0x100)
        .with_body(vec![BodyItem::Toolstack(physmap), BodyItem::LastCheckpoint]);
    let dir = scratch("escape");
    let input = dir.join("hostile.img");
    std::fs::write(&input, image.to_bytes()).unwrap();
    let out = dir.join("out");
    let result = run(
        EXE,
        &[
            "-v",
            "-g",
            "hvm",
            "-w",
            "64",
            "-f",
            "libxl",
            "-i",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(
        code(&result),
        0,
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stdout = String::from_utf8(result.stdout).unwrap();
    assert!(
        stdout.contains(r"'vga\u{1b}]0;owned\u{7}\u{1b}[2J\r\u{202e}'"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(['\x1b', '\x07', '\r', '\u{202e}']),
        "raw control bytes reached standard output: {stdout:?}"
    );
    // The stream itself keeps the name byte for byte.
    let converted = std::fs::read(&out).unwrap();
    assert!(
        converted.windows(4).any(|w| w == b"\x1b]0;"),
        "the name must not be altered in the data"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unambiguous_prefixes_of_long_options_work_as_with_optparse() {
    // Upstream parses with optparse, which takes any unambiguous prefix of a
    // long option; libxl itself relies on it (`--guest` for `--guest-type`).
    let dir = scratch("prefixes");
    let full = dir.join("full");
    let prefixed = dir.join("prefixed");
    let input = image("pv64-guest64");
    let run_with = |args: &[&str]| {
        let out = run(EXE, args);
        assert_eq!(code(&out), 0, "{args:?}: {}", support::stderr(&out));
    };
    run_with(&[
        "--in",
        &input,
        "--out",
        full.to_str().unwrap(),
        "--width",
        "64",
        "--guest-type",
        "pv",
        "--format",
        "libxl",
    ]);
    run_with(&[
        "--i",
        &input,
        "--ou",
        prefixed.to_str().unwrap(),
        "--wid",
        "64",
        "--gue",
        "pv",
        "--form",
        "libxl",
    ]);
    assert_eq!(
        std::fs::read(&full).unwrap(),
        std::fs::read(&prefixed).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `convert-legacy-stream` from the outside: upstream's verbose lines (golden
//! files), exit codes, atomic output, and the drop-in options.

mod support;

use std::path::Path;

use support::{assert_golden, code, run, scratch, testdata};

const EXE: &str = env!("CARGO_BIN_EXE_convert-legacy-stream");

fn image(stem: &str) -> String {
    testdata(&format!("legacy/{stem}.img"))
        .display()
        .to_string()
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
    let options = legacy_convert::Options {
        format: legacy_convert::OutputFormat::Libxl,
        ..Default::default()
    };
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
            let result = run(
                EXE,
                &[
                    "-i",
                    input.to_str().unwrap(),
                    "-o",
                    out.to_str().unwrap(),
                    "-f",
                    "libxl",
                ],
            );
            let stderr = String::from_utf8_lossy(&result.stderr);
            assert_eq!(code(&result), 1, "{stem} cut at {cut}: {stderr}");
            assert!(stderr.starts_with("convert-legacy-stream: "), "{stderr}");
            assert!(stderr.contains("byte offset"), "{stderr}");
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
    let result = run(
        EXE,
        &["-i", input.to_str().unwrap(), "-o", out.to_str().unwrap()],
    );
    assert_eq!(code(&result), 1);
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "temporary file left behind"
    );
    std::fs::write(&input, &bytes).unwrap();
    let result = run(
        EXE,
        &["-i", input.to_str().unwrap(), "-o", out.to_str().unwrap()],
    );
    assert_eq!(code(&result), 0);
    assert_ne!(std::fs::read(&out).unwrap(), b"previous contents");
    std::fs::remove_dir_all(&dir).unwrap();
}

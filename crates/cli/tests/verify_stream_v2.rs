//! `verify-stream-v2` end to end: upstream's `-v` lines, `--json`, error
//! messages and exit codes (golden files under `testdata/golden/verify-stream-v2/`),
//! and reading large records from a pipe.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use support::{
    assert_golden, code, fails_saying, repo_root, run, run_piped, run_with_closed_stdout, stderr,
    stdout, testdata,
};

const EXE: &str = env!("CARGO_BIN_EXE_verify-stream-v2");

/// Runs the tool on the file `file` (`-i FILE`), `flags` before it.
fn verify(file: &str, flags: &[&str]) -> Output {
    let mut args = flags.to_vec();
    args.extend(["-i", file]);
    run(EXE, &args)
}

/// `-v -i FILE` with standard output a full disk; None where `/dev/full`
/// cannot be opened.
fn verbose_to_a_full_disk(file: &str) -> Option<Output> {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .ok()?;
    let output = Command::new(EXE)
        .args(["-v", "-i", file])
        .current_dir(repo_root())
        .stdout(full)
        .output()
        .unwrap();
    Some(output)
}

#[test]
fn verbose_lines_match_upstream_templates() {
    for (stream, golden) in [
        ("streams/xl-hvm-v3.bin", "xl-hvm-v3.verbose"),
        ("streams/libxc-pv-v3.bin", "libxc-pv-v3.verbose"),
        (
            "streams/libxl-hvm-checkpointed.bin",
            "libxl-hvm-checkpointed.verbose",
        ),
        (
            "streams/libxl-hvm-v3-legacy-flag.bin",
            "libxl-hvm-v3-legacy-flag.verbose",
        ),
        (
            "verify/valid-legacy-hvm-qemu.stream",
            "legacy-hvm-qemu.verbose",
        ),
        (
            "verify/valid-pv-empty-vcpu-extended.stream",
            "pv-empty-vcpu.verbose",
        ),
        (
            "verify/valid-optional-record.stream",
            "optional-record.verbose",
        ),
    ] {
        let path = format!("testdata/{stream}");
        let output = run(EXE, &["-v", "-i", &path]);
        assert_eq!(code(&output), 0, "{stream}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{stream}");
        assert_golden(&format!("verify-stream-v2/{golden}"), &stdout(&output));
    }
}

#[test]
fn json_report_golden() {
    for (stream, golden) in [
        (
            "streams/libxl-hvm-checkpointed.bin",
            "libxl-hvm-checkpointed.json",
        ),
        ("streams/xl-pv-v3.bin", "xl-pv-v3.json"),
        (
            "verify/page-data.duplicate-pfn.stream",
            "duplicate-pfn.json",
        ),
    ] {
        let path = format!("testdata/{stream}");
        let output = run(EXE, &["--json", "-i", &path]);
        let json: serde_json::Value =
            serde_json::from_str(&stdout(&output)).expect("--json prints one JSON document");
        assert_eq!(code(&output), if json["error"].is_null() { 0 } else { 1 });
        assert_golden(&format!("verify-stream-v2/{golden}"), &stdout(&output));
    }
}

/// Every generated case: its exit code and exactly what reaches standard error.
#[test]
fn error_messages_for_every_case() {
    let manifest = std::fs::read_to_string(testdata("verify/cases.txt")).unwrap();
    let mut all = String::new();
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(' ').collect();
        let [file, format, expected] = fields[..] else {
            panic!("bad manifest line {line:?}")
        };
        let path = format!("testdata/verify/{file}");
        let output = run(EXE, &["-f", format, "-i", &path]);
        let want = if expected == "valid" { 0 } else { 1 };
        assert_eq!(code(&output), want, "{file}: {}", stderr(&output));
        if expected != "valid" {
            assert!(
                stderr(&output).contains(&format!("[rule {expected}]")),
                "{file}: {}",
                stderr(&output)
            );
        }
        assert_eq!(stdout(&output), "", "{file}: nothing on stdout without -v");
        all.push_str(&format!(
            "{file}: exit {}\n{}",
            code(&output),
            stderr(&output)
        ));
    }
    assert_golden("verify-stream-v2/errors.txt", &all);
}

#[test]
fn quiet_wins_over_verbose_and_hides_errors() {
    let output = verify(
        "testdata/verify/page-data.duplicate-pfn.stream",
        &["-q", "-v", "--json"],
    );
    assert_eq!(code(&output), 1);
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let output = run(EXE, &["--format", "xml"]);
    assert_eq!(code(&output), 2);
    let output = run(EXE, &["-i", "testdata/verify/no-such-file.stream"]);
    fails_saying(&output, 2, "no-such-file.stream");
    let output = run(EXE, &["-i", "987654"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("fd 987654"), "{}", stderr(&output));
    let output = run(EXE, &["--version"]);
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).starts_with("verify-stream-v2 "));
}

/// Pipes `bytes` into the tool's standard input (the default `-i 0`); the
/// tool may stop reading early on an invalid stream.
fn through_pipe(bytes: Vec<u8>, args: &[&str]) -> Output {
    run_piped(EXE, args, bytes).0
}

#[test]
fn records_larger_than_a_pipe_read_verify_from_standard_input() {
    use migration_stream::Writer;
    use migration_stream::payload::PageData;
    use migration_stream::types::{DomainType, PageType, PfnEntry, RecordType};
    use migration_stream::wire::{DomainHeader, ImageHeader};

    // One PAGE_DATA of 1024 pages (4 MiB), as the real saver writes.
    let entries: Vec<PfnEntry> = (0..1024)
        .map(|p| PfnEntry::new(p, PageType::NOTAB))
        .collect();
    let pages = vec![0xa5u8; 1024 * 4096];
    let mut writer = Writer::new(Vec::new());
    writer.write_image_header(&ImageHeader::new(2)).unwrap();
    writer
        .write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 13))
        .unwrap();
    writer
        .write_record(RecordType::PAGE_DATA.0, &PageData::encode(&entries, &pages))
        .unwrap();
    writer.write_record(RecordType::END.0, &[]).unwrap();
    let bytes = writer.into_inner();
    let output = through_pipe(bytes.clone(), &["--json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["pages_by_type"]["normal"], 1024);
    assert_eq!(json["bytes"], bytes.len());

    let truncated = bytes[..bytes.len() - 100].to_vec();
    let output = through_pipe(truncated, &[]);
    fails_saying(&output, 1, "Stream truncated");
}

#[test]
fn an_inherited_descriptor_is_read_where_it_stands() {
    // `-i 0` with a regular file on standard input: the descriptor is used (and
    // seeked) like a path would be; the output is the same as with `-i FILE`.
    let path = testdata("streams/xl-hvm-v3.bin");
    let by_path = run(EXE, &["-v", "-i", path.to_str().unwrap()]);
    let by_fd = Command::new(EXE)
        .args(["-v", "-i", "0"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&by_fd), 0, "{}", stderr(&by_fd));
    assert_eq!(stdout(&by_fd), stdout(&by_path));
}

#[test]
fn a_closed_standard_output_is_not_an_error() {
    // Standard output is a pipe whose reader is already gone, so every line
    // written fails with EPIPE (like `verify-stream-v2 -v | head -0`).
    let output = run_with_closed_stdout(
        EXE,
        &["-v", "-i", "testdata/streams/libxl-hvm-checkpointed.bin"],
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    // An invalid stream still says so, on standard error, with its exit code.
    let output = run_with_closed_stdout(
        EXE,
        &["-v", "-i", "testdata/verify/libxl.xenstore-key.stream"],
    );
    fails_saying(&output, 1, "[rule libxl.xenstore-key]");
}

#[test]
fn stop_at_end_returns_while_the_writer_keeps_the_stream_open() {
    // A migration socket stays open after END: the sender waits for the
    // receiver's reply. With --stop-at-end the verifier answers without EOF.
    let stream = std::fs::read(testdata("streams/xl-hvm-v3.bin")).unwrap();
    let mut child = Command::new(EXE)
        .args(["--stop-at-end", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut with_reply = stream.clone();
    with_reply.extend_from_slice(b"domain received, ready to unpause");
    // The tool may exit before the last bytes are read (that is the point).
    let _ = stdin.write_all(&with_reply);
    // The pipe stays open (stdin is still held here) until the tool has exited.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "--stop-at-end waited for the end of input"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["bytes"], stream.len());

    // Without it, the same bytes after END are trailing data.
    let output = through_pipe(with_reply, &[]);
    fails_saying(&output, 1, "[rule stream.trailing-data]");
}

#[test]
fn syslog_takes_the_verbose_lines_and_errors_still_reach_standard_error() {
    let output = verify("testdata/streams/xl-hvm-v3.bin", &["--syslog", "-v"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output), "", "verbose lines belong to syslog");
    let output = verify(
        "testdata/verify/libxl.xenstore-key.stream",
        &["--syslog", "-v"],
    );
    assert_eq!(code(&output), 1);
    assert_eq!(stdout(&output), "");
    assert!(
        stderr(&output).contains("[rule libxl.xenstore-key]"),
        "{}",
        stderr(&output)
    );
    let output = verify(
        "testdata/verify/libxl.xenstore-key.stream",
        &["--syslog", "-q"],
    );
    assert_eq!(code(&output), 1);
    assert_eq!(stderr(&output), "");
}

#[test]
fn every_valid_example_in_testdata_verifies() {
    // The profile streams: all valid but the one cut on purpose.
    for entry in std::fs::read_dir(testdata("profile")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let output = run(EXE, &["-i", path.to_str().unwrap()]);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("truncated") {
            assert_eq!(code(&output), 1, "{name}");
            assert!(
                stderr(&output).contains("[rule stream.truncated]"),
                "{name}"
            );
        } else {
            assert_eq!(code(&output), 0, "{name}: {}", stderr(&output));
        }
    }
    // What the converter makes of every convertible legacy image, in both
    // formats (an xl file only as libxl: xl cannot restore bare libxc).
    let converter = env!("CARGO_BIN_EXE_convert-legacy-stream");
    let mut converted = 0;
    for entry in std::fs::read_dir(testdata("legacy")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".img") || name.starts_with("unsupported-") {
            continue;
        }
        let xl = name.ends_with("-xl.img");
        for format in ["libxc", "libxl"] {
            if xl && format == "libxc" {
                continue;
            }
            let mut args = vec!["-i", path.to_str().unwrap(), "-o", "1", "-f", format];
            if xl {
                args.push("-x");
            }
            let conversion = Command::new(converter).args(&args).output().unwrap();
            assert_eq!(
                code(&conversion),
                0,
                "{name} {format}: {}",
                stderr(&conversion)
            );
            let output = through_pipe(conversion.stdout, &["--json"]);
            assert_eq!(code(&output), 0, "{name} {format}: {}", stderr(&output));
            let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
            assert_eq!(json["xen_version"], "legacy converted", "{name} {format}");
            // The raw qemu record after END: only a libxc-format HVM stream has one.
            let hvm = json["domain_type"] == "x86 HVM";
            assert_eq!(
                !json["legacy_qemu_record"].is_null(),
                hvm && format == "libxc",
                "{name} {format}"
            );
            converted += 1;
        }
    }
    assert!(converted >= 20, "only {converted} conversions");
}

#[test]
fn unambiguous_prefixes_of_long_options_work_as_with_optparse() {
    let full = run(
        EXE,
        &[
            "--verbose",
            "--format",
            "xl",
            "--in",
            "testdata/streams/xl-pv-v3.bin",
        ],
    );
    let prefixed = run(
        EXE,
        &[
            "--verb",
            "--form",
            "xl",
            "--in",
            "testdata/streams/xl-pv-v3.bin",
        ],
    );
    assert_eq!(code(&prefixed), 0, "{}", stderr(&prefixed));
    assert_eq!(stdout(&prefixed), stdout(&full));
    assert!(stdout(&prefixed).starts_with("Processed xl header\n"));
}

#[test]
fn json_with_verbose_keeps_standard_output_one_json_document() {
    let path = "testdata/streams/xl-hvm-v3.bin";
    let verbose = run(EXE, &["-v", "-i", path]);
    let both = run(EXE, &["--json", "-v", "-i", path]);
    assert_eq!(code(&both), 0, "{}", stderr(&both));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&both)).expect("standard output is the JSON alone");
    assert_eq!(json["format"], "xl");
    // The -v lines are upstream's, on standard error instead.
    assert!(stdout(&verbose).starts_with("Processed xl header\n"));
    assert_eq!(stderr(&both), stdout(&verbose));
}

#[test]
fn verbose_output_to_a_full_disk_is_an_io_error() {
    let Some(output) = verbose_to_a_full_disk("testdata/streams/xl-hvm-v3.bin") else {
        eprintln!("skipped: /dev/full cannot be opened here");
        return;
    };
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("standard output"),
        "{}",
        stderr(&output)
    );
    // The stream's own verdict is still given when it is invalid.
    let output = verbose_to_a_full_disk("testdata/verify/libxl.xenstore-key.stream").unwrap();
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("[rule libxl.xenstore-key]")
            && stderr(&output).contains("standard output"),
        "{}",
        stderr(&output)
    );
}

/// A libxl stream around a minimal HVM libxc stream, with one
/// EMULATOR_XENSTORE_DATA record holding `pairs`.
fn libxl_with_xenstore(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    use migration_stream::Writer;
    use migration_stream::payload::{EmulatorRecord, XenstorePairs};
    use migration_stream::types::{DomainType, EmulatorId, LibxlRecordType, RecordType};
    use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};

    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
        .unwrap();
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 17))
        .unwrap();
    w.write_record(RecordType::STATIC_DATA_END.0, &[]).unwrap();
    w.write_record(RecordType::END.0, &[]).unwrap();
    let data = XenstorePairs::encode(pairs);
    w.write_record(
        LibxlRecordType::EMULATOR_XENSTORE_DATA.0,
        &EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, &data),
    )
    .unwrap();
    w.write_record(LibxlRecordType::END.0, &[]).unwrap();
    w.into_inner()
}

#[test]
fn xenstore_bytes_reach_the_terminal_escaped() {
    let dir = support::scratch("xenstore-escape");
    let path = dir.join("escape.libxl");
    std::fs::write(
        &path,
        libxl_with_xenstore(&[(b"physmap/f0000000/name", b"vga\x1b]0;owned\x07\x1b[2J\x9b")]),
    )
    .unwrap();
    let output = run(EXE, &["-v", "-i", path.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(
        text.contains(r"'physmap/f0000000/name' = 'vga\u{1b}]0;owned\u{7}\u{1b}[2J"),
        "{text}"
    );
    // A key outside xenstore's charset is an error that quotes it, escaped.
    std::fs::write(&path, libxl_with_xenstore(&[(b"bad\x1b[31mkey", b"v")])).unwrap();
    let output = run(EXE, &["-i", path.to_str().unwrap()]);
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains(r"bad\u{1b}[31mkey"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

//! The byte layer (`migration_stream::source`): every kind of source, a real
//! pipe included, gives the same bytes, offsets and truncation reports as a
//! plain slice model of the input, and `Reader` gives the same records and
//! errors whichever source it was built over.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::thread::JoinHandle;

use migration_stream::source::{ByteSource, Input, InputError, Seekable, Sequential, Spliced};
use migration_stream::types::RecordType;
use migration_stream::{Error, Reader};
use proptest::prelude::*;

use xenmig_test_support::Trickle;

/// A real pipe with a thread writing `data` into it, then closing it. The
/// thread's result is ignored on purpose: a reader that stops early closes
/// the pipe, and the writer then fails with EPIPE.
fn pipe_with(data: &[u8]) -> (File, JoinHandle<()>) {
    let (reader, mut writer) = io::pipe().expect("pipe");
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = writer.write_all(&data);
    });
    (File::from(OwnedFd::from(reader)), feeder)
}

#[derive(Clone, Debug)]
enum Op {
    Peek(usize),
    ReadSome(usize),
    ReadUpTo(usize),
    ReadExact(usize),
    Skip(u64),
    AtEnd,
    CopyTo(u64),
    CopyToEnd,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..300).prop_map(Op::Peek),
        (0usize..5_000).prop_map(Op::ReadSome),
        (0usize..5_000).prop_map(Op::ReadUpTo),
        (0usize..5_000).prop_map(Op::ReadExact),
        (0u64..40_000).prop_map(Op::Skip),
        Just(Op::AtEnd),
        (0u64..40_000).prop_map(Op::CopyTo),
        Just(Op::CopyToEnd),
    ]
}

/// Applies `ops` to `input` over `data`, checking every result (bytes,
/// counts, truncation offset and shortfall) and the offset after every step
/// against a plain cursor over `data`. Every source is held to the same
/// model, so they agree with one another. Returns how many steps ran.
fn run<S: ByteSource>(
    mut input: Input<S>,
    data: &[u8],
    ops: &[Op],
) -> Result<usize, TestCaseError> {
    let len = data.len() as u64;
    let mut at = 0u64;
    let mut steps = 0;
    for op in ops {
        let here = at as usize;
        match *op {
            Op::Peek(n) => {
                let most = input.buffer_size();
                let bytes = input.peek(n).map_err(fail)?;
                let want = n.min(most).min(data.len() - here);
                prop_assert_eq!(bytes, &data[here..here + want], "peek {}", n);
            }
            Op::ReadSome(n) => {
                let mut out = vec![0; n];
                let got = input.read_some(&mut out).map_err(fail)?;
                prop_assert!(got <= n);
                prop_assert_eq!(got == 0, n == 0 || at == len, "read_some {} at {}", n, at);
                prop_assert_eq!(&out[..got], &data[here..here + got]);
                at += got as u64;
            }
            Op::ReadUpTo(n) => {
                let mut out = vec![0; n];
                let got = input.read_up_to(&mut out).map_err(fail)?;
                prop_assert_eq!(got, n.min(data.len() - here));
                prop_assert_eq!(&out[..got], &data[here..here + got]);
                at += got as u64;
            }
            Op::ReadExact(n) => {
                let mut out = vec![0; n];
                match input.read_exact(&mut out) {
                    Ok(()) => {
                        prop_assert!(at + n as u64 <= len);
                        prop_assert_eq!(&out[..], &data[here..here + n]);
                        at += n as u64;
                    }
                    Err(InputError::Truncated { offset, wanted }) => {
                        prop_assert!(at + n as u64 > len);
                        prop_assert_eq!((offset, wanted), (len, at + n as u64 - len));
                        prop_assert_eq!(&out[..data.len() - here], &data[here..]);
                        at = len;
                    }
                    Err(err) => return Err(fail(err)),
                }
            }
            Op::Skip(n) => match input.skip(n) {
                Ok(()) => {
                    prop_assert!(at + n <= len);
                    at += n;
                }
                Err(InputError::Truncated { offset, wanted }) => {
                    prop_assert!(at + n > len);
                    prop_assert_eq!((offset, wanted), (len, at + n - len));
                    at = len;
                }
                Err(err) => return Err(fail(err)),
            },
            Op::AtEnd => {
                let end = input.at_end().map_err(fail)?;
                prop_assert_eq!(end, at == len);
            }
            Op::CopyTo(n) => {
                let mut out = Vec::new();
                match input.copy_to(n, &mut out) {
                    Ok(()) => {
                        prop_assert!(at + n <= len);
                        prop_assert_eq!(&out[..], &data[here..here + n as usize]);
                        at += n;
                    }
                    Err(InputError::Truncated { offset, wanted }) => {
                        prop_assert!(at + n > len);
                        prop_assert_eq!((offset, wanted), (len, at + n - len));
                        prop_assert_eq!(&out[..], &data[here..]);
                        at = len;
                    }
                    Err(err) => return Err(fail(err)),
                }
            }
            Op::CopyToEnd => {
                let mut out = Vec::new();
                let copied = input.copy_to_end(&mut out).map_err(fail)?;
                prop_assert_eq!(copied, len - at);
                prop_assert_eq!(&out[..], &data[here..]);
                at = len;
            }
        }
        prop_assert_eq!(input.offset(), at, "offset after {:?}", op);
        steps += 1;
    }
    Ok(steps)
}

fn fail(err: InputError) -> TestCaseError {
    TestCaseError::fail(format!("unexpected error: {err}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_source_gives_the_same_bytes_offsets_and_truncations(
        data in proptest::collection::vec(any::<u8>(), 0..30_000),
        ops in proptest::collection::vec(op(), 1..24),
        buffer in 1usize..20_000,
        step in 1usize..9_000,
        prefix in 0usize..100,
    ) {
        // How much one `read_some` returns depends on the source, so the
        // sources are compared through the model rather than with each other.
        run(Input::with_buffer_size(Sequential::new(&data[..]), buffer), &data, &ops)?;

        let trickle = Trickle::new(&data[..], step);
        run(Input::with_buffer_size(Sequential::new(trickle), buffer), &data, &ops)?;

        // A file already positioned past some prefix: offsets count from there.
        let mut file = vec![0xee; prefix];
        file.extend_from_slice(&data);
        let mut cursor = Cursor::new(file);
        cursor.set_position(prefix as u64);
        let seekable = Seekable::new(cursor).map_err(|e| TestCaseError::fail(e.to_string()))?;
        run(Input::with_buffer_size(seekable, buffer), &data, &ops)?;

        let (pipe, feeder) = pipe_with(&data);
        let spliced = Spliced::new(pipe).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let splicing = run(Input::with_buffer_size(spliced, buffer), &data, &ops);
        feeder.join().expect("feeder thread");
        prop_assert_eq!(splicing?, ops.len());
    }
}

#[test]
fn spliced_skips_over_a_pipe_larger_than_its_buffer() {
    // More than the pipe holds (64 KiB), so the skip must wait for the writer.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let (pipe, feeder) = pipe_with(&data);
    let mut input = Input::new(Spliced::new(pipe).expect("/dev/null"));
    input.skip(999_000).expect("skip");
    let mut tail = vec![0; 1_000];
    input.read_exact(&mut tail).expect("tail");
    assert_eq!(&tail[..], &data[999_000..]);
    match input.skip(5) {
        Err(InputError::Truncated { offset, wanted }) => {
            assert_eq!((offset, wanted), (1_000_000, 5))
        }
        other => panic!("expected truncation, got {other:?}"),
    }
    feeder.join().expect("feeder thread");
}

/// Reads a libxc stream record by record, skipping every body; a transcript
/// of record offsets, or the error's message.
fn skim<R: Read>(mut reader: Reader<R>) -> Result<Vec<u64>, String> {
    let mut offsets = Vec::new();
    let step = |r: Result<(), Error>| r.map_err(|e| e.to_string());
    step(reader.read_image_header().map(drop))?;
    step(reader.read_domain_header().map(drop))?;
    loop {
        let record = reader.next_record().map_err(|e| e.to_string())?;
        let Some(record) = record else {
            return Err("no END".to_owned());
        };
        offsets.push(record.offset);
        step(reader.skip_body())?;
        if record.libxc_type() == RecordType::END {
            return Ok(offsets);
        }
    }
}

#[test]
fn reader_reports_the_same_records_and_truncations_over_every_source() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/streams/libxc-pv-v3.bin");
    let bytes = std::fs::read(&path).expect("example stream");
    let whole = skim(Reader::new(&bytes[..]));
    assert!(whole.as_ref().is_ok_and(|o| o.len() > 5), "{whole:?}");
    // Every record boundary and the bytes around it, and points in between.
    let offsets = whole.unwrap_or_default();
    let mut cuts: Vec<usize> = (0..bytes.len()).step_by(211).collect();
    for &offset in &offsets {
        let offset = offset as usize;
        cuts.extend(offset.saturating_sub(1)..(offset + 12).min(bytes.len()));
    }
    cuts.push(bytes.len());
    for cut in cuts {
        let data = &bytes[..cut];
        let sequential = skim(Reader::new(data));
        let seeking = skim(Reader::seekable(Cursor::new(data)));
        let (pipe, feeder) = pipe_with(data);
        let piped = skim(Reader::pipe(pipe));
        feeder.join().expect("feeder thread");
        assert_eq!(seeking, sequential, "seekable, cut at {cut}");
        assert_eq!(piped, sequential, "pipe, cut at {cut}");
        assert_eq!(sequential.is_ok(), cut == bytes.len(), "cut at {cut}");
    }
}

/// An empty file that is gone from the file system once closed.
fn scratch_file(name: &str) -> File {
    let path = std::env::temp_dir().join(format!("xenmig-source-{}-{name}", std::process::id()));
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("scratch file");
    std::fs::remove_file(&path).expect("unlink scratch file");
    file
}

/// A file of `data`, positioned after a `prefix` of other bytes.
fn file_with(prefix: &[u8], data: &[u8]) -> File {
    let mut file = scratch_file("input");
    file.write_all(prefix).expect("write prefix");
    file.write_all(data).expect("write data");
    file.seek(SeekFrom::Start(prefix.len() as u64))
        .expect("seek");
    file
}

/// The bytes of `file` from its start.
fn contents(file: &mut File) -> Vec<u8> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).expect("rewind");
    file.read_to_end(&mut bytes).expect("read back");
    bytes
}

#[test]
fn copy_to_between_files_keeps_offsets_and_positions() {
    // Large enough that the copy goes to the source (kernel copy between two
    // files), with buffered bytes in front and reads and skips after it.
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 241) as u8).collect();
    let file = file_with(b"xl header", &data);
    let mut input = Input::new(Seekable::new(file).expect("seekable file"));
    let mut head = [0u8; 100];
    input.read_exact(&mut head).expect("head");
    let mut out = scratch_file("files-out");
    input.copy_to(500_000, &mut out).expect("copy");
    assert_eq!(input.offset(), 500_100);
    input.skip(100_000).expect("skip after the copy");
    let mut next = [0u8; 4];
    input.read_exact(&mut next).expect("read after the copy");
    assert_eq!(&next, &data[600_100..600_104]);
    match input.copy_to(100_000, &mut out) {
        Err(InputError::Truncated { offset, wanted }) => {
            assert_eq!((offset, wanted), (700_000, 100_000 - 99_896))
        }
        other => panic!("expected truncation, got {other:?}"),
    }
    let mut expected = data[100..500_100].to_vec();
    expected.extend_from_slice(&data[600_104..]);
    assert_eq!(contents(&mut out), expected);
}

#[test]
fn copy_to_from_a_pipe_larger_than_its_buffer() {
    // More than the pipe holds (64 KiB), so the copy must wait for the writer.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 239) as u8).collect();
    let (pipe, feeder) = pipe_with(&data);
    let mut input = Input::new(Spliced::new(pipe).expect("/dev/null"));
    assert_eq!(input.peek(8).expect("peek"), &data[..8]);
    let mut out = scratch_file("pipe-out");
    input.copy_to(900_000, &mut out).expect("copy");
    input.skip(50_000).expect("skip");
    match input.copy_to(60_000, &mut out) {
        Err(InputError::Truncated { offset, wanted }) => {
            assert_eq!((offset, wanted), (1_000_000, 10_000))
        }
        other => panic!("expected truncation, got {other:?}"),
    }
    feeder.join().expect("feeder thread");
    let mut expected = data[..900_000].to_vec();
    expected.extend_from_slice(&data[950_000..]);
    assert_eq!(contents(&mut out), expected);
}

#[test]
fn copy_to_fills_a_writer_record_body() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 233) as u8).collect();
    let (pipe, feeder) = pipe_with(&data);
    let mut input = Input::new(Sequential::new(pipe));
    let mut writer = migration_stream::Writer::new(Vec::new());
    writer.begin_record(1, 200_003).expect("record header");
    input.copy_to(200_003, &mut writer).expect("body");
    writer.end_record().expect("body complete");
    // A copy longer than the open record is refused by the writer.
    writer.begin_record(1, 10).expect("record header");
    assert!(input.copy_to(20, &mut writer).is_err());
    // The feeder may be blocked on a full pipe: closing the read end ends it.
    drop(input);
    feeder.join().expect("feeder thread");
    let bytes = writer.into_inner();
    assert_eq!(&bytes[8..8 + 200_003], &data[..200_003]);
    assert_eq!(&bytes[8 + 200_003..8 + 200_008], &[0; 5], "padding");
}

/// A sink that fails its first `failures` copies part way with `kind`,
/// after taking up to `step` bytes each time (as a kernel copy interrupted
/// by a signal, or a non-blocking input running dry, does).
struct Flaky {
    out: Vec<u8>,
    failures: usize,
    step: u64,
    kind: io::ErrorKind,
}

impl migration_stream::sink::CopySink for Flaky {
    fn write_piece(&mut self, piece: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(piece);
        Ok(())
    }

    fn copy_from<R: Read>(&mut self, src: &mut io::Take<R>) -> io::Result<()> {
        if self.failures > 0 {
            self.failures -= 1;
            let mut part = vec![0; src.limit().min(self.step) as usize];
            let n = src.read(&mut part)?;
            self.out.extend_from_slice(&part[..n]);
            return Err(self.kind.into());
        }
        src.read_to_end(&mut self.out).map(drop)
    }
}

#[test]
fn interrupted_copies_are_resumed_where_they_stopped() {
    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 229) as u8).collect();
    let flaky = || Flaky {
        out: Vec::new(),
        failures: 5,
        step: 7_777,
        kind: io::ErrorKind::Interrupted,
    };
    // Every kind of source: the bytes arrive once each, in order.
    let mut sink = flaky();
    let mut input = Input::new(Sequential::new(&data[..]));
    input.copy_to(300_000, &mut sink).expect("sequential copy");
    assert_eq!(sink.out, &data[..300_000]);
    assert_eq!(input.offset(), 300_000);

    let mut sink = flaky();
    let mut input = Input::new(Seekable::new(Cursor::new(&data)).expect("cursor"));
    input.skip(50_000).expect("skip");
    input.copy_to(300_000, &mut sink).expect("seekable copy");
    assert_eq!(sink.out, &data[50_000..350_000]);
    input
        .skip(50_000)
        .expect("the position survived the retries");
    assert!(input.at_end().expect("at end"));

    let (pipe, feeder) = pipe_with(&data);
    let mut sink = flaky();
    let mut input = Input::new(Spliced::new(pipe).expect("/dev/null"));
    input.copy_to(400_000, &mut sink).expect("spliced copy");
    feeder.join().expect("feeder thread");
    assert_eq!(sink.out, data);

    // Other errors still stop the copy.
    let mut sink = Flaky {
        kind: io::ErrorKind::PermissionDenied,
        ..flaky()
    };
    let mut input = Input::new(Sequential::new(&data[..]));
    assert!(input.copy_to(300_000, &mut sink).is_err());
}

/// A socket pair whose reading end is non-blocking, and a thread that writes
/// `data` into the other end in slow pieces (so that reads find it empty).
fn nonblocking_socket_with(data: &[u8]) -> (std::os::unix::net::UnixStream, JoinHandle<()>) {
    let (reader, mut writer) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    reader.set_nonblocking(true).expect("O_NONBLOCK");
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || {
        for piece in data.chunks(50_000) {
            std::thread::sleep(std::time::Duration::from_millis(5));
            if writer.write_all(piece).is_err() {
                return;
            }
        }
    });
    (reader, feeder)
}

#[test]
fn a_nonblocking_descriptor_is_waited_for() {
    let data: Vec<u8> = (0..500_000u32).map(|i| (i % 227) as u8).collect();

    // Reads, skips and copies through a waiting sequential source.
    let (socket, feeder) = nonblocking_socket_with(&data);
    let mut input = Input::new(Sequential::descriptor(socket));
    let mut head = [0u8; 10];
    input.read_exact(&mut head).expect("read");
    input.skip(200_000).expect("skip");
    let mut out = Vec::new();
    input.copy_to(250_000, &mut out).expect("copy");
    assert_eq!(out, &data[200_010..450_010]);
    let mut rest = Vec::new();
    input.copy_to_end(&mut rest).expect("copy to the end");
    assert_eq!(rest, &data[450_010..]);
    feeder.join().expect("feeder thread");

    // The same through the splicing source, into a file (a kernel copy).
    let (socket, feeder) = nonblocking_socket_with(&data);
    let mut input = Input::new(Spliced::new(socket).expect("/dev/null"));
    input.skip(100_000).expect("spliced skip");
    let mut out = scratch_file("nonblocking-out");
    input.copy_to(400_000, &mut out).expect("spliced copy");
    feeder.join().expect("feeder thread");
    assert_eq!(contents(&mut out), &data[100_000..]);

    // A reader that cannot be polled reports EAGAIN, as before.
    let (socket, feeder) = nonblocking_socket_with(&data);
    let mut input = Input::new(Sequential::new(socket));
    let mut all = vec![0u8; data.len()];
    match input.read_exact(&mut all) {
        Err(InputError::Io(err)) => assert_eq!(err.kind(), io::ErrorKind::WouldBlock),
        other => panic!("expected EAGAIN, got {other:?}"),
    }
    drop(input);
    feeder.join().expect("feeder thread");
}

/// Run by [`kernel_copies_interrupted_by_a_signal_are_resumed`] under strace:
/// a file-to-file `copy_to` (`copy_file_range(2)`) and a pipe skip into
/// `/dev/null` (`splice(2)`) that must deliver exactly their bytes.
#[test]
#[ignore = "run under strace by kernel_copies_interrupted_by_a_signal_are_resumed"]
fn kernel_copies_child() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 223) as u8).collect();
    let file = file_with(b"", &data);
    let mut input = Input::new(Seekable::new(file).expect("seekable file"));
    let mut out = scratch_file("eintr-out");
    input.copy_to(2_500_000, &mut out).expect("copy");
    input.skip(400_000).expect("skip");
    input.copy_to(100_000, &mut out).expect("copy the rest");
    let mut expected = data[..2_500_000].to_vec();
    expected.extend_from_slice(&data[2_900_000..]);
    assert!(contents(&mut out) == expected, "copied bytes differ");
    let (pipe, feeder) = pipe_with(&data);
    let mut input = Input::new(Spliced::new(pipe).expect("/dev/null"));
    input.skip(2_999_000).expect("spliced skip");
    let mut tail = vec![0; 1_000];
    input.read_exact(&mut tail).expect("tail");
    assert_eq!(&tail[..], &data[2_999_000..]);
    feeder.join().expect("feeder thread");
}

#[test]
fn kernel_copies_interrupted_by_a_signal_are_resumed() {
    let exe = std::env::current_exe().expect("test binary");
    let log = std::env::temp_dir().join(format!("xenmig-eintr-{}.log", std::process::id()));
    let run = |syscall: &str| {
        std::process::Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(&log)
            .args(["-e", &format!("trace={syscall}")])
            .args(["-e", &format!("inject={syscall}:error=EINTR:when=1+2")])
            .arg(&exe)
            .args([
                "--exact",
                "kernel_copies_child",
                "--ignored",
                "--test-threads=1",
            ])
            .output()
    };
    for syscall in ["copy_file_range", "splice"] {
        let output = match run(syscall) {
            Ok(output) => output,
            Err(e) => {
                eprintln!("skipped: no strace ({e})");
                return;
            }
        };
        let trace = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        if !output.status.success() && !trace.contains("INJECTED") {
            eprintln!(
                "skipped: strace cannot inject faults here: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return;
        }
        assert!(
            output.status.success(),
            "{syscall}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let injected = trace.lines().filter(|l| l.contains("INJECTED")).count();
        let moved = trace
            .lines()
            .filter(|l| l.contains(&format!("{syscall}(")) && !l.contains("= -1"))
            .count();
        assert!(
            injected > 0 && moved > 0,
            "{syscall}: {injected} injected, {moved} ran"
        );
    }
}

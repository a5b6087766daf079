//! Every tool that reads a stream through `migration_stream::source` keeps
//! going where a system call is merely interrupted or a descriptor merely
//! has no data yet: `EINTR` from `read`, `lseek` or `splice` (injected with
//! strace) is retried, and an input descriptor the caller set `O_NONBLOCK`
//! (a socket of an event loop, as libxl's are) is waited for instead of
//! failing with `EAGAIN`. The output must be what the same run gives
//! without the interruptions.

mod support;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{repo_root, testdata};

const CONVERT: &str = env!("CARGO_BIN_EXE_convert-legacy-stream");
const VERIFY: &str = env!("CARGO_BIN_EXE_verify-stream-v2");
const PROFILE: &str = env!("CARGO_BIN_EXE_cpu-profile");
const SKYLAKE: &str = "testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt";

/// What a tool's standard input is.
enum Stdin {
    Null,
    /// A pipe fed with these bytes.
    Pipe(Vec<u8>),
    /// A non-blocking socket fed slowly with these bytes.
    SlowSocket(Vec<u8>),
}

/// Runs `program args` from the repository root; standard output is piped.
fn run(program: &str, args: &[&str], stdin: Stdin) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let feeder = match stdin {
        Stdin::Null => {
            command.stdin(Stdio::null());
            None
        }
        Stdin::Pipe(bytes) => {
            command.stdin(Stdio::piped());
            Some((bytes, None))
        }
        Stdin::SlowSocket(bytes) => {
            let (ours, theirs) = UnixStream::pair().unwrap();
            // The descriptor the tool inherits shares the file description,
            // so it is non-blocking for the tool too.
            theirs.set_nonblocking(true).unwrap();
            command.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
            Some((bytes, Some(ours)))
        }
    };
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{program}: {e}"));
    let thread = feeder.map(|(bytes, socket)| {
        let pipe = child.stdin.take();
        std::thread::spawn(move || match (socket, pipe) {
            (Some(mut socket), _) => {
                // Start late and trickle, so that the tool's reads find nothing.
                for piece in bytes.chunks(4096) {
                    std::thread::sleep(Duration::from_millis(2));
                    if socket.write_all(piece).is_err() {
                        return;
                    }
                }
            }
            (None, Some(mut pipe)) => drop(pipe.write_all(&bytes)),
            (None, None) => {}
        })
    });
    let output = child.wait_with_output().unwrap();
    if let Some(thread) = thread {
        thread.join().unwrap();
    }
    output
}

/// Whether strace can trace and inject faults here; why not otherwise.
fn strace_works() -> Result<(), String> {
    let probe = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=getpid"])
        .args(["-e", "inject=getpid:error=EINTR:when=1", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "strace cannot inject faults here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("no strace ({e}); .ci/run installs it")),
    }
}

/// `args` run under strace, `EINTR` injected into every other `syscall`
/// (the first, third, fifth... call) that touches `path` (so that the
/// dynamic loader's reads of the libraries are left alone).
fn interrupted(syscall: &str, path: Option<&str>, program: &str, args: &[&str]) -> Vec<String> {
    let only_path = path.map_or(Vec::new(), |path| vec!["-P", path]);
    let trace = format!("trace={syscall}");
    let inject = format!("inject={syscall}:error=EINTR:when=1+2");
    let mut all: Vec<String> = [
        &["-f", "-qq", "-o", "/dev/null"][..],
        &only_path,
        &["-e", &trace, "-e", &inject, program],
    ]
    .concat()
    .iter()
    .map(|s| s.to_string())
    .collect();
    all.extend(args.iter().map(|s| s.to_string()));
    all
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn ok(output: &Output, what: &str) -> Vec<u8> {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout.clone()
}

fn legacy_image(stem: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("legacy/{stem}.img"))).unwrap()
}

/// A few MiB of legacy image, more than a pipe or socket buffer holds.
fn large_legacy_image() -> Vec<u8> {
    use legacy_convert::format::Width;
    use legacy_convert::writer::{BodyItem, LegacyImage};
    let body = (0..6u64)
        .map(|b| {
            let pages: Vec<(u8, u64)> = (0..300).map(|i| (0, b * 300 + i)).collect();
            BodyItem::pages(&pages, b as u8)
        })
        .collect();
    LegacyImage::hvm(Width::W64, 6 * 300)
        .with_body(body)
        .to_bytes()
}

#[test]
fn a_nonblocking_input_is_waited_for_by_every_tool() {
    // The converter, from a slow non-blocking socket, to a pipe.
    for bytes in [legacy_image("hvm64-all-chunks"), large_legacy_image()] {
        let args = ["-i", "0", "-o", "1", "-f", "libxl", "-q"];
        let expected = ok(&run(CONVERT, &args, Stdin::Pipe(bytes.clone())), "pipe");
        let got = ok(&run(CONVERT, &args, Stdin::SlowSocket(bytes)), "socket");
        assert!(got == expected, "converter output differs from a socket");
    }
    // The verifier, upstream's summary lines included.
    let stream = std::fs::read(testdata("streams/libxl-hvm-v3.bin")).unwrap();
    let args = ["-v", "-i", "0"];
    let expected = ok(&run(VERIFY, &args, Stdin::Pipe(stream.clone())), "pipe");
    let got = ok(&run(VERIFY, &args, Stdin::SlowSocket(stream)), "socket");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    // The profile check of a saved guest.
    let guest = std::fs::read(testdata("profile/xl-skylake-guest.bin")).unwrap();
    let args = ["check", "--stream", "0", SKYLAKE];
    let expected = ok(&run(PROFILE, &args, Stdin::Pipe(guest.clone())), "pipe");
    let got = ok(&run(PROFILE, &args, Stdin::SlowSocket(guest)), "socket");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn interrupted_system_calls_are_retried_by_every_tool() {
    if let Err(why) = strace_works() {
        eprintln!("skipped: {why}");
        return;
    }
    let image = large_legacy_image();
    let dir = support::scratch("eintr");
    let input = dir.join("in.img");
    std::fs::write(&input, &image).unwrap();
    let input_s = input.to_str().unwrap();
    let convert = ["-i", input_s, "-o", "1", "-f", "libxl", "-q"];
    let expected = ok(&run(CONVERT, &convert, Stdin::Null), "plain");
    // read(2), from a file, into the block writer.
    let args = interrupted("read", Some(input_s), CONVERT, &convert);
    let got = ok(&run("strace", &as_strs(&args), Stdin::Null), "read EINTR");
    assert!(got == expected, "read EINTR changed the output");
    // splice(2), from a pipe to a pipe (the kernel copies between them).
    let from_pipe = ["-i", "0", "-o", "1", "-f", "libxl", "-q"];
    let args = interrupted("splice", None, CONVERT, &from_pipe);
    let got = ok(
        &run("strace", &as_strs(&args), Stdin::Pipe(image.clone())),
        "splice EINTR",
    );
    assert!(got == expected, "splice EINTR changed the output");

    // The verifier seeks over page data in a file (lseek) and splices it
    // into /dev/null from a pipe.
    let stream = testdata("streams/libxc-pv-v3.bin");
    let stream_s = stream.to_str().unwrap();
    let expected = ok(&run(VERIFY, &["-v", "-i", stream_s], Stdin::Null), "plain");
    let args = interrupted("lseek", Some(stream_s), VERIFY, &["-v", "-i", stream_s]);
    let got = ok(&run("strace", &as_strs(&args), Stdin::Null), "lseek EINTR");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    let bytes = std::fs::read(&stream).unwrap();
    let args = interrupted("splice", None, VERIFY, &["-v", "-i", "0"]);
    let got = ok(
        &run("strace", &as_strs(&args), Stdin::Pipe(bytes)),
        "verifier splice EINTR",
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

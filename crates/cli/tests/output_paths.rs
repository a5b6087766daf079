//! What `-o` does with every kind of path (docs/output.md), from the outside:
//! special files written in place, modes and owners kept, no debris after
//! signals or failed syscalls, the directory fsynced, the input never
//! overwritten, inherited descriptors checked, and data that did not arrive
//! never reported as success.
//!
//! Some tests need root, `unshare`, `strace` or `mkfifo`; where the machine
//! does not allow one, that test prints `skipped: <reason>` and passes.

mod support;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{code, run, scratch, testdata};

const EXE: &str = env!("CARGO_BIN_EXE_convert-legacy-stream");
const PROFILE: &str = env!("CARGO_BIN_EXE_cpu-profile");
const MASKCALC: &str = env!("CARGO_BIN_EXE_xen-maskcalc");
const VERIFY: &str = env!("CARGO_BIN_EXE_verify-stream-v2");

fn image() -> String {
    testdata("legacy/pv64-guest64.img").display().to_string()
}

/// The stream `convert-legacy-stream` writes for [`image`], from `-o 1`.
fn expected() -> Vec<u8> {
    let out = run(EXE, &["-i", &image(), "-o", "1", "-q"]);
    assert_eq!(code(&out), 0);
    assert!(out.stdout.len() > 4096);
    out.stdout
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

use xenmig_test_support::skip;

/// Checks that `dir` holds just `names` (nothing left behind), then removes it.
fn leaves_only(dir: &Path, names: &[&str]) {
    assert_eq!(entries(dir), names);
    fs::remove_dir_all(dir).unwrap();
}

/// Runs `sh -c script` (with `$EXE` and `$IMG` set); its output.
fn sh(script: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", script])
        .env("EXE", EXE)
        .env("IMG", image())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// True when this machine lets us make a mount namespace (root, unshare).
fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs t /mnt"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True when strace can trace and inject faults here.
fn can_strace() -> bool {
    Command::new("strace")
        .args([
            "-f",
            "-o",
            "/dev/null",
            "-e",
            "inject=getpid:error=EIO",
            "true",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn character_devices_are_written_in_place_never_replaced() {
    if !is_root() {
        return skip!("mknod needs root");
    }
    let dir = scratch("chardev");
    let null = dir.join("null");
    let full = dir.join("full");
    let made = Command::new("mknod")
        .args([null.to_str().unwrap(), "c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("mknod")
            .args([full.to_str().unwrap(), "c", "1", "7"])
            .status()
            .is_ok_and(|s| s.success());
    if !made {
        return skip!("mknod is not allowed here");
    }
    let out = run(EXE, &["-i", &image(), "-o", null.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert!(fs::metadata(&null).unwrap().file_type().is_char_device());
    let out = run(
        PROFILE,
        &[
            "generate",
            "testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt",
            "-o",
            full.to_str().unwrap(),
        ],
    );
    let stderr = stderr_of(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert_eq!(stderr.matches("No space left").count(), 1, "{stderr}");
    assert!(fs::metadata(&full).unwrap().file_type().is_char_device());
    let out = run(EXE, &["-i", &image(), "-o", full.to_str().unwrap()]);
    let stderr = stderr_of(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert_eq!(stderr.matches("No space left").count(), 1, "{stderr}");
    assert!(fs::metadata(&full).unwrap().file_type().is_char_device());
    leaves_only(&dir, &["full", "null"]);
}

/// A loop device over a scratch file, detached when dropped.
struct LoopDevice(String);

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

#[test]
fn a_block_device_is_written_in_place_and_fsynced() {
    if !is_root() {
        return skip!("losetup needs root");
    }
    let expected = expected();
    let dir = scratch("blockdev");
    let backing = dir.join("backing");
    fs::write(&backing, vec![0xa5u8; 1 << 20]).unwrap();
    let attached = Command::new("losetup")
        .args(["-f", "--show", backing.to_str().unwrap()])
        .stderr(Stdio::null())
        .output();
    let device = match attached {
        Ok(out) if out.status.success() => {
            LoopDevice(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => return skip!("no free loop device (losetup -f) here"),
    };
    let args = ["-i", &image(), "-o", &device.0];
    let out = if can_strace() {
        let (out, log) = strace(&dir, "trace=openat,fsync,fdatasync", &args);
        let calls = calls(&log);
        let open = calls
            .iter()
            .find(|c| c.starts_with("openat") && c.contains(&format!("\"{}\"", device.0)))
            .unwrap_or_else(|| panic!("{} is not opened:\n{log}", device.0));
        assert!(
            !open.contains("O_TRUNC") && !open.contains("O_CREAT"),
            "{open}"
        );
        let fd = open.rsplit("= ").next().unwrap().trim();
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with(&format!("fsync({fd})")) && c.ends_with("= 0")),
            "the device is not fsynced:\n{log}"
        );
        out
    } else {
        skip!("strace cannot trace here: the fsync half");
        run(EXE, &args)
    };
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert!(
        fs::metadata(&device.0)
            .unwrap()
            .file_type()
            .is_block_device()
    );
    // Written from offset 0; what lies past the stream is the device's own.
    let mut written = vec![0u8; expected.len() + 4096];
    File::open(&device.0)
        .unwrap()
        .read_exact(&mut written)
        .unwrap();
    assert_eq!(&written[..expected.len()], &expected[..]);
    assert!(written[expected.len()..].iter().all(|&b| b == 0xa5));
    drop(device);
    leaves_only(&dir, &["backing"]);
}

#[test]
fn a_fifo_and_a_socket_get_the_stream_in_place() {
    let expected = expected();
    let dir = scratch("fifo");
    let fifo = dir.join("fifo");
    if !Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        return skip!("mkfifo failed");
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            File::open(fifo).unwrap().read_to_end(&mut got).unwrap();
            got
        })
    };
    let out = run(EXE, &["-i", &image(), "-o", fifo.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(reader.join().unwrap(), expected, "the FIFO's reader");
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());

    let socket = dir.join("socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    });
    let out = run(EXE, &["-i", &image(), "-o", socket.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(reader.join().unwrap(), expected, "the socket's peer");
    assert!(fs::metadata(&socket).unwrap().file_type().is_socket());
    leaves_only(&dir, &["fifo", "socket"]);
}

#[test]
fn descriptor_paths_are_the_descriptors_themselves() {
    let expected = expected();
    for path in ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"] {
        let out = run(EXE, &["-i", &image(), "-o", path]);
        assert_eq!(code(&out), 0, "{path}: {}", stderr_of(&out));
        assert_eq!(out.stdout, expected, "{path} to a pipe");
    }
    // Standard output on a regular file: written there, /dev/stdout untouched.
    let dir = scratch("devstdout");
    let file = dir.join("redirected");
    let out = Command::new(EXE)
        .args(["-i", &image(), "-o", "/dev/stdout"])
        .stdout(File::create(&file).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(fs::read(&file).unwrap(), expected);
    assert!(
        fs::symlink_metadata("/dev/stdout")
            .unwrap()
            .file_type()
            .is_symlink()
    );
    leaves_only(&dir, &["redirected"]);
}

#[test]
fn without_dev_or_proc_the_special_names_still_mean_what_they_say() {
    if !can_unshare() {
        return skip!("no mount namespace (unshare -m) here");
    }
    let expected = expected();
    // A private /dev with only a null device, as issue 18's repro.
    let out = sh(
        "unshare -m sh -c 'mount -t tmpfs t /dev && mknod -m666 /dev/null c 1 3 \
         && \"$EXE\" -i \"$IMG\" -o /dev/null && stat -c %F /dev/null \
         && \"$EXE\" -i \"$IMG\" -o /dev/stdout -q > /dev/null && ls -A /dev'",
    );
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "character special file\nnull\n",
        "/dev/null stays a device and no /dev/stdout file appears"
    );
    let out = sh(
        "unshare -m sh -c 'mount -t tmpfs t /dev && mount -t tmpfs t /proc \
         && exec \"$EXE\" -i \"$IMG\" -o /dev/fd/1 -q'",
    );
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(out.stdout, expected);
}

#[test]
fn a_replaced_file_keeps_mode_and_owner_and_new_files_are_private() {
    let dir = scratch("modes");
    let new = dir.join("new.v2");
    let out = sh(&format!(
        "umask 022; exec \"$EXE\" -i \"$IMG\" -o {}",
        new.display()
    ));
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(fs::metadata(&new).unwrap().mode() & 0o7777, 0o600);
    let profile = dir.join("p.json");
    let dump = testdata("cpuid/intel-skylake-sp-xeon-platinum-8180.txt");
    let out = sh(&format!(
        "umask 022; exec {PROFILE} generate {} -o {}",
        dump.display(),
        profile.display()
    ));
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(fs::metadata(&profile).unwrap().mode() & 0o7777, 0o644);

    let old = dir.join("old.v2");
    fs::write(&old, b"old").unwrap();
    fs::set_permissions(&old, fs::Permissions::from_mode(0o640)).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&old, Some(65534), Some(65534)).unwrap();
    } else {
        skip!("not root: the owner part of this test");
    }
    let before = fs::metadata(&old).unwrap();
    let out = run(EXE, &["-i", &image(), "-o", old.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    let after = fs::metadata(&old).unwrap();
    assert_eq!(fs::read(&old).unwrap(), expected());
    assert_ne!(
        after.ino(),
        before.ino(),
        "replaced, not rewritten in place"
    );
    assert_eq!(after.mode() & 0o7777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    leaves_only(&dir, &["new.v2", "old.v2", "p.json"]);
}

#[test]
fn an_owner_that_cannot_be_kept_is_refused_before_any_work() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        return skip!("needs root and setpriv to act as another user");
    }
    let dir = scratch("owner");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let img = dir.join("in.img");
    fs::copy(image(), &img).unwrap();
    fs::set_permissions(&img, fs::Permissions::from_mode(0o644)).unwrap();
    let theirs = dir.join("root-owned.v2");
    fs::write(&theirs, b"root's").unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o666)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", EXE])
        .args(["-i", img.to_str().unwrap(), "-o", theirs.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(
        stderr.contains("cannot give the new file the owner 0:0"),
        "{stderr}"
    );
    assert_eq!(fs::read(&theirs).unwrap(), b"root's");
    leaves_only(&dir, &["in.img", "root-owned.v2"]);
}

/// Starts the converter on a stdin pipe that stays open (so it is
/// mid-conversion, waiting for input), writing into `dir/out`, under `wrap`
/// (a shell prefix such as a namespace); returns it with its stdin.
fn start_waiting(dir: &Path, wrap: &str) -> Child {
    let mut child = Command::new("sh")
        .args([
            "-c",
            &format!("exec {wrap} \"$EXE\" -i 0 -o {}", dir.join("out").display()),
        ])
        .env("EXE", EXE)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let head = &fs::read(image()).unwrap()[..4096];
    child.stdin.as_mut().unwrap().write_all(head).unwrap();
    child
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// True once `pid` holds an unnamed (O_TMPFILE) file in `dir`.
fn holds_unnamed_file(pid: u32, dir: &Path) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.starts_with(dir) && target.to_string_lossy().ends_with("(deleted)"))
}

#[test]
fn signals_mid_conversion_leave_nothing_with_unnamed_files() {
    for signal in ["INT", "TERM", "HUP", "KILL"] {
        let dir = scratch(&format!("unnamed-{signal}"));
        fs::write(dir.join("out"), b"old").unwrap();
        let mut child = start_waiting(&dir, "");
        let pid = child.id();
        wait_until("the unnamed output file", || holds_unnamed_file(pid, &dir));
        assert_eq!(entries(&dir), ["out"], "an unnamed file has no name");
        // Held open until the tool is gone: an EOF would end it before the signal.
        let stdin = child.stdin.take();
        kill(&child, signal);
        let status = child.wait().unwrap();
        drop(stdin);
        assert!(status.signal().is_some(), "{signal}: {status:?}");
        assert_eq!(entries(&dir), ["out"], "{signal} left debris");
        assert_eq!(fs::read(dir.join("out")).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn signals_remove_a_named_temporary_where_unnamed_files_cannot_be_made() {
    if !can_unshare() {
        return skip!("no mount namespace (unshare -m) to hide /proc");
    }
    // Without /proc an unnamed file could not be linked: the fallback is a
    // random name beside the output.
    let wrap = "unshare -m sh -c 'mount -t tmpfs t /proc && exec \"$0\" \"$@\"'";
    for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1), ("KILL", 9)] {
        let dir = scratch(&format!("named-{signal}"));
        let mut child = start_waiting(&dir, wrap);
        wait_until("the temporary file", || entries(&dir).len() == 1);
        let temp = entries(&dir).remove(0);
        assert!(
            temp.starts_with(".out.") && temp.ends_with(".tmp"),
            "{temp}"
        );
        assert!(
            !temp.contains(&child.id().to_string()),
            "{temp}: not random"
        );
        // Held open until the tool is gone: an EOF would end it before the signal.
        let stdin = child.stdin.take();
        kill(&child, signal);
        let status = child.wait().unwrap();
        drop(stdin);
        assert_eq!(status.signal(), Some(number), "{signal}: {status:?}");
        if signal == "KILL" {
            // Documented: only SIGKILL (or a crash) can leave the named file.
            assert_eq!(entries(&dir), [temp], "SIGKILL");
        } else {
            assert_eq!(entries(&dir), Vec::<String>::new(), "{signal} left debris");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// Runs `strace -f -o LOG -e ARGS EXE TOOL_ARGS` and returns its output and the log.
fn strace(dir: &Path, expr: &str, args: &[&str]) -> (std::process::Output, String) {
    let log = dir.join("strace.log");
    let out = Command::new("strace")
        .args(["-f", "-o", log.to_str().unwrap(), "-e", expr, EXE])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = fs::read_to_string(&log).unwrap_or_default();
    fs::remove_file(&log).unwrap();
    (out, text)
}

#[test]
fn a_failed_fsync_keeps_the_old_file_and_leaves_nothing() {
    if !can_strace() {
        return skip!("strace cannot inject faults here");
    }
    let dir = scratch("fsync-eio");
    let out_path = dir.join("out");
    fs::write(&out_path, b"old").unwrap();
    let args = ["-i", &image(), "-o", out_path.to_str().unwrap()];
    let (out, _) = strace(
        &dir,
        "trace=fsync,fdatasync,linkat,rename\
        ,renameat,renameat2",
        &args,
    );
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    fs::write(&out_path, b"old").unwrap();
    let (out, _) = strace(&dir, "inject=fsync:error=EIO:when=1", &args);
    let stderr = stderr_of(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("Input/output error"), "{stderr}");
    assert_eq!(fs::read(&out_path).unwrap(), b"old");
    assert_eq!(entries(&dir), ["out"]);
    // The same with a named temporary (no /proc): it is removed too.
    if can_unshare() {
        let dir2 = scratch("fsync-eio-named");
        let target = dir2.join("out");
        let out = sh(&format!(
            "unshare -m sh -c 'mount -t tmpfs t /proc && exec strace -f -o /dev/null \
             -e inject=fsync:error=EIO:when=1 \"$EXE\" -i \"$IMG\" -o {}'",
            target.display()
        ));
        assert_eq!(code(&out), 2, "{}", stderr_of(&out));
        assert_eq!(entries(&dir2), Vec::<String>::new());
        fs::remove_dir_all(&dir2).unwrap();
    } else {
        skip!("no mount namespace: the named-temporary half");
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// The lines of an strace log, without the pid column.
fn calls(log: &str) -> Vec<&str> {
    log.lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest.trim_start()))
        .collect()
}

#[test]
fn the_file_is_fsynced_before_its_name_and_the_directory_after() {
    if !can_strace() {
        return skip!("strace cannot trace here");
    }
    for existing in [false, true] {
        let dir = scratch(&format!("dirsync-{existing}"));
        let out_path = dir.join("out");
        if existing {
            fs::write(&out_path, b"old").unwrap();
        }
        let (out, log) = strace(
            &dir,
            "trace=openat,fsync,linkat,rename,renameat,renameat2",
            &["-i", &image(), "-o", out_path.to_str().unwrap()],
        );
        assert_eq!(code(&out), 0, "{}", stderr_of(&out));
        let calls = calls(&log);
        let dir_text = dir.display().to_string();
        let tmpfile = calls
            .iter()
            .position(|c| c.contains("O_TMPFILE") && c.contains(&dir_text))
            .unwrap_or_else(|| panic!("no O_TMPFILE open:\n{log}"));
        let fd = calls[tmpfile].rsplit("= ").next().unwrap().trim();
        let file_sync = calls
            .iter()
            .position(|c| c.starts_with(&format!("fsync({fd})")))
            .unwrap_or_else(|| panic!("the file is not fsynced:\n{log}"));
        let named = calls
            .iter()
            .rposition(|c| {
                (c.starts_with("rename") || c.starts_with("linkat"))
                    && c.contains(&format!("\"{}\"", out_path.display()))
            })
            .unwrap_or_else(|| panic!("no link or rename to the output:\n{log}"));
        let dir_open = calls
            .iter()
            .rposition(|c| c.starts_with("openat") && c.contains(&format!("\"{dir_text}\"")))
            .unwrap_or_else(|| panic!("the directory is not opened:\n{log}"));
        let dir_fd = calls[dir_open].rsplit("= ").next().unwrap().trim();
        let dir_sync = calls
            .iter()
            .rposition(|c| c.starts_with(&format!("fsync({dir_fd})")) && c.ends_with("= 0"))
            .unwrap_or_else(|| panic!("the directory is not fsynced:\n{log}"));
        assert!(
            file_sync < named && named < dir_open && dir_open < dir_sync,
            "{log}"
        );
        assert_eq!(
            calls[named].starts_with("rename"),
            existing,
            "a free name is linked, an existing file is renamed over:\n{log}"
        );
        leaves_only(&dir, &["out"]);
    }
}

#[test]
fn eintr_from_linkat_and_rename_is_retried() {
    if !can_strace() {
        return skip!("strace cannot inject faults here");
    }
    let expected = expected();
    let dir = scratch("eintr");
    let out_path = dir.join("out");
    let args = ["-i", &image(), "-o", out_path.to_str().unwrap()];
    for injection in [
        "inject=linkat:error=EINTR:when=1",
        "inject=rename,renameat,renameat2:error=EINTR:when=1",
    ] {
        let (out, log) = strace(&dir, injection, &args);
        assert_eq!(code(&out), 0, "{}", stderr_of(&out));
        assert!(
            log.contains("EINTR (Interrupted system call) (INJECTED)"),
            "{log}"
        );
        assert_eq!(fs::read(&out_path).unwrap(), expected);
    }
    leaves_only(&dir, &["out"]);
}

#[test]
fn the_input_file_itself_is_refused_as_output() {
    let dir = scratch("same");
    let img = dir.join("in.img");
    fs::copy(image(), &img).unwrap();
    let original = fs::read(&img).unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&img, &link).unwrap();
    for output in [img.to_str().unwrap(), link.to_str().unwrap()] {
        let out = run(EXE, &["-i", img.to_str().unwrap(), "-o", output]);
        let stderr = stderr_of(&out);
        assert_eq!(code(&out), 2, "{stderr}");
        assert!(stderr.contains("the same inode"), "{stderr}");
    }
    // The same file behind two descriptors.
    let out = Command::new(EXE)
        .args(["-i", "0", "-o", "1"])
        .stdin(File::open(&img).unwrap())
        .stdout(fs::OpenOptions::new().append(true).open(&img).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr_of(&out));
    assert_eq!(fs::read(&img).unwrap(), original);
    // cpu-profile generate: a dump it reads is not its output either.
    let dump = dir.join("host.txt");
    fs::copy(
        testdata("cpuid/intel-skylake-sp-xeon-platinum-8180.txt"),
        &dump,
    )
    .unwrap();
    let dump_text = fs::read(&dump).unwrap();
    let other = testdata("cpuid/intel-icelake-sp-xeon-gold-6330.txt");
    let dump_link = dir.join("dump-link");
    std::os::unix::fs::symlink(&dump, &dump_link).unwrap();
    for output in [dump.to_str().unwrap(), dump_link.to_str().unwrap()] {
        let out = run(
            PROFILE,
            &[
                "generate",
                other.to_str().unwrap(),
                dump.to_str().unwrap(),
                "-o",
                output,
            ],
        );
        let stderr = stderr_of(&out);
        assert_eq!(code(&out), 2, "{stderr}");
        assert!(stderr.contains("which this command reads"), "{stderr}");
        assert!(stderr.contains("host.txt"), "{stderr}");
    }
    assert_eq!(fs::read(&dump).unwrap(), dump_text);
    leaves_only(&dir, &["dump-link", "host.txt", "in.img", "link"]);
}

#[test]
fn a_descriptor_must_have_been_passed_and_needs_no_proc() {
    let dir = scratch("fd3");
    let img = dir.join("in.img");
    fs::copy(image(), &img).unwrap();
    // Nothing on 3: the tool's own input lands on 3 and must not be taken for it.
    let out = run(EXE, &["-i", img.to_str().unwrap(), "-o", "3"]);
    let stderr = stderr_of(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("fd 3 is not open"), "{stderr}");
    let target = dir.join("via-fd3");
    let script = format!(
        "exec \"$EXE\" -i {} -o 3 3> {}",
        img.display(),
        target.display()
    );
    let out = sh(&script);
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(fs::read(&target).unwrap(), expected());
    if can_unshare() {
        fs::remove_file(&target).unwrap();
        let out = sh(&format!(
            "unshare -m sh -c 'mount -t tmpfs t /proc && {}'",
            script.replace('"', "")
        ));
        assert_eq!(code(&out), 0, "without /proc: {}", stderr_of(&out));
        assert_eq!(fs::read(&target).unwrap(), expected());
    } else {
        skip!("no mount namespace: the without-/proc half");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_summary_lost_to_a_full_disk_fails_and_commits_nothing() {
    let dir = scratch("vfull");
    let out_path = dir.join("out");
    let full = || {
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let out = Command::new(EXE)
        .args(["-v", "-i", &image(), "-o", out_path.to_str().unwrap()])
        .stdout(full())
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert_eq!(stderr.matches("No space left").count(), 1, "{stderr}");
    assert!(stderr.contains("standard output"), "{stderr}");
    assert_eq!(entries(&dir), Vec::<String>::new());
    // The stream itself to a full disk: one message, naming it.
    let out = Command::new(EXE)
        .args(["-i", &image(), "-o", "1"])
        .stdout(full())
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert_eq!(stderr.matches("No space left").count(), 1, "{stderr}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn data_to_a_closed_pipe_fails_and_a_report_does_not() {
    let closed = |exe: &str, args: &[&str]| {
        let out = support::run_with_closed_stdout(exe, args);
        (code(&out), stderr_of(&out))
    };
    let (status, stderr) = closed(EXE, &["-i", &image(), "-o", "1"]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("standard output: the reader went away"),
        "{stderr}"
    );
    let (status, stderr) = closed(EXE, &["-i", &image(), "-o", "-"]);
    assert_eq!(status, 2, "{stderr}");
    // The -v summary is a report: the conversion goes on and succeeds.
    let dir = scratch("closed");
    let out_path = dir.join("out");
    let (status, stderr) = closed(
        EXE,
        &["-v", "-i", &image(), "-o", out_path.to_str().unwrap()],
    );
    assert_eq!((status, stderr.as_str()), (0, ""));
    assert_eq!(fs::read(&out_path).unwrap(), expected());
    let dumps = [
        "testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt",
        "testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt",
    ];
    let (status, stderr) = closed(MASKCALC, &["--format", "xl", dumps[0], dumps[1]]);
    assert_eq!(status, 2, "masks are data: {stderr}");
    let (status, stderr) = closed(MASKCALC, &["--diff", dumps[0], dumps[1]]);
    assert_ne!(status, 2, "a diff is a report: {stderr}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dash_is_standard_input_and_output() {
    let expected = expected();
    let out = Command::new(EXE)
        .args(["-i", "-", "-o", "-"])
        .stdin(File::open(image()).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(out.stdout, expected);
    let stream = testdata("streams/xl-hvm-v3.bin");
    for args in [&["-i", "-"][..], &[][..]] {
        let out = Command::new(VERIFY)
            .args(args)
            .stdin(File::open(&stream).unwrap())
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr_of(&out));
        assert!(
            out.stderr.is_empty(),
            "no notice when stdin is not a terminal"
        );
    }
}

#[test]
fn verify_says_it_reads_a_terminal() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        return skip!("no /usr/bin/script to provide a terminal");
    }
    // On the pseudo-terminal the verifier would wait; `timeout` ends it.
    let out = Command::new(script)
        .args([
            "-q",
            "-e",
            "-c",
            &format!("timeout 2 {VERIFY}"),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("reading a stream from standard input, which is a terminal"),
        "{shown:?}"
    );
    let out = Command::new(script)
        .args([
            "-q",
            "-e",
            "-c",
            &format!("timeout 2 {VERIFY} -q"),
            "/dev/null",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("reading"),
        "-q is quiet"
    );
}

#[test]
fn a_non_blocking_output_descriptor_is_waited_for_not_failed() {
    if Command::new("python3").arg("--version").output().is_err() {
        return skip!("no python3 to make a non-blocking pipe");
    }
    // A 4 KiB pipe, non-blocking on the tool's side, whose reader starts late:
    // every write past the first 4 KiB meets EAGAIN.
    let script = r#"
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen(sys.argv[1:], stdout=w)
os.close(w)
time.sleep(0.3)
data = b""
while chunk := os.read(r, 65536):
    data += chunk
sys.stdout.write(f"{p.wait()} {len(data)}\n")
"#;
    for tool in [
        vec![
            EXE.to_owned(),
            "-i".into(),
            image(),
            "-o".into(),
            "1".into(),
        ],
        vec![
            PROFILE.to_owned(),
            "generate".into(),
            testdata("cpuid/intel-skylake-sp-xeon-platinum-8180.txt")
                .display()
                .to_string(),
            "-o".into(),
            "-".into(),
        ],
    ] {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(&tool)
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        let (status, bytes) = shown.trim().split_once(' ').expect("status and length");
        assert_eq!(status, "0", "{tool:?}: {}", stderr_of(&out));
        let bytes: usize = bytes.parse().unwrap();
        if tool[0] == EXE {
            assert_eq!(bytes, expected().len(), "the whole stream arrives");
        } else {
            // A profile fits the pipe; this checks only that it is written.
            assert!(bytes > 1000, "{tool:?}: only {bytes} bytes arrived");
        }
    }
}

//! Upstream's "FD or FILE" arguments, and outputs that never destroy what is
//! at their path.
//!
//! Xen's scripts take `-i/--in` and `-o/--out` as either a file descriptor
//! (a string of decimal digits, as libxl passes when it runs the converter on a
//! pipe) or a path. An inherited descriptor is used where it stands: its file
//! offset is shared with whoever passed it, which matters because libxl hands
//! over a save file already positioned after the xl header.
//!
//! What [`Output::create`] does with each kind of path (docs/output.md has the
//! same table for users):
//!
//! | the path names | what happens |
//! |---|---|
//! | nothing | a new file, mode `new_file_mode` less the umask, appears complete on [`Output::commit`] |
//! | a regular file | replaced on commit by a complete new file with its mode, owner and group; untouched on failure |
//! | a symbolic link | followed (to any depth): what it points at is what is written |
//! | `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N` | the descriptor itself, as `-o N` |
//! | a FIFO, a character or block device | opened and written in place (a block device is fsynced on commit) |
//! | a Unix socket | connected to and written in place |
//! | a directory | refused |
//!
//! A replacement is written to an unnamed file (`O_TMPFILE`) in the same
//! directory, fsynced, given its name with `linkat`, and the directory is
//! fsynced: nothing is left behind whatever kills the tool, SIGKILL included,
//! except for the microseconds between giving the file a temporary name and
//! renaming it over an existing output. Where the file system cannot make
//! unnamed files (or `/proc` is not mounted), the file is written under a
//! random name `.NAME.XXXXXX.tmp` beside the destination; SIGINT, SIGTERM and
//! SIGHUP remove it before the tool dies of the signal, SIGKILL and a power
//! cut can leave it.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::{Path, PathBuf};

mod output;
mod replace;
mod writeback;

pub use output::{Output, OutputOptions, PRIVATE, SHARED};
pub use writeback::WritebackPolicy;

/// Where an `--in`/`--out` argument points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An inherited file descriptor, given as a decimal string.
    Fd(RawFd),
    /// A path in the file system.
    Path(PathBuf),
}

impl Target {
    /// Parses an argument the way upstream does: all decimal digits means a descriptor.
    ///
    /// ```
    /// use xenmig_cli::fdio::Target;
    /// assert_eq!(Target::parse("0"), Target::Fd(0));
    /// assert_eq!(Target::parse("save.img"), Target::Path("save.img".into()));
    /// ```
    pub fn parse(arg: &str) -> Target {
        if !arg.is_empty()
            && arg.bytes().all(|b| b.is_ascii_digit())
            && let Ok(fd) = arg.parse::<RawFd>()
        {
            return Target::Fd(fd);
        }
        Target::Path(PathBuf::from(arg))
    }

    /// Parses an input argument: as [`Target::parse`], and `-` is standard input.
    ///
    /// ```
    /// use xenmig_cli::fdio::Target;
    /// assert_eq!(Target::parse_input("-"), Target::Fd(0));
    /// ```
    pub fn parse_input(arg: &str) -> Target {
        if arg == "-" {
            Target::Fd(0)
        } else {
            Target::parse(arg)
        }
    }

    /// Parses an output argument: as [`Target::parse`], and `-` is standard output.
    ///
    /// ```
    /// use xenmig_cli::fdio::Target;
    /// assert_eq!(Target::parse_output("-"), Target::Fd(1));
    /// ```
    pub fn parse_output(arg: &str) -> Target {
        if arg == "-" {
            Target::Fd(1)
        } else {
            Target::parse(arg)
        }
    }

    /// A name for messages: the path, or `fd N` (`standard input` for 0).
    pub fn describe(&self) -> String {
        match self {
            Target::Fd(0) => "standard input".to_owned(),
            Target::Fd(1) => "standard output".to_owned(),
            Target::Fd(fd) => format!("fd {fd}"),
            Target::Path(path) => path.display().to_string(),
        }
    }
}

/// An opened input and whether it can seek (a regular file, not a pipe or socket).
#[derive(Debug)]
pub struct Input {
    /// The open file; for a descriptor, a duplicate sharing its offset.
    pub file: File,
    /// True when `file` is a regular file, so skipping can seek.
    pub seekable: bool,
    /// Its name for messages.
    pub name: String,
}

/// Opens an input argument for reading. `/dev/stdin` and `/dev/fd/N` are the
/// descriptors themselves, as `0` and `N` are.
pub fn open_input(target: &Target) -> io::Result<Input> {
    let file = match target {
        Target::Fd(fd) => dup_inherited(*fd)?,
        Target::Path(path) => match descriptor_named(path) {
            Some(fd) => dup_inherited(fd)?,
            None => File::open(path)?,
        },
    };
    Input::from_file(file, target.describe())
}

impl Input {
    /// An input on a descriptor that someone else owns (a library's caller):
    /// a duplicate sharing its file offset, so the caller's descriptor is
    /// never closed. Unlike `-i N`, the descriptor may be close-on-exec.
    pub fn borrowed(fd: BorrowedFd<'_>, name: String) -> io::Result<Input> {
        Input::from_file(File::from(fd.try_clone_to_owned()?), name)
    }

    fn from_file(file: File, name: String) -> io::Result<Input> {
        let seekable = file.metadata()?.file_type().is_file();
        Ok(Input {
            file,
            seekable,
            name,
        })
    }
}

/// Duplicates a descriptor this process inherited, so it can be owned as a `File`.
///
/// A descriptor is inherited when it is open and not close-on-exec: every
/// descriptor this process opens itself (through the standard library) is
/// close-on-exec, so `-o 3` with nothing open on 3 is refused even after the
/// tool's own input landed on descriptor 3. No `/proc` is needed.
fn dup_inherited(fd: RawFd) -> io::Result<File> {
    let not_passed = |why: &str| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("fd {fd} is not open: {why}"),
        )
    };
    if fd < 0 {
        return Err(not_passed("descriptors are not negative"));
    }
    // SAFETY: F_GETFD reads the flags of a descriptor number and touches no
    // memory; a number that is not open is answered with EBADF.
    #[allow(unsafe_code)]
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(not_passed("the tool's caller passed no such descriptor"));
    }
    if flags & libc::FD_CLOEXEC != 0 {
        return Err(not_passed(
            "the caller passed no such descriptor (this process opened that number itself)",
        ));
    }
    // SAFETY: the descriptor is open (checked above) and was inherited, so
    // nothing in this process closes it; it is only borrowed for the `dup`,
    // which gives us a descriptor of our own (close-on-exec).
    #[allow(unsafe_code)]
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(File::from(borrowed.try_clone_to_owned()?))
}

/// The descriptor that a path such as `/dev/stdout`, `/dev/fd/3` or
/// `/proc/self/fd/3` names, whether or not `/dev` and `/proc` are mounted.
fn descriptor_named(path: &Path) -> Option<RawFd> {
    let descriptor = |name: &OsStr| -> Option<RawFd> {
        let name = name.to_str()?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        name.parse().ok()
    };
    let name = path.file_name()?;
    let dir = path.parent()?;
    if dir == Path::new("/dev") {
        return match name.to_str()? {
            "stdin" => Some(0),
            "stdout" => Some(1),
            "stderr" => Some(2),
            _ => None,
        };
    }
    let own = format!("/proc/{}/fd", std::process::id());
    let fd_dirs = ["/dev/fd", "/proc/self/fd", "/proc/thread-self/fd", &own];
    if fd_dirs.iter().any(|d| dir == Path::new(d)) {
        return descriptor(name);
    }
    // /proc/thread-self resolves to /proc/PID/task/TID.
    let mut parts = dir
        .strip_prefix(format!("/proc/{}/task", std::process::id()))
        .ok()?
        .iter();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(tid), Some(fd), None) if fd == "fd" && descriptor(tid).is_some() => descriptor(name),
        _ => None,
    }
}

/// What an output path names once its symbolic links are followed.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one value per tool run
enum Resolved {
    /// A descriptor of this process (`/dev/stdout`, `/dev/fd/N`, ...).
    Fd(RawFd),
    /// A directory entry: the directory (canonical), the name in it, and
    /// what is there (`None`: nothing yet).
    Entry {
        dir: PathBuf,
        name: OsString,
        meta: Option<fs::Metadata>,
    },
}

/// Follows `path`'s symbolic links (40 at most, as the kernel) to the entry
/// that will be written.
fn resolve(path: &Path) -> io::Result<Resolved> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        if let Some(fd) = descriptor_named(&path) {
            return Ok(Resolved::Fd(fd));
        }
        let Some(name) = path.file_name().map(OsStr::to_os_string) else {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory, not a file",
            ));
        };
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let dir = fs::canonicalize(parent).map_err(|e| {
            io::Error::new(e.kind(), format!("directory {}: {e}", parent.display()))
        })?;
        let entry = dir.join(&name);
        if let Some(fd) = descriptor_named(&entry) {
            return Ok(Resolved::Fd(fd));
        }
        match fs::symlink_metadata(&entry) {
            Ok(meta) if meta.file_type().is_symlink() => path = dir.join(fs::read_link(&entry)?),
            Ok(meta) => {
                return Ok(Resolved::Entry {
                    dir,
                    name,
                    meta: Some(meta),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Resolved::Entry {
                    dir,
                    name,
                    meta: None,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// A fresh scratch directory for a test, `$TMPDIR/xenmig-fdio-PID-NAME`.
#[cfg(test)]
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xenmig-fdio-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn digits_are_descriptors_and_anything_else_is_a_path() {
        assert_eq!(Target::parse("17"), Target::Fd(17));
        assert_eq!(Target::parse("./17"), Target::Path("./17".into()));
        assert_eq!(Target::parse(""), Target::Path("".into()));
        assert_eq!(Target::parse("-"), Target::Path("-".into()));
        assert_eq!(
            Target::parse("99999999999999999999"),
            Target::Path("99999999999999999999".into())
        );
    }

    #[test]
    fn descriptor_paths_are_recognised_without_dev_or_proc() {
        let own = format!("/proc/{}/fd/7", std::process::id());
        for (path, fd) in [
            ("/dev/stdin", Some(0)),
            ("/dev/stdout", Some(1)),
            ("/dev/stderr", Some(2)),
            ("/dev/fd/1", Some(1)),
            ("/proc/self/fd/12", Some(12)),
            ("/proc/thread-self/fd/3", Some(3)),
            (own.as_str(), Some(7)),
            ("/proc/1/fd/3", None),
            ("/dev/null", None),
            ("/dev/fd/x", None),
            ("out/stdout", None),
        ] {
            assert_eq!(descriptor_named(Path::new(path)), fd, "{path}");
        }
    }

    #[test]
    fn closed_descriptor_is_an_error_not_a_panic() {
        let err = open_input(&Target::Fd(987_654)).unwrap_err();
        assert!(err.to_string().contains("987654"), "{err}");
        let err = open_input(&Target::Fd(-1)).unwrap_err();
        assert!(err.to_string().contains("fd -1"), "{err}");
    }

    #[test]
    fn descriptors_this_process_opened_are_not_inherited() {
        let own = File::open("/dev/null").unwrap();
        let err = open_input(&Target::Fd(own.as_raw_fd())).unwrap_err();
        assert!(err.to_string().contains("not open"), "{err}");
    }
}

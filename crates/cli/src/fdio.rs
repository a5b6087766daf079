//! Upstream's "FD or FILE" arguments.
//!
//! Xen's scripts take `-i/--in` and `-o/--out` as either a file descriptor
//! (a string of decimal digits, as libxl passes when it runs the converter on a
//! pipe) or a path. An inherited descriptor is used where it stands: its file
//! offset is shared with whoever passed it, which matters because libxl hands
//! over a save file already positioned after the xl header.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};

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

/// Opens an input argument for reading.
pub fn open_input(target: &Target) -> io::Result<Input> {
    let file = match target {
        Target::Fd(fd) => dup_fd(*fd)?,
        Target::Path(path) => File::open(path)?,
    };
    let seekable = file.metadata()?.file_type().is_file();
    Ok(Input {
        file,
        seekable,
        name: target.describe(),
    })
}

/// Duplicates an inherited descriptor so it can be owned as a `File`.
fn dup_fd(fd: RawFd) -> io::Result<File> {
    if fd == 0 {
        return Ok(File::from(io::stdin().as_fd().try_clone_to_owned()?));
    }
    if fd == 1 {
        return Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?));
    }
    if fd < 0 || !Path::new(&format!("/proc/self/fd/{fd}")).exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("fd {fd} is not open"),
        ));
    }
    // SAFETY: the descriptor was inherited from our parent and is open (checked
    // above); it is only borrowed for the duration of the `dup`, which gives us
    // a descriptor of our own, and nothing in this process closes the original.
    #[allow(unsafe_code)]
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(File::from(borrowed.try_clone_to_owned()?))
}

/// An output that appears only when the work succeeded.
///
/// For a path, everything is written to a temporary file in the same directory
/// and renamed over the destination by [`Output::commit`]; dropping the output
/// without committing removes the temporary file, so a failed conversion leaves
/// nothing behind. A descriptor is written straight through.
#[derive(Debug)]
pub struct Output {
    file: File,
    name: String,
    pending: Option<(PathBuf, PathBuf)>,
}

impl Output {
    /// Opens an output argument for writing.
    pub fn create(target: &Target) -> io::Result<Output> {
        match target {
            Target::Fd(fd) => Ok(Output {
                file: dup_fd(*fd)?,
                name: target.describe(),
                pending: None,
            }),
            Target::Path(path) => {
                let dir = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let base = path.file_name().map(|n| n.to_string_lossy().into_owned());
                let base = base.unwrap_or_else(|| "output".to_owned());
                let temp = dir.join(format!(".{base}.{}.tmp", std::process::id()));
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&temp)?;
                Ok(Output {
                    file,
                    name: target.describe(),
                    pending: Some((temp, path.clone())),
                })
            }
        }
    }

    /// The file to write to.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Its name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Flushes the data and, for a path, renames the temporary file into place.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some((temp, dest)) = self.pending.take() {
            self.file.sync_all()?;
            if let Err(err) = fs::rename(&temp, &dest) {
                let _ = fs::remove_file(&temp);
                return Err(err);
            }
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some((temp, _)) = self.pending.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn digits_are_descriptors_and_anything_else_is_a_path() {
        assert_eq!(Target::parse("17"), Target::Fd(17));
        assert_eq!(Target::parse("./17"), Target::Path("./17".into()));
        assert_eq!(Target::parse(""), Target::Path("".into()));
        assert_eq!(
            Target::parse("99999999999999999999"),
            Target::Path("99999999999999999999".into())
        );
    }

    #[test]
    fn uncommitted_output_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("xenmig-fdio-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("out.bin");
        {
            let mut out = Output::create(&Target::Path(dest.clone())).unwrap();
            out.file().write_all(b"partial").unwrap();
        }
        assert!(!dest.exists());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "temporary file left behind"
        );
        let mut out = Output::create(&Target::Path(dest.clone())).unwrap();
        out.file().write_all(b"whole").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"whole");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn closed_descriptor_is_an_error_not_a_panic() {
        let err = open_input(&Target::Fd(987_654)).unwrap_err();
        assert!(err.to_string().contains("987654"), "{err}");
    }
}

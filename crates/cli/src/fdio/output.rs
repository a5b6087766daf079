//! [`Output`]: an output whose file appears only when the work succeeded
//! (the table in the parent module says what each kind of path becomes).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::replace::{
    Temp, create_temp, link_unnamed, link_unnamed_beside, rename_into_place, sync_dir, temp_names,
};
use super::writeback::{Writeback, WritebackPolicy};
use super::{Input, Resolved, Target, dup_inherited, resolve};

/// How an output is opened; see [`Output::create`].
#[derive(Debug, Clone, Copy)]
pub struct OutputOptions<'a> {
    /// Permission bits of a file created where nothing was (the umask still
    /// applies): [`PRIVATE`] for saved guests, [`SHARED`] for what anyone may read.
    pub new_file_mode: u32,
    /// The tool's input: an output that is the same regular file is refused,
    /// since writing it would destroy what is being read.
    pub input: Option<&'a Input>,
    /// Files the tool read by path (`cpu-profile generate`'s dumps): an
    /// output that is one of them is refused in the same way.
    pub read_files: &'a [PathBuf],
}

/// Mode of a new file that holds guest memory: readable by its owner only.
pub const PRIVATE: u32 = 0o600;
/// Mode of a new file anyone may read (less the umask), as most tools create.
pub const SHARED: u32 = 0o666;

/// An output whose file appears only when the work succeeded.
///
/// For a regular file (or a path where nothing is yet), everything is written
/// to an unnamed or temporary file in the same directory and put in place by
/// [`Output::commit`]; dropping the output without committing leaves the path
/// as it was and nothing beside it. A descriptor, a device, a FIFO or a socket
/// is written in place. Write through the `Write` implementation: for a file
/// being replaced it also starts the kernel's writeback as data arrives, so
/// the final fsync has little left to do (bytes written through
/// [`AsFd::as_fd`] are made durable by `commit` all the same).
#[derive(Debug)]
pub struct Output {
    file: File,
    name: String,
    kind: Kind,
    writeback: Writeback,
}

#[derive(Debug)]
enum Kind {
    /// Written where it stands; `fsync` on commit (a block device);
    /// `nonblocking` when the caller set O_NONBLOCK on the open file (a
    /// shared flag we must not change), so a full pipe answers EAGAIN.
    InPlace { fsync: bool, nonblocking: bool },
    /// A new file that takes the place of `dir/name` on commit.
    Replace {
        dir: PathBuf,
        name: OsString,
        temp: Temp,
    },
}

impl Output {
    /// Opens an output argument for writing (see the module documentation
    /// for what happens with each kind of path).
    ///
    /// ```
    /// use std::io::Write;
    /// use xenmig_cli::fdio::{Output, OutputOptions, Target, PRIVATE};
    /// let dir = std::env::temp_dir().join(format!("fdio-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let dest = dir.join("guest.v2");
    /// let options = OutputOptions { new_file_mode: PRIVATE, input: None, read_files: &[] };
    /// let mut out = Output::create(&Target::Path(dest.clone()), &options)?;
    /// out.write_all(b"stream")?;
    /// assert!(!dest.exists(), "nothing appears before commit");
    /// out.commit()?;
    /// assert_eq!(std::fs::read(&dest)?, b"stream");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(target: &Target, options: &OutputOptions<'_>) -> io::Result<Output> {
        let name = target.describe();
        let resolved = match target {
            Target::Fd(fd) => Resolved::Fd(*fd),
            Target::Path(path) if path.as_os_str().is_empty() => {
                return Err(io::Error::new(io::ErrorKind::NotFound, "an empty path"));
            }
            Target::Path(path) => resolve(path)?,
        };
        let (dir, entry, meta) = match resolved {
            Resolved::Fd(fd) => {
                let file = dup_inherited(fd)?;
                return Output::on_descriptor(file, name, options.input, options.read_files);
            }
            Resolved::Entry { dir, name, meta } => (dir, name, meta),
        };
        let path = dir.join(&entry);
        match &meta {
            Some(meta) if meta.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory, not a file",
                ));
            }
            Some(meta) if meta.file_type().is_socket() => {
                let file = File::from(OwnedFd::from(UnixStream::connect(&path)?));
                return Ok(Output::in_place(file, name, false));
            }
            Some(meta) if !meta.is_file() => {
                let file = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOCTTY)
                    .open(&path)?;
                let now = file.metadata()?;
                if now.is_file() || now.ino() != meta.ino() || now.dev() != meta.dev() {
                    return Err(io::Error::other("was replaced while being opened"));
                }
                let block = now.file_type().is_block_device();
                return Ok(Output::in_place(file, name, block));
            }
            Some(meta) => refuse_same_file(meta, options.input, options.read_files)?,
            None => {}
        }
        let (file, temp) = create_temp(&dir, &entry, options.new_file_mode)?;
        let output = Output {
            file,
            name,
            kind: Kind::Replace {
                dir,
                name: entry,
                temp,
            },
            writeback: Writeback::new(WritebackPolicy::DEFAULT),
        };
        if let Some(meta) = &meta {
            output.keep_owner_and_mode(meta)?;
        }
        Ok(output)
    }

    /// An output on a descriptor that someone else owns (a library's
    /// caller), written in place as `-o N` is: through a duplicate, so the
    /// caller's descriptor is never closed, and waiting for room when the
    /// caller made it non-blocking. Unlike `-o N`, the descriptor may be
    /// close-on-exec. `input` is refused as the output, as by
    /// [`Output::create`].
    pub fn borrowed(fd: BorrowedFd<'_>, name: String, input: Option<&Input>) -> io::Result<Output> {
        Output::on_descriptor(File::from(fd.try_clone_to_owned()?), name, input, &[])
    }

    fn on_descriptor(
        file: File,
        name: String,
        input: Option<&Input>,
        read_files: &[PathBuf],
    ) -> io::Result<Output> {
        refuse_same_file(&file.metadata()?, input, read_files)?;
        Ok(Output::in_place(file, name, false))
    }

    fn in_place(file: File, name: String, fsync: bool) -> Output {
        // SAFETY: F_GETFL reads the status flags of a descriptor we own.
        #[allow(unsafe_code)]
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        let nonblocking = flags >= 0 && flags & libc::O_NONBLOCK != 0;
        Output {
            file,
            name,
            kind: Kind::InPlace { fsync, nonblocking },
            writeback: Writeback::new(WritebackPolicy::AtCommit),
        }
    }

    /// Gives the new file the owner, group and permission bits of the one it
    /// replaces; fails (before any work is done) when they cannot be kept.
    fn keep_owner_and_mode(&self, old: &fs::Metadata) -> io::Result<()> {
        let new = self.file.metadata()?;
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            std::os::unix::fs::fchown(&self.file, Some(old.uid()), Some(old.gid())).map_err(
                |e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot give the new file the owner {}:{} of the one it replaces \
                             ({e}); remove the old file first or run as its owner",
                            old.uid(),
                            old.gid()
                        ),
                    )
                },
            )?;
        }
        // After fchown, which clears set-user-ID and set-group-ID bits.
        self.file
            .set_permissions(Permissions::from_mode(old.mode() & 0o7777))
    }

    /// The writeback pacing of a file being replaced (see
    /// [`WritebackPolicy`]); `None` for an output written in place.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use xenmig_cli::fdio::Output;
    /// let stdout = std::io::stdout();
    /// let out = Output::borrowed(stdout.as_fd(), "standard output".into(), None)?;
    /// assert_eq!(out.writeback(), None, "a descriptor is written in place, never paced");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn writeback(&self) -> Option<WritebackPolicy> {
        match self.kind {
            Kind::Replace { .. } => Some(self.writeback.policy),
            Kind::InPlace { .. } => None,
        }
    }

    /// Paces a file being replaced with `policy` from the next write on; an
    /// output written in place stays unpaced.
    ///
    /// ```
    /// use xenmig_cli::fdio::{Output, OutputOptions, Target, WritebackPolicy, PRIVATE};
    /// let dir = std::env::temp_dir().join(format!("fdio-set-writeback-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let options = OutputOptions { new_file_mode: PRIVATE, input: None, read_files: &[] };
    /// let mut out = Output::create(&Target::Path(dir.join("f")), &options)?;
    /// out.set_writeback(WritebackPolicy::AtCommit);
    /// assert_eq!(out.writeback(), Some(WritebackPolicy::AtCommit));
    /// out.commit()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_writeback(&mut self, policy: WritebackPolicy) {
        if let Kind::Replace { .. } = self.kind {
            self.writeback.policy = policy;
        }
    }

    /// Its name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file itself, for an output written in place (a descriptor, FIFO,
    /// socket or device), so that a writer can use kernel copies
    /// (`copy_file_range`, `splice`) into it; `None` for a file being
    /// replaced, which is written through `Write` so that its writeback is
    /// paced. Also `None` for a descriptor its caller made non-blocking:
    /// writes through `Write` wait (poll) for room instead of failing with
    /// EAGAIN.
    pub fn in_place_file(&mut self) -> Option<&mut File> {
        match self.kind {
            Kind::InPlace {
                nonblocking: false, ..
            } => Some(&mut self.file),
            _ => None,
        }
    }

    /// Waits until the output can take more bytes (a non-blocking descriptor
    /// that answered EAGAIN).
    fn wait_writable(&self) -> io::Result<()> {
        let mut poll = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        loop {
            // SAFETY: one pollfd that lives on this stack frame for the call.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::poll(&mut poll, 1, -1) };
            if rc >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Makes the data durable and, for a path, puts the new file in place:
    /// fsync of the file, its name (a link, or a rename over the old file),
    /// fsync of the directory. A descriptor, FIFO or socket is only flushed
    /// (there is nothing to fsync); a block device is fsynced.
    ///
    /// On error nothing is left beside the destination, and an old file at
    /// the path is untouched unless the error came after the rename (from the
    /// directory's fsync).
    pub fn commit(mut self) -> io::Result<()> {
        self.file.flush()?;
        match &self.kind {
            Kind::InPlace { fsync, .. } => {
                if *fsync {
                    self.file.sync_all()?;
                }
                Ok(())
            }
            Kind::Replace { dir, name, temp } => {
                self.writeback.finish(&self.file);
                self.file.sync_all()?;
                let dest = dir.join(name);
                match temp {
                    Temp::Unnamed => match link_unnamed(&self.file, &dest) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            let named = link_unnamed_beside(&self.file, dir, name)?;
                            rename_into_place(&named, &dest)?;
                        }
                        Err(e) => return Err(e),
                    },
                    Temp::Named(temp) => rename_into_place(temp, &dest)?,
                }
                let dir = dir.clone();
                // In place now: dropping must not touch the name.
                self.kind = Kind::InPlace {
                    fsync: false,
                    nonblocking: false,
                };
                sync_dir(&dir)
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.file.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait_writable()?,
                Err(e) => return Err(e),
                Ok(written) => {
                    self.writeback.wrote(&self.file, written);
                    return Ok(written);
                }
            }
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        loop {
            match self.file.write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait_writable()?,
                Err(e) => return Err(e),
                Ok(written) => {
                    self.writeback.wrote(&self.file, written);
                    return Ok(written);
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl AsFd for Output {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Kind::Replace {
            temp: Temp::Named(temp),
            ..
        } = &self.kind
        {
            let mut names = temp_names();
            let _ = fs::remove_file(temp);
            names.retain(|name| name != temp);
        }
    }
}

/// Refuses an output that is the input's own regular file, or one of the
/// files the tool read.
fn refuse_same_file(
    output: &fs::Metadata,
    input: Option<&Input>,
    read_files: &[PathBuf],
) -> io::Result<()> {
    if !output.is_file() {
        return Ok(());
    }
    let same = |input: &fs::Metadata| {
        input.is_file() && (output.dev(), output.ino()) == (input.dev(), input.ino())
    };
    let input = match input {
        Some(input) => Some(input.file.metadata()?),
        None => None,
    };
    if input.as_ref().is_some_and(same) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is the input file itself (the same inode): writing it would destroy what is \
             being read; give another output path",
        ));
    }
    // A file that cannot be looked at again is not the output either: the
    // output's own opening reports whatever is wrong with it.
    if let Some(read) = read_files
        .iter()
        .find(|path| fs::metadata(path).is_ok_and(|m| same(&m)))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "is {} (the same inode), which this command reads: writing it would destroy \
                 that input; give another output path",
                read.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdio::replace::create_named;
    use crate::fdio::{Target, scratch};
    use std::ffi::OsStr;

    const PRIVATE_NEW: OutputOptions<'static> = OutputOptions {
        new_file_mode: PRIVATE,
        input: None,
        read_files: &[],
    };

    #[test]
    fn uncommitted_output_leaves_nothing_behind() {
        let dir = scratch("uncommitted");
        let dest = dir.join("out.bin");
        {
            let mut out = Output::create(&Target::Path(dest.clone()), &PRIVATE_NEW).unwrap();
            out.write_all(b"partial").unwrap();
        }
        assert!(!dest.exists());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "temporary left behind"
        );
        let mut out = Output::create(&Target::Path(dest.clone()), &PRIVATE_NEW).unwrap();
        out.write_all(b"whole").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"whole");
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn named_temporaries_are_random_and_removed() {
        let dir = scratch("named");
        let (_a, first) = create_named(&dir, OsStr::new("out"), PRIVATE).unwrap();
        let (file, temp) = create_named(&dir, OsStr::new("out"), PRIVATE).unwrap();
        assert_ne!(first, temp);
        let text = temp.file_name().unwrap().to_str().unwrap();
        assert!(
            text.starts_with(".out.") && text.ends_with(".tmp"),
            "{text}"
        );
        assert!(!text.contains(&std::process::id().to_string()), "{text}");
        assert_eq!(fs::metadata(&temp).unwrap().mode() & 0o777, 0o600);
        fs::remove_file(&first).unwrap();
        temp_names().retain(|n| n != &first);
        let out = Output {
            file,
            name: "out".to_owned(),
            kind: Kind::Replace {
                dir: dir.clone(),
                name: "out".into(),
                temp: Temp::Named(temp.clone()),
            },
            writeback: Writeback::new(WritebackPolicy::AtCommit),
        };
        assert!(temp_names().contains(&temp));
        drop(out);
        assert!(!temp.exists());
        assert!(!temp_names().contains(&temp));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlinks_are_followed_and_kept() {
        let dir = scratch("symlink");
        let real = dir.join("real");
        fs::write(&real, b"old").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink("real", &link).unwrap();
        let mut out = Output::create(&Target::Path(link.clone()), &PRIVATE_NEW).unwrap();
        out.write_all(b"new").unwrap();
        out.commit().unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        // A dangling link: the file it names is created.
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink("made", &dangling).unwrap();
        let mut out = Output::create(&Target::Path(dangling.clone()), &PRIVATE_NEW).unwrap();
        out.write_all(b"made").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read(dir.join("made")).unwrap(), b"made");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = scratch("directory");
        let err = Output::create(&Target::Path(dir.clone()), &PRIVATE_NEW).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory, "{err}");
        let err = Output::create(&Target::Path("/".into()), &PRIVATE_NEW).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory, "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

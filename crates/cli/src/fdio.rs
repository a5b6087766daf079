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

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

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

#[derive(Debug)]
enum Temp {
    /// `O_TMPFILE`: no name until it is linked.
    Unnamed,
    /// A random name beside the destination, removed on drop and on signals.
    Named(PathBuf),
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

/// Creates the file that will take the place of `dir/name`: unnamed where the
/// file system allows it, under a random name beside it otherwise.
fn create_temp(dir: &Path, name: &OsStr, mode: u32) -> io::Result<(File, Temp)> {
    // Linking an unnamed file needs /proc/self/fd (AT_EMPTY_PATH needs a capability).
    if Path::new("/proc/self/fd").is_dir()
        && let Ok(file) = OpenOptions::new()
            .write(true)
            .mode(mode)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
    {
        return Ok((file, Temp::Unnamed));
    }
    let (file, path) = create_named(dir, name, mode)?;
    Ok((file, Temp::Named(path)))
}

/// `.NAME.XXXXXX.tmp` in `dir`, random and created exclusively (a name that
/// someone made beforehand, or a symbolic link, is never opened), registered
/// for removal on signals before it exists.
fn create_named(dir: &Path, name: &OsStr, mode: u32) -> io::Result<(File, PathBuf)> {
    install_signal_cleanup();
    let named = at_random_name(dir, name, |path| {
        let mut names = temp_names();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)?;
        names.push(path.to_path_buf());
        Ok(file)
    })
    .map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create a file in {}: {e}", dir.display()),
        )
    })?;
    let (file, path) = named.into_parts();
    Ok((file, path.to_path_buf()))
}

/// Makes `f(path)` create something at a random path `dir/.NAME.XXXXXX.tmp`
/// (retrying while the name is taken); this module, not tempfile, removes it.
fn at_random_name<R>(
    dir: &Path,
    name: &OsStr,
    f: impl FnMut(&Path) -> io::Result<R>,
) -> io::Result<tempfile::NamedTempFile<R>> {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .disable_cleanup(true)
        .make_in(dir, f)
}

/// Gives an `O_TMPFILE` file the name `dest`; `AlreadyExists` if it is taken.
fn link_unnamed(file: &File, dest: &Path) -> io::Result<()> {
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(dest.as_os_str().as_bytes())?;
    loop {
        // SAFETY: both arguments are NUL-terminated strings that outlive the
        // call; linkat reads them and nothing else.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Gives an `O_TMPFILE` file a random name beside `name` in `dir`, registered
/// for removal on signals, for a rename over an existing file.
fn link_unnamed_beside(file: &File, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    install_signal_cleanup();
    let named = at_random_name(dir, name, |path| {
        let mut names = temp_names();
        link_unnamed(file, path)?;
        names.push(path.to_path_buf());
        Ok(())
    })?;
    Ok(named.path().to_path_buf())
}

/// Renames `temp` over `dest` (retrying on EINTR); on failure `temp` is removed.
fn rename_into_place(temp: &Path, dest: &Path) -> io::Result<()> {
    // Held across the rename: a signal's cleanup waits for it, then finds
    // nothing to remove (the output is complete) or removes the temporary.
    let mut names = temp_names();
    let result = loop {
        match fs::rename(temp, dest) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    names.retain(|name| name != temp);
    result
}

/// Makes a directory entry durable: fsync of the directory.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?
        .sync_all()
        .map_err(|e| io::Error::new(e.kind(), format!("fsync of {}: {e}", dir.display())))
}

/// Temporary files that exist under a name and must go if a signal ends the tool.
static TEMP_NAMES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temp_names() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMP_NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// On SIGINT, SIGTERM and SIGHUP: remove the named temporary files, then die
/// of the signal as if it had not been caught (so a shell sees 128+N).
///
/// signal-hook's handler only writes to a pipe; the removal runs on an
/// ordinary thread, where taking a lock and calling `unlink` is safe (neither
/// is allowed in a signal handler).
fn install_signal_cleanup() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("temp-cleanup".to_owned())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let names = temp_names();
                    for name in names.iter() {
                        let _ = fs::remove_file(name);
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    // Not reached for these three signals; keep the lock held.
                    std::process::exit(128 + signal);
                }
            });
        drop(spawned);
    });
}

/// When the kernel is asked to write a file being replaced back to disk.
/// Only [`WritebackPolicy::DEFAULT`] is used; the others stay so that
/// `durability_variants` can measure them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
enum WritebackPolicy {
    /// Only the fsync of commit.
    AtCommit,
    /// `sync_file_range(WRITE)` of each `window` bytes as soon as they are written.
    Start { window: u64 },
    /// As `Start`, and wait for the window before the previous one, so at most
    /// two windows are dirty or in flight at any time.
    StartAndWait { window: u64 },
    /// As `StartAndWait`, and drop the written-back window from the page cache.
    StartWaitAndDrop { window: u64 },
}

impl WritebackPolicy {
    /// The policy `-o FILE` uses, chosen by `durability_variants` (docs/performance.md).
    const DEFAULT: WritebackPolicy = WritebackPolicy::StartWaitAndDrop { window: 8 << 20 };
}

/// Pacing of the kernel's writeback while a file is written sequentially.
#[derive(Debug)]
struct Writeback {
    policy: WritebackPolicy,
    /// Bytes written so far (the file is written from offset 0 in order).
    written: u64,
    /// Bytes whose writeback has been started.
    started: u64,
}

impl Writeback {
    fn new(policy: WritebackPolicy) -> Writeback {
        Writeback {
            policy,
            written: 0,
            started: 0,
        }
    }

    fn wrote(&mut self, file: &File, bytes: usize) {
        self.written += bytes as u64;
        let window = match self.policy {
            WritebackPolicy::AtCommit => return,
            WritebackPolicy::Start { window }
            | WritebackPolicy::StartAndWait { window }
            | WritebackPolicy::StartWaitAndDrop { window } => window,
        };
        while self.written - self.started >= window {
            let start = self.started;
            sync_range(file, start, window, libc::SYNC_FILE_RANGE_WRITE);
            self.started += window;
            if start < window || matches!(self.policy, WritebackPolicy::Start { .. }) {
                continue;
            }
            let previous = start - window;
            sync_range(
                file,
                previous,
                window,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            );
            if let WritebackPolicy::StartWaitAndDrop { .. } = self.policy {
                drop_cached(file, previous, window);
            }
        }
    }

    /// Starts the writeback of the tail, ahead of the fsync.
    fn finish(&mut self, file: &File) {
        if self.policy != WritebackPolicy::AtCommit && self.written > self.started {
            sync_range(
                file,
                self.started,
                self.written - self.started,
                libc::SYNC_FILE_RANGE_WRITE,
            );
            self.started = self.written;
        }
    }
}

/// `sync_file_range`; an error is left for the fsync of commit to report
/// (writeback errors stay recorded on the file until then).
fn sync_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) {
    // SAFETY: sync_file_range takes a descriptor we own and integers; it
    // touches no memory of ours.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, flags) };
}

/// `posix_fadvise(DONTNEED)` of a range already written back.
fn drop_cached(file: &File, offset: u64, len: u64) {
    // SAFETY: as for sync_range: a descriptor we own and integers.
    #[allow(unsafe_code)]
    let _ = unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as i64,
            len as i64,
            libc::POSIX_FADV_DONTNEED,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xenmig-fdio-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    const PRIVATE_NEW: OutputOptions<'static> = OutputOptions {
        new_file_mode: PRIVATE,
        input: None,
        read_files: &[],
    };

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

    #[test]
    fn writeback_windows_cover_the_file_in_order() {
        let dir = scratch("writeback");
        let path = dir.join("f");
        let file = File::create(&path).unwrap();
        let mut pace = Writeback::new(WritebackPolicy::StartAndWait { window: 4096 });
        for _ in 0..5 {
            (&file).write_all(&[7; 3000]).unwrap();
            pace.wrote(&file, 3000);
        }
        assert_eq!(pace.started, 12288);
        pace.finish(&file);
        assert_eq!(pace.started, 15000);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The durability experiment of issue 13.2: writes `XENMIG_DURABILITY_MIB`
    /// (default 1024) MiB, read from a page-cached source in 8 MiB blocks as
    /// the converter writes, through an `Output` with each writeback policy,
    /// in `XENMIG_DURABILITY_DIR` (default the temporary directory, which must
    /// be on a real disk), paired and interleaved, `XENMIG_DURABILITY_ROUNDS`
    /// (default 7) rounds, each starting with the next variant; prints the median time of each and its median ratio
    /// to fsync-at-commit. Run with
    /// `cargo test --release -p xenmig-cli --lib -- --ignored --nocapture durability_variants`.
    #[test]
    #[ignore = "a benchmark: minutes of disk writes"]
    fn durability_variants() {
        use std::io::Read;
        let env = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let mib = env("XENMIG_DURABILITY_MIB", 1024);
        let rounds = env("XENMIG_DURABILITY_ROUNDS", 7) as usize;
        let dir = std::env::var_os("XENMIG_DURABILITY_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("xenmig-durability-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let source = dir.join("source");
        {
            let mut file = File::create(&source).unwrap();
            let block: Vec<u8> = (0..8 << 20)
                .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                .collect();
            for _ in 0..mib / 8 {
                file.write_all(&block).unwrap();
            }
            file.sync_all().unwrap();
        }
        let variants: [(&str, Option<WritebackPolicy>); 7] = [
            ("write, fsync (no rename)", None),
            ("fsync at commit", Some(WritebackPolicy::AtCommit)),
            (
                "start 8 MiB",
                Some(WritebackPolicy::Start { window: 8 << 20 }),
            ),
            (
                "start 32 MiB",
                Some(WritebackPolicy::Start { window: 32 << 20 }),
            ),
            (
                "start+wait 8 MiB",
                Some(WritebackPolicy::StartAndWait { window: 8 << 20 }),
            ),
            (
                "start+wait 32 MiB",
                Some(WritebackPolicy::StartAndWait { window: 32 << 20 }),
            ),
            (
                "start+wait+drop 8 MiB",
                Some(WritebackPolicy::StartWaitAndDrop { window: 8 << 20 }),
            ),
        ];
        let dest = dir.join("dest");
        let mut block = vec![0u8; 8 << 20];
        let mut run = |policy: Option<WritebackPolicy>| -> Duration {
            // The previous run's file is freed (and, on a `discard` mount,
            // trimmed) at the next journal commit: force that commit now so
            // that no run pays for the one before it.
            let _ = fs::remove_file(&dest);
            File::open(&dir).unwrap().sync_all().unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let mut input = File::open(&source).unwrap();
            let begin = Instant::now();
            match policy {
                None => {
                    let mut file = File::create(&dest).unwrap();
                    while let Ok(n @ 1..) = input.read(&mut block) {
                        file.write_all(&block[..n]).unwrap();
                    }
                    file.sync_all().unwrap();
                }
                Some(policy) => {
                    let mut out =
                        Output::create(&Target::Path(dest.clone()), &PRIVATE_NEW).unwrap();
                    out.writeback = Writeback::new(policy);
                    while let Ok(n @ 1..) = input.read(&mut block) {
                        out.write_all(&block[..n]).unwrap();
                    }
                    out.commit().unwrap();
                }
            }
            begin.elapsed()
        };
        let mut times = vec![Vec::new(); variants.len()];
        run(None); // warm the source's page cache
        for round in 0..rounds {
            // Each round starts with another variant, so none always runs first.
            for k in 0..variants.len() {
                let i = (round + k) % variants.len();
                times[i].push(run(variants[i].1).as_secs_f64());
            }
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!("{mib} MiB, {rounds} rounds, in {}", dir.display());
        println!("| variant | median s | median ratio to fsync at commit |");
        println!("|---|---|---|");
        for (i, (name, _)) in variants.iter().enumerate() {
            let ratios = times[i]
                .iter()
                .zip(&times[1])
                .map(|(t, base)| t / base)
                .collect();
            println!(
                "| {name} | {:.3} | {:.3} |",
                median(times[i].clone()),
                median(ratios)
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}

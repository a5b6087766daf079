//! The new file that replaces an output path: created unnamed (`O_TMPFILE`)
//! or under a random name beside the destination, put in place by a link or
//! a rename, and removed by SIGINT, SIGTERM and SIGHUP while it has a name.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

#[derive(Debug)]
pub(super) enum Temp {
    /// `O_TMPFILE`: no name until it is linked.
    Unnamed,
    /// A random name beside the destination, removed on drop and on signals.
    Named(PathBuf),
}

/// Creates the file that will take the place of `dir/name`: unnamed where the
/// file system allows it, under a random name beside it otherwise.
pub(super) fn create_temp(dir: &Path, name: &OsStr, mode: u32) -> io::Result<(File, Temp)> {
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
pub(super) fn create_named(dir: &Path, name: &OsStr, mode: u32) -> io::Result<(File, PathBuf)> {
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
pub(super) fn link_unnamed(file: &File, dest: &Path) -> io::Result<()> {
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
pub(super) fn link_unnamed_beside(file: &File, dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
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
pub(super) fn rename_into_place(temp: &Path, dest: &Path) -> io::Result<()> {
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
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?
        .sync_all()
        .map_err(|e| io::Error::new(e.kind(), format!("fsync of {}: {e}", dir.display())))
}

/// Temporary files that exist under a name and must go if a signal ends the tool.
static TEMP_NAMES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

pub(super) fn temp_names() -> MutexGuard<'static, Vec<PathBuf>> {
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

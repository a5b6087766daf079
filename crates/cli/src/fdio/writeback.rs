//! When the kernel writes a file being replaced back to disk: the
//! [`WritebackPolicy`] of an [`Output`](super::Output), and the pacing that
//! carries it out as the file is written.

use std::fs::File;
use std::os::fd::AsRawFd;

/// When the kernel is asked to write a file being replaced back to disk.
///
/// `-o FILE` uses [`WritebackPolicy::DEFAULT`]; the others are there so
/// that `cargo xtask copy-experiment --durability` can measure every
/// variant against it again (docs/performance.md has the results). An
/// output written in place (a descriptor, a device) is never paced.
///
/// ```
/// use std::io::Write;
/// use xenmig_cli::fdio::{Output, OutputOptions, Target, WritebackPolicy, PRIVATE};
/// let dir = std::env::temp_dir().join(format!("fdio-writeback-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let dest = dir.join("guest.v2");
/// let options = OutputOptions { new_file_mode: PRIVATE, input: None, read_files: &[] };
/// let mut out = Output::create(&Target::Path(dest.clone()), &options)?;
/// assert_eq!(out.writeback(), Some(WritebackPolicy::DEFAULT));
/// out.set_writeback(WritebackPolicy::Start { window: 1 << 20 });
/// out.write_all(&[1; 3 << 20])?; // writeback of the first 3 MiB started as they arrive
/// out.commit()?;
/// assert_eq!(std::fs::metadata(&dest)?.len(), 3 << 20);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritebackPolicy {
    /// Only the fsync of commit.
    AtCommit,
    /// `sync_file_range(WRITE)` of each `window` bytes as soon as they are written.
    Start {
        /// Bytes per window.
        window: u64,
    },
    /// As `Start`, and wait for the window before the previous one, so at most
    /// two windows are dirty or in flight at any time.
    StartAndWait {
        /// Bytes per window.
        window: u64,
    },
    /// As `StartAndWait`, and drop the written-back window from the page cache.
    StartWaitAndDrop {
        /// Bytes per window.
        window: u64,
    },
}

impl WritebackPolicy {
    /// The policy of `-o FILE`: every 8 MiB, start the new window's
    /// writeback, wait for the one before and drop it from the page cache
    /// (the fastest variant measured, and at most 16 MiB dirty at a time).
    pub const DEFAULT: WritebackPolicy = WritebackPolicy::StartWaitAndDrop { window: 8 << 20 };
}

/// Pacing of the kernel's writeback while a file is written sequentially.
#[derive(Debug)]
pub(super) struct Writeback {
    pub(super) policy: WritebackPolicy,
    /// Bytes written so far (the file is written from offset 0 in order).
    written: u64,
    /// Bytes whose writeback has been started.
    started: u64,
}

impl Writeback {
    pub(super) fn new(policy: WritebackPolicy) -> Writeback {
        Writeback {
            policy,
            written: 0,
            started: 0,
        }
    }

    pub(super) fn wrote(&mut self, file: &File, bytes: usize) {
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
    pub(super) fn finish(&mut self, file: &File) {
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
    use crate::fdio::scratch;
    use std::fs;
    use std::io::Write;

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
}

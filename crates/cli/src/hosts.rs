//! Hosts from the command line, for the tools that compare hosts
//! (`xen-maskcalc`, `cpu-profile`): dump and profile files read whole within
//! a size limit, each dump turned into a named [`Host`], and the CPU this
//! tool runs on.
//!
//! Exit codes follow the contract of [`crate::exit`]: a file that cannot be
//! opened or read (missing, a directory, no permission) is an I/O error (2);
//! a file too large, or one that does not parse, is bad input (1).

use std::io::{self, Read};
use std::path::Path;

use maskcalc::dump::{self, Format};
use maskcalc::model::Host;

use crate::Failure;

/// The host `--local` adds: the CPU this tool runs on, named `local`. Off
/// x86 there is no CPUID instruction to execute: a usage error (exit code 2)
/// that says which dump to give instead.
pub fn local_host() -> Result<Host, Failure> {
    let cpuid = maskcalc::local::read().ok_or_else(|| {
        Failure::usage_or_io(
            "--local needs an x86 machine; give this host's `cpuid -1r` dump instead",
        )
    })?;
    Ok(Host {
        name: "local".to_owned(),
        cpuid,
    })
}

/// How a path is named in messages: `-` is standard input.
pub fn describe(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads a whole small input (a dump, a profile) of at most `limit` bytes,
/// as [`read_capped`] does, with the error the tools report: the path, what
/// was expected (`what`, such as "a CPUID dump") and what went wrong.
pub fn read_input(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>, Failure> {
    read_capped(path, limit, what).map_err(|err| {
        let name = describe(path);
        if err.kind() == io::ErrorKind::FileTooLarge {
            Failure::bad_input(format!("{name}: {err}"))
        } else {
            Failure::usage_or_io(format!("{name}: cannot read {what}: {err}"))
        }
    })
}

/// Reads and parses the CPUID dump at `path` (in `format`, or detected) as
/// the host `name`.
pub fn load_dump(path: &Path, name: &str, format: Option<Format>) -> Result<Host, Failure> {
    let bytes = read_input(path, dump::MAX_DUMP_BYTES, "a CPUID dump")?;
    let cpuid = dump::parse_owned(name, bytes, format).map_err(dump_failure)?;
    Ok(Host {
        name: name.to_owned(),
        cpuid,
    })
}

/// Parses the CPUID dump `bytes`, already in memory (in `format`, or
/// detected), as the host `name`, with the errors of [`load_dump`]; a dump
/// of more than [`dump::MAX_DUMP_BYTES`] is refused without being looked at.
pub fn parse_dump(name: &str, bytes: &[u8], format: Option<Format>) -> Result<Host, Failure> {
    let cpuid = dump::parse(name, bytes, format).map_err(dump_failure)?;
    Ok(Host {
        name: name.to_owned(),
        cpuid,
    })
}

/// A dump that does not parse: bad input (exit code 1), saying how to force
/// a format when none could be detected.
pub fn dump_failure(err: dump::DumpError) -> Failure {
    if err.is_undetected_format() {
        Failure::bad_input(format!("{err} (force one with --input-format)"))
    } else {
        Failure::bad_input(err)
    }
}

/// Reads a small input whole (`-` is standard input), but never more than
/// `limit + 1` bytes, so memory stays bounded whatever the input is.
///
/// A regular file larger than `limit` is refused by its real size before any
/// of it is read (a sparse 1 GiB file costs nothing), with an error of kind
/// [`io::ErrorKind::FileTooLarge`] that says `expected {what} of at most …
/// bytes, found … bytes`. Standard input and pipes have no size to ask, so
/// they come back with `limit + 1` bytes and the parser (e.g.
/// [`maskcalc::dump::parse`]) reports them as too large. The caller decides
/// which exit code an unreadable file gets, so the error is an [`io::Error`].
///
/// ```
/// use std::io::ErrorKind;
/// use xenmig_cli::hosts::read_capped;
/// let path = std::env::temp_dir().join(format!("hosts-doc-{}", std::process::id()));
/// std::fs::write(&path, b"0123456789").unwrap();
/// assert_eq!(read_capped(&path, 10, "a dump").unwrap(), b"0123456789");
/// let err = read_capped(&path, 4, "a dump").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::FileTooLarge);
/// assert_eq!(err.to_string(), "expected a dump of at most 4 bytes, found 10 bytes");
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn read_capped(path: &Path, limit: usize, what: &str) -> io::Result<Vec<u8>> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        io::stdin().lock().take(cap).read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if metadata.is_file() && metadata.len() >= cap {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "expected {what} of at most {limit} bytes, found {} bytes",
                metadata.len()
            ),
        ));
    }
    file.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch file holding `len` bytes, removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str, len: usize) -> Scratch {
            let path =
                std::env::temp_dir().join(format!("xenmig-hosts-{}-{name}", std::process::id()));
            std::fs::write(&path, vec![b'x'; len]).unwrap();
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn small_inputs_are_read_whole() {
        let file = Scratch::new("small", 100);
        assert_eq!(read_capped(&file.0, 100, "a dump").unwrap().len(), 100);
        assert_eq!(read_capped(&file.0, 1000, "a dump").unwrap().len(), 100);
    }

    #[test]
    fn large_files_are_refused_by_their_real_size() {
        let file = Scratch::new("large", 10_000);
        for limit in [0, 10, 9_999] {
            let err = read_capped(&file.0, limit, "a dump").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
            assert!(err.to_string().ends_with("found 10000 bytes"), "{err}");
        }
        assert_eq!(
            read_capped(&file.0, 10_000, "a dump").unwrap().len(),
            10_000
        );
        assert_eq!(
            read_capped(&file.0, usize::MAX, "a dump").unwrap().len(),
            10_000
        );
    }

    #[test]
    fn a_pipe_stops_one_byte_past_the_limit() {
        // A FIFO has no size to ask, so the cap is what bounds memory.
        let fifo = std::env::temp_dir().join(format!("xenmig-hosts-{}-fifo", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo on this machine: nothing to test
        }
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            let _ = w.write_all(&[b'x'; 10_000]);
        });
        assert_eq!(read_capped(&fifo, 10, "a dump").unwrap().len(), 11);
        drop(writer.join());
        std::fs::remove_file(&fifo).unwrap();
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let missing = std::env::temp_dir().join("xenmig-hosts-does-not-exist");
        let err = read_capped(&missing, 10, "a dump").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}

//! Host CPU descriptions for the tools that compare hosts (`xen-maskcalc`,
//! `cpu-profile`): the CPU this tool runs on, and dump or profile files read
//! whole within a size limit.

use std::io::{self, Read};
use std::path::Path;

use maskcalc::model::HostCpuid;

use crate::Failure;

/// The CPUID of the machine the tool runs on (`--local`), walked like
/// `cpuid -1r` by [`maskcalc::local::read_with`].
///
/// The library has no `unsafe` and no assembly, so the CPUID instruction is
/// executed here. Off x86-64 there is no instruction to execute: a usage
/// error (exit code 2) that says which dump to give instead.
///
/// ```
/// # #[cfg(target_arch = "x86_64")] {
/// let host = xenmig_cli::hostcpu::local_cpuid().unwrap();
/// // Leaf 0 names the vendor: never all zeros on a real CPU.
/// assert_ne!(host.register(0, 0, maskcalc::model::EBX), 0);
/// # }
/// ```
#[cfg(target_arch = "x86_64")]
pub fn local_cpuid() -> Result<HostCpuid, Failure> {
    Ok(maskcalc::local::read_with(|leaf, subleaf| {
        let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        [r.eax, r.ebx, r.ecx, r.edx]
    }))
}

/// The CPUID of the machine the tool runs on (`--local`): not available off
/// x86-64, a usage error (exit code 2) that says which dump to give instead.
#[cfg(not(target_arch = "x86_64"))]
pub fn local_cpuid() -> Result<HostCpuid, Failure> {
    Err(Failure::usage_or_io(
        "--local needs an x86-64 machine; give this host's `cpuid -1r` dump instead",
    ))
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
/// use xenmig_cli::hostcpu::read_capped;
/// let path = std::env::temp_dir().join(format!("hostcpu-doc-{}", std::process::id()));
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
                std::env::temp_dir().join(format!("xenmig-hostcpu-{}-{name}", std::process::id()));
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
        let fifo = std::env::temp_dir().join(format!("xenmig-hostcpu-{}-fifo", std::process::id()));
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
        let missing = std::env::temp_dir().join("xenmig-hostcpu-does-not-exist");
        let err = read_capped(&missing, 10, "a dump").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_local_cpu_has_a_vendor_and_leaf_one() {
        let host = local_cpuid().unwrap();
        let vendor = [
            host.register(0, 0, maskcalc::model::EBX),
            host.register(0, 0, maskcalc::model::EDX),
            host.register(0, 0, maskcalc::model::ECX),
        ];
        let vendor: Vec<u8> = vendor.iter().flat_map(|r| r.to_le_bytes()).collect();
        assert!(vendor.iter().all(u8::is_ascii_graphic), "{vendor:?}");
        // Leaf 1 EAX is the family/model/stepping signature: never zero.
        assert_ne!(host.register(1, 0, maskcalc::model::EAX), 0);
    }
}

//! The floor of the one-page-batch conversion: programs that read the
//! legacy image of one-page batches and write exactly the converter's v2
//! output with no conversion logic (they know the layout in advance and
//! check nothing), so that `cargo xtask bench convert` can pair them with
//! `cp` in the same run as the converter.
//!
//! Legacy image: an 8-byte p2m size, then records of a 4-byte count (1), an
//! 8-byte pfn and a 4 KiB page, then the tail. v2 output: a prefix (image
//! and domain headers, STATIC_DATA_END), then records of a 24-byte header
//! (PAGE_DATA, length 4112, count 1, reserved, the pfn) and the page, then
//! a suffix. The prefix and the suffix are read from the converter's own
//! output (the reference), the headers are built from the image's pfns.
//!
//! Four patterns:
//!
//! * [`Pattern::Copy`]: the converter's design without its parsing: each
//!   record's header and page copied into a 128 KiB block, written 64 KiB at
//!   a time (a kernel copy in, one copy in user space, a kernel copy out);
//! * [`Pattern::Gather`]: no copy in user space: `writev` of each header and
//!   the page where it lies in the read buffer, about 64 KiB per call (a
//!   kernel copy in and a kernel copy out, as little as a program that reads
//!   and writes can do);
//! * [`Pattern::Scatter`]: no copy in user space and the converter's writes:
//!   `readv` of each record's count and pfn into a scratch array and of its
//!   page straight to its place in a 128 KiB block, written 64 KiB at a time;
//! * [`Pattern::Mapped`]: the image mapped and populated, `writev` of each
//!   header and the page where it lies in the mapping (one kernel copy, as
//!   `cp` makes; a tool cannot do this safely, since a file truncated while
//!   it is mapped kills the reader with SIGBUS, but it shows what is left
//!   without the read copy).
//!
//! Run as `xtask copy-experiment --floor copy|gather|scatter|mapped IMAGE REFERENCE OUT
//! PREFIX RECORDS` from an optimised build of xtask ([`build`]): the
//! benchmark spawns it so that it is measured as a process, as `cp` and the
//! converter are, and compiled as the converter is.

use std::fs::File;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes of one legacy one-page record: count, pfn, page.
pub const RECORD_IN: usize = 4 + 8 + PAGE;
/// Bytes of one v2 PAGE_DATA record of one page: header, pfn, page.
pub const RECORD_OUT: usize = 8 + 8 + 8 + PAGE;
/// Bytes before the first record in the image (the p2m size).
pub const IMAGE_HEAD: usize = 8;
const PAGE: usize = 4096;
/// The read size (the converter's input buffer).
const READ: usize = 128 << 10;
/// The write size (the converter's writes to a regular file).
const WRITE: usize = 64 << 10;

/// Builds xtask with the converter's profile (`--profile bench`, optimised)
/// and returns the binary: the floor programs must not run unoptimised code.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--profile",
            "bench",
            "-p",
            "xtask",
            "--bin",
            "xtask",
        ])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --profile bench -p xtask failed".to_owned());
    }
    Ok(root.join("target/release/xtask"))
}

/// How the floor program moves the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Records copied into a block, written in 64 KiB pieces.
    Copy,
    /// `writev` from the read buffer, about 64 KiB per call.
    Gather,
    /// `readv` of each record's count and pfn into a scratch array and of
    /// its page straight to its place in a 128 KiB block, the block written
    /// 64 KiB at a time: no copy in user space and whole aligned writes.
    Scatter,
    /// The image mapped (`mmap`, populated), `writev` from the mapping:
    /// one kernel copy per byte, as `cp` makes.
    Mapped,
}

impl Pattern {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Copy => "copy",
            Pattern::Gather => "gather",
            Pattern::Scatter => "scatter",
            Pattern::Mapped => "mapped",
        }
    }

    /// The pattern named `name`.
    pub fn parse(name: &str) -> Option<Pattern> {
        [
            Pattern::Copy,
            Pattern::Gather,
            Pattern::Scatter,
            Pattern::Mapped,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// Where the first record starts in the converter's output `reference`: the
/// first PAGE_DATA header of a one-page record.
pub fn prefix_len(reference: &Path) -> Result<usize, String> {
    let mut head = vec![0u8; 64 << 10];
    let n = File::open(reference)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("{}: {e}", reference.display()))?;
    let needle = record_header(0);
    head.get(..n)
        .unwrap_or_default()
        .windows(16)
        .position(|w| w == &needle[..16])
        .ok_or_else(|| format!("{}: no one-page PAGE_DATA record", reference.display()))
}

/// The v2 header of a one-page PAGE_DATA record for legacy entry `pfn`.
fn record_header(pfn: u64) -> [u8; 24] {
    let mut header = [0u8; 24];
    header[..4].copy_from_slice(&1u32.to_le_bytes()); // PAGE_DATA
    header[4..8].copy_from_slice(&((RECORD_OUT - 8) as u32).to_le_bytes());
    header[8..12].copy_from_slice(&1u32.to_le_bytes()); // count
    header[16..].copy_from_slice(&legacy_convert::format::v2_pfn(pfn).to_le_bytes());
    header
}

/// The message for an I/O error on `what`.
fn io(what: &Path) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{}: {e}", what.display())
}

/// Writes the output of `records` one-page records of `image` to `out`, with
/// `reference`'s first `prefix` bytes before them and its rest after them.
pub fn run(
    pattern: Pattern,
    image: &Path,
    reference: &Path,
    out: &Path,
    prefix: usize,
    records: usize,
) -> Result<(), String> {
    let mut reference_file = File::open(reference).map_err(io(reference))?;
    let mut head = vec![0u8; prefix];
    reference_file
        .read_exact(&mut head)
        .map_err(io(reference))?;
    let mut tail = Vec::new();
    reference_file
        .seek(SeekFrom::Start((prefix + records * RECORD_OUT) as u64))
        .and_then(|_| reference_file.read_to_end(&mut tail))
        .map_err(io(reference))?;
    let mut input = File::open(image).map_err(io(image))?;
    let mut output = File::create(out).map_err(io(out))?;
    output.write_all(&head).map_err(io(out))?;
    if pattern == Pattern::Mapped {
        mapped_records_to(&input, &mut output, records).map_err(io(image))?;
        input
            .seek(SeekFrom::Start((IMAGE_HEAD + records * RECORD_IN) as u64))
            .map_err(io(image))?;
    } else if pattern == Pattern::Scatter {
        scattered_records_to(&mut input, &mut output, records).map_err(io(image))?;
    } else {
        records_to(pattern, &mut input, &mut output, records).map_err(io(image))?;
    }
    // The image's tail is read as the converter reads it, and the output's written.
    io::copy(&mut input, &mut io::sink()).map_err(io(image))?;
    output.write_all(&tail).map_err(io(out))
}

/// Copies the image's head and `records` records from `input` to `output`.
fn records_to(
    pattern: Pattern,
    input: &mut File,
    output: &mut File,
    mut records: usize,
) -> io::Result<()> {
    let mut buffer = vec![0u8; READ];
    let (mut start, mut end) = (IMAGE_HEAD, 0);
    let mut block = Block::new(output, pattern);
    while records > 0 {
        if end < start + RECORD_IN {
            // Keep the partial record, then read more after it.
            let kept = end.saturating_sub(start);
            buffer.copy_within(start.min(end)..end, 0);
            let skipped = start.saturating_sub(end);
            (start, end) = (skipped, kept);
            let n = input.read(&mut buffer[end..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            end += n;
            continue;
        }
        let whole = ((end - start) / RECORD_IN).min(records);
        let chunk = &buffer[start..start + whole * RECORD_IN];
        block.records(chunk)?;
        start += whole * RECORD_IN;
        records -= whole;
    }
    block.finish()
}

/// [`Pattern::Scatter`]: each record read in place into the block.
fn scattered_records_to(input: &mut File, output: &mut File, records: usize) -> io::Result<()> {
    use std::io::IoSliceMut;
    input.read_exact(&mut [0u8; IMAGE_HEAD])?;
    let mut block = vec![0u8; READ];
    let mut scratch = vec![[0u8; 12]; READ / RECORD_OUT + 1];
    let mut record = vec![0u8; RECORD_IN];
    let (mut fill, mut left) = (0, records);
    while left > 0 {
        let whole = ((READ - fill) / RECORD_OUT).min(left);
        if whole == 0 {
            // The record across the block's end: read whole, copied in two parts.
            input.read_exact(&mut record)?;
            let pfn = u64::from_le_bytes(record[4..12].try_into().unwrap_or_default());
            let mut bytes = record_header(pfn).to_vec();
            bytes.extend_from_slice(&record[12..]);
            let (now, later) = bytes.split_at(READ - fill);
            block[fill..].copy_from_slice(now);
            write_pieces(output, &block)?;
            block[..later.len()].copy_from_slice(later);
            (fill, left) = (later.len(), left - 1);
            continue;
        }
        let room = &mut block[fill..fill + whole * RECORD_OUT];
        let mut slices: Vec<IoSliceMut<'_>> = Vec::with_capacity(2 * whole);
        for (head, out) in scratch.iter_mut().zip(room.chunks_exact_mut(RECORD_OUT)) {
            slices.push(IoSliceMut::new(head));
            slices.push(IoSliceMut::new(&mut out[24..]));
        }
        let want = whole * RECORD_IN;
        if input.read_vectored(&mut slices)? != want {
            return Err(io::Error::other(
                "a short readv (the floor reads a regular file)",
            ));
        }
        for (head, out) in scratch.iter().zip(room.chunks_exact_mut(RECORD_OUT)) {
            let pfn = u64::from_le_bytes(head[4..12].try_into().unwrap_or_default());
            out[..24].copy_from_slice(&record_header(pfn));
        }
        (fill, left) = (fill + whole * RECORD_OUT, left - whole);
        if fill == READ {
            write_pieces(output, &block)?;
            fill = 0;
        }
    }
    write_pieces(output, &block[..fill])
}

/// Writes `bytes` [`WRITE`] bytes at a time.
fn write_pieces(output: &mut File, bytes: &[u8]) -> io::Result<()> {
    bytes
        .chunks(WRITE)
        .try_for_each(|piece| output.write_all(piece))
}

/// [`Pattern::Mapped`]: the records of the mapped image, `writev`d from the
/// mapping about 64 KiB per call.
fn mapped_records_to(input: &File, output: &mut File, records: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = IMAGE_HEAD + records * RECORD_IN;
    // SAFETY: a read-only private mapping of `len` bytes of a file we opened,
    // unmapped below before `bytes` goes away; the benchmark's image is not
    // truncated while it is mapped.
    #[allow(unsafe_code)]
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            input.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the mapping above, `len` readable bytes, alive until munmap.
    #[allow(unsafe_code)]
    let bytes = unsafe { std::slice::from_raw_parts(map.cast::<u8>(), len) };
    let mut result = Ok(());
    for chunk in bytes[IMAGE_HEAD..].chunks(RECORD_IN * 32) {
        let headers: Vec<[u8; 24]> = chunk
            .chunks_exact(RECORD_IN)
            .map(|r| record_header(u64::from_le_bytes(r[4..12].try_into().unwrap_or_default())))
            .collect();
        let mut slices = Vec::with_capacity(2 * headers.len());
        for (header, record) in headers.iter().zip(chunk.chunks_exact(RECORD_IN)) {
            slices.push(IoSlice::new(header));
            slices.push(IoSlice::new(&record[12..]));
        }
        result = write_gathered(output, &mut slices);
        if result.is_err() {
            break;
        }
    }
    // SAFETY: unmaps exactly the mapping made above; `bytes` is not used after.
    #[allow(unsafe_code)]
    unsafe {
        libc::munmap(map, len);
    }
    result
}

/// The output side of a pattern.
struct Block<'a> {
    output: &'a mut File,
    pattern: Pattern,
    /// Pattern::Copy's block and how full it is.
    block: Vec<u8>,
    fill: usize,
}

impl<'a> Block<'a> {
    fn new(output: &'a mut File, pattern: Pattern) -> Block<'a> {
        let block = match pattern {
            Pattern::Copy => vec![0u8; READ],
            Pattern::Gather | Pattern::Scatter | Pattern::Mapped => Vec::new(),
        };
        Block {
            output,
            pattern,
            block,
            fill: 0,
        }
    }

    /// Writes (or gathers) the whole records in `chunk`.
    fn records(&mut self, chunk: &[u8]) -> io::Result<()> {
        let headers: Vec<[u8; 24]> = chunk
            .chunks_exact(RECORD_IN)
            .map(|r| record_header(u64::from_le_bytes(r[4..12].try_into().unwrap_or_default())))
            .collect();
        let pages = chunk.chunks_exact(RECORD_IN).map(|r| &r[12..]);
        match self.pattern {
            Pattern::Copy => {
                for (header, page) in headers.iter().zip(pages) {
                    self.copy(header)?;
                    self.copy(page)?;
                }
                Ok(())
            }
            Pattern::Gather | Pattern::Scatter | Pattern::Mapped => {
                let mut slices = Vec::with_capacity(2 * headers.len());
                for (header, page) in headers.iter().zip(pages) {
                    slices.push(IoSlice::new(header));
                    slices.push(IoSlice::new(page));
                }
                write_gathered(self.output, &mut slices)
            }
        }
    }

    /// Pattern::Copy: into the block, written in 64 KiB pieces when full.
    fn copy(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = bytes.len().min(self.block.len() - self.fill);
            self.block[self.fill..self.fill + n].copy_from_slice(&bytes[..n]);
            (self.fill, bytes) = (self.fill + n, &bytes[n..]);
            if self.fill == self.block.len() {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        for piece in self.block[..self.fill].chunks(WRITE) {
            self.output.write_all(piece)?;
        }
        self.fill = 0;
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.flush()
    }
}

/// `writev` of `slices` in calls of at most about [`WRITE`] bytes (whole
/// slices, so a call may fall short of it by part of a page).
fn write_gathered(output: &mut File, slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut rest = slices;
    while !rest.is_empty() {
        let mut bytes = 0;
        let count = rest
            .iter()
            .take_while(|s| {
                bytes += s.len();
                bytes <= WRITE
            })
            .count()
            .max(1);
        let (group, after) = rest.split_at_mut(count);
        let mut group = group;
        while !group.is_empty() {
            let n = output.write_vectored(group)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut group, n);
        }
        rest = after;
    }
    Ok(())
}

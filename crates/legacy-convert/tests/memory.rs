//! What the converter holds in memory, measured by a counting allocator:
//! the two things the format makes it hold (the physmap's xenstore pairs in
//! libxl mode, a qemu record that runs to the end of an input of unknown
//! length) stay within their caps whatever the image announces, and are
//! refused beyond them saying what was too big; everything else streams.
//!
//! The images are generated as they are read (nothing of them is held by
//! the test), so a 132 MB physmap or a 100 MiB qemu record costs the test
//! no memory either. One test function: the allocator's peak is global.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Cursor, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use legacy_convert::convert::{Options, OutputFormat, QEMU_HELD_CAP, Quiet, Summary, convert};
use legacy_convert::error::{Error, ErrorKind, Size};
use legacy_convert::format::{ChunkId, GuestType, QemuSignature, Width};
use legacy_convert::physmap::XENSTORE_DATA_CAP;
use legacy_convert::wire::{PhysmapEntryHeader, ToolstackHeader};
use legacy_convert::writer::ImageWriter;
use zerocopy::IntoBytes;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only
// the sizes are counted.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let now = if new_size >= layout.size() {
            CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size()
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed)
                - (layout.size() - new_size)
        };
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1 << 20;

/// Runs `f` and returns its result and the most memory allocated at once
/// while it ran, above what was allocated when it started.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let result = f();
    (result, PEAK.load(Ordering::Relaxed) - base)
}

/// Converts `image` to nothing (a sink) as `format`, the input's length
/// `total` if known; the result and the peak allocation (see [`peak_during`]).
fn peak_converting(
    image: impl Read,
    format: OutputFormat,
    total: Option<u64>,
) -> (Result<Summary, Error>, usize) {
    peak_during(|| convert(image, io::sink(), &options(format, total), &mut Quiet))
}

/// The start of a 64-bit HVM image with no pages, up to its body.
fn hvm_head() -> Vec<u8> {
    let mut w = ImageWriter::new(Vec::new(), Width::W64);
    w.p2m_size(0x100).unwrap();
    w.into_inner()
}

/// The end of the body and the HVM tail, up to the qemu record.
fn hvm_tail() -> Vec<u8> {
    let mut w = ImageWriter::new(Vec::new(), Width::W64);
    w.end_of_body().unwrap();
    w.hvm_tail([1, 2, 3], &legacy_convert::writer::hvm_context(1, 2))
        .unwrap();
    w.into_inner()
}

/// A toolstack chunk of `count` physmap entries with names of `name_len`
/// bytes (NUL included), generated as it is read.
fn physmap_chunk(count: u32, name_len: u32) -> impl Read {
    let entry_len = 28 + u64::from(name_len) + 4;
    let size = 8 + u64::from(count) * entry_len;
    let mut head = ChunkId::TOOLSTACK.0.to_le_bytes().to_vec();
    head.extend_from_slice(
        &u32::try_from(size)
            .expect("a blob below 4 GiB")
            .to_le_bytes(),
    );
    let header = ToolstackHeader {
        version: 1.into(),
        count: count.into(),
    };
    head.extend_from_slice(header.as_bytes());
    let entries = (0..count).flat_map(move |i| {
        let fixed = PhysmapEntryHeader {
            phys_offset: (0xf000_0000 + u64::from(i) * 0x1000).into(),
            start_addr: 0xfc00_0000u64.into(),
            size: 0x80_0000u64.into(),
            namelen: name_len.into(),
        };
        let mut entry = fixed.as_bytes().to_vec();
        entry.resize(28 + name_len as usize - 1, b'n');
        entry.push(0);
        entry.extend_from_slice(&[0; 4]);
        entry
    });
    Cursor::new(head).chain(IterReader(Box::new(entries)))
}

/// A reader over the bytes an iterator yields.
struct IterReader(Box<dyn Iterator<Item = u8>>);

impl Read for IterReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        for slot in buf.iter_mut() {
            match self.0.next() {
                Some(b) => *slot = b,
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }
}

/// A `QemuDeviceModelRecord` of `len` bytes (it runs to the end of the input).
fn qemu_to_end(len: u64) -> impl Read {
    Cursor::new(QemuSignature::QemuDeviceModelRecord.bytes().to_vec())
        .chain(io::repeat(0x5a).take(len))
}

fn options(format: OutputFormat, input_len: Option<u64>) -> Options {
    let mut options = Options::default();
    options.format = format;
    options.width = Some(Width::W64);
    options.guest = Some(GuestType::Hvm);
    options.input_len = input_len;
    options
}

#[test]
fn held_data_stays_within_its_cap_and_everything_else_streams() {
    // 32,000 physmap entries with 4 KiB names (a 132 MB blob), as in the
    // report that measured 263 MiB: refused once the pairs pass 1 MiB.
    let image = Cursor::new(hvm_head())
        .chain(physmap_chunk(32_000, 4096))
        .chain(Cursor::new(hvm_tail()));
    let (result, peak) = peak_converting(image, OutputFormat::Libxl, None);
    let err = result.expect_err("refused");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::TooLarge { cap, .. } if *cap == XENSTORE_DATA_CAP as u64
        ),
        "{err}"
    );
    assert!(err.to_string().contains("physmap"), "{err}");
    eprintln!("32,000 physmap entries of 4 KiB names: peak {peak} bytes allocated");
    assert!(peak < 3 * MIB, "peak {peak} bytes");

    // Just under the cap (short names, many entries): converts, holding about the cap.
    let entries = (XENSTORE_DATA_CAP / 100) as u32;
    let image = Cursor::new(hvm_head())
        .chain(physmap_chunk(entries, 9))
        .chain(Cursor::new(hvm_tail()))
        .chain(qemu_to_end(1000));
    let (result, peak) = peak_converting(image, OutputFormat::Libxl, None);
    result.expect("converts");
    eprintln!("a physmap just under the cap: peak {peak} bytes allocated");
    assert!(peak < 3 * MIB, "peak {peak} bytes");

    // A 100 MiB qemu record from an input of unknown length: refused past 4 MiB.
    let image = Cursor::new(hvm_head())
        .chain(Cursor::new(hvm_tail()))
        .chain(qemu_to_end(100 * MIB as u64));
    let (result, peak) = peak_converting(image, OutputFormat::Libxl, None);
    let err = result.expect_err("refused");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::TooLarge { cap, found: Size::AtLeast(_), .. } if *cap == QEMU_HELD_CAP
        ),
        "{err}"
    );
    assert!(err.to_string().contains("unknown length"), "{err}");
    eprintln!("a 100 MiB qemu record of unknown length: peak {peak} bytes allocated");
    assert!(peak < QEMU_HELD_CAP as usize + MIB, "peak {peak} bytes");

    // The same record when the input's length is known: streamed, not held.
    let head_len = (hvm_head().len() + hvm_tail().len()) as u64;
    for format in [OutputFormat::Libxl, OutputFormat::Libxc] {
        let image = Cursor::new(hvm_head())
            .chain(Cursor::new(hvm_tail()))
            .chain(qemu_to_end(100 * MIB as u64));
        let total = head_len + 21 + 100 * MIB as u64;
        let (result, peak) = peak_converting(image, format, Some(total));
        result.expect("converts");
        eprintln!("a 100 MiB qemu record of known length: peak {peak} bytes allocated");
        assert!(peak < MIB, "{format:?}: peak {peak} bytes");
    }

    // Under the cap from an input of unknown length: held, and converted.
    let image = Cursor::new(hvm_head())
        .chain(Cursor::new(hvm_tail()))
        .chain(qemu_to_end(3 * MIB as u64));
    let mut out = Vec::with_capacity(4 * MIB);
    let (result, peak) = peak_during(|| {
        convert(
            image,
            &mut out,
            &options(OutputFormat::Libxc, None),
            &mut Quiet,
        )
    });
    result.expect("converts");
    assert!(out.len() > 3 * MIB);
    eprintln!("a 3 MiB qemu record of unknown length: peak {peak} bytes allocated");
    assert!(peak < QEMU_HELD_CAP as usize + MIB, "peak {peak} bytes");
}

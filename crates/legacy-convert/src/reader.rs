//! A streaming parser of legacy save images.
//!
//! [`LegacyReader`] is a pull parser: [`LegacyReader::next_event`] returns the
//! next item of the image, in file order, and large items (page data, vCPU
//! contexts, the HVM context, the qemu record, ...) leave their bytes as a
//! *payload* that the caller copies ([`LegacyReader::copy_payload`]) or
//! reads ([`LegacyReader::read_payload`]); whatever is left of a payload is
//! skipped by the next call. Memory use does not depend on the image: the
//! largest thing held is one batch of 1024 pfn entries.
//!
//! The items are parsed in the submodule `parse`; this module holds the
//! parser's state, its payload interface and the primitive reads, all
//! through [`crate::wire`] for the legacy byte layouts and
//! `migration_stream::source` for the bytes themselves.
//!
//! ```
//! use legacy_convert::format::{GuestType, Width};
//! use legacy_convert::reader::{Event, LegacyReader};
//! use legacy_convert::writer::ImageWriter;
//!
//! // A tiny HVM image from a 64-bit toolstack.
//! let mut image = ImageWriter::new(Vec::new(), Width::W64);
//! image.p2m_size(0x100).unwrap();
//! image.page_batch(&[0x10], &[0u8; 4096]).unwrap();
//! image.end_of_body().unwrap();
//! image.hvm_tail([1, 2, 3], b"ctx").unwrap();
//! let bytes = image.into_inner();
//!
//! let mut reader = LegacyReader::new(&bytes[..]);
//! reader.set_layout(Width::W64, GuestType::Hvm);
//! assert_eq!(reader.next_event().unwrap(), Event::P2mSize(0x100));
//! assert!(matches!(reader.next_event().unwrap(), Event::PageBatch { count: 1, data_pages: 1 }));
//! assert_eq!(reader.batch(), &[0x10]);
//! ```

mod parse;

use std::io::{self, Read};

use migration_stream::source::{CopySink, Input, InputError, Sequential};

use crate::error::{Error, ErrorKind, Size};
use crate::format::{BlockId, ChunkId, GuestType, GuestWidth, MAX_BATCH, QemuSignature, Width};
use crate::wire::{self, FromBytes, IntoBytes, Le32, Le64};

/// The TSC settings of chunk −7, in legacy field order.
///
/// ```
/// use legacy_convert::format::{GuestType, Width};
/// use legacy_convert::reader::{Chunk, Event, LegacyReader, TscInfo};
/// use legacy_convert::writer::ImageWriter;
///
/// let tsc = TscInfo { mode: 1, nsec: 2, khz: 2_000_000, incarnation: 4 };
/// let mut image = ImageWriter::new(Vec::new(), Width::W64);
/// image.p2m_size(0x100)?;
/// image.tsc_info(tsc)?;
/// let bytes = image.into_inner();
/// let mut reader = LegacyReader::new(&bytes[..]);
/// reader.set_layout(Width::W64, GuestType::Hvm);
/// reader.next_event()?; // the p2m size
/// assert_eq!(reader.next_event()?, Event::Chunk(Chunk::TscInfo(tsc)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TscInfo {
    /// TSC mode.
    pub mode: u32,
    /// Elapsed nanoseconds.
    pub nsec: u64,
    /// Guest TSC frequency in kHz.
    pub khz: u32,
    /// Incarnation counter.
    pub incarnation: u32,
}

/// A negative-marker chunk of the body that the parser understands.
///
/// ```
/// use legacy_convert::format::{ChunkId, GuestType, Width};
/// use legacy_convert::reader::{Chunk, Event, LegacyReader};
/// use legacy_convert::writer::ImageWriter;
///
/// let mut image = ImageWriter::new(Vec::new(), Width::W64);
/// image.p2m_size(0x100)?;
/// image.vcpu_info(1, &[0b11])?;
/// image.hvm_param(ChunkId::HVM_VIRIDIAN, 1)?;
/// image.marker(ChunkId::ENABLE_VERIFY_MODE.0)?;
/// image.marker(ChunkId::LAST_CHECKPOINT.0)?;
/// image.toolstack(&[0; 8])?;
/// let bytes = image.into_inner();
///
/// let mut reader = LegacyReader::new(&bytes[..]);
/// reader.set_layout(Width::W64, GuestType::Hvm);
/// reader.next_event()?; // the p2m size
/// let mut chunks = Vec::new();
/// for _ in 0..5 {
///     match reader.next_event()? {
///         Event::Chunk(chunk) => chunks.push(chunk),
///         other => panic!("{other:?}"),
///     }
/// }
/// assert_eq!(chunks, [
///     Chunk::VcpuInfo { max_id: 1 },
///     Chunk::HvmParam { id: ChunkId::HVM_VIRIDIAN, param: 9, value: 1 },
///     Chunk::EnableVerifyMode,
///     Chunk::LastCheckpoint,
///     Chunk::Toolstack { size: 8 }, // the blob is the payload
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// −1: the pages that follow are a debug re-send.
    EnableVerifyMode,
    /// −2: the online vCPU map; see [`LegacyReader::online_vcpus`].
    VcpuInfo {
        /// Highest vCPU id the map covers.
        max_id: i32,
    },
    /// One of the `u32 pad, u64 value` chunks that carry an HVM parameter.
    HvmParam {
        /// Which chunk it was.
        id: ChunkId,
        /// The HVM parameter number it maps to.
        param: u64,
        /// The value.
        value: u64,
    },
    /// −7: TSC settings.
    TscInfo(TscInfo),
    /// −9: the last checkpoint of a checkpointed stream.
    LastCheckpoint,
    /// −18: the toolstack blob; its `size` bytes are the payload.
    Toolstack {
        /// Bytes of blob.
        size: u32,
    },
}

/// What an extended-info block told the parser.
///
/// ```
/// use legacy_convert::format::{BlockId, GuestWidth, Width};
/// use legacy_convert::reader::{BlockKind, Event, LegacyReader};
/// use legacy_convert::writer::ImageWriter;
///
/// let mut image = ImageWriter::new(Vec::new(), Width::W64);
/// image.p2m_size(0x10)?;
/// let vcpu = vec![0u8; GuestWidth::W32.context_size() as usize];
/// let xcnt = 0x240u32 + 16;
/// image.extended_info(&[(BlockId::VCPU, &vcpu), (BlockId::EXTV, &[]), (BlockId::XCNT, &xcnt.to_le_bytes())])?;
/// let bytes = image.into_inner();
///
/// let mut reader = LegacyReader::new(&bytes[..]); // 64-bit toolstack, PV by default
/// reader.next_event()?; // the p2m size
/// assert!(matches!(reader.next_event()?, Event::ExtendedInfo { .. }));
/// let mut kinds = Vec::new();
/// for _ in 0..3 {
///     if let Event::ExtendedBlock { kind, .. } = reader.next_event()? {
///         kinds.push(kind);
///     }
/// }
/// assert_eq!(kinds, [BlockKind::Vcpu(GuestWidth::W32), BlockKind::Extv, BlockKind::Xcnt { xsave_len: xcnt }]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `"vcpu"`: the guest width.
    Vcpu(GuestWidth),
    /// `"extv"`: vCPUs carry extended contexts.
    Extv,
    /// `"xcnt"`: vCPUs carry xsave areas of `xsave_len − 16` bytes (none when 0).
    Xcnt {
        /// The xsave size + 16, as written.
        xsave_len: u32,
    },
}

/// One item of a legacy image, in file order. New items may be added (the
/// enum is `#[non_exhaustive]`): keep a catch-all arm.
///
/// ```
/// use legacy_convert::reader::{Event, LegacyReader};
/// let image = std::fs::read("../../testdata/legacy/pv64-guest64.img")?;
/// let mut reader = LegacyReader::new(&image[..]);
/// let detected = reader.probe()?; // -w and -g, from the first bytes
/// reader.set_layout(detected.width, detected.guest);
/// let (mut batches, mut p2m_size) = (0, None);
/// loop {
///     match reader.next_event()? {
///         Event::P2mSize(size) => p2m_size = Some(size),
///         Event::PageBatch { .. } => batches += 1, // pages not read are skipped
///         Event::End => break,
///         _ => {}
///     }
/// }
/// assert_eq!(p2m_size, Some(reader.p2m_size()));
/// assert!(batches > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The first ulong: the guest's p2m size.
    P2mSize(u64),
    /// PV: the extended-info header.
    ExtendedInfo {
        /// Bytes of blocks that follow.
        total_length: u32,
    },
    /// PV: one extended-info block; its data is the payload.
    ExtendedBlock {
        /// The block id.
        id: BlockId,
        /// Bytes of data.
        size: u32,
        /// What it means.
        kind: BlockKind,
    },
    /// PV: the p2m frame list, `count` ulongs; read them with [`LegacyReader::read_frames`].
    P2mFrames {
        /// P2M entries per frame.
        frames_per_page: u64,
        /// Number of frames.
        count: u64,
    },
    /// A page batch. The raw entries are in [`LegacyReader::batch`]; the payload
    /// is `data_pages` pages of 4096 bytes.
    PageBatch {
        /// Entries in the batch (the marker).
        count: u32,
        /// Pages of data that follow.
        data_pages: u32,
    },
    /// A negative-marker chunk.
    Chunk(Chunk),
    /// Marker 0: the end of the body.
    EndOfBody,
    /// PV tail: the unmapped-pfn list (`count` ulongs of payload).
    UnmappedPfns {
        /// Entries in the list.
        count: u32,
    },
    /// PV tail: a vCPU's basic context (payload).
    VcpuBasic {
        /// The vCPU id.
        id: u32,
        /// Bytes of context.
        size: u32,
    },
    /// PV tail: a vCPU's 128-byte extended context (payload).
    VcpuExtended {
        /// The vCPU id.
        id: u32,
    },
    /// PV tail: a vCPU's xsave area (payload of `size` bytes).
    VcpuXsave {
        /// The vCPU id.
        id: u32,
        /// The xfeature mask.
        mask: u64,
        /// Bytes of xsave data.
        size: u64,
    },
    /// PV tail: the 4096-byte shared info page (payload).
    SharedInfo,
    /// HVM tail: the magic pfns.
    MagicPfns {
        /// HVM_PARAM_IOREQ_PFN.
        ioreq: u64,
        /// HVM_PARAM_BUFIOREQ_PFN.
        bufioreq: u64,
        /// HVM_PARAM_STORE_PFN.
        store: u64,
    },
    /// HVM tail: the HVM context blob (payload of `size` bytes).
    HvmContext {
        /// Bytes of context.
        size: u32,
    },
    /// HVM tail: the qemu record. The payload is `size` bytes, or everything up
    /// to the end of the input when `size` is `None` (`QemuDeviceModelRecord`).
    Qemu {
        /// Which signature opened it.
        signature: QemuSignature,
        /// Bytes of qemu data, when length-prefixed.
        size: Option<u32>,
    },
    /// Nothing more to parse.
    End,
}

/// Where the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    ExtendedInfoHeader,
    ExtendedBlocks { total: u32, so_far: u64 },
    P2mFrames,
    Body,
    PvTail,
    PvVcpus { next_id: u32, part: VcpuPart },
    SharedInfo,
    HvmTail,
    HvmContext,
    Qemu,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VcpuPart {
    Basic,
    Extended,
    Xsave,
}

/// How much of the current item's payload is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    Bytes(u64),
    ToEnd,
}

/// What the parser needs to know about the PV guest.
#[derive(Debug, Clone, Copy, Default)]
struct PvState {
    guest_width: Option<GuestWidth>,
    extended: bool,
    xsave_len: u32,
}

/// Streaming parser of a legacy save image: [`LegacyReader::next_event`]
/// gives its items one by one ([`Event`] shows a walk), in constant memory.
///
/// A PV image after a prefix of the caller's, each payload taken a different way:
///
/// ```
/// use migration_stream::source::Sequential;
/// use legacy_convert::format::{BlockId, GuestType, GuestWidth, Width};
/// use legacy_convert::reader::{BlockKind, Chunk, Event, LegacyReader};
/// use legacy_convert::wire::ToolstackHeader;
/// use legacy_convert::writer::{BodyItem, LegacyImage, PhysmapEntry, PvVcpu, encode_physmap};
///
/// let entry = PhysmapEntry { phys_offset: 0xf000_0000, start_addr: 0xfc00_0000, size: 0x80_0000, name: None };
/// let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10)
///     .with_body(vec![
///         BodyItem::pages(&[(0, 3)], 1),
///         BodyItem::Toolstack(encode_physmap(Width::W64, &[entry], 0)),
///     ])
///     .with_vcpus(vec![PvVcpu::new(0, GuestWidth::W64)])
///     .to_bytes();
/// let input = [&b"HEAD"[..], &image].concat();
///
/// let mut reader = LegacyReader::over(Sequential::new(&input[..]));
/// let mut head = [0u8; 4];
/// reader.read_prefix(&mut head, "our own header")?;
/// assert_eq!((&head, reader.offset()), (b"HEAD", 4));
/// assert_eq!(reader.peek(8)?, 0x10u64.to_le_bytes()); // the p2m size, not consumed
/// let found = reader.probe()?;
/// reader.set_layout(found.width, found.guest);
/// assert_eq!((reader.width(), reader.guest_type()), (Width::W64, GuestType::Pv));
///
/// let mut pages = Vec::new();
/// loop {
///     match reader.next_event()? {
///         Event::ExtendedBlock { id, kind, .. } => {
///             assert_eq!((id, kind), (BlockId::VCPU, BlockKind::Vcpu(GuestWidth::W64)));
///         }
///         Event::P2mFrames { count, .. } => {
///             let mut frames = [0u64; 4];
///             assert_eq!(reader.read_frames(&mut frames)?, count as usize);
///             assert_eq!(frames[0], 0x1000);
///         }
///         Event::Chunk(Chunk::VcpuInfo { .. }) => {
///             assert_eq!(reader.online_vcpus().collect::<Vec<_>>(), [0]);
///         }
///         Event::PageBatch { data_pages, .. } => {
///             assert_eq!(reader.batch(), [3]);
///             assert_eq!(reader.payload_remaining(), Some(4096 * u64::from(data_pages)));
///             assert_eq!(reader.payload_what(), "page data");
///             assert_eq!(reader.copy_payload(&mut pages)?, 4096);
///         }
///         Event::Chunk(Chunk::Toolstack { size }) => {
///             let header: ToolstackHeader = reader.read_payload_item()?;
///             assert_eq!((header.version.get(), header.count.get()), (1, 1));
///             let mut entry = vec![0u8; size as usize - 8];
///             reader.read_payload(&mut entry)?;
///         }
///         Event::VcpuBasic { size, .. } => {
///             let mut context = Vec::new();
///             reader.read_payload_capped(&mut context, 0x2000)?;
///             assert_eq!(context.len(), size as usize);
///         }
///         Event::End => break,
///         _ => {} // payloads not taken are skipped
///     }
/// }
/// assert_eq!(reader.guest_width(), Some(GuestWidth::W64));
/// assert_eq!(pages.len(), 4096);
/// assert_eq!(reader.offset(), input.len() as u64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A qemu record that runs to the end of the input (xend's), copied whole or
/// bounded by a length the caller knows:
///
/// ```
/// use legacy_convert::format::{GuestType, QemuSignature, Width};
/// use legacy_convert::reader::{Event, LegacyReader};
/// use legacy_convert::writer::{ImageWriter, hvm_context};
///
/// let mut image = ImageWriter::new(Vec::new(), Width::W64);
/// image.p2m_size(0x100)?;
/// image.end_of_body()?;
/// image.hvm_tail([1, 2, 3], &hvm_context(0, 0))?;
/// image.qemu(QemuSignature::QemuDeviceModelRecord, b"qemu state")?;
/// let bytes = [&b"XL"[..], &image.into_inner()].concat();
///
/// for bounded in [false, true] {
///     let mut reader = LegacyReader::new(&bytes[..]);
///     let mut prefix = Vec::new();
///     reader.copy_prefix(&mut prefix, 2, "the prefix")?;
///     assert_eq!(prefix, b"XL");
///     reader.set_layout(Width::W64, GuestType::Hvm);
///     let mut qemu = Vec::new();
///     loop {
///         match reader.next_event()? {
///             Event::Qemu { size: None, .. } => {
///                 assert_eq!((reader.payload_remaining(), reader.payload_what()), (None, "qemu record"));
///                 assert!(reader.copy_payload(&mut qemu).is_err(), "no length to copy by");
///                 if bounded {
///                     reader.bound_payload(10);
///                     assert_eq!(reader.copy_payload(&mut qemu)?, 10);
///                 } else {
///                     assert_eq!(reader.copy_payload_to_end(&mut qemu)?, 10);
///                 }
///             }
///             Event::End => break,
///             _ => {}
///         }
///     }
///     assert_eq!(qemu, b"qemu state");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LegacyReader<R> {
    input: Input<Sequential<R>>,
    width: Width,
    guest: GuestType,
    state: State,
    payload: Payload,
    payload_what: &'static str,
    p2m_size: u64,
    pv: PvState,
    batch: Vec<u64>,
    /// The raw bytes of the current batch's entries (read in one piece).
    batch_raw: Vec<u8>,
    /// Scratch space for the duplicate-pfn check.
    sorted: Vec<u64>,
    online: Option<Vec<u64>>,
    chunk_index: u64,
    item_offset: u64,
    frames_left: u64,
}

impl<R: Read> LegacyReader<R> {
    /// A parser over `inner`, for a 64-bit toolstack and a PV guest until
    /// [`LegacyReader::set_layout`] or [`LegacyReader::probe`] says otherwise.
    pub fn new(inner: R) -> Self {
        LegacyReader::over(Sequential::new(inner))
    }

    /// A parser over a source built by the caller, e.g.
    /// [`Sequential::descriptor`] for a descriptor that may be non-blocking.
    pub fn over(source: Sequential<R>) -> Self {
        LegacyReader {
            input: Input::new(source),
            width: Width::W64,
            guest: GuestType::Pv,
            state: State::Start,
            payload: Payload::Bytes(0),
            payload_what: "",
            p2m_size: 0,
            pv: PvState::default(),
            batch: Vec::with_capacity(MAX_BATCH as usize),
            batch_raw: Vec::with_capacity(8 * MAX_BATCH as usize),
            sorted: Vec::with_capacity(MAX_BATCH as usize),
            online: None,
            chunk_index: 0,
            item_offset: 0,
            frames_left: 0,
        }
    }

    /// Sets the toolstack width and guest type (upstream's `-w` and `-g`).
    pub fn set_layout(&mut self, width: Width, guest: GuestType) {
        self.width = width;
        self.guest = guest;
    }

    /// The toolstack width in use.
    pub fn width(&self) -> Width {
        self.width
    }

    /// The guest type in use.
    pub fn guest_type(&self) -> GuestType {
        self.guest
    }

    /// Bytes consumed from the input so far.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// The next `n` bytes of input (at most 64 KiB) without consuming them;
    /// fewer only at the end of the input.
    pub fn peek(&mut self, n: usize) -> Result<&[u8], Error> {
        let offset = self.offset();
        self.input
            .peek(n)
            .map_err(|source| Error::new(ErrorKind::Input(source.into()), offset, None))
    }

    /// Looks at the first bytes of the image (without consuming them) and
    /// works out the toolstack width and guest type, as the v2 spec's legacy
    /// detection describes; see [`crate::probe::probe`].
    pub fn probe(&mut self) -> Result<crate::probe::Detection, Error> {
        let offset = self.offset();
        let head = self.peek(crate::probe::PROBE_LEN)?;
        crate::probe::probe(head).map_err(|kind| Error::new(kind, offset, None))
    }

    /// Reads exactly `out.len()` bytes of raw input that precede the image
    /// (the xl header). Only valid before the first event.
    pub fn read_prefix(&mut self, out: &mut [u8], what: &'static str) -> Result<(), Error> {
        let offset = self.offset();
        self.input
            .read_exact(out)
            .map_err(|f| self.failure(f, offset, out.len() as u64, what))
    }

    /// Copies exactly `len` bytes of raw input that precede the image to `out`.
    pub fn copy_prefix<S: CopySink + ?Sized>(
        &mut self,
        out: &mut S,
        len: u64,
        what: &'static str,
    ) -> Result<(), Error> {
        let offset = self.offset();
        self.input
            .copy_to(len, out)
            .map_err(|f| self.copy_failure(f, offset, len, what))
    }

    /// The raw entries of the current page batch (ulongs widened to u64).
    pub fn batch(&self) -> &[u64] {
        &self.batch
    }

    /// The online vCPU ids of the VCPU_INFO chunk, in ascending order
    /// (empty before that chunk).
    pub fn online_vcpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.online.iter().flat_map(|words| {
            words.iter().enumerate().flat_map(|(w, &word)| {
                (0..64u32)
                    .filter(move |bit| word & (1u64 << bit) != 0)
                    .map(move |bit| (w as u32) * 64 + bit)
            })
        })
    }

    /// The guest width from the `"vcpu"` block, once seen.
    pub fn guest_width(&self) -> Option<GuestWidth> {
        self.pv.guest_width
    }

    /// The p2m size of the header, once read.
    pub fn p2m_size(&self) -> u64 {
        self.p2m_size
    }

    /// Bytes left of the current payload (`None` when it runs to the end of the input).
    pub fn payload_remaining(&self) -> Option<u64> {
        match self.payload {
            Payload::Bytes(n) => Some(n),
            Payload::ToEnd => None,
        }
    }

    /// What the current payload is, for messages ("page data", "qemu record", ...).
    pub fn payload_what(&self) -> &'static str {
        self.payload_what
    }

    /// Copies the rest of the current payload to `out`, returning how many
    /// bytes it was: buffered bytes first, then straight from the input
    /// (see `migration_stream::source::Input::copy_to`).
    ///
    /// A payload that runs to the end of the input has no length a record
    /// could declare: use [`LegacyReader::copy_payload_to_end`] for it, or
    /// bound it first with [`LegacyReader::bound_payload`].
    pub fn copy_payload<S: CopySink + ?Sized>(&mut self, out: &mut S) -> Result<u64, Error> {
        match self.payload {
            Payload::Bytes(len) => {
                let offset = self.offset();
                self.payload = Payload::Bytes(0);
                self.input
                    .copy_to(len, out)
                    .map_err(|f| self.copy_failure(f, offset, len, self.payload_what))?;
                Ok(len)
            }
            Payload::ToEnd => Err(self.misuse(
                "a payload that runs to the end of the input has no length to copy a record of",
            )),
        }
    }

    /// Copies the rest of the current payload, whatever its kind, to `out`.
    pub fn copy_payload_to_end<S: CopySink + ?Sized>(&mut self, out: &mut S) -> Result<u64, Error> {
        match self.payload {
            Payload::Bytes(_) => self.copy_payload(out),
            Payload::ToEnd => {
                self.payload = Payload::Bytes(0);
                let offset = self.offset();
                self.input
                    .copy_to_end(out)
                    .map_err(|f| self.copy_failure(f, offset, 0, self.payload_what))
            }
        }
    }

    /// Declares that a payload running to the end of the input is `len` bytes
    /// long (the caller knows the input's size); it then ends there.
    pub fn bound_payload(&mut self, len: u64) {
        if self.payload == Payload::ToEnd {
            self.payload = Payload::Bytes(len);
        }
    }

    /// Reads the rest of the current payload into `out`, failing with
    /// [`ErrorKind::TooLarge`] when it is longer than `cap` bytes (before
    /// reading any of it when its length is known; as soon as `cap` is
    /// passed otherwise, so that no more than `cap` bytes are ever held).
    pub fn read_payload_capped(&mut self, out: &mut Vec<u8>, cap: u64) -> Result<(), Error> {
        let offset = self.offset();
        let what = self.payload_what;
        let too_large = |found| Error::new(ErrorKind::TooLarge { what, found, cap }, offset, None);
        match self.payload {
            Payload::Bytes(len) if len > cap => Err(too_large(Size::Exactly(len))),
            Payload::Bytes(len) => {
                self.payload = Payload::Bytes(0);
                out.reserve_exact(len as usize);
                self.input
                    .copy_to(len, out)
                    .map_err(|f| self.failure(f, offset, len, what))
            }
            Payload::ToEnd => {
                self.payload = Payload::Bytes(0);
                // One byte more than the cap: if it arrives, the data is too long.
                let bound = cap.saturating_add(1);
                let mut held = Held {
                    out,
                    bound: usize::try_from(bound).unwrap_or(usize::MAX),
                };
                match self.input.copy_to(bound, &mut held) {
                    Err(InputError::Truncated { .. }) => Ok(()),
                    Ok(()) => Err(too_large(Size::AtLeast(cap))),
                    Err(InputError::Io(source)) => Err(self.input_error(source)),
                    Err(other) => Err(self.input_error(other.into())),
                }
            }
        }
    }

    /// Reads the next `out.len()` bytes of the current payload.
    pub fn read_payload(&mut self, out: &mut [u8]) -> Result<(), Error> {
        let want = out.len() as u64;
        let offset = self.offset();
        if let Payload::Bytes(left) = self.payload {
            if want > left {
                return Err(self.misuse("a read past the end of the current payload"));
            }
            self.payload = Payload::Bytes(left - want);
        }
        self.input
            .read_exact(out)
            .map_err(|f| self.failure(f, offset, want, self.payload_what))
    }

    /// Reads one legacy structure of the current payload (see [`crate::wire`]).
    pub fn read_payload_item<T: FromBytes + IntoBytes>(&mut self) -> Result<T, Error> {
        let mut item = T::new_zeroed();
        self.read_payload(item.as_mut_bytes())?;
        Ok(item)
    }

    /// Reads up to `out.len()` frames of the p2m frame list (after
    /// [`Event::P2mFrames`]), returning how many were read (0 when done).
    pub fn read_frames(&mut self, out: &mut [u64]) -> Result<usize, Error> {
        let n = (out.len() as u64).min(self.frames_left) as usize;
        for slot in &mut out[..n] {
            *slot = self.read_ulong("p2m frame list entry")?;
        }
        self.frames_left -= n as u64;
        self.payload = Payload::Bytes(self.frames_left * self.width.ulong_bytes() as u64);
        Ok(n)
    }

    /// The error for a read of `want` bytes of `what` that began at `offset`.
    fn failure(&self, f: InputError, offset: u64, want: u64, what: &'static str) -> Error {
        match f {
            InputError::Truncated { wanted, .. } => {
                let found = want.saturating_sub(wanted);
                Error::new(
                    ErrorKind::Truncated {
                        what,
                        expected: want,
                        found,
                    },
                    offset + found,
                    self.chunk(),
                )
            }
            InputError::Io(source) => self.input_error(source),
            // Any failure migration-stream tells apart later: an input error.
            other => self.input_error(other.into()),
        }
    }

    /// The error for a copy to the output: `Input::copy_to` does not say
    /// which end failed, and the output is the one that can (the input's
    /// reads fail the same way for the next item, which then says so).
    fn copy_failure(&self, f: InputError, offset: u64, want: u64, what: &'static str) -> Error {
        match f {
            InputError::Io(source) => Error::new(
                ErrorKind::Output { item: what, source },
                offset,
                self.chunk(),
            ),
            eof => self.failure(eof, offset, want, what),
        }
    }

    fn input_error(&self, source: io::Error) -> Error {
        Error::new(ErrorKind::Input(source), self.offset(), self.chunk())
    }

    /// The body chunk index, when in the body.
    fn chunk(&self) -> Option<u64> {
        (self.state == State::Body).then_some(self.chunk_index)
    }

    /// An error of `kind` about the current item.
    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.item_offset, self.chunk())
    }

    fn misuse(&self, what: &'static str) -> Error {
        Error::new(ErrorKind::Misuse(what), self.offset(), self.chunk())
    }

    /// Reads one legacy structure (see [`crate::wire`]) outside any payload.
    fn read_item<T: FromBytes + IntoBytes>(&mut self, what: &'static str) -> Result<T, Error> {
        let mut item = T::new_zeroed();
        let offset = self.offset();
        let out = item.as_mut_bytes();
        let want = out.len() as u64;
        self.input
            .read_exact(out)
            .map_err(|f| self.failure(f, offset, want, what))?;
        Ok(item)
    }

    fn read_u32(&mut self, what: &'static str) -> Result<u32, Error> {
        Ok(self.read_item::<Le32>(what)?.get())
    }

    fn read_i32(&mut self, what: &'static str) -> Result<i32, Error> {
        Ok(self.read_item::<wire::LeI32>(what)?.get())
    }

    fn read_u64(&mut self, what: &'static str) -> Result<u64, Error> {
        Ok(self.read_item::<Le64>(what)?.get())
    }

    fn read_ulong(&mut self, what: &'static str) -> Result<u64, Error> {
        match self.width {
            Width::W32 => self.read_u32(what).map(u64::from),
            Width::W64 => self.read_u64(what),
        }
    }

    fn set_payload(&mut self, len: u64, what: &'static str) {
        self.payload = Payload::Bytes(len);
        self.payload_what = what;
    }

    fn skip_rest_of_payload(&mut self) -> Result<(), Error> {
        match self.payload {
            Payload::Bytes(0) => Ok(()),
            Payload::Bytes(len) => {
                let offset = self.offset();
                self.payload = Payload::Bytes(0);
                self.input
                    .skip(len)
                    .map_err(|f| self.failure(f, offset, len, self.payload_what))
            }
            Payload::ToEnd => {
                self.payload = Payload::Bytes(0);
                self.input
                    .copy_to_end(&mut io::sink())
                    .map(|_| ())
                    .map_err(|f| match f {
                        InputError::Io(source) => self.input_error(source),
                        eof => self.failure(eof, self.offset(), 0, self.payload_what),
                    })
            }
        }
    }
}

/// Grows `out` for `extra` more bytes, doubling as a `Vec` does but never
/// beyond `bound` bytes of capacity (so that data held up to a cap costs
/// at most the cap, not twice it).
pub(crate) fn grow_within(out: &mut Vec<u8>, extra: usize, bound: usize) {
    let needed = out.len().saturating_add(extra);
    if needed <= out.capacity() {
        return;
    }
    let target = out
        .capacity()
        .saturating_mul(2)
        .max(needed)
        .max(64 * 1024)
        .min(bound.max(needed));
    out.reserve_exact(target - out.len());
}

/// The buffer of [`LegacyReader::read_payload_capped`] for data of unknown
/// length: grows with [`grow_within`] up to `bound` bytes.
struct Held<'a> {
    out: &'a mut Vec<u8>,
    bound: usize,
}

impl CopySink for Held<'_> {
    fn write_piece(&mut self, piece: &[u8]) -> io::Result<()> {
        grow_within(self.out, piece.len(), self.bound);
        self.out.extend_from_slice(piece);
        Ok(())
    }

    fn copy_from<T: Read>(&mut self, src: &mut io::Take<T>) -> io::Result<()> {
        let mut piece = [0u8; 16 * 1024];
        loop {
            let n = src.read(&mut piece)?;
            if n == 0 {
                return Ok(());
            }
            self.write_piece(piece.get(..n).unwrap_or_default())?;
        }
    }
}

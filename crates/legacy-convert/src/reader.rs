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

use std::io::{self, Read, Write};

use crate::error::Error;
use crate::format::{
    BARE_XTAB, BlockId, ChunkId, GuestType, GuestWidth, MAX_BATCH, MAX_VCPU_ID, PAGE_SIZE,
    PFN_MASK, PFN_TYPE_MASK, QemuSignature, VCPU_EXTENDED_SIZE, Width, entry_has_data,
    entry_type_is_invalid, entry_type_is_page_table,
};
use migration_stream::source::{CopySink, Input, InputError, Sequential};

/// The TSC settings of chunk −7, in legacy field order.
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

/// One item of a legacy image, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Streaming parser of a legacy save image.
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
        LegacyReader {
            input: Input::new(Sequential::new(inner)),
            width: Width::W64,
            guest: GuestType::Pv,
            state: State::Start,
            payload: Payload::Bytes(0),
            payload_what: "",
            p2m_size: 0,
            pv: PvState::default(),
            batch: Vec::with_capacity(MAX_BATCH as usize),
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

    /// Looks at the first bytes of the image (without consuming them) and
    /// works out the toolstack width and guest type, as the v2 spec's legacy
    /// detection describes; see [`crate::probe::probe`].
    pub fn probe(&mut self) -> Result<crate::probe::Detection, Error> {
        let offset = self.offset();
        let head = self
            .input
            .peek(crate::probe::PROBE_LEN)
            .map_err(|source| Error::Input {
                offset,
                source: source.into(),
            })?;
        crate::probe::probe(head).map_err(|message| Error::Invalid {
            offset,
            location: format!("byte offset {offset}"),
            message,
        })
    }

    /// Reads exactly `out.len()` bytes of raw input that precede the image
    /// (the xl header). Only valid before the first event.
    pub fn read_prefix(&mut self, out: &mut [u8], what: &str) -> Result<(), Error> {
        let offset = self.offset();
        self.input
            .read_exact(out)
            .map_err(|f| self.failure(f, offset, out.len() as u64, what))
    }

    /// Copies exactly `len` bytes of raw input that precede the image to `out`.
    pub fn copy_prefix<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        len: u64,
        what: &str,
    ) -> Result<(), Error> {
        let offset = self.offset();
        self.input
            .copy_to(len, out)
            .map_err(|f| self.failure(f, offset, len, what))
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

    /// Copies the rest of the current payload to `out`, returning how many
    /// bytes it was. Page data goes through `std::io::copy` on the unwrapped
    /// input, so file-to-file conversion uses the kernel's copy.
    ///
    /// A payload that runs to the end of the input can only go to a
    /// [`Write`], which takes any length: use
    /// [`LegacyReader::copy_payload_to_end`] for it, or bound it first with
    /// [`LegacyReader::bound_payload`].
    pub fn copy_payload<S: CopySink + ?Sized>(&mut self, out: &mut S) -> Result<u64, Error> {
        match self.payload {
            Payload::Bytes(len) => {
                let offset = self.offset();
                self.payload = Payload::Bytes(0);
                self.input.copy_to(len, out).map_err(|f| match f {
                    InputError::Io(source) => Error::output(
                        format!(
                            "copying {} (input byte offset {offset}) to the output",
                            self.payload_what
                        ),
                        source,
                    ),
                    eof => self.failure(eof, offset, len, self.payload_what),
                })?;
                Ok(len)
            }
            Payload::ToEnd => Err(self.invalid_at(
                self.offset(),
                format!(
                    "{} runs to the end of the input: its length is unknown",
                    self.payload_what
                ),
            )),
        }
    }

    /// Copies the rest of the current payload, whatever its kind, to `out`.
    pub fn copy_payload_to_end<W: Write + ?Sized>(&mut self, out: &mut W) -> Result<u64, Error> {
        match self.payload {
            Payload::Bytes(_) => self.copy_payload(out),
            Payload::ToEnd => {
                self.payload = Payload::Bytes(0);
                let offset = self.offset();
                self.input.copy_to_end(out).map_err(|source| {
                    Error::output(
                        format!(
                            "copying {} (input byte offset {offset}) to the output",
                            self.payload_what
                        ),
                        source.into(),
                    )
                })
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

    /// Reads the rest of the current payload into `out`, failing when it is
    /// longer than `limit` bytes.
    pub fn read_payload_limited(&mut self, out: &mut Vec<u8>, limit: u64) -> Result<(), Error> {
        let offset = self.offset();
        match self.payload {
            Payload::Bytes(len) => {
                if len > limit {
                    return Err(self.invalid_at(
                        offset,
                        format!(
                            "{} of {len} bytes: at most {limit} can be converted",
                            self.payload_what
                        ),
                    ));
                }
                self.payload = Payload::Bytes(0);
                self.input
                    .copy_to(len, out)
                    .map_err(|f| self.failure(f, offset, len, self.payload_what))
            }
            Payload::ToEnd => {
                self.payload = Payload::Bytes(0);
                let mut piece = [0u8; 8192];
                loop {
                    let got = self
                        .input
                        .read_some(&mut piece)
                        .map_err(|source| Error::Input {
                            offset: self.offset(),
                            source: source.into(),
                        })?;
                    if got == 0 {
                        return Ok(());
                    }
                    if (out.len() + got) as u64 > limit {
                        return Err(self.invalid_at(
                            offset,
                            format!(
                                "{} longer than {limit} bytes: it cannot be converted",
                                self.payload_what
                            ),
                        ));
                    }
                    out.extend_from_slice(piece.get(..got).unwrap_or_default());
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
                return Err(self.invalid_at(
                    offset,
                    format!("read of {want} bytes past the end of {}", self.payload_what),
                ));
            }
            self.payload = Payload::Bytes(left - want);
        }
        self.input
            .read_exact(out)
            .map_err(|f| self.failure(f, offset, want, self.payload_what))
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
    fn failure(&self, f: InputError, offset: u64, want: u64, what: &str) -> Error {
        match f {
            InputError::Truncated { wanted, .. } => {
                let got = want.saturating_sub(wanted);
                Error::Truncated {
                    offset: offset + got,
                    expected: format!("{want} bytes of {what}, found {got}"),
                }
            }
            InputError::Io(source) => Error::Input {
                offset: self.offset(),
                source,
            },
        }
    }

    fn location(&self, offset: u64) -> String {
        match self.state {
            State::Body => format!("body chunk {}, byte offset {offset}", self.chunk_index),
            _ => format!("byte offset {offset}"),
        }
    }

    fn invalid_at(&self, offset: u64, message: impl Into<String>) -> Error {
        Error::Invalid {
            offset,
            location: self.location(offset),
            message: message.into(),
        }
    }

    fn invalid(&self, message: impl Into<String>) -> Error {
        self.invalid_at(self.item_offset, message)
    }

    fn unsupported(&self, message: impl Into<String>) -> Error {
        Error::Unsupported {
            offset: self.item_offset,
            location: self.location(self.item_offset),
            message: message.into(),
        }
    }

    fn read_array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        let offset = self.offset();
        self.input
            .read_exact(&mut out)
            .map_err(|f| self.failure(f, offset, N as u64, what))?;
        Ok(out)
    }

    fn read_u32(&mut self, what: &str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.read_array(what)?))
    }

    fn read_i32(&mut self, what: &str) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.read_array(what)?))
    }

    fn read_u64(&mut self, what: &str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.read_array(what)?))
    }

    fn read_ulong(&mut self, what: &str) -> Result<u64, Error> {
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
                    .map_err(|source| Error::Input {
                        offset: self.offset(),
                        source: source.into(),
                    })
            }
        }
    }

    /// The next item of the image. After [`Event::End`] it keeps returning `End`.
    pub fn next_event(&mut self) -> Result<Event, Error> {
        if self.state == State::P2mFrames && self.frames_left > 0 {
            // Frames the caller did not read are skipped with the payload.
            self.frames_left = 0;
        }
        self.skip_rest_of_payload()?;
        self.item_offset = self.offset();
        match self.state {
            State::Start => self.read_p2m_size(),
            State::ExtendedInfoHeader => self.read_extended_info_header(),
            State::ExtendedBlocks { total, so_far } => self.read_extended_block(total, so_far),
            State::P2mFrames => {
                self.state = State::Body;
                self.read_body_item()
            }
            State::Body => self.read_body_item(),
            State::PvTail => self.read_unmapped(),
            State::PvVcpus { next_id, part } => self.read_vcpu(next_id, part),
            State::SharedInfo => {
                self.state = State::Done;
                self.set_payload(PAGE_SIZE as u64, "shared info page");
                Ok(Event::SharedInfo)
            }
            State::HvmTail => self.read_magic_pfns(),
            State::HvmContext => self.read_hvm_context(),
            State::Qemu => self.read_qemu(),
            State::Done => Ok(Event::End),
        }
    }

    fn read_p2m_size(&mut self) -> Result<Event, Error> {
        let p2m_size = self.read_ulong("p2m size")?;
        self.p2m_size = p2m_size;
        self.state = match self.guest {
            GuestType::Pv => State::ExtendedInfoHeader,
            GuestType::Hvm => State::Body,
        };
        Ok(Event::P2mSize(p2m_size))
    }

    fn read_extended_info_header(&mut self) -> Result<Event, Error> {
        let marker = self.read_ulong("extended info marker")?;
        if marker != self.width.all_ones() {
            return Err(self.invalid(format!(
                "Unexpected extended info marker 0x{marker:x}: expected 0x{:x} \
                 (is this a PV image from a {} toolstack?)",
                self.width.all_ones(),
                self.width
            )));
        }
        let total_length = self.read_u32("extended info length")?;
        self.state = State::ExtendedBlocks {
            total: total_length,
            so_far: 0,
        };
        Ok(Event::ExtendedInfo { total_length })
    }

    fn read_extended_block(&mut self, total: u32, so_far: u64) -> Result<Event, Error> {
        if so_far >= u64::from(total) {
            if so_far != u64::from(total) {
                return Err(self.invalid(format!(
                    "Overshot Extended Info size by {} bytes: blocks take {so_far} bytes, \
                     the header says {total}",
                    so_far - u64::from(total)
                )));
            }
            return self.start_p2m_frames();
        }
        let id = BlockId(self.read_array("extended info block id")?);
        let size = self.read_u32("extended info block size")?;
        let so_far = so_far + 8 + u64::from(size);
        self.state = State::ExtendedBlocks { total, so_far };
        let kind = match id {
            BlockId::VCPU => {
                let Some(width) = GuestWidth::from_context_size(size) else {
                    return Err(self.invalid(format!(
                        "Unable to determine guest width/level: \"vcpu\" block of 0x{size:x} \
                         bytes, expected 0x1430 (64-bit) or 0xaf0 (32-bit)"
                    )));
                };
                if self.pv.guest_width.is_some() {
                    return Err(self.invalid("second \"vcpu\" extended info block"));
                }
                self.pv.guest_width = Some(width);
                self.set_payload(u64::from(size), "vcpu0 context");
                BlockKind::Vcpu(width)
            }
            BlockId::EXTV => {
                self.pv.extended = true;
                self.set_payload(u64::from(size), "\"extv\" block data");
                BlockKind::Extv
            }
            BlockId::XCNT => {
                if size < 4 {
                    return Err(self.invalid(format!(
                        "\"xcnt\" block of {size} bytes: expected at least 4"
                    )));
                }
                let xsave_len = self.read_u32("xcnt size")?;
                // The xsave area starts with xcr0 and xcr0_accum (16 bytes).
                if xsave_len != 0 && xsave_len < 32 {
                    return Err(self.invalid(format!(
                        "\"xcnt\" size 0x{xsave_len:x}: expected 0 or at least 0x20 \
                         (an xsave area of at least 16 bytes, plus 16)"
                    )));
                }
                self.pv.xsave_len = xsave_len;
                self.set_payload(u64::from(size) - 4, "\"xcnt\" block data");
                BlockKind::Xcnt { xsave_len }
            }
            other => {
                return Err(self.invalid(format!(
                    "Unrecognised extended block {other}: expected b'vcpu', b'extv' or b'xcnt'"
                )));
            }
        };
        Ok(Event::ExtendedBlock { id, size, kind })
    }

    fn start_p2m_frames(&mut self) -> Result<Event, Error> {
        let Some(width) = self.pv.guest_width else {
            return Err(self.invalid(
                "extended info has no \"vcpu\" block: unable to determine guest width/level",
            ));
        };
        if self.p2m_size == 0 || self.p2m_size > 1 << 32 {
            return Err(self.invalid(format!(
                "P2M size 0x{:x} out of range: expected 1 to 0x100000000 for a PV guest",
                self.p2m_size
            )));
        }
        let frames_per_page = width.frames_per_page();
        let count = (self.p2m_size - 1) / frames_per_page + 1;
        self.state = State::P2mFrames;
        self.frames_left = count;
        self.set_payload(count * self.width.ulong_bytes() as u64, "p2m frame list");
        Ok(Event::P2mFrames {
            frames_per_page,
            count,
        })
    }

    fn read_body_item(&mut self) -> Result<Event, Error> {
        self.chunk_index += 1;
        let marker = self.read_i32("chunk marker")?;
        if marker > 0 {
            return self.read_batch(marker as u32);
        }
        let id = ChunkId(marker);
        match id {
            ChunkId::END => {
                self.state = match self.guest {
                    GuestType::Pv => State::PvTail,
                    GuestType::Hvm => State::HvmTail,
                };
                Ok(Event::EndOfBody)
            }
            ChunkId::ENABLE_VERIFY_MODE => Ok(Event::Chunk(Chunk::EnableVerifyMode)),
            ChunkId::VCPU_INFO => self.read_vcpu_info(),
            ChunkId::TSC_INFO => {
                let raw: [u8; 20] = self.read_array("TSC info")?;
                let field4 = |at: usize| {
                    u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]])
                };
                let mut nsec = [0u8; 8];
                nsec.copy_from_slice(&raw[4..12]);
                Ok(Event::Chunk(Chunk::TscInfo(TscInfo {
                    mode: field4(0),
                    nsec: u64::from_le_bytes(nsec),
                    khz: field4(12),
                    incarnation: field4(16),
                })))
            }
            ChunkId::LAST_CHECKPOINT => Ok(Event::Chunk(Chunk::LastCheckpoint)),
            ChunkId::TOOLSTACK => {
                let size = self.read_u32("toolstack data size")?;
                self.set_payload(u64::from(size), "toolstack data");
                Ok(Event::Chunk(Chunk::Toolstack { size }))
            }
            ChunkId::TMEM | ChunkId::TMEM_EXTRA => Err(self.unsupported(format!(
                "chunk {id} holds transcendent memory (tmem) pages, which cannot be \
                 converted: the v2 format has no tmem records"
            ))),
            ChunkId::COMPRESSED_DATA | ChunkId::ENABLE_COMPRESSION => {
                Err(self.unsupported(format!(
                    "chunk {id}: the image uses Remus checkpoint compression, whose pages \
                     are deltas against the previous checkpoint and cannot be converted \
                     without the sender's memory"
                )))
            }
            _ => match id.hvm_param() {
                Some(param) => {
                    let _pad = self.read_u32("HVM parameter chunk padding")?;
                    let value = self.read_u64("HVM parameter chunk value")?;
                    Ok(Event::Chunk(Chunk::HvmParam { id, param, value }))
                }
                None => Err(self.invalid(format!(
                    "Unrecognised chunk {marker}: expected a page batch (1 to {MAX_BATCH}), \
                     0 or a chunk id from -1 to -21"
                ))),
            },
        }
    }

    fn read_batch(&mut self, count: u32) -> Result<Event, Error> {
        if count > MAX_BATCH {
            return Err(self.invalid(format!(
                "Page batch ({count}) exceeded MAX_BATCH ({MAX_BATCH})"
            )));
        }
        self.batch.clear();
        for _ in 0..count {
            let entry = self.read_ulong("page batch pfn_type entry")?;
            self.batch.push(entry);
        }
        let mut data_pages: u32 = 0;
        for (index, &entry) in self.batch.iter().enumerate() {
            if entry > PFN_TYPE_MASK | PFN_MASK {
                return Err(self.invalid(format!(
                    "pfn_type[{index}] = 0x{entry:x} has bits set above bit 31: expected \
                     a page type in bits 31-28 and a pfn in bits 27-0"
                )));
            }
            if entry_type_is_invalid(entry) {
                return Err(self.invalid(format!(
                    "pfn_type[{index}] = 0x{entry:x} has page type 0x{:x}, which does not \
                     exist (types 0x5 to 0x8 are invalid)",
                    entry >> 28
                )));
            }
            if self.guest == GuestType::Hvm && entry_type_is_page_table(entry) {
                return Err(self.invalid(format!(
                    "pfn_type[{index}] = 0x{entry:x}: page-table type 0x{:x} in an HVM image \
                     (only PV guests have typed page tables)",
                    entry >> 28
                )));
            }
            // A PV guest's pfns index its p2m: none can reach p2m_size
            // (the restorer refuses them; bare XTAB entries are dropped).
            if self.guest == GuestType::Pv
                && entry != BARE_XTAB
                && entry & PFN_MASK >= self.p2m_size
            {
                return Err(self.invalid(format!(
                    "pfn_type[{index}] = 0x{entry:x}: pfn 0x{:x} is beyond the p2m size 0x{:x}",
                    entry & PFN_MASK,
                    self.p2m_size
                )));
            }
            if entry_has_data(entry) {
                data_pages += 1;
            }
        }
        // Duplicate pfns (bare XTAB entries aside, which the saver writes for every
        // page it failed to map). Batches are at most 1024 entries: sort a copy.
        let mut pfns = std::mem::take(&mut self.sorted);
        pfns.clear();
        pfns.extend(
            self.batch
                .iter()
                .filter(|&&e| e != BARE_XTAB)
                .map(|&e| e & PFN_MASK),
        );
        pfns.sort_unstable();
        let duplicate = pfns.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
        self.sorted = pfns;
        if let Some(pfn) = duplicate {
            return Err(self.invalid(format!(
                "Duplicate pfns in batch: pfn 0x{pfn:x} appears more than once"
            )));
        }
        self.set_payload(u64::from(data_pages) * PAGE_SIZE as u64, "page data");
        Ok(Event::PageBatch { count, data_pages })
    }

    fn read_vcpu_info(&mut self) -> Result<Event, Error> {
        let max_id = self.read_i32("VCPU_INFO max_id")?;
        if !(0..=MAX_VCPU_ID).contains(&max_id) {
            return Err(self.invalid(format!(
                "Vcpu max_id out of range: {max_id}, expected 0 to {MAX_VCPU_ID}"
            )));
        }
        if self.online.is_some() {
            return Err(self.invalid("second VCPU_INFO chunk: expected one per image"));
        }
        let words = (max_id / 64 + 1) as usize;
        let mut map = Vec::with_capacity(words);
        for _ in 0..words {
            map.push(self.read_u64("VCPU_INFO online map")?);
        }
        self.online = Some(map);
        Ok(Event::Chunk(Chunk::VcpuInfo { max_id }))
    }

    fn next_online_from(&self, from: u32) -> Option<u32> {
        self.online_vcpus().find(|&id| id >= from)
    }

    fn read_unmapped(&mut self) -> Result<Event, Error> {
        let count = self.read_u32("unmapped pfn count")?;
        self.set_payload(
            u64::from(count) * self.width.ulong_bytes() as u64,
            "unmapped pfn list",
        );
        self.state = match self.next_online_from(0) {
            Some(id) => State::PvVcpus {
                next_id: id,
                part: VcpuPart::Basic,
            },
            None => State::SharedInfo,
        };
        Ok(Event::UnmappedPfns { count })
    }

    fn advance_vcpu(&mut self, id: u32) {
        self.state = match id.checked_add(1).and_then(|n| self.next_online_from(n)) {
            Some(next_id) => State::PvVcpus {
                next_id,
                part: VcpuPart::Basic,
            },
            None => State::SharedInfo,
        };
    }

    fn read_vcpu(&mut self, id: u32, part: VcpuPart) -> Result<Event, Error> {
        let width = self.pv.guest_width.unwrap_or(GuestWidth::W64);
        match part {
            VcpuPart::Basic => {
                let size = width.context_size();
                self.set_payload(u64::from(size), "vcpu basic context");
                if self.pv.extended {
                    self.state = State::PvVcpus {
                        next_id: id,
                        part: VcpuPart::Extended,
                    };
                } else if self.pv.xsave_len != 0 {
                    self.state = State::PvVcpus {
                        next_id: id,
                        part: VcpuPart::Xsave,
                    };
                } else {
                    self.advance_vcpu(id);
                }
                Ok(Event::VcpuBasic { id, size })
            }
            VcpuPart::Extended => {
                self.set_payload(u64::from(VCPU_EXTENDED_SIZE), "vcpu extended context");
                if self.pv.xsave_len != 0 {
                    self.state = State::PvVcpus {
                        next_id: id,
                        part: VcpuPart::Xsave,
                    };
                } else {
                    self.advance_vcpu(id);
                }
                Ok(Event::VcpuExtended { id })
            }
            VcpuPart::Xsave => {
                let mask = self.read_u64("xsave xfeature mask")?;
                let size = self.read_u64("xsave size")?;
                let expected = u64::from(self.pv.xsave_len).checked_sub(16);
                if expected != Some(size) {
                    return Err(self.invalid(format!(
                        "vcpu{id} xsave area of {size} bytes, but the \"xcnt\" block says \
                         0x{:x} - 16",
                        self.pv.xsave_len
                    )));
                }
                self.set_payload(size, "vcpu xsave area");
                self.advance_vcpu(id);
                Ok(Event::VcpuXsave { id, mask, size })
            }
        }
    }

    fn read_magic_pfns(&mut self) -> Result<Event, Error> {
        let ioreq = self.read_u64("magic pfns")?;
        let bufioreq = self.read_u64("magic pfns")?;
        let store = self.read_u64("magic pfns")?;
        self.state = State::HvmContext;
        Ok(Event::MagicPfns {
            ioreq,
            bufioreq,
            store,
        })
    }

    fn read_hvm_context(&mut self) -> Result<Event, Error> {
        let size = self.read_u32("HVM context size")?;
        if size == 0 {
            return Err(self.invalid("HVM context of 0 bytes: expected a context blob"));
        }
        self.set_payload(u64::from(size), "HVM context");
        self.state = State::Qemu;
        Ok(Event::HvmContext { size })
    }

    fn read_qemu(&mut self) -> Result<Event, Error> {
        let raw: [u8; 21] = self.read_array("qemu record signature")?;
        let Some(signature) = QemuSignature::from_bytes(&raw) else {
            return Err(self.invalid(format!(
                "Unrecognised Qemu sig {}: expected b'DeviceModelRecord0002', \
                 b'RemusDeviceModelState' or b'QemuDeviceModelRecord'",
                crate::format::python_bytes_repr(&raw)
            )));
        };
        self.state = State::Done;
        if signature.is_length_prefixed() {
            let size = self.read_u32("qemu record length")?;
            self.set_payload(u64::from(size), "qemu record");
            Ok(Event::Qemu {
                signature,
                size: Some(size),
            })
        } else {
            self.payload = Payload::ToEnd;
            self.payload_what = "qemu record";
            Ok(Event::Qemu {
                signature,
                size: None,
            })
        }
    }
}

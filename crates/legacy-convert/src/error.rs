//! What can go wrong reading or converting a legacy image.
//!
//! One shape, as in `migration_stream`: an [`Error`] is a [`ErrorKind`]
//! (what went wrong, with the values involved) plus where (the byte offset
//! in the input, the body chunk index when in the image body) and, when the
//! caller's width or guest type disagrees with what the image looks like, a
//! [`Hint`] at the likely cause. Callers and tests match on the kind; the
//! text is for people.

use std::fmt;
use std::io;

use crate::format::{
    BlockId, ChunkId, GuestType, MAX_BATCH, MAX_VCPU_ID, VCPU_CONTEXT_32, VCPU_CONTEXT_64, Width,
};

/// What went wrong. New kinds are added over time: match the ones you act
/// on and keep a catch-all arm.
///
/// ```
/// use legacy_convert::{ErrorKind, Options, convert, convert::Quiet};
/// let err = convert(&b""[..], &mut Vec::new(), &Options::default(), &mut Quiet).unwrap_err();
/// match err.kind() {
///     ErrorKind::Empty => {}
///     other => panic!("another error: {other}"),
/// }
/// assert_eq!(err.kind().to_string(), "the input is empty: expected a legacy save image");
/// assert!(err.kind().is_bad_input() && !err.kind().is_unsupported());
/// assert!(err.kind().io_error().is_none());
///
/// // Valid, but not convertible: exit code 2, not 1.
/// let tmem = ErrorKind::Tmem { chunk: legacy_convert::format::ChunkId::TMEM };
/// assert!(tmem.is_unsupported() && !tmem.is_bad_input());
/// let input = ErrorKind::Input(std::io::ErrorKind::BrokenPipe.into());
/// assert_eq!(input.io_error().map(|e| e.kind()), Some(std::io::ErrorKind::BrokenPipe));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input holds no bytes at all.
    #[error("the input is empty: expected a legacy save image")]
    Empty,
    /// The input starts with an xl save header but the caller did not say so.
    #[error(
        "the input starts with an xl save header (\"Xen saved domain, xl format\"), not with a \
         legacy image"
    )]
    UnexpectedXlHeader,
    /// The input is too short to tell the toolstack width and guest type.
    #[error(
        "cannot detect the toolstack width and guest type: the image has only {found} bytes \
         (give the width and guest type)"
    )]
    TooShortToDetect {
        /// Bytes the input holds.
        found: usize,
    },
    /// The input ended inside an item.
    #[error("stream truncated: expected {expected} bytes of {what}, found {found}")]
    Truncated {
        /// The item being read.
        what: &'static str,
        /// Bytes it needs.
        expected: u64,
        /// Bytes that were there.
        found: u64,
    },
    /// The xl save header (with `xl_header` set) is not one.
    #[error("{0}")]
    XlHeader(migration_stream::ErrorKind),
    /// An xl save file was asked to become a bare libxc stream.
    #[error(
        "an xl save file carries a libxl stream: it can only be converted to the libxl format \
         (xl cannot restore a bare libxc stream behind an xl header)"
    )]
    XlNeedsLibxl,
    /// The PV extended-info marker is not all ones.
    #[error(
        "Unexpected extended info marker 0x{found:x}: expected 0x{:x} (is this a PV image from \
         a {width} toolstack?)",
        width.all_ones()
    )]
    BadExtendedInfoMarker {
        /// The marker read.
        found: u64,
        /// The width it was read with.
        width: Width,
    },
    /// The extended-info blocks run past the length the header gives.
    #[error(
        "Overshot Extended Info size by {} bytes: blocks take {blocks} bytes, the header says \
         {total}",
        blocks - u64::from(*total)
    )]
    ExtendedInfoOvershoot {
        /// Bytes the blocks take.
        blocks: u64,
        /// Bytes the header gives.
        total: u32,
    },
    /// The `"vcpu"` block has a size of no known guest width.
    #[error(
        "Unable to determine guest width/level: \"vcpu\" block of 0x{size:x} bytes, expected \
         0x{VCPU_CONTEXT_64:x} (64-bit) or 0x{VCPU_CONTEXT_32:x} (32-bit)"
    )]
    BadVcpuBlockSize {
        /// The block's size.
        size: u32,
    },
    /// A second `"vcpu"` block.
    #[error("second \"vcpu\" extended info block")]
    DuplicateVcpuBlock,
    /// An `"xcnt"` block too short for its size field.
    #[error("\"xcnt\" block of {size} bytes: expected at least 4")]
    ShortXcntBlock {
        /// The block's size.
        size: u32,
    },
    /// An `"xcnt"` size that no xsave area has.
    #[error(
        "\"xcnt\" size 0x{size:x}: expected 0 or at least 0x20 (an xsave area of at least 16 \
         bytes, plus 16)"
    )]
    BadXcntSize {
        /// The size given.
        size: u32,
    },
    /// An extended-info block of an unknown id.
    #[error("Unrecognised extended block {id}: expected b'vcpu', b'extv' or b'xcnt'")]
    UnknownExtendedBlock {
        /// The id read.
        id: BlockId,
    },
    /// The extended info ends without a `"vcpu"` block.
    #[error("extended info has no \"vcpu\" block: unable to determine guest width/level")]
    MissingVcpuBlock,
    /// A PV p2m size of 0 or above 2^32.
    #[error("P2M size 0x{p2m_size:x} out of range: expected 1 to 0x100000000 for a PV guest")]
    P2mSizeOutOfRange {
        /// The p2m size read.
        p2m_size: u64,
    },
    /// A page batch of more than [`MAX_BATCH`] entries.
    #[error("Page batch ({count}) exceeded MAX_BATCH ({MAX_BATCH})")]
    BatchTooLarge {
        /// The batch size read.
        count: u32,
    },
    /// A pfn_type entry with bits above bit 31.
    #[error(
        "pfn_type[{index}] = 0x{entry:x} has bits set above bit 31: expected a page type in \
         bits 31-28 and a pfn in bits 27-0"
    )]
    PfnHighBits {
        /// The entry's index in its batch.
        index: usize,
        /// The entry.
        entry: u64,
    },
    /// A pfn_type entry of a page type that does not exist.
    #[error(
        "pfn_type[{index}] = 0x{entry:x} has page type 0x{:x}, which does not exist (types 0x5 \
         to 0x8 are invalid)",
        entry >> 28
    )]
    InvalidPageType {
        /// The entry's index in its batch.
        index: usize,
        /// The entry.
        entry: u64,
    },
    /// A page-table page type in an HVM image.
    #[error(
        "pfn_type[{index}] = 0x{entry:x}: page-table type 0x{:x} in an HVM image (only PV \
         guests have typed page tables)",
        entry >> 28
    )]
    PageTableInHvm {
        /// The entry's index in its batch.
        index: usize,
        /// The entry.
        entry: u64,
    },
    /// A PV pfn at or beyond the p2m size.
    #[error(
        "pfn_type[{index}] = 0x{entry:x}: pfn 0x{:x} is beyond the p2m size 0x{p2m_size:x}",
        entry & crate::format::PFN_MASK
    )]
    PfnBeyondP2m {
        /// The entry's index in its batch.
        index: usize,
        /// The entry.
        entry: u64,
        /// The image's p2m size.
        p2m_size: u64,
    },
    /// A pfn twice in one batch.
    #[error("Duplicate pfns in batch: pfn 0x{pfn:x} appears more than once")]
    DuplicatePfn {
        /// The pfn.
        pfn: u64,
    },
    /// A body chunk marker of no known chunk.
    #[error(
        "Unrecognised chunk {marker}: expected a page batch (1 to {MAX_BATCH}), 0 or a chunk id \
         from -1 to -21"
    )]
    UnknownChunk {
        /// The marker read.
        marker: i32,
    },
    /// A VCPU_INFO `max_id` out of range.
    #[error("Vcpu max_id out of range: {max_id}, expected 0 to {MAX_VCPU_ID}")]
    VcpuMaxIdOutOfRange {
        /// The value read.
        max_id: i32,
    },
    /// A second VCPU_INFO chunk.
    #[error("second VCPU_INFO chunk: expected one per image")]
    DuplicateVcpuInfo,
    /// An HVM parameter chunk given twice.
    #[error("HVM parameter chunk {chunk} appears more than once")]
    DuplicateHvmParam {
        /// The chunk.
        chunk: ChunkId,
    },
    /// HVM parameter chunks in a PV image.
    #[error(
        "HVM-only param in PV stream: the body has HVM parameter chunks but the image is a PV one"
    )]
    HvmParamInPv,
    /// A vCPU's xsave area of another size than the `"xcnt"` block gives.
    #[error("vcpu{vcpu} xsave area of {size} bytes, but the \"xcnt\" block says 0x{xcnt:x} - 16")]
    XsaveSizeMismatch {
        /// The vCPU.
        vcpu: u32,
        /// The area's size.
        size: u64,
        /// The `"xcnt"` value.
        xcnt: u32,
    },
    /// An HVM context of 0 bytes.
    #[error("HVM context of 0 bytes: expected a context blob")]
    EmptyHvmContext,
    /// A qemu record signature of none of the three known kinds.
    #[error(
        "Unrecognised Qemu sig {}: expected b'DeviceModelRecord0002', b'RemusDeviceModelState' \
         or b'QemuDeviceModelRecord'",
        crate::format::python_bytes_repr(found)
    )]
    UnknownQemuSignature {
        /// The 21 bytes read.
        found: [u8; 21],
    },
    /// The toolstack blob is shorter than its header.
    #[error("Overly short libxl toolstack data: {size} bytes, expected at least 8")]
    ShortToolstack {
        /// The blob's size.
        size: u32,
    },
    /// The toolstack blob has a version other than 1.
    #[error("Cannot decode libxl toolstack version {version}: expected 1")]
    UnknownToolstackVersion {
        /// The version read.
        version: u32,
    },
    /// A physmap entry's header runs past the blob.
    #[error(
        "Remaining data too short for physmap header: entry {entry} of {count} needs 28 bytes, \
         {left} left"
    )]
    PhysmapHeaderOverrun {
        /// The entry's index.
        entry: u32,
        /// Entries the blob announces.
        count: u32,
        /// Bytes left in the blob.
        left: u64,
    },
    /// A physmap entry's name runs past the blob.
    #[error(
        "Remaining data too short for physmap name: entry {entry} needs {needed} bytes, {left} \
         left"
    )]
    PhysmapNameOverrun {
        /// The entry's index.
        entry: u32,
        /// Bytes the name (and padding) take.
        needed: u64,
        /// Bytes left in the blob.
        left: u64,
    },
    /// A physmap name longer than a xenstore value can be.
    #[error("physmap entry {entry}: name of {len} bytes, at most {max}")]
    PhysmapNameTooLong {
        /// The entry's index.
        entry: u32,
        /// The name's length.
        len: u64,
        /// The bound.
        max: u64,
    },
    /// A physmap name whose last byte is not NUL.
    #[error("physmap name not NUL terminated (entry {entry})")]
    PhysmapNameNotTerminated {
        /// The entry's index.
        entry: u32,
    },
    /// A physmap name with a NUL before its end.
    #[error("physmap entry {entry}: name holds a NUL before its end")]
    PhysmapNameEmbeddedNul {
        /// The entry's index.
        entry: u32,
    },
    /// A physmap name that is not UTF-8.
    #[error("physmap entry {entry}: name is not UTF-8")]
    PhysmapNameNotUtf8 {
        /// The entry's index.
        entry: u32,
    },
    /// An item the converter must hold in memory is larger than its cap.
    #[error("{what} {}: at most {cap} bytes can be converted", found_text(*found))]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size, when known (or at least this much, for data of unknown length).
        found: Size,
        /// The cap.
        cap: u64,
    },
    /// An item larger than a v2 record can hold.
    #[error(
        "{what} of {length} bytes: a v2 record holds at most {}",
        migration_stream::types::REC_LENGTH_MAX
    )]
    RecordTooLong {
        /// What it is.
        what: &'static str,
        /// Its length.
        length: u64,
    },
    /// Transcendent memory pages (chunk −5 or −6), which the v2 format cannot carry.
    #[error(
        "chunk {chunk} holds transcendent memory (tmem) pages, which cannot be converted: the v2 \
         format has no tmem records"
    )]
    Tmem {
        /// The chunk.
        chunk: ChunkId,
    },
    /// Remus checkpoint compression (chunk −12 or −13).
    #[error(
        "chunk {chunk}: the image uses Remus checkpoint compression, whose pages are deltas \
         against the previous checkpoint and cannot be converted without the sender's memory"
    )]
    RemusCompression {
        /// The chunk.
        chunk: ChunkId,
    },
    /// A payload was used in a way the parser's state does not allow (a
    /// caller bug, e.g. reading past a payload or copying one of unknown
    /// length into a record).
    #[error("parser misuse: {0}")]
    Misuse(&'static str),
    /// Reading the input failed.
    #[error("reading the input: {0}")]
    Input(#[source] io::Error),
    /// Writing the output failed, or a copy from input to output did.
    #[error("writing {item} to the output: {source}")]
    Output {
        /// What was being written ("page data", "a record", ...).
        item: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// The size of something too large to convert.
///
/// ```
/// use legacy_convert::error::{ErrorKind, Size};
/// let exact = ErrorKind::TooLarge { what: "the qemu record", found: Size::Exactly(9000), cap: 4096 };
/// assert_eq!(exact.to_string(), "the qemu record of 9000 bytes: at most 4096 bytes can be converted");
/// let unknown = ErrorKind::TooLarge { what: "the qemu record", found: Size::AtLeast(4096), cap: 4096 };
/// assert!(unknown.to_string().contains("longer than 4096 bytes"));
/// assert!(unknown.is_unsupported());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Exactly this many bytes.
    Exactly(u64),
    /// At least this many (data of unknown length that went past the cap).
    AtLeast(u64),
}

fn found_text(found: Size) -> String {
    match found {
        Size::Exactly(n) => format!("of {n} bytes"),
        Size::AtLeast(n) => format!("longer than {n} bytes"),
    }
}

impl ErrorKind {
    /// True when the input is at fault (truncated or invalid): exit code 1.
    pub fn is_bad_input(&self) -> bool {
        !(self.is_unsupported()
            || self.io_error().is_some()
            || matches!(self, ErrorKind::Misuse(_)))
    }

    /// True when the input is valid but holds what cannot be converted
    /// (tmem, Remus compression, an xl file to the libxc format, an item
    /// beyond a cap).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            ErrorKind::Tmem { .. }
                | ErrorKind::RemusCompression { .. }
                | ErrorKind::XlNeedsLibxl
                | ErrorKind::TooLarge { .. }
        )
    }

    /// The I/O error behind an input or output failure.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            ErrorKind::Input(source) | ErrorKind::Output { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The likely cause of an error, when the caller gave a width or guest type
/// that the image's first bytes contradict (see [`crate::probe`]).
///
/// ```
/// use legacy_convert::error::Hint;
/// use legacy_convert::format::{GuestType, GuestWidth, Width};
/// use legacy_convert::{Options, convert, convert::Quiet, writer::LegacyImage};
///
/// let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10).to_bytes();
/// let mut options = Options::default();
/// options.width = Some(Width::W32); // wrong: the image is from a 64-bit toolstack
/// let err = convert(&image[..], &mut Vec::new(), &options, &mut Quiet).unwrap_err();
/// assert_eq!(err.hint(), Some(Hint::Width { given: Width::W32, detected: Width::W64 }));
/// assert!(err.to_string().ends_with(
///     "; the image looks like one from a 64-bit toolstack: the 32-bit width given is the likely cause"
/// ), "{err}");
/// let guest = Hint::GuestType { given: GuestType::Pv, detected: GuestType::Hvm };
/// assert!(guest.to_string().starts_with("the image looks like one of an HVM guest"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// The image looks like one from a toolstack of `detected` width.
    Width {
        /// The width the caller gave.
        given: Width,
        /// The width the image looks like.
        detected: Width,
    },
    /// The image looks like one of a `detected` guest.
    GuestType {
        /// The guest type the caller gave.
        given: GuestType,
        /// The guest type the image looks like.
        detected: GuestType,
    },
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::Width { given, detected } => write!(
                f,
                "the image looks like one from a {detected} toolstack: the {given} width given \
                 is the likely cause"
            ),
            Hint::GuestType { given, detected } => {
                let article = |guest: &GuestType| match guest {
                    GuestType::Pv => "a",
                    GuestType::Hvm => "an",
                };
                write!(
                    f,
                    "the image looks like one of {} {detected} guest: the {given} guest type \
                     given is the likely cause",
                    article(detected),
                )
            }
        }
    }
}

/// An error from the legacy image parser or the converter, with where it happened.
///
/// ```
/// use legacy_convert::error::ErrorKind;
/// use legacy_convert::{convert, Options};
///
/// let err = convert(&[0u8; 0][..], Vec::new(), &Options::default(), &mut legacy_convert::convert::Quiet)
///     .unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Empty));
/// assert!(err.is_bad_input());
/// assert_eq!(err.offset(), 0);
/// assert_eq!((err.chunk(), err.hint()), (None, None));
/// assert!(matches!(err.into_kind(), ErrorKind::Empty));
/// ```
///
/// Where in the body, what kind of failure, and a hint attached by hand:
///
/// ```
/// use legacy_convert::error::{Error, ErrorKind, Hint};
/// use legacy_convert::format::{ChunkId, GuestType, GuestWidth, Width};
/// use legacy_convert::writer::{BodyItem, LegacyImage};
/// use legacy_convert::{Options, convert, convert::Quiet};
///
/// // The second body chunk is tmem, which a v2 stream cannot carry.
/// let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10)
///     .with_body(vec![BodyItem::pages(&[(0, 1)], 7), BodyItem::Raw(ChunkId::TMEM.0.to_le_bytes().to_vec())])
///     .to_bytes();
/// let err = convert(&image[..], &mut Vec::new(), &Options::default(), &mut Quiet).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Tmem { .. }), "{err}");
/// assert_eq!(err.chunk(), Some(2));
/// assert!(err.is_unsupported() && !err.is_bad_input() && !err.is_output());
///
/// // An output that fills up: an I/O error on the output side.
/// let mut small = [0u8; 16];
/// let err = convert(&image[..], &mut small[..], &Options::default(), &mut Quiet).unwrap_err();
/// assert!(err.is_output(), "{err}");
/// assert_eq!(err.io_error().map(|e| e.kind()), Some(std::io::ErrorKind::WriteZero));
///
/// let hint = Hint::GuestType { given: GuestType::Hvm, detected: GuestType::Pv };
/// let err = Error::new(ErrorKind::Empty, 0, None).with_hint(hint);
/// assert_eq!(err.hint(), Some(hint));
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    offset: u64,
    chunk: Option<u64>,
    hint: Option<Hint>,
}

impl Error {
    /// An error of `kind` at byte `offset` of the input, in body chunk `chunk` if any.
    pub fn new(kind: ErrorKind, offset: u64, chunk: Option<u64>) -> Self {
        Error {
            kind,
            offset,
            chunk,
            hint: None,
        }
    }

    /// The same error with a likely cause attached.
    pub fn with_hint(mut self, hint: Hint) -> Self {
        self.hint = Some(hint);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Consumes the error, returning what went wrong.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// Byte offset in the input (counted from where conversion started) of
    /// the item at fault; for a truncation, where the input ended.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Index of the body chunk (1-based, in file order) when the error is in
    /// the image body.
    pub fn chunk(&self) -> Option<u64> {
        self.chunk
    }

    /// The likely cause, when the caller's width or guest type contradicts the image.
    pub fn hint(&self) -> Option<Hint> {
        self.hint
    }

    /// True when the input is at fault (truncated or invalid): exit code 1.
    /// False for unsupported content and I/O errors: exit code 2.
    pub fn is_bad_input(&self) -> bool {
        self.kind.is_bad_input()
    }

    /// True when the input holds what cannot be converted.
    pub fn is_unsupported(&self) -> bool {
        self.kind.is_unsupported()
    }

    /// True when writing the output failed.
    pub fn is_output(&self) -> bool {
        matches!(self.kind, ErrorKind::Output { .. })
    }

    /// The I/O error behind an input or output failure, if that is what this is.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.kind.io_error()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.kind)?;
        if let Some(chunk) = self.chunk {
            write!(f, "body chunk {chunk}, ")?;
        }
        write!(f, "byte offset {})", self.offset)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

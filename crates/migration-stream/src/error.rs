//! The crate's errors: where (byte offset, record index and type) and what
//! (expected versus found).
//!
//! [`Error`] is what the [`Reader`](crate::Reader) and
//! [`StreamReader`](crate::StreamReader) return; [`PayloadError`] is what the
//! payload parsers in [`payload`](crate::payload) return, with offsets inside
//! the record body. [`Error::payload`] attaches a record's position to a
//! payload error.

use std::fmt;
use std::io;

use crate::record::RecordInfo;

pub use crate::record::{Layer, RecordContext};

/// What went wrong. New kinds are added over time: match the ones you act
/// on and keep a catch-all arm.
///
/// ```
/// use migration_stream::{ErrorKind, StreamReader};
/// let mut stream = StreamReader::new(&b"not a migration stream"[..]);
/// let err = stream.next_event().unwrap_err();
/// match err.kind() {
///     ErrorKind::UnknownFormat { found } => assert!(found.starts_with("6e 6f 74"), "{found}"),
///     other => panic!("another error: {other}"),
/// }
/// assert!(!err.is_io());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The underlying reader failed (not an end of input).
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    /// The input ended inside a structure.
    #[error("stream truncated in {what}: expected {expected} bytes, found {found}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes the structure needs.
        expected: u64,
        /// Bytes that were there.
        found: u64,
    },
    /// The input ended cleanly between records, but the stream was not finished.
    #[error("stream ended before {expected}")]
    UnexpectedEnd {
        /// What should have come next.
        expected: &'static str,
    },
    /// The first bytes are none of the known stream starts.
    #[error(
        "unrecognised stream start: expected the libxc marker ff ff ff ff ff ff ff ff, \"LibxlFmt\" or the xl save magic, found {found}"
    )]
    UnknownFormat {
        /// Hex dump of the first bytes.
        found: String,
    },
    /// The libxc image header does not start with the all-ones marker.
    #[error(
        "bad image marker: expected {:#018x}, found {found:#018x}",
        crate::types::IMAGE_MARKER
    )]
    BadImageMarker {
        /// The marker that was there.
        found: u64,
    },
    /// The libxc image header id is not "XENF".
    #[error(
        "bad image id: expected {:#010x} (\"XENF\"), found {found:#010x}",
        crate::types::IMAGE_ID
    )]
    BadImageId {
        /// The id that was there.
        found: u32,
    },
    /// The libxc image version is not 2 or 3.
    #[error("unknown image version: expected 2 <= version <= 3, found {found}")]
    UnsupportedImageVersion {
        /// The version that was there.
        found: u32,
    },
    /// The libxl header ident is not "LibxlFmt".
    #[error(
        "bad libxl ident: expected {:#018x} (\"LibxlFmt\"), found {found:#018x}",
        crate::types::LIBXL_IDENT
    )]
    BadLibxlIdent {
        /// The ident that was there.
        found: u64,
    },
    /// The libxl version is not 2.
    #[error("unknown libxl version: expected 2, found {found}")]
    UnsupportedLibxlVersion {
        /// The version that was there.
        found: u32,
    },
    /// A header flags the stream as big-endian.
    #[error(
        "unable to handle big endian streams: the {layer} header's options ({options:#x}) have the big-endian bit set, and every Xen architecture writes little-endian streams"
    )]
    BigEndian {
        /// Which header: "libxc image" or "libxl".
        layer: &'static str,
        /// The options field.
        options: u32,
    },
    /// The xl save header magic is wrong.
    #[error(
        "no xl header: expected the magic {:?}, found {found:?}",
        String::from_utf8_lossy(crate::types::XL_MAGIC)
    )]
    BadXlMagic {
        /// The 32 bytes that were there, lossily decoded.
        found: String,
    },
    /// The xl byte order mark is 0x01020304 in neither byte order.
    #[error("file has wrong byte order: expected 01 02 03 04 or 04 03 02 01, found {found:02x?}")]
    BadXlByteOrder {
        /// The four bytes that were there.
        found: [u8; 4],
    },
    /// The xl header has mandatory flags this crate does not know.
    #[error(
        "xl header has unknown mandatory flags {unknown:#x} (known: JSON 0x1, STREAMv2 0x2); a newer xl wrote it"
    )]
    UnknownXlMandatoryFlags {
        /// The unknown bits.
        unknown: u32,
    },
    /// The xl optional data is longer than [`XL_OPTIONAL_DATA_MAX`](crate::types::XL_OPTIONAL_DATA_MAX).
    #[error("xl optional data too long: expected at most {max} bytes, found {found}")]
    XlOptionalDataTooLong {
        /// The declared length.
        found: u32,
        /// The bound.
        max: u32,
    },
    /// The xl optional data's config_len does not fit it.
    #[error(
        "xl config length does not fit the optional data: expected at most {max} bytes, found {found}"
    )]
    BadXlConfigLen {
        /// The declared config length (or the optional data length when it cannot hold one).
        found: u64,
        /// What fits.
        max: u64,
    },
    /// The xl header lacks STREAMv2 and a legacy (pre-Xen-4.6) image follows.
    #[error(
        "the xl header does not set STREAMv2 and no libxc stream follows: this is a legacy (pre-Xen-4.6) image, convert it with convert-legacy-stream first"
    )]
    LegacyStream,
    /// A record body is longer than the caller's cap (by default [`REC_LENGTH_MAX`](crate::types::REC_LENGTH_MAX)).
    #[error("record body too long: expected at most {max} bytes, found {found}")]
    RecordTooLong {
        /// The declared length.
        found: u32,
        /// The cap.
        max: u32,
    },
    /// A record's padding is not all zero.
    #[error("padding containing non-zero bytes: expected {len} zero bytes, found {found:02x?}")]
    NonZeroPadding {
        /// Number of padding bytes.
        len: usize,
        /// The padding bytes.
        found: Vec<u8>,
    },
    /// A record's body did not parse (see [`Error::payload`]).
    #[error("{0}")]
    Payload(#[source] PayloadError),
    /// The caller asked for a body when no record's body is pending.
    #[error("no record body to read: call next_record first")]
    NoPendingBody,
    /// A previous call failed; the stream reader does not resume after errors.
    #[error("the stream reader stopped at an earlier error")]
    Stopped,
}

/// An error reading a stream, with where it happened.
///
/// ```
/// use migration_stream::{Error, ErrorKind, Layer, PayloadError, Reader, Writer};
/// use migration_stream::{payload::HvmParams, types::RecordType, wire::ImageHeader};
///
/// let bytes = [0xffu8; 20]; // a libxc image header cut short
/// let err = Reader::new(&bytes[..]).read_image_header().unwrap_err();
/// assert_eq!(err.offset(), 0);
/// assert!(err.to_string().contains("expected 24 bytes, found 20"), "{err}");
/// assert!(err.record().is_none() && !err.is_io());
///
/// // A body the framing accepts but its payload parser does not.
/// let mut writer = Writer::new(Vec::new());
/// writer.write_image_header(&ImageHeader::new(3))?;
/// writer.write_record(RecordType::HVM_PARAMS.0, &[1, 0, 0, 0, 0, 0, 0, 0])?;
/// let bytes = writer.into_inner();
/// let mut reader = Reader::new(&bytes[..]);
/// reader.read_image_header()?;
/// let info = reader.next_record()?.expect("one record");
/// let mut body = Vec::new();
/// let parsed = HvmParams::parse(reader.read_body(&mut body)?);
/// let err = Error::payload(parsed.unwrap_err(), &info);
/// assert_eq!(err.offset(), info.body_offset()); // the error's offset is 0 within the body
/// let record = err.record().expect("in a record");
/// assert_eq!((record.index, record.layer, record.offset), (0, Layer::Libxc, 24));
/// assert!(matches!(err.kind(), ErrorKind::Payload(PayloadError::LengthMismatch { .. })));
/// assert!(matches!(err.into_kind(), ErrorKind::Payload(_)));
///
/// let io = Error::new(ErrorKind::Io(std::io::ErrorKind::BrokenPipe.into()), 7, None);
/// assert!(io.is_io());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    offset: u64,
    record: Option<RecordContext>,
}

impl Error {
    /// An error of `kind` at byte `offset`, in `record` if any.
    pub fn new(kind: ErrorKind, offset: u64, record: Option<RecordContext>) -> Self {
        Error {
            kind,
            offset,
            record,
        }
    }

    /// A payload error in `record`: the offset is the body's start plus the
    /// error's offset within the body.
    pub fn payload(err: PayloadError, record: &RecordInfo) -> Self {
        let offset = record.body_offset().saturating_add(err.offset() as u64);
        Error::new(ErrorKind::Payload(err), offset, Some(record.context()))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Consumes the error, returning what went wrong.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// Absolute byte offset in the stream where the failing structure starts
    /// (for a truncation: the structure that was cut short).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The record the error happened in, if it happened inside one.
    pub fn record(&self) -> Option<&RecordContext> {
        self.record.as_ref()
    }

    /// Whether the underlying reader failed (an I/O problem, not bad input).
    pub fn is_io(&self) -> bool {
        matches!(self.kind, ErrorKind::Io(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.kind, self.offset)?;
        if let Some(record) = &self.record {
            write!(f, " in {record} at byte offset {}", record.offset)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What a payload parser found wrong with a record body. Offsets are from
/// the start of the body.
///
/// ```
/// use migration_stream::payload::HvmParams;
/// let err = HvmParams::parse(&[1, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
/// assert_eq!(err.to_string(), "HVM_PARAMS: length should be 24 bytes, found 8");
/// assert_eq!(err.offset(), 0); // a whole-body problem
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The body is shorter than the structure needs.
    #[error("{what}: too short: expected at least {expected} bytes, found {found}")]
    TooShort {
        /// The structure.
        what: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The body's length is not what its own fields say.
    #[error("{what}: length should be {expected} bytes, found {found}")]
    LengthMismatch {
        /// The structure.
        what: &'static str,
        /// The length implied by the fields.
        expected: u64,
        /// The actual length.
        found: usize,
    },
    /// The body is not a whole number of fixed-size entries.
    #[error("{what}: length {found} is not a multiple of {unit}")]
    NotMultiple {
        /// The structure.
        what: &'static str,
        /// Entry size.
        unit: usize,
        /// The actual length.
        found: usize,
    },
    /// A string list is not NUL-terminated.
    #[error("{what}: data not NUL terminated")]
    NotNulTerminated {
        /// The structure.
        what: &'static str,
    },
    /// A key/value list has an odd number of strings.
    #[error("{what}: expected an even number of strings, found {found}")]
    OddStringCount {
        /// The structure.
        what: &'static str,
        /// The number of strings.
        found: usize,
    },
    /// An entry inside the body runs past its end.
    #[error("{what} at body offset {at}: entry needs {expected} bytes, {found} remain")]
    EntryOverrun {
        /// The structure.
        what: &'static str,
        /// Body offset of the entry.
        at: usize,
        /// Bytes the entry needs.
        expected: u64,
        /// Bytes left in the body.
        found: usize,
    },
}

impl PayloadError {
    /// Offset within the body where the problem is (0 for whole-body problems).
    pub fn offset(&self) -> usize {
        match self {
            PayloadError::EntryOverrun { at, .. } => *at,
            _ => 0,
        }
    }
}

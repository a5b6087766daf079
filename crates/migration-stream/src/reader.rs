//! The low-level [`Reader`]: framing only.

use std::fs::File;
use std::io::{self, Read, Seek};

use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::error::{Error, ErrorKind, Layer};
use crate::format::StreamFormat;
use crate::record::{RecordContext, RecordInfo};
use crate::source::{ByteSource, CopySink, Input, InputError, Seekable, Sequential, Spliced};
use crate::types::{
    IMAGE_ID, IMAGE_MARKER, IMAGE_VERSION_MAX, IMAGE_VERSION_MIN, LIBXL_IDENT, LIBXL_VERSION,
    REC_LENGTH_MAX, XL_MAGIC, XL_OPTIONAL_DATA_MAX,
};
use crate::wire;
use crate::xl::{XlFixedHeader, XlHeader};

/// Size of the reader's input buffer. Large enough that sequential header and
/// small-record reads cost few system calls; body reads at least this large
/// bypass it and go straight into the caller's buffer.
const BUFFER_SIZE: usize = 8 * 1024;

/// The kind of source a [`Reader`] was built over, chosen by its constructor.
enum Source<R> {
    Sequential(Sequential<R>),
    Seekable(Seekable<R>),
    Spliced(Spliced<R>),
}

impl<R> Source<R> {
    fn get_ref(&self) -> &R {
        match self {
            Source::Sequential(source) => source.get_ref(),
            Source::Seekable(source) => source.get_ref(),
            Source::Spliced(source) => source.get_ref(),
        }
    }

    fn into_inner(self) -> R {
        match self {
            Source::Sequential(source) => source.into_inner(),
            Source::Seekable(source) => source.into_inner(),
            Source::Spliced(source) => source.into_inner(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Source::Sequential(_) => "sequential",
            Source::Seekable(_) => "seekable",
            Source::Spliced(_) => "spliced",
        }
    }
}

impl<R: Read> ByteSource for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Sequential(source) => source.read(buf),
            Source::Seekable(source) => source.read(buf),
            Source::Spliced(source) => source.read(buf),
        }
    }

    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        match self {
            Source::Sequential(source) => source.seek_forward(n),
            Source::Seekable(source) => source.seek_forward(n),
            Source::Spliced(source) => source.seek_forward(n),
        }
    }

    fn copy_to<K: CopySink + ?Sized>(&mut self, n: u64, sink: &mut K) -> io::Result<u64> {
        match self {
            Source::Sequential(source) => source.copy_to(n, sink),
            Source::Seekable(source) => source.copy_to(n, sink),
            Source::Spliced(source) => source.copy_to(n, sink),
        }
    }

    fn wait_readable(&mut self) -> io::Result<bool> {
        match self {
            Source::Sequential(source) => source.wait_readable(),
            Source::Seekable(source) => source.wait_readable(),
            Source::Spliced(source) => source.wait_readable(),
        }
    }
}

/// Adapts [`Reader::read_some`] to [`Read`], keeping its error intact.
struct ErrorSlot<'r, R> {
    reader: &'r mut Reader<R>,
    error: Option<Error>,
}

impl<R: Read> Read for ErrorSlot<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.reader.read_some(out) {
            Ok(n) => Ok(n),
            Err(err) => {
                self.error = Some(err);
                Err(io::Error::other("stream read failed"))
            }
        }
    }
}

/// The body of the record most recently returned by [`Reader::next_record`].
#[derive(Clone, Copy, Debug)]
struct PendingBody {
    info: RecordInfo,
    /// Body bytes not yet consumed.
    remaining: u64,
    /// Whether the body and its padding have been consumed.
    done: bool,
}

/// Low-level stream reader: headers and record framing over any [`Read`].
///
/// It tracks the absolute byte offset and a running record index, so every
/// error says where it happened. After [`next_record`](Reader::next_record)
/// the caller reads the body whole ([`read_body`](Reader::read_body)), in
/// pieces ([`read_body_chunk`](Reader::read_body_chunk)) or not at all
/// ([`skip_body`](Reader::skip_body); the next `next_record` also skips it).
/// Padding after each body is always read and checked to be zero.
///
/// It knows nothing of how the layers nest; [`StreamReader`](crate::StreamReader)
/// does that on top of it. Its bytes come through the [`source`](crate::source)
/// layer: [`new`](Reader::new) reads in order, [`seekable`](Reader::seekable)
/// seeks over skipped bodies, [`pipe`](Reader::pipe) splices them away.
///
/// ```
/// use migration_stream::{Reader, Writer, types::RecordType, wire};
///
/// let mut writer = Writer::new(Vec::new());
/// writer.write_image_header(&wire::ImageHeader::new(3))?;
/// writer.write_record(RecordType::END.0, &[])?;
/// let bytes = writer.into_inner();
///
/// let mut reader = Reader::new(&bytes[..]);
/// assert_eq!(reader.read_image_header()?.version.get(), 3);
/// let record = reader.next_record()?.expect("one record");
/// assert_eq!((record.libxc_type(), record.offset, record.index), (RecordType::END, 24, 0));
/// assert!(reader.next_record()?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Every layer by hand (what [`StreamReader`](crate::StreamReader) does for
/// you), reading one body in pieces and skipping another:
///
/// ```
/// use std::io::Cursor;
/// use migration_stream::{ErrorKind, Layer, Reader, Writer, XlHeader};
/// use migration_stream::types::{DomainType, LibxlRecordType, RecordType, XlMandatoryFlags};
/// use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};
///
/// let mut w = Writer::new(Vec::new());
/// w.write_xl_header(&XlHeader::new(XlMandatoryFlags::STREAM_V2, b""))?;
/// w.write_libxl_header(&LibxlHeader::new(0))?;
/// w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
/// w.write_image_header(&ImageHeader::new(3))?;
/// w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
/// w.write_record(RecordType::HVM_CONTEXT.0, &[7; 100])?;
/// w.write_record(RecordType::X86_TSC_INFO.0, &[0; 24])?;
/// w.write_record(RecordType::END.0, &[])?;
/// w.write_record(LibxlRecordType::END.0, &[])?;
/// let bytes = w.into_inner();
///
/// let mut r = Reader::seekable(Cursor::new(&bytes)); // skips become seeks
/// assert_eq!(r.get_ref().get_ref().len(), bytes.len());
/// assert!(r.read_xl_header()?.is_stream_v2());
/// assert_eq!(r.peek(8)?, b"LibxlFmt");
/// r.read_libxl_header()?;
/// r.set_layer(Layer::Libxl);
/// assert_eq!(r.layer(), Layer::Libxl);
/// let context = r.next_record()?.expect("LIBXC_CONTEXT");
/// assert_eq!(context.libxl_type(), LibxlRecordType::LIBXC_CONTEXT);
/// r.set_layer(Layer::Libxc);
/// r.read_image_header()?;
/// assert_eq!(r.read_domain_header()?.domain_type(), DomainType::X86_HVM);
/// assert_eq!(r.next_index(), 1);
///
/// let hvm = r.next_record()?.expect("HVM_CONTEXT");
/// assert_eq!(r.current_record(), Some(hvm));
/// let mut piece = [0u8; 64];
/// assert_eq!(r.read_body_chunk(&mut piece)?, 64);
/// assert_eq!(r.read_body_chunk(&mut piece)?, 36);
/// assert_eq!(r.read_body_chunk(&mut piece)?, 0); // the body and its padding are read
///
/// r.set_body_cap(16);
/// assert_eq!(r.body_cap(), 16);
/// r.next_record()?.expect("X86_TSC_INFO");
/// let err = r.read_body(&mut Vec::new()).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::RecordTooLong { found: 24, max: 16 }));
/// r.skip_body()?; // still possible
///
/// assert_eq!(r.next_record()?.map(|i| i.libxc_type()), Some(RecordType::END));
/// r.set_layer(Layer::Libxl);
/// assert_eq!(r.next_record()?.map(|i| i.libxl_type()), Some(LibxlRecordType::END));
/// assert!(r.at_eof()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reader<R> {
    input: Input<Source<R>>,
    next_index: u64,
    layer: Layer,
    pending: Option<PendingBody>,
    body_cap: u32,
}

impl<R: Read> Reader<R> {
    /// A sequential reader: skipping a body reads and discards it.
    pub fn new(inner: R) -> Self {
        Reader::over(Source::Sequential(Sequential::new(inner)))
    }

    fn over(source: Source<R>) -> Self {
        Reader {
            input: Input::with_buffer_size(source, BUFFER_SIZE),
            next_index: 0,
            layer: Layer::Libxc,
            pending: None,
            body_cap: REC_LENGTH_MAX,
        }
    }

    /// Absolute byte offset of the next unread byte (offsets count from where
    /// the input was when the reader was created).
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// Index the next record will get.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Which layer's record numbering the following records use (for
    /// [`RecordInfo::layer`] and error messages). Defaults to [`Layer::Libxc`].
    pub fn set_layer(&mut self, layer: Layer) {
        self.layer = layer;
    }

    /// The layer set with [`set_layer`](Reader::set_layer).
    pub fn layer(&self) -> Layer {
        self.layer
    }

    /// Largest body [`read_body`](Reader::read_body) accepts; defaults to
    /// [`REC_LENGTH_MAX`] and cannot be raised above it.
    pub fn set_body_cap(&mut self, cap: u32) {
        self.body_cap = cap.min(REC_LENGTH_MAX);
    }

    /// The current body cap.
    pub fn body_cap(&self) -> u32 {
        self.body_cap
    }

    /// The record whose body is pending or was just read, if any.
    pub fn current_record(&self) -> Option<RecordInfo> {
        self.pending.map(|p| p.info)
    }

    /// The wrapped reader. Bytes may be buffered inside this `Reader`.
    pub fn get_ref(&self) -> &R {
        self.input.source().get_ref()
    }

    /// Unwraps the reader, dropping buffered bytes.
    pub fn into_inner(self) -> R {
        self.input.into_source().into_inner()
    }

    fn context(&self) -> Option<RecordContext> {
        self.pending.filter(|p| !p.done).map(|p| p.info.context())
    }

    fn error(&self, kind: ErrorKind, offset: u64) -> Error {
        Error::new(kind, offset, self.context())
    }

    fn io_error(&self, err: io::Error) -> Error {
        self.error(ErrorKind::Io(err), self.offset())
    }

    fn input_error(&self, err: InputError) -> Error {
        self.error(io_kind(err), self.offset())
    }

    /// Reads up to `out.len()` bytes; 0 only at end of input. Large reads with
    /// an empty buffer go straight into `out`.
    fn read_some(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        self.input.read_some(out).map_err(|e| self.input_error(e))
    }

    /// Fills `out` completely, or returns how many bytes the input had.
    fn read_full(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        self.input.read_up_to(out).map_err(|e| self.input_error(e))
    }

    fn read_exact_at(&mut self, out: &mut [u8], what: &'static str) -> Result<(), Error> {
        let start = self.offset();
        let got = self.read_full(out)?;
        if got < out.len() {
            return Err(self.error(
                ErrorKind::Truncated {
                    what,
                    expected: out.len() as u64,
                    found: got as u64,
                },
                start,
            ));
        }
        Ok(())
    }

    fn read_struct<T: FromBytes + IntoBytes>(&mut self, what: &'static str) -> Result<T, Error> {
        let mut value = T::new_zeroed();
        self.read_exact_at(value.as_mut_bytes(), what)?;
        Ok(value)
    }

    /// Up to `n` (at most 8 KiB) upcoming bytes without consuming them;
    /// fewer only at the end of input.
    pub fn peek(&mut self, n: usize) -> Result<&[u8], Error> {
        let (offset, context) = (self.offset(), self.context());
        self.input
            .peek(n)
            .map_err(|err| Error::new(io_kind(err), offset, context))
    }

    /// Reads raw bytes outside any record, e.g. the data after a stream's
    /// final END (see [`Event::Trailing`](crate::Event::Trailing)); returns 0
    /// at the end of input. Any unread body is skipped first.
    ///
    /// ```
    /// use migration_stream::Reader;
    /// let mut reader = Reader::new(&b"tail"[..]);
    /// let mut out = [0u8; 8];
    /// assert_eq!(reader.read_raw(&mut out)?, 4);
    /// assert_eq!(reader.read_raw(&mut out)?, 0);
    /// # Ok::<(), migration_stream::Error>(())
    /// ```
    pub fn read_raw(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        self.finish_pending()?;
        self.read_some(out)
    }

    /// Whether the input has no more bytes (consumes nothing).
    pub fn at_eof(&mut self) -> Result<bool, Error> {
        Ok(self.peek(1)?.is_empty())
    }

    /// Detects the stream format from the upcoming bytes without consuming them.
    ///
    /// ```
    /// use migration_stream::{Reader, StreamFormat};
    /// let mut reader = Reader::new(&b"LibxlFmt\0\0\0\x02\0\0\0\0"[..]);
    /// assert_eq!(reader.detect_format()?, StreamFormat::Libxl);
    /// assert_eq!(reader.offset(), 0);
    /// # Ok::<(), migration_stream::Error>(())
    /// ```
    pub fn detect_format(&mut self) -> Result<StreamFormat, Error> {
        let start = self.offset();
        let prefix = self.peek(32)?;
        match StreamFormat::detect(prefix) {
            Some(format) => Ok(format),
            None if prefix.is_empty() => Err(self.error(
                ErrorKind::UnexpectedEnd {
                    expected: "a stream header (the input is empty)",
                },
                start,
            )),
            None if StreamFormat::is_partial_start(prefix) => {
                let found = prefix.len() as u64;
                let expected = if XL_MAGIC.starts_with(prefix) { 32 } else { 8 };
                Err(self.error(
                    ErrorKind::Truncated {
                        what: "stream header",
                        expected,
                        found,
                    },
                    start,
                ))
            }
            None => {
                let found = hex(&prefix[..prefix.len().min(16)]);
                Err(self.error(ErrorKind::UnknownFormat { found }, start))
            }
        }
    }

    /// Discards `n` bytes, seeking or splicing when the source can. Returns
    /// how many were skipped; fewer than `n` only at the end of input.
    fn discard(&mut self, n: u64) -> Result<u64, Error> {
        match self.input.skip(n) {
            Ok(()) => Ok(n),
            Err(InputError::Truncated { wanted, .. }) => Ok(n.saturating_sub(wanted)),
            Err(err) => Err(self.input_error(err)),
        }
    }

    /// Consumes whatever is left of a pending body (and its padding).
    fn finish_pending(&mut self) -> Result<(), Error> {
        match self.pending {
            Some(pending) if !pending.done => self.skip_body(),
            _ => Ok(()),
        }
    }

    /// Reads and checks the xl save header and its optional data (at most
    /// [`XL_OPTIONAL_DATA_MAX`] bytes).
    pub fn read_xl_header(&mut self) -> Result<XlHeader, Error> {
        self.finish_pending()?;
        let start = self.offset();
        let fixed: wire::XlHeader = self.read_struct("xl save header")?;
        let fields = XlFixedHeader::parse(&fixed).map_err(|kind| self.error(kind, start))?;
        let len = fields.optional_data_len;
        if len > XL_OPTIONAL_DATA_MAX {
            return Err(self.error(
                ErrorKind::XlOptionalDataTooLong {
                    found: len,
                    max: XL_OPTIONAL_DATA_MAX,
                },
                start + 44,
            ));
        }
        let data_start = self.offset();
        let mut optional_data = Vec::new();
        self.read_growing(
            &mut optional_data,
            u64::from(len),
            "xl optional data",
            data_start,
        )?;
        let header = XlHeader {
            byte_order: fields.byte_order,
            mandatory_flags: fields.mandatory_flags,
            optional_flags: fields.optional_flags,
            optional_data,
        };
        header
            .check_config_len()
            .map_err(|kind| self.error(kind, data_start))?;
        Ok(header)
    }

    /// Reads the libxl header; refuses a wrong ident, a version other than 2
    /// and the big-endian flag. Reserved option bits are returned unchecked.
    pub fn read_libxl_header(&mut self) -> Result<wire::LibxlHeader, Error> {
        self.finish_pending()?;
        let start = self.offset();
        let header: wire::LibxlHeader = self.read_struct("libxl header")?;
        let kind = if header.ident.get() != LIBXL_IDENT {
            ErrorKind::BadLibxlIdent {
                found: header.ident.get(),
            }
        } else if header.version.get() != LIBXL_VERSION {
            ErrorKind::UnsupportedLibxlVersion {
                found: header.version.get(),
            }
        } else if header.is_big_endian() {
            ErrorKind::BigEndian {
                layer: "libxl",
                options: header.options.get(),
            }
        } else {
            return Ok(header);
        };
        Err(self.error(kind, start))
    }

    /// Reads the libxc image header; refuses a wrong marker or id, a version
    /// outside 2..=3 and the big-endian flag. Reserved fields are returned unchecked.
    pub fn read_image_header(&mut self) -> Result<wire::ImageHeader, Error> {
        self.finish_pending()?;
        let start = self.offset();
        let header: wire::ImageHeader = self.read_struct("libxc image header")?;
        let version = header.version.get();
        let kind = if header.marker.get() != IMAGE_MARKER {
            ErrorKind::BadImageMarker {
                found: header.marker.get(),
            }
        } else if header.id.get() != IMAGE_ID {
            ErrorKind::BadImageId {
                found: header.id.get(),
            }
        } else if !(IMAGE_VERSION_MIN..=IMAGE_VERSION_MAX).contains(&version) {
            ErrorKind::UnsupportedImageVersion { found: version }
        } else if header.is_big_endian() {
            ErrorKind::BigEndian {
                layer: "libxc image",
                options: u32::from(header.options.get()),
            }
        } else {
            return Ok(header);
        };
        Err(self.error(kind, start))
    }

    /// Reads the libxc domain header (its fields are returned unchecked).
    pub fn read_domain_header(&mut self) -> Result<wire::DomainHeader, Error> {
        self.finish_pending()?;
        self.read_struct("libxc domain header")
    }

    /// Reads the next record header, first skipping any unread body.
    ///
    /// Returns `Ok(None)` when the input ends exactly on a record boundary,
    /// and a truncation error when it ends inside the 8-byte header.
    pub fn next_record(&mut self) -> Result<Option<RecordInfo>, Error> {
        self.finish_pending()?;
        self.pending = None;
        let start = self.offset();
        let mut header = wire::RecordHeader::new_zeroed();
        let got = self.read_full(header.as_mut_bytes())?;
        if got == 0 {
            return Ok(None);
        }
        if got < 8 {
            return Err(self.error(
                ErrorKind::Truncated {
                    what: "record header",
                    expected: 8,
                    found: got as u64,
                },
                start,
            ));
        }
        let info = RecordInfo {
            raw_type: header.record_type.get(),
            length: header.length.get(),
            offset: start,
            index: self.next_index,
            layer: self.layer,
        };
        self.next_index += 1;
        self.pending = Some(PendingBody {
            info,
            remaining: u64::from(info.length),
            done: false,
        });
        Ok(Some(info))
    }

    fn pending_body(&self) -> Result<PendingBody, Error> {
        self.pending
            .ok_or_else(|| self.error(ErrorKind::NoPendingBody, self.offset()))
    }

    /// Reads the (rest of the) current record's body into `buf`, reusing its
    /// allocation, then reads and checks the padding.
    ///
    /// Refuses bodies longer than [`body_cap`](Reader::body_cap) without
    /// consuming anything (the body can still be skipped or read in pieces).
    /// The buffer grows as data arrives, so a truncated stream declaring a
    /// large body does not cause a large allocation.
    pub fn read_body<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<&'b [u8], Error> {
        let pending = self.pending_body()?;
        buf.clear();
        if pending.done {
            return Ok(buf);
        }
        if pending.remaining > u64::from(self.body_cap) {
            return Err(self.error(
                ErrorKind::RecordTooLong {
                    found: pending.info.length,
                    max: self.body_cap,
                },
                pending.info.offset,
            ));
        }
        let body_start = self.offset();
        self.read_growing(buf, pending.remaining, "record body", body_start)?;
        self.set_remaining(0);
        self.finish_padding()?;
        Ok(buf)
    }

    /// Reads `len` bytes into `buf`. The buffer grows only as data arrives
    /// (std's `read_to_end` doubles it), so a truncated input that declares a
    /// large length costs no more memory than the bytes it really has.
    fn read_growing(
        &mut self,
        buf: &mut Vec<u8>,
        len: u64,
        what: &'static str,
        start: u64,
    ) -> Result<(), Error> {
        buf.clear();
        let mut source = ErrorSlot {
            reader: self,
            error: None,
        };
        let result = (&mut source).take(len).read_to_end(buf);
        if let Some(err) = source.error.take() {
            return Err(err);
        }
        if let Err(err) = result {
            return Err(self.io_error(err));
        }
        if (buf.len() as u64) < len {
            return Err(self.error(
                ErrorKind::Truncated {
                    what,
                    expected: len,
                    found: buf.len() as u64,
                },
                start,
            ));
        }
        Ok(())
    }

    fn set_remaining(&mut self, remaining: u64) {
        if let Some(pending) = self.pending.as_mut() {
            pending.remaining = remaining;
        }
    }

    /// Consumes and checks the padding after a fully read body.
    fn finish_padding(&mut self) -> Result<(), Error> {
        let Some(pending) = self.pending else {
            return Ok(());
        };
        let len = pending.info.padding_len();
        let mut padding = [0u8; 8];
        let start = self.offset();
        let result = self.read_exact_at(&mut padding[..len], "record padding");
        let result = result.and_then(|()| {
            if padding[..len].iter().any(|&b| b != 0) {
                Err(self.error(
                    ErrorKind::NonZeroPadding {
                        len,
                        found: padding[..len].to_vec(),
                    },
                    start,
                ))
            } else {
                Ok(())
            }
        });
        if let Some(pending) = self.pending.as_mut() {
            pending.done = true;
        }
        result
    }

    /// Reads the next piece of the current record's body into `out`,
    /// returning its length; 0 once the body is finished. After the last
    /// piece the padding is read and checked. Large pieces bypass the
    /// internal buffer.
    pub fn read_body_chunk(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let pending = self.pending_body()?;
        if pending.done || out.is_empty() {
            return Ok(0);
        }
        if pending.remaining == 0 {
            self.finish_padding()?;
            return Ok(0);
        }
        let want = out
            .len()
            .min(usize::try_from(pending.remaining).unwrap_or(usize::MAX));
        let got = self.read_some(&mut out[..want])?;
        if got == 0 {
            let length = u64::from(pending.info.length);
            return Err(self.error(
                ErrorKind::Truncated {
                    what: "record body",
                    expected: length,
                    found: length - pending.remaining,
                },
                pending.info.body_offset(),
            ));
        }
        let remaining = pending.remaining - got as u64;
        self.set_remaining(remaining);
        if remaining == 0 {
            self.finish_padding()?;
        }
        Ok(got)
    }

    /// Skips the rest of the current record's body without reading it (by
    /// seeking when the reader was made with [`seekable`](Reader::seekable)),
    /// then reads and checks the padding. A no-op when the body was already read.
    pub fn skip_body(&mut self) -> Result<(), Error> {
        let pending = self.pending_body()?;
        if pending.done {
            return Ok(());
        }
        let length = u64::from(pending.info.length);
        let body_start = pending.info.body_offset();
        let skipped = self.discard(pending.remaining)?;
        if skipped < pending.remaining {
            return Err(self.error(
                ErrorKind::Truncated {
                    what: "record body",
                    expected: length,
                    found: length - (pending.remaining - skipped),
                },
                body_start,
            ));
        }
        self.set_remaining(0);
        self.finish_padding()
    }
}

impl<R: Read + Seek> Reader<R> {
    /// A reader that skips bodies by seeking ([`Seekable`]), bounded by the
    /// end of the input so that a truncated file is still reported. If the
    /// input does not support seeking (a pipe behind a `File`), it reads
    /// instead.
    pub fn seekable(inner: R) -> Self {
        match Seekable::new(inner) {
            Ok(source) => Reader::over(Source::Seekable(source)),
            Err(unseekable) => Reader::new(unseekable.inner),
        }
    }
}

impl Reader<File> {
    /// A reader for a pipe or socket given as a [`File`] ([`Spliced`]):
    /// skipped bodies are spliced into `/dev/null` by the kernel instead of
    /// being copied through user space. Reads like [`Reader::new`] when
    /// `/dev/null` cannot be opened.
    ///
    /// ```
    /// use std::io::Write;
    /// use migration_stream::{Reader, Writer, types::RecordType};
    ///
    /// let mut writer = Writer::new(Vec::new());
    /// writer.write_record(RecordType::PAGE_DATA.0, &[0x5a; 64 * 1024])?;
    /// let (pipe, mut feed) = std::io::pipe()?;
    /// let bytes = writer.into_inner();
    /// let feeder = std::thread::spawn(move || feed.write_all(&bytes));
    ///
    /// let mut reader = Reader::pipe(std::fs::File::from(std::os::fd::OwnedFd::from(pipe)));
    /// let record = reader.next_record()?.expect("one record");
    /// reader.skip_body()?;
    /// assert_eq!(reader.offset(), record.end_offset());
    /// assert!(reader.next_record()?.is_none());
    /// feeder.join().expect("feeder")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pipe(inner: File) -> Self {
        match Spliced::new(inner) {
            Ok(source) => Reader::over(Source::Spliced(source)),
            Err(no_null) => Reader::new(no_null.inner),
        }
    }
}

impl<R> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("offset", &self.input.offset())
            .field("next_index", &self.next_index)
            .field("layer", &self.layer)
            .field("current_record", &self.pending.map(|p| p.info))
            .field("source", &self.input.source().kind())
            .finish_non_exhaustive()
    }
}

/// The error kind for a failed read or seek.
fn io_kind(err: InputError) -> ErrorKind {
    match err {
        InputError::Io(err) => ErrorKind::Io(err),
        // Only `Input::read_exact` and `Input::skip` report truncation, and
        // the reader handles the latter itself (with what it was reading).
        truncated @ InputError::Truncated { .. } => {
            ErrorKind::Io(io::Error::new(io::ErrorKind::UnexpectedEof, truncated))
        }
    }
}

/// Space-separated hex of a few bytes, for messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

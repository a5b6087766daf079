//! The [`Writer`]: headers and records with correct padding.

use std::io::{self, Read, Take};

use zerocopy::IntoBytes;

use crate::sink::CopySink;
use crate::wire::{self, padding_for};
use crate::xl::XlHeader;

const ZERO_PADDING: [u8; 8] = [0; 8];

/// A record started with [`Writer::begin_record`] and not yet ended.
#[derive(Clone, Copy, Debug)]
struct OpenRecord {
    declared: u32,
    written: u64,
}

/// Writes stream headers and records over any [`Write`](std::io::Write) (or other [`CopySink`]).
///
/// It writes exactly what it is given, in the order given: it does not
/// enforce record order or content (the verifier's business), only framing
/// (lengths that fit in `u32`, bodies that match their declared length, and
/// zero padding to 8 bytes). It does no buffering of its own: wrap a file or
/// socket in a [`std::io::BufWriter`], or in a
/// [`BlockWriter`](crate::sink::BlockWriter) to write a whole stream fast.
///
/// ```
/// use migration_stream::{Writer, types::{LibxlRecordType, RecordType}, wire};
///
/// let mut writer = Writer::new(Vec::new());
/// writer.write_libxl_header(&wire::LibxlHeader::new(0))?;
/// writer.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
/// writer.write_image_header(&wire::ImageHeader::new(3))?;
/// // A large body in pieces: header, pieces, padding.
/// writer.begin_record(RecordType::HVM_CONTEXT.0, 5)?;
/// writer.write_body(b"ab")?;
/// writer.write_body(b"cde")?;
/// writer.end_record()?;
/// assert_eq!(writer.offset(), 16 + 8 + 24 + 8 + 8);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// An xl header, a body copied from a reader, and bytes after the end:
///
/// ```
/// use migration_stream::{Writer, XlHeader, types::{RecordType, XlMandatoryFlags}};
///
/// let mut writer = Writer::new(Vec::new());
/// let xl = XlHeader::new(XlMandatoryFlags::STREAM_V2, b"");
/// writer.write_xl_header(&xl)?;
/// assert_eq!(writer.get_ref().len() as u64, xl.encoded_len());
/// writer.begin_record(RecordType::HVM_CONTEXT.0, 6)?;
/// assert_eq!(writer.copy_body_from(&mut &b"abcdef and more"[..], 6)?, 6);
/// writer.end_record()?; // 2 bytes of padding
/// writer.write_raw(b"tail")?;
/// writer.get_mut().push(b'!'); // behind the writer's back: its offset does not move
/// writer.flush()?;
/// assert_eq!(writer.offset(), 48 + 8 + 6 + 2 + 4);
/// let bytes = writer.into_inner();
/// assert_eq!(&bytes[56..64], b"abcdef\0\0");
/// assert_eq!(&bytes[64..], b"tail!");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Writer<W> {
    inner: W,
    offset: u64,
    open: Option<OpenRecord>,
}

fn misuse(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}

impl<W: CopySink> Writer<W> {
    /// A writer at offset 0.
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            offset: 0,
            open: None,
        }
    }

    /// Bytes written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The wrapped writer, mutably (writing through it desynchronises [`offset`](Writer::offset)).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps the writer. An unfinished record stays unfinished.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Flushes the wrapped writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush_sink()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_piece(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn no_open_record(&self) -> io::Result<()> {
        match self.open {
            Some(_) => Err(misuse("a record is still open: call end_record first")),
            None => Ok(()),
        }
    }

    /// Writes bytes outside any record (e.g. data a converter appends after END).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.no_open_record()?;
        self.put(bytes)
    }

    /// Writes the xl save header and its optional data.
    pub fn write_xl_header(&mut self, header: &XlHeader) -> io::Result<()> {
        self.no_open_record()?;
        if u32::try_from(header.optional_data.len()).is_err() {
            return Err(misuse("xl optional data longer than 4 GiB"));
        }
        self.put(&header.to_bytes())
    }

    /// Writes the libxl header.
    pub fn write_libxl_header(&mut self, header: &wire::LibxlHeader) -> io::Result<()> {
        self.no_open_record()?;
        self.put(header.as_bytes())
    }

    /// Writes a libxc image header.
    pub fn write_image_header(&mut self, header: &wire::ImageHeader) -> io::Result<()> {
        self.no_open_record()?;
        self.put(header.as_bytes())
    }

    /// Writes a libxc domain header.
    ///
    /// ```
    /// use migration_stream::{Writer, types::DomainType, wire};
    /// let mut writer = Writer::new(Vec::new());
    /// writer.write_domain_header(&wire::DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
    /// // type, page shift, reserved, Xen major, Xen minor: 16 little-endian bytes.
    /// assert_eq!(writer.offset(), 16);
    /// assert_eq!(&writer.get_ref()[..4], &[2, 0, 0, 0]); // X86_HVM
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_domain_header(&mut self, header: &wire::DomainHeader) -> io::Result<()> {
        self.no_open_record()?;
        self.put(header.as_bytes())
    }

    /// Writes a whole record: header, body, padding.
    pub fn write_record(&mut self, raw_type: u32, body: &[u8]) -> io::Result<()> {
        let length =
            u32::try_from(body.len()).map_err(|_| misuse("record body longer than 4 GiB"))?;
        self.begin_record(raw_type, length)?;
        self.write_body(body)?;
        self.end_record()
    }

    /// Starts a record of `length` body bytes; the body follows in
    /// [`write_body`](Writer::write_body) / [`copy_body_from`](Writer::copy_body_from)
    /// calls, then [`end_record`](Writer::end_record).
    pub fn begin_record(&mut self, raw_type: u32, length: u32) -> io::Result<()> {
        self.no_open_record()?;
        let header = wire::RecordHeader {
            record_type: wire::Le32::new(raw_type),
            length: wire::Le32::new(length),
        };
        self.put(header.as_bytes())?;
        self.open = Some(OpenRecord {
            declared: length,
            written: 0,
        });
        Ok(())
    }

    fn room(&self, extra: u64) -> io::Result<OpenRecord> {
        let open = self
            .open
            .ok_or_else(|| misuse("no open record: call begin_record first"))?;
        if open.written.saturating_add(extra) > u64::from(open.declared) {
            return Err(misuse("record body longer than its declared length"));
        }
        Ok(open)
    }

    fn advance(&mut self, n: u64) {
        if let Some(open) = self.open.as_mut() {
            open.written += n;
        }
    }

    /// Writes a piece of the open record's body.
    pub fn write_body(&mut self, piece: &[u8]) -> io::Result<()> {
        self.room(piece.len() as u64)?;
        self.put(piece)?;
        self.advance(piece.len() as u64);
        Ok(())
    }

    /// Copies up to `len` bytes from `src` into the open record's body, using
    /// [`io::copy`] (which can use kernel fast paths between files and pipes).
    /// Returns how many bytes were copied; fewer than `len` only if `src` ended.
    pub fn copy_body_from(&mut self, src: &mut impl Read, len: u64) -> io::Result<u64> {
        let mut take = src.take(len);
        self.copy_body(&mut take)?;
        Ok(len - take.limit())
    }

    /// Copies `src` (up to its limit) into the open record's body; what was
    /// copied counts even when the copy fails part way (see
    /// [`CopySink::copy_from`]).
    fn copy_body<R: Read>(&mut self, src: &mut Take<R>) -> io::Result<()> {
        self.room(src.limit())?;
        let before = src.limit();
        let result = self.inner.copy_from(src);
        let copied = before - src.limit();
        self.offset += copied;
        self.advance(copied);
        result
    }

    /// Ends the open record: checks that the declared length was written, then pads.
    pub fn end_record(&mut self) -> io::Result<()> {
        let open = self
            .open
            .ok_or_else(|| misuse("no open record: call begin_record first"))?;
        if open.written != u64::from(open.declared) {
            return Err(misuse(&format!(
                "record body incomplete: declared {} bytes, wrote {}",
                open.declared, open.written
            )));
        }
        self.open = None;
        let padding = padding_for(u64::from(open.declared));
        self.put(&ZERO_PADDING[..padding])
    }
}

/// The bytes go into the open record's body (see
/// [`Writer::begin_record`]), which checks them against the declared length.
impl<W: CopySink> CopySink for Writer<W> {
    fn write_piece(&mut self, piece: &[u8]) -> io::Result<()> {
        self.write_body(piece)
    }

    fn copy_from<R: Read>(&mut self, src: &mut Take<R>) -> io::Result<()> {
        self.copy_body(src)
    }

    fn flush_sink(&mut self) -> io::Result<()> {
        self.flush()
    }
}

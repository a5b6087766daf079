//! The high-level [`StreamReader`]: follows the nesting xl → libxl → libxc.

use std::fs::File;
use std::io::{Read, Seek};

use crate::error::{Error, ErrorKind, Layer};
use crate::format::StreamFormat;
use crate::reader::Reader;
use crate::record::RecordInfo;
use crate::types::{LibxlRecordType, REC_LENGTH_MAX, RecordType};
use crate::wire;
use crate::xl::XlHeader;

/// One step through a stream. New events may be added (the enum is
/// `#[non_exhaustive]`): keep a catch-all arm.
///
/// ```
/// use migration_stream::{Event, StreamReader};
/// use migration_stream::types::{DomainType, LibxlRecordType};
/// let file = std::fs::File::open("../../testdata/streams/xl-hvm-v3.bin")?;
/// let mut stream = StreamReader::seekable(file);
/// let (mut libxl_records, mut domain) = (Vec::new(), None);
/// loop {
///     match stream.next_event()? {
///         Event::XlHeader(xl) => assert!(xl.is_stream_v2()),
///         Event::DomainHeader(header) => domain = Some(header.domain_type()),
///         Event::LibxlRecord(info) => libxl_records.push(info.libxl_type()),
///         Event::End => break,
///         _ => {} // bodies not read are skipped
///     }
/// }
/// assert_eq!(domain, Some(DomainType::X86_HVM));
/// assert_eq!(libxl_records.first(), Some(&LibxlRecordType::LIBXC_CONTEXT));
/// assert_eq!(libxl_records.last(), Some(&LibxlRecordType::END));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The xl save header (with its optional data).
    XlHeader(XlHeader),
    /// The libxl header.
    LibxlHeader(wire::LibxlHeader),
    /// A libxc image header.
    ImageHeader(wire::ImageHeader),
    /// A libxc domain header.
    DomainHeader(wire::DomainHeader),
    /// A libxc record header; its body is pending.
    LibxcRecord(RecordInfo),
    /// A libxl record header; its body is pending.
    LibxlRecord(RecordInfo),
    /// Bytes follow the outermost END record, starting at `offset`.
    Trailing {
        /// Absolute byte offset of the first trailing byte.
        offset: u64,
    },
    /// The stream is finished; every further call returns `End` again.
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Detect,
    XlHeader,
    LibxlHeader,
    LibxlRecords,
    ImageHeader,
    DomainHeader,
    LibxcRecords,
    AfterEnd,
    Finished,
    Failed,
}

/// Walks a whole stream as a sequence of [`Event`]s, following the nesting
/// of the layers, including checkpointed (Remus/COLO) libxl streams: a libxc
/// CHECKPOINT hands control back to the libxl layer, and a libxl
/// CHECKPOINT_END hands it back to libxc records without new headers.
///
/// After a record event the caller may read the body
/// ([`read_body`](StreamReader::read_body),
/// [`read_body_chunk`](StreamReader::read_body_chunk)) or skip it
/// ([`skip_body`](StreamReader::skip_body)); an unread body is skipped by the
/// next [`next_event`](StreamReader::next_event).
///
/// The reader checks framing only (magic numbers, versions, lengths, padding,
/// and the spec's 128 MiB cap on libxc records); what a valid stream contains
/// is the verifier's business. An error in the framing stops it.
///
/// ```
/// use migration_stream::{Event, StreamReader, Writer, types::{DomainType, RecordType}, wire};
///
/// let mut writer = Writer::new(Vec::new());
/// writer.write_image_header(&wire::ImageHeader::new(3))?;
/// writer.write_domain_header(&wire::DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
/// writer.write_record(RecordType::STATIC_DATA_END.0, &[])?;
/// writer.write_record(RecordType::END.0, &[])?;
///
/// let bytes = writer.into_inner();
/// let mut stream = StreamReader::new(&bytes[..]);
/// let mut records = Vec::new();
/// loop {
///     match stream.next_event()? {
///         Event::LibxcRecord(info) => records.push(info.libxc_type()),
///         Event::End => break,
///         _ => {}
///     }
/// }
/// assert_eq!(records, [RecordType::STATIC_DATA_END, RecordType::END]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A checkpointed libxl stream, read from a known format with a lower body
/// cap, one body in pieces:
///
/// ```
/// use std::io::Cursor;
/// use migration_stream::{Event, Reader, StreamFormat, StreamReader, Writer};
/// use migration_stream::types::{DomainType, LibxlRecordType, RecordType};
/// use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};
///
/// let mut w = Writer::new(Vec::new());
/// w.write_libxl_header(&LibxlHeader::new(0))?;
/// w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
/// w.write_image_header(&ImageHeader::new(3))?;
/// w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
/// w.write_record(RecordType::HVM_CONTEXT.0, &[1; 40])?;
/// w.write_record(RecordType::CHECKPOINT.0, &[])?;
/// w.write_record(LibxlRecordType::CHECKPOINT_END.0, &[])?;
/// w.write_record(RecordType::END.0, &[])?;
/// w.write_record(LibxlRecordType::END.0, &[])?;
/// let bytes = w.into_inner();
///
/// let mut reader = Reader::new(&bytes[..]);
/// reader.set_body_cap(1024);
/// let mut stream = StreamReader::from_reader(reader, None);
/// assert_eq!(stream.format(), None); // detected by the first event
/// assert!(matches!(stream.next_event()?, Event::LibxlHeader(_)));
/// assert_eq!(stream.format(), Some(StreamFormat::Libxl));
/// assert_eq!(stream.reader().body_cap(), 1024);
/// let mut checkpointed = false;
/// loop {
///     match stream.next_event()? {
///         Event::LibxcRecord(info) if info.libxc_type() == RecordType::HVM_CONTEXT => {
///             let mut piece = [0u8; 32];
///             assert_eq!(stream.read_body_chunk(&mut piece)?, 32);
///             stream.skip_body()?; // the other 8 bytes
///             assert_eq!(stream.offset(), info.end_offset());
///         }
///         Event::LibxcRecord(info) if info.libxc_type() == RecordType::CHECKPOINT => {
///             checkpointed = stream.in_checkpoint(); // until the libxl CHECKPOINT_END
///         }
///         Event::End => break,
///         _ => {}
///     }
/// }
/// assert!(checkpointed && !stream.in_checkpoint());
/// stream.reader_mut().set_body_cap(0);
/// assert_eq!(stream.into_inner().len(), 0); // the slice is consumed
///
/// // The format given, not detected; a file read with seeks over bodies.
/// let mut stream = StreamReader::with_format(&bytes[..], StreamFormat::Libxl);
/// assert_eq!(stream.format(), Some(StreamFormat::Libxl));
/// assert!(matches!(stream.next_event()?, Event::LibxlHeader(_)));
/// let mut seeking = StreamReader::seekable(Cursor::new(&bytes));
/// while !matches!(seeking.next_event()?, Event::End) {}
/// assert_eq!(seeking.offset(), bytes.len() as u64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StreamReader<R> {
    reader: Reader<R>,
    state: State,
    format: Option<StreamFormat>,
    in_libxl: bool,
    in_checkpoint: bool,
}

impl<R: Read> StreamReader<R> {
    /// A stream reader that detects the format from the first bytes.
    pub fn new(inner: R) -> Self {
        StreamReader::from_reader(Reader::new(inner), None)
    }

    /// A stream reader for a stream of a known outermost format.
    pub fn with_format(inner: R, format: StreamFormat) -> Self {
        StreamReader::from_reader(Reader::new(inner), Some(format))
    }

    /// Wraps a configured [`Reader`] (e.g. one with a lower body cap); `None`
    /// detects the format.
    pub fn from_reader(reader: Reader<R>, format: Option<StreamFormat>) -> Self {
        let mut stream = StreamReader {
            reader,
            state: State::Detect,
            format: None,
            in_libxl: false,
            in_checkpoint: false,
        };
        if let Some(format) = format {
            stream.enter(format);
        }
        stream
    }

    fn enter(&mut self, format: StreamFormat) {
        self.format = Some(format);
        self.state = match format {
            StreamFormat::Xl => State::XlHeader,
            StreamFormat::Libxl => State::LibxlHeader,
            StreamFormat::Libxc => State::ImageHeader,
        };
    }

    /// The outermost format, once known.
    pub fn format(&self) -> Option<StreamFormat> {
        self.format
    }

    /// Whether a libxc CHECKPOINT has handed control to libxl and no
    /// CHECKPOINT_END has handed it back yet.
    pub fn in_checkpoint(&self) -> bool {
        self.in_checkpoint
    }

    /// Absolute byte offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.reader.offset()
    }

    /// The underlying framing reader.
    pub fn reader(&self) -> &Reader<R> {
        &self.reader
    }

    /// The underlying framing reader, e.g. to change the body cap.
    pub fn reader_mut(&mut self) -> &mut Reader<R> {
        &mut self.reader
    }

    /// Unwraps the input, dropping buffered bytes.
    pub fn into_inner(self) -> R {
        self.reader.into_inner()
    }

    /// Reads the pending record's body into `buf`, see [`Reader::read_body`].
    ///
    /// ```
    /// use migration_stream::{Event, StreamReader, Writer, types::{DomainType, RecordType}, wire};
    ///
    /// let mut writer = Writer::new(Vec::new());
    /// writer.write_image_header(&wire::ImageHeader::new(3))?;
    /// writer.write_domain_header(&wire::DomainHeader::new(DomainType::X86_PV, 4, 19))?;
    /// writer.write_record(RecordType::SHARED_INFO.0, &[7; 12])?;
    /// let bytes = writer.into_inner();
    ///
    /// let mut stream = StreamReader::new(&bytes[..]);
    /// let mut body = Vec::new();
    /// loop {
    ///     if let Event::LibxcRecord(info) = stream.next_event()? {
    ///         assert_eq!(info.libxc_type(), RecordType::SHARED_INFO);
    ///         assert_eq!(stream.read_body(&mut body)?, [7; 12]); // without the padding
    ///         break;
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_body<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<&'b [u8], Error> {
        self.reader.read_body(buf)
    }

    /// Reads a piece of the pending record's body, see [`Reader::read_body_chunk`].
    pub fn read_body_chunk(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        self.reader.read_body_chunk(out)
    }

    /// Skips the pending record's body, see [`Reader::skip_body`].
    pub fn skip_body(&mut self) -> Result<(), Error> {
        self.reader.skip_body()
    }

    /// The next event. Errors are final: later calls return
    /// [`ErrorKind::Stopped`].
    pub fn next_event(&mut self) -> Result<Event, Error> {
        let result = self.step();
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step(&mut self) -> Result<Event, Error> {
        if self.state == State::Detect {
            let format = self.reader.detect_format()?;
            self.enter(format);
        }
        match self.state {
            State::Detect | State::Failed => {
                Err(Error::new(ErrorKind::Stopped, self.offset(), None))
            }
            State::XlHeader => self.xl_header(),
            State::LibxlHeader => {
                let header = self.reader.read_libxl_header()?;
                self.in_libxl = true;
                self.state = State::LibxlRecords;
                Ok(Event::LibxlHeader(header))
            }
            State::ImageHeader => {
                let header = self.reader.read_image_header()?;
                self.state = State::DomainHeader;
                Ok(Event::ImageHeader(header))
            }
            State::DomainHeader => {
                let header = self.reader.read_domain_header()?;
                self.state = State::LibxcRecords;
                Ok(Event::DomainHeader(header))
            }
            State::LibxlRecords => self.libxl_record(),
            State::LibxcRecords => self.libxc_record(),
            State::AfterEnd => {
                self.reader.skip_body()?;
                self.state = State::Finished;
                if self.reader.at_eof()? {
                    Ok(Event::End)
                } else {
                    Ok(Event::Trailing {
                        offset: self.reader.offset(),
                    })
                }
            }
            State::Finished => Ok(Event::End),
        }
    }

    fn xl_header(&mut self) -> Result<Event, Error> {
        let start = self.reader.offset();
        let header = self.reader.read_xl_header()?;
        let unknown = header.unknown_mandatory_flags();
        if unknown != 0 {
            return Err(Error::new(
                ErrorKind::UnknownXlMandatoryFlags { unknown },
                start + 36,
                None,
            ));
        }
        if header.is_stream_v2() {
            self.state = State::LibxlHeader;
        } else {
            // Without STREAMv2 xl hands the data to the legacy converter; a
            // libxc stream is accepted too, as upstream's verifier does.
            let here = self.reader.offset();
            let next = self.reader.peek(8)?;
            if next.len() == 8 && StreamFormat::detect(next) != Some(StreamFormat::Libxc) {
                return Err(Error::new(ErrorKind::LegacyStream, here, None));
            }
            self.state = State::ImageHeader;
        }
        Ok(Event::XlHeader(header))
    }

    fn libxl_record(&mut self) -> Result<Event, Error> {
        self.reader.set_layer(Layer::Libxl);
        let Some(info) = self.reader.next_record()? else {
            return Err(Error::new(
                ErrorKind::UnexpectedEnd {
                    expected: "the libxl END record",
                },
                self.reader.offset(),
                None,
            ));
        };
        match info.libxl_type() {
            LibxlRecordType::END => self.state = State::AfterEnd,
            LibxlRecordType::LIBXC_CONTEXT => self.state = State::ImageHeader,
            LibxlRecordType::CHECKPOINT_END if self.in_checkpoint => {
                self.in_checkpoint = false;
                self.state = State::LibxcRecords;
            }
            _ => {}
        }
        Ok(Event::LibxlRecord(info))
    }

    fn libxc_record(&mut self) -> Result<Event, Error> {
        self.reader.set_layer(Layer::Libxc);
        let Some(info) = self.reader.next_record()? else {
            return Err(Error::new(
                ErrorKind::UnexpectedEnd {
                    expected: "the libxc END record",
                },
                self.reader.offset(),
                None,
            ));
        };
        if info.length > REC_LENGTH_MAX {
            return Err(Error::new(
                ErrorKind::RecordTooLong {
                    found: info.length,
                    max: REC_LENGTH_MAX,
                },
                info.offset,
                Some(info.context()),
            ));
        }
        match info.libxc_type() {
            RecordType::END if self.in_libxl => self.state = State::LibxlRecords,
            RecordType::END => self.state = State::AfterEnd,
            RecordType::CHECKPOINT if self.in_libxl => {
                self.in_checkpoint = true;
                self.state = State::LibxlRecords;
            }
            _ => {}
        }
        Ok(Event::LibxcRecord(info))
    }
}

impl<R: Read + Seek> StreamReader<R> {
    /// A stream reader over a seekable input: skipped bodies are seeked over.
    pub fn seekable(inner: R) -> Self {
        StreamReader::from_reader(Reader::seekable(inner), None)
    }
}

impl StreamReader<File> {
    /// A stream reader over a pipe or socket ([`Reader::pipe`]): skipped
    /// bodies are spliced into `/dev/null`, and a descriptor the caller set
    /// non-blocking is waited for.
    ///
    /// ```
    /// use std::io::Write;
    /// use migration_stream::{Event, StreamReader, Writer, types::{DomainType, RecordType}, wire};
    ///
    /// let mut writer = Writer::new(Vec::new());
    /// writer.write_image_header(&wire::ImageHeader::new(3))?;
    /// writer.write_domain_header(&wire::DomainHeader::new(DomainType::X86_PV, 4, 19))?;
    /// writer.write_record(RecordType::PAGE_DATA.0, &[0x5a; 64 * 1024])?;
    /// writer.write_record(RecordType::END.0, &[])?;
    /// let bytes = writer.into_inner();
    /// let (pipe, mut feed) = std::io::pipe()?;
    /// let feeder = std::thread::spawn(move || feed.write_all(&bytes));
    ///
    /// let mut stream = StreamReader::pipe(std::fs::File::from(std::os::fd::OwnedFd::from(pipe)));
    /// let mut records = Vec::new();
    /// loop {
    ///     match stream.next_event()? {
    ///         Event::LibxcRecord(info) => records.push(info.libxc_type()), // bodies spliced away
    ///         Event::End => break,
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!(records, [RecordType::PAGE_DATA, RecordType::END]);
    /// feeder.join().expect("feeder")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pipe(inner: File) -> Self {
        StreamReader::from_reader(Reader::pipe(inner), None)
    }
}

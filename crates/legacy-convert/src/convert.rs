//! Legacy image → v2 stream, byte for byte what Xen's `convert-legacy-stream`
//! writes wherever it succeeds, and correct where it does not.
//!
//! Every v2 structure is written through `migration_stream` (`wire` for
//! headers, `payload` for record bodies, the [`Writer`] for framing); the
//! legacy side is read through [`crate::reader`]. Page data and the other
//! large payloads are never held: they go from the input to the output with
//! `source::Input::copy_to`, into whatever [`CopySink`] the caller gives
//! (a [`BlockWriter`](migration_stream::sink::BlockWriter) for speed).
//!
//! ```
//! use legacy_convert::convert::{convert, Options, OutputFormat, Quiet};
//! use legacy_convert::format::{GuestWidth, Width};
//! use legacy_convert::writer::{BodyItem, LegacyImage, PvVcpu};
//!
//! let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10)
//!     .with_body(vec![BodyItem::pages(&[(0, 3)], 1)])
//!     .with_vcpus(vec![PvVcpu::new(0, GuestWidth::W64)])
//!     .to_bytes();
//! let mut out = Vec::new();
//! let mut options = Options::default();
//! options.format = OutputFormat::Libxl;
//! let summary = convert(&image[..], &mut out, &options, &mut Quiet)?;
//! assert_eq!(summary.pages, 1);
//! assert_eq!(&out[..8], b"LibxlFmt");
//! # Ok::<(), legacy_convert::Error>(())
//! ```

mod tail;

use std::io::Read;

use migration_stream::payload::{HvmParams, X86PvInfo, X86TscInfo};
use migration_stream::sink::CopySink;
use migration_stream::source::Sequential;
use migration_stream::types::{DomainType, HvmParam, LibxlRecordType, RecordType, XL_MAGIC};
use migration_stream::wire::{
    self, DomainHeader, ImageHeader, LIBXL_OPTION_LEGACY, LibxlHeader, PageDataHeader,
    X86PvP2mFramesHeader,
};
use migration_stream::{Writer, XlFixedHeader, types::XlMandatoryFlags};
use zerocopy::{FromZeros, IntoBytes};

use crate::error::{Error, ErrorKind, Hint};
use crate::format::{BARE_XTAB, ChunkId, GuestType, Width, v2_pfn};
use crate::physmap::read_physmap;
use crate::probe::Detection;
use crate::reader::{BlockKind, Chunk, Event, LegacyReader};

/// The converter's version, written as `xen_minor` (with `xen_major` 0) in
/// the domain header, as upstream does.
pub const CONVERTER_VERSION: u32 = 1;

/// The libxc stream version written.
pub const LIBXC_VERSION: u32 = 3;

/// The most bytes of a qemu record that runs to the end of an input of
/// unknown length (`QemuDeviceModelRecord` read from a pipe) that are held.
///
/// Both output formats put the record's length before its data, so such a
/// record has to be read whole before any of it is written. A qemu-dm
/// device state is tens to hundreds of KiB (guest memory, VGA memory
/// included, travels as page data); from a file, whose length is known,
/// the record is copied without being held whatever its size.
pub const QEMU_HELD_CAP: u64 = 4 << 20;

/// The stream format to write.
///
/// ```
/// use legacy_convert::{Options, OutputFormat, convert, convert::Quiet};
/// let image = std::fs::read("../../testdata/legacy/hvm64-upstream.img")?;
/// let mut options = Options::default();
/// for (format, start) in [(OutputFormat::Libxc, &[0xff; 8][..]), (OutputFormat::Libxl, b"LibxlFmt")] {
///     options.format = format;
///     let mut out = Vec::new();
///     convert(&image[..], &mut out, &options, &mut Quiet)?;
///     assert_eq!(&out[..8], start);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// A bare libxc stream (upstream's default).
    #[default]
    Libxc,
    /// A libxl stream (LEGACY option set) around the libxc stream, as libxl reads it.
    Libxl,
}

/// How to convert. New options are added over time: start from
/// [`Options::default()`] and set the fields you need.
///
/// ```
/// use legacy_convert::{Options, OutputFormat};
/// let mut options = Options::default();
/// options.format = OutputFormat::Libxl;
/// assert_eq!(options.width, None); // probed from the image
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// The stream format to write.
    pub format: OutputFormat,
    /// The toolstack width; probed from the image when `None`.
    pub width: Option<Width>,
    /// The guest type; probed from the image when `None`.
    pub guest: Option<GuestType>,
    /// The input starts with an xl save header, which is copied with STREAMv2 set.
    pub xl_header: bool,
    /// Do not read the qemu record of an HVM image (in both formats).
    pub skip_qemu: bool,
    /// How many bytes the input holds from where conversion starts, when
    /// known (a regular file: its size minus the current offset). It lets a
    /// `QemuDeviceModelRecord`, which runs to the end of the input, become an
    /// EMULATOR_CONTEXT record without being held in memory.
    pub input_len: Option<u64>,
}

/// Receives what the converter has to say: upstream's `-v` lines and progress.
///
/// ```
/// use legacy_convert::{Observer, Options, convert};
/// #[derive(Default)]
/// struct Lines(Vec<String>, u64);
/// impl Observer for Lines {
///     fn wants_info(&self) -> bool { true }
///     fn info(&mut self, line: &str) { self.0.push(line.to_owned()) }
///     fn progress(&mut self, _offset: u64, pages: u64) { self.1 = pages }
/// }
/// let image = std::fs::read("../../testdata/legacy/pv64-guest64.img")?;
/// let mut lines = Lines::default();
/// let summary = convert(&image[..], &mut Vec::new(), &Options::default(), &mut lines)?;
/// assert!(!lines.0.is_empty(), "upstream's -v lines");
/// assert_eq!(lines.1, summary.pages);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Observer {
    /// True when [`Observer::info`] lines are wanted (they are not built otherwise).
    fn wants_info(&self) -> bool {
        false
    }
    /// One line of upstream's verbose summary.
    fn info(&mut self, _line: &str) {}
    /// Progress: input bytes consumed and pages converted so far.
    fn progress(&mut self, _input_offset: u64, _pages: u64) {}
}

/// An observer that wants nothing: see [`convert`].
///
/// ```
/// use legacy_convert::{Observer, Options, convert, convert::Quiet};
/// use legacy_convert::format::Width;
/// use legacy_convert::writer::LegacyImage;
///
/// assert!(!Quiet.wants_info(), "so no verbose line is even formatted");
/// let image = LegacyImage::hvm(Width::W64, 0x100).to_bytes();
/// let summary = convert(&image[..], &mut Vec::new(), &Options::default(), &mut Quiet)?;
/// assert_eq!(summary.input_bytes, image.len() as u64);
/// # Ok::<(), legacy_convert::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// What a conversion did.
///
/// ```
/// use legacy_convert::format::{GuestType, Width};
/// use legacy_convert::{Options, convert, convert::Quiet};
/// let image = std::fs::read("../../testdata/legacy/hvm64-upstream.img")?;
/// let summary = convert(&image[..], &mut Vec::new(), &Options::default(), &mut Quiet)?;
/// // Neither was given: both were detected from the image.
/// assert!(summary.probed);
/// assert_eq!((summary.width, summary.guest), (Width::W64, GuestType::Hvm));
/// assert_eq!(summary.input_bytes, image.len() as u64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The toolstack width used.
    pub width: Width,
    /// The guest type used.
    pub guest: GuestType,
    /// True when width or guest type was probed rather than given.
    pub probed: bool,
    /// Pages of data converted.
    pub pages: u64,
    /// PAGE_DATA records written.
    pub page_records: u64,
    /// Input bytes consumed.
    pub input_bytes: u64,
}

macro_rules! info {
    ($obs:expr, $($arg:tt)*) => {
        if $obs.wants_info() {
            let line = format!($($arg)*);
            $obs.info(&line);
        }
    };
}
use info;

struct Converter<'o, R, W> {
    reader: LegacyReader<R>,
    out: Writer<W>,
    options: &'o Options,
    observer: &'o mut dyn Observer,
    hvm_params: Vec<(u64, u64)>,
    xenstore: Vec<u8>,
    /// The current batch's pfns in v2 encoding, and the p2m frames, in wire form.
    words: Vec<wire::Le64>,
    pages: u64,
    page_records: u64,
}

fn output_error(item: &'static str) -> impl Fn(std::io::Error) -> ErrorKind {
    move |source| ErrorKind::Output { item, source }
}

/// Converts the legacy image on `input` to a v2 stream on `output`.
///
/// Nothing is buffered beyond one page batch's pfn list (and, in libxl mode,
/// the physmap's xenstore pairs, at most
/// [`XENSTORE_DATA_CAP`](crate::physmap::XENSTORE_DATA_CAP), and a qemu record
/// that runs to the end of an input of unknown size, at most
/// [`QEMU_HELD_CAP`]). The output is not flushed: give a
/// [`BlockWriter`](migration_stream::sink::BlockWriter) (or a `BufWriter`)
/// and flush it afterwards; after an error it holds what was converted
/// before the error.
///
/// ```
/// use legacy_convert::{ErrorKind, Options, OutputFormat, convert, convert::Quiet};
/// use migration_stream::sink::BlockWriter;
///
/// // libxl's invocation: -w 64 -g hvm -f libxl, into a buffered sink.
/// let image = std::fs::read("../../testdata/legacy/hvm64-upstream.img")?;
/// let mut options = Options::default();
/// options.format = OutputFormat::Libxl;
/// options.width = Some(legacy_convert::format::Width::W64);
/// options.guest = Some(legacy_convert::format::GuestType::Hvm);
/// let mut sink = BlockWriter::new(Vec::new());
/// let summary = convert(&image[..], &mut sink, &options, &mut Quiet)?;
/// sink.flush()?;
/// let stream = sink.get_ref();
/// assert!(!summary.probed && summary.pages > 0);
/// assert_eq!(&stream[..8], b"LibxlFmt");
///
/// // A cut image is an error that says what was cut.
/// let err = convert(&image[..100], &mut Vec::new(), &options, &mut Quiet).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Truncated { .. }), "{err}");
/// assert!(err.is_bad_input());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn convert<R: Read, W: CopySink>(
    input: R,
    output: W,
    options: &Options,
    observer: &mut dyn Observer,
) -> Result<Summary, Error> {
    convert_source(Sequential::new(input), output, options, observer)
}

/// [`convert`] over a source the caller built, e.g.
/// [`Sequential::descriptor`] for an input descriptor that may be
/// non-blocking (reads then wait for data instead of failing).
///
/// ```
/// use std::io::Write;
/// use legacy_convert::format::{GuestType, Width};
/// use legacy_convert::writer::{BodyItem, LegacyImage};
/// use legacy_convert::{Options, convert::{Quiet, convert_source}};
/// use migration_stream::source::Sequential;
///
/// let image = LegacyImage::hvm(Width::W64, 0x100)
///     .with_body(vec![BodyItem::pages(&[(0, 1), (0, 2)], 3)])
///     .to_bytes();
/// let (pipe, mut feed) = std::io::pipe()?;
/// let feeder = std::thread::spawn(move || feed.write_all(&image));
/// let mut out = Vec::new();
/// let summary = convert_source(Sequential::descriptor(pipe), &mut out, &Options::default(), &mut Quiet)?;
/// feeder.join().expect("feeder")?;
/// assert_eq!((summary.width, summary.guest, summary.pages), (Width::W64, GuestType::Hvm, 2));
/// assert_eq!(&out[..8], [0xff; 8]); // a libxc stream
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn convert_source<R: Read, W: CopySink>(
    input: Sequential<R>,
    output: W,
    options: &Options,
    observer: &mut dyn Observer,
) -> Result<Summary, Error> {
    let mut conv = Converter {
        reader: LegacyReader::over(input),
        out: Writer::new(output),
        options,
        observer,
        hvm_params: Vec::new(),
        xenstore: Vec::new(),
        words: Vec::with_capacity(1024),
        pages: 0,
        page_records: 0,
    };
    conv.run()
}

impl<R: Read, W: CopySink> Converter<'_, R, W> {
    fn run(&mut self) -> Result<Summary, Error> {
        if self.options.xl_header && self.options.format == OutputFormat::Libxc {
            // With STREAMv2 set, xl expects a libxl stream and fails on the libxc one; without
            // it, xl runs the converter again on what is already v2 (upstream's bug). No output
            // of this combination can be restored, so none is written.
            return Err(Error::new(ErrorKind::XlNeedsLibxl, 0, None));
        }
        let head = self.reader.peek(XL_MAGIC.len())?;
        if head.is_empty() {
            return Err(Error::new(ErrorKind::Empty, 0, None));
        }
        if self.options.xl_header {
            self.copy_xl_header()?;
        } else if head == &XL_MAGIC[..] {
            return Err(Error::new(ErrorKind::UnexpectedXlHeader, 0, None));
        }
        let detected = self.reader.probe();
        let (width, guest) = self.layout(&detected)?;
        self.reader.set_layout(width, guest);
        self.convert_image(guest)
            .map_err(|err| self.with_hint(err, detected.ok()))?;
        Ok(Summary {
            width,
            guest,
            probed: self.options.width.is_none() || self.options.guest.is_none(),
            pages: self.pages,
            page_records: self.page_records,
            input_bytes: self.reader.offset(),
        })
    }

    /// The width and guest type: as given, or as detected.
    fn layout(&mut self, detected: &Result<Detection, Error>) -> Result<(Width, GuestType), Error> {
        let (given_width, given_guest) = (self.options.width, self.options.guest);
        if let (Some(width), Some(guest)) = (given_width, given_guest) {
            return Ok((width, guest));
        }
        let found = match detected {
            Ok(found) => *found,
            Err(err) => {
                let kind = match err.kind() {
                    ErrorKind::Empty => ErrorKind::Empty,
                    ErrorKind::TooShortToDetect { found } => {
                        ErrorKind::TooShortToDetect { found: *found }
                    }
                    _ => ErrorKind::Misuse("probing failed"),
                };
                return Err(Error::new(kind, err.offset(), None));
            }
        };
        let width = given_width.unwrap_or(found.width);
        let guest = given_guest.unwrap_or(found.guest);
        info!(
            self.observer,
            "Detected {} toolstack, {} guest{}",
            width,
            guest,
            match (given_width, given_guest) {
                (None, None) => "",
                (Some(_), None) => " (width given)",
                _ => " (guest type given)",
            }
        );
        Ok((width, guest))
    }

    /// A bad-input error, with the likely cause when a given width or guest
    /// type contradicts what the image looks like.
    fn with_hint(&self, err: Error, detected: Option<Detection>) -> Error {
        let Some(found) = detected.filter(|_| err.is_bad_input()) else {
            return err;
        };
        match (self.options.width, self.options.guest) {
            (Some(given), _) if given != found.width => err.with_hint(Hint::Width {
                given,
                detected: found.width,
            }),
            (_, Some(given)) if given != found.guest => err.with_hint(Hint::GuestType {
                given,
                detected: found.guest,
            }),
            _ => err,
        }
    }

    fn copy_xl_header(&mut self) -> Result<(), Error> {
        let mut raw = wire::XlHeader::new_zeroed();
        self.reader.read_prefix(raw.as_mut_bytes(), "xl header")?;
        let mut fixed = XlFixedHeader::parse(&raw)
            .map_err(|kind| Error::new(ErrorKind::XlHeader(kind), 0, None))?;
        // STREAMv2 for both formats: without it xl would run the converter
        // again on what is already a v2 stream.
        fixed.mandatory_flags |= XlMandatoryFlags::STREAM_V2;
        self.write_raw(fixed.to_wire().as_bytes(), "the xl header")?;
        self.reader.copy_prefix(
            self.out.get_mut(),
            u64::from(fixed.optional_data_len),
            "xl header optional data",
        )?;
        info!(self.observer, "Processed xl header");
        Ok(())
    }

    /// An error of `kind` at the reader's position.
    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.reader.offset(), None)
    }

    fn write_raw(&mut self, bytes: &[u8], item: &'static str) -> Result<(), Error> {
        self.out
            .write_raw(bytes)
            .map_err(|e| self.error(output_error(item)(e)))
    }

    fn write_headers(&mut self, guest: GuestType) -> Result<(), Error> {
        if self.options.format == OutputFormat::Libxl {
            let header = LibxlHeader::new(LIBXL_OPTION_LEGACY);
            self.out
                .write_libxl_header(&header)
                .map_err(|e| self.error(output_error("the libxl header")(e)))?;
            self.record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
        }
        let domain_type = match guest {
            GuestType::Pv => DomainType::X86_PV,
            GuestType::Hvm => DomainType::X86_HVM,
        };
        let image = ImageHeader::new(LIBXC_VERSION);
        let domain = DomainHeader::new(domain_type, 0, CONVERTER_VERSION);
        self.out
            .write_image_header(&image)
            .and_then(|()| self.out.write_domain_header(&domain))
            .map_err(|e| self.error(output_error("the libxc headers")(e)))
    }

    fn record(&mut self, raw_type: u32, body: &[u8]) -> Result<(), Error> {
        self.out
            .write_record(raw_type, body)
            .map_err(|e| self.error(output_error("a record")(e)))
    }

    fn begin_record(
        &mut self,
        raw_type: u32,
        length: u64,
        what: &'static str,
    ) -> Result<(), Error> {
        let Ok(length) = u32::try_from(length) else {
            return Err(self.error(ErrorKind::RecordTooLong { what, length }));
        };
        self.out
            .begin_record(raw_type, length)
            .map_err(|e| self.error(output_error(what)(e)))
    }

    fn write_body(&mut self, piece: &[u8], what: &'static str) -> Result<(), Error> {
        self.out
            .write_body(piece)
            .map_err(|e| self.error(output_error(what)(e)))
    }

    fn end_record(&mut self, what: &'static str) -> Result<(), Error> {
        self.out
            .end_record()
            .map_err(|e| self.error(output_error(what)(e)))
    }

    fn next(&mut self) -> Result<Event, Error> {
        self.reader.next_event()
    }

    fn convert_image(&mut self, guest: GuestType) -> Result<(), Error> {
        let Event::P2mSize(p2m_size) = self.next()? else {
            return Err(self.unexpected("the p2m size"));
        };
        info!(self.observer, "P2M Size: 0x{p2m_size:x}");
        self.write_headers(guest)?;
        if guest == GuestType::Pv {
            self.convert_extended_info()?;
        } else {
            self.record(RecordType::STATIC_DATA_END.0, &[])?;
        }
        self.convert_body(guest)?;
        match guest {
            GuestType::Pv => self.convert_pv_tail()?,
            GuestType::Hvm => self.convert_hvm_tail()?,
        }
        if self.options.format == OutputFormat::Libxl && !self.xenstore.is_empty() {
            self.write_xenstore_data()?;
        }
        if guest == GuestType::Hvm && !self.options.skip_qemu {
            self.convert_qemu()?;
        }
        if self.options.format == OutputFormat::Libxl {
            self.record(LibxlRecordType::END.0, &[])?;
        }
        Ok(())
    }

    fn unexpected(&self, what: &'static str) -> Error {
        self.error(ErrorKind::Misuse(what))
    }

    fn convert_extended_info(&mut self) -> Result<(), Error> {
        loop {
            match self.next()? {
                Event::ExtendedInfo { total_length } => {
                    info!(self.observer, "Extended Info: length 0x{total_length:x}");
                }
                Event::ExtendedBlock { id, size, kind } => {
                    info!(self.observer, "  Record type: {id}, size 0x{size:x}");
                    match kind {
                        BlockKind::Vcpu(width) => {
                            info!(
                                self.observer,
                                "    {}bit domain, {} levels",
                                u32::from(width.bytes()) * 8,
                                width.levels()
                            );
                            let body = X86PvInfo::encode(width.bytes(), width.levels());
                            self.record(RecordType::X86_PV_INFO.0, &body)?;
                        }
                        BlockKind::Extv => {}
                        BlockKind::Xcnt { xsave_len } => {
                            info!(self.observer, "xcnt sz 0x{xsave_len:x}");
                        }
                    }
                }
                Event::P2mFrames {
                    frames_per_page,
                    count,
                } => {
                    self.record(RecordType::STATIC_DATA_END.0, &[])?;
                    info!(
                        self.observer,
                        "P2M frames: fpp {frames_per_page}, p2m_frame_len {count}"
                    );
                    return self.convert_p2m_frames(count);
                }
                _ => return Err(self.unexpected("the PV extended info")),
            }
        }
    }

    fn convert_p2m_frames(&mut self, count: u64) -> Result<(), Error> {
        const WHAT: &str = "the p2m frame list";
        // count <= 2^32 / 512, so the body is at most 64 MiB + 8.
        self.begin_record(RecordType::X86_PV_P2M_FRAMES.0, 8 + 8 * count, WHAT)?;
        let header = X86PvP2mFramesHeader {
            p2m_start_pfn: 0.into(),
            p2m_end_pfn: ((self.reader.p2m_size() - 1) as u32).into(),
        };
        self.write_body(header.as_bytes(), WHAT)?;
        let mut frames = [0u64; 512];
        loop {
            let n = self.reader.read_frames(&mut frames)?;
            if n == 0 {
                break;
            }
            self.words.clear();
            self.words
                .extend(frames[..n].iter().map(|&f| wire::Le64::new(f)));
            let words = std::mem::take(&mut self.words);
            let written = self.write_body(words.as_bytes(), WHAT);
            self.words = words;
            written?;
        }
        self.end_record(WHAT)
    }

    fn convert_body(&mut self, guest: GuestType) -> Result<(), Error> {
        loop {
            let event = self.next()?;
            if let Event::Chunk(_) | Event::EndOfBody = event {
                let id = chunk_id(&event);
                info!(
                    self.observer,
                    "Chunk: {} - {}",
                    id.0,
                    id.name().unwrap_or("unknown")
                );
            }
            match event {
                Event::PageBatch { .. } => self.convert_batch()?,
                Event::Chunk(chunk) => self.convert_chunk(chunk)?,
                Event::EndOfBody => {
                    info!(self.observer, "  End");
                    if !self.hvm_params.is_empty() {
                        if guest == GuestType::Pv {
                            return Err(self.error(ErrorKind::HvmParamInPv));
                        }
                        let params = std::mem::take(&mut self.hvm_params);
                        self.write_hvm_params(&params)?;
                    }
                    return Ok(());
                }
                _ => return Err(self.unexpected("a body chunk")),
            }
        }
    }

    fn convert_batch(&mut self) -> Result<(), Error> {
        const WHAT: &str = "page data";
        self.words.clear();
        for &entry in self.reader.batch() {
            // A bare XTAB is a page the saver failed to map: upstream drops them.
            if entry != BARE_XTAB {
                self.words.push(wire::Le64::new(v2_pfn(entry)));
            }
        }
        let Some(data_len) = self.reader.payload_remaining() else {
            return Err(self.unexpected("page data of known length"));
        };
        let count = self.words.len() as u32;
        if count == 0 {
            // Upstream would write a PAGE_DATA with count 0, which restorers reject.
            return Ok(());
        }
        let length = 8 + u64::from(count) * 8 + data_len;
        self.begin_record(RecordType::PAGE_DATA.0, length, WHAT)?;
        let header = PageDataHeader {
            count: count.into(),
            reserved: 0.into(),
        };
        self.write_body(header.as_bytes(), WHAT)?;
        let words = std::mem::take(&mut self.words);
        let written = self.write_body(words.as_bytes(), WHAT);
        self.words = words;
        written?;
        self.reader.copy_payload(&mut self.out)?;
        self.end_record(WHAT)?;
        self.pages += data_len / crate::format::PAGE_SIZE as u64;
        self.page_records += 1;
        self.observer.progress(self.reader.offset(), self.pages);
        Ok(())
    }

    fn convert_chunk(&mut self, chunk: Chunk) -> Result<(), Error> {
        match chunk {
            Chunk::EnableVerifyMode => info!(self.observer, "This is a debug stream"),
            Chunk::VcpuInfo { max_id } => {
                if self.observer.wants_info() {
                    let ids: Vec<String> = self
                        .reader
                        .online_vcpus()
                        .map(|id| id.to_string())
                        .collect();
                    let line = format!(
                        "  Vcpu info: max_id {max_id}, online map [{}]",
                        ids.join(", ")
                    );
                    self.observer.info(&line);
                }
            }
            Chunk::HvmParam { id, param, value } => {
                info!(self.observer, "  {}", hvm_param_line(id, value));
                // Each chunk appears once in a real image; a repeat would make
                // an HVM_PARAMS record with a duplicate index, which the
                // restorer's checks reject.
                if self.hvm_params.iter().any(|&(p, _)| p == param) {
                    return Err(self.error(ErrorKind::DuplicateHvmParam { chunk: id }));
                }
                self.hvm_params.push((param, value));
            }
            Chunk::TscInfo(tsc) => {
                info!(
                    self.observer,
                    "  X86_TSC_INFO: mode {}, {} ns, {} khz, {} incarn",
                    tsc.mode,
                    tsc.nsec,
                    tsc.khz,
                    tsc.incarnation
                );
                let body = X86TscInfo {
                    mode: tsc.mode,
                    khz: tsc.khz,
                    nsec: tsc.nsec,
                    incarnation: tsc.incarnation,
                    reserved: 0,
                }
                .encode();
                self.record(RecordType::X86_TSC_INFO.0, &body)?;
            }
            Chunk::LastCheckpoint => info!(self.observer, "  Last Checkpoint"),
            Chunk::Toolstack { size } => self.convert_toolstack(size)?,
        }
        Ok(())
    }

    fn convert_toolstack(&mut self, size: u32) -> Result<(), Error> {
        if size == 0 {
            return Ok(());
        }
        info!(self.observer, "  Toolstack Data: sz 0x{size:x}");
        if self.options.format != OutputFormat::Libxl {
            info!(self.observer, "    Discarding");
            return Ok(());
        }
        let width = self.reader.width();
        let observer = &mut *self.observer;
        let wants = observer.wants_info();
        let mut log = |line: String| {
            if wants {
                observer.info(&line);
            }
        };
        read_physmap(&mut self.reader, size, width, &mut self.xenstore, &mut log)
    }

    fn write_hvm_params(&mut self, params: &[(u64, u64)]) -> Result<(), Error> {
        let params: Vec<(HvmParam, u64)> = params
            .iter()
            .map(|&(index, value)| (HvmParam(index), value))
            .collect();
        self.record(RecordType::HVM_PARAMS.0, &HvmParams::encode(&params))
    }
}

/// Upstream's verbose line for an HVM parameter chunk.
fn hvm_param_line(id: ChunkId, value: u64) -> String {
    let (label, hex) = match id {
        ChunkId::HVM_IDENT_PT => ("EPT Identity Pagetable", true),
        ChunkId::HVM_VM86_TSS => ("VM86 TSS", true),
        ChunkId::HVM_CONSOLE_PFN => ("Console pfn", true),
        ChunkId::HVM_ACPI_IOPORTS_LOCATION => ("ACPI ioport location", true),
        ChunkId::HVM_VIRIDIAN => ("Viridian location", true),
        ChunkId::HVM_GENERATION_ID_ADDR => ("Generation ID Address", true),
        ChunkId::HVM_PAGING_RING_PFN => ("Paging ring pfn", true),
        ChunkId::HVM_MONITOR_RING_PFN => ("Monitor ring pfn", true),
        ChunkId::HVM_SHARING_RING_PFN => ("Sharing ring pfn", true),
        ChunkId::HVM_IOREQ_SERVER_PFN => ("IOREQ server pfn", true),
        ChunkId::HVM_NR_IOREQ_SERVER_PAGES => ("IOREQ server pages", false),
        _ => ("X87 FIP width", false),
    };
    if hex {
        format!("{label}: 0x{value:x}")
    } else {
        format!("{label}: {value}")
    }
}

fn chunk_id(event: &Event) -> ChunkId {
    match event {
        Event::Chunk(Chunk::EnableVerifyMode) => ChunkId::ENABLE_VERIFY_MODE,
        Event::Chunk(Chunk::VcpuInfo { .. }) => ChunkId::VCPU_INFO,
        Event::Chunk(Chunk::HvmParam { id, .. }) => *id,
        Event::Chunk(Chunk::TscInfo(_)) => ChunkId::TSC_INFO,
        Event::Chunk(Chunk::LastCheckpoint) => ChunkId::LAST_CHECKPOINT,
        Event::Chunk(Chunk::Toolstack { .. }) => ChunkId::TOOLSTACK,
        _ => ChunkId::END,
    }
}

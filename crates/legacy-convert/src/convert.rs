//! Legacy image → v2 stream, byte for byte what Xen's `convert-legacy-stream`
//! writes wherever it succeeds, and correct where it does not.
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
//! let options = Options { format: OutputFormat::Libxl, ..Options::default() };
//! let summary = convert(&image[..], &mut out, &options, &mut Quiet)?;
//! assert_eq!(summary.pages, 1);
//! assert_eq!(&out[..8], b"LibxlFmt");
//! # Ok::<(), legacy_convert::Error>(())
//! ```

use std::io::{Read, Write};

use migration_stream::Writer;
use migration_stream::types::{DomainType, LibxlRecordType, REC_LENGTH_MAX, RecordType, XL_MAGIC};
use migration_stream::wire::{DomainHeader, ImageHeader, LIBXL_OPTION_LEGACY, LibxlHeader};

use crate::error::Error;
use crate::format::{
    BARE_XTAB, ChunkId, GuestType, QemuSignature, Width, hvm_param, python_bytes_repr, v2_pfn,
};
use crate::physmap::read_physmap;
use crate::reader::{Chunk, Event, LegacyReader};

/// The converter's version, written as `xen_minor` (with `xen_major` 0) in
/// the domain header, as upstream does.
pub const CONVERTER_VERSION: u32 = 1;

/// The libxc stream version written.
pub const LIBXC_VERSION: u32 = 3;

/// The xl header's STREAMv2 mandatory flag.
const XL_FLAG_STREAM_V2: u32 = 1 << 1;

/// The stream format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// A bare libxc stream (upstream's default).
    #[default]
    Libxc,
    /// A libxl stream (LEGACY option set) around the libxc stream, as libxl reads it.
    Libxl,
}

/// How to convert.
#[derive(Debug, Clone, Default)]
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

/// An observer that wants nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// What a conversion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

struct Converter<'o, R, W> {
    reader: LegacyReader<R>,
    out: Writer<W>,
    options: &'o Options,
    observer: &'o mut dyn Observer,
    hvm_params: Vec<(u64, u64)>,
    xenstore: Vec<u8>,
    pfns: Vec<u8>,
    pages: u64,
    page_records: u64,
}

fn output_error(err: std::io::Error) -> Error {
    Error::output("writing the output", err)
}

/// Converts the legacy image on `input` to a v2 stream on `output`.
///
/// Nothing is buffered beyond one page batch's pfn list (and, in libxl mode,
/// the physmap pairs and a qemu record that runs to the end of an input of
/// unknown size, each bounded by the 128 MiB record limit). The output is
/// not flushed: wrap it in a `BufWriter` and flush it after success.
pub fn convert<R: Read, W: Write>(
    input: R,
    output: W,
    options: &Options,
    observer: &mut dyn Observer,
) -> Result<Summary, Error> {
    let mut conv = Converter {
        reader: LegacyReader::new(input),
        out: Writer::new(output),
        options,
        observer,
        hvm_params: Vec::new(),
        xenstore: Vec::new(),
        pfns: Vec::with_capacity(8 * 1024),
        pages: 0,
        page_records: 0,
    };
    conv.run()
}

impl<R: Read, W: Write> Converter<'_, R, W> {
    fn run(&mut self) -> Result<Summary, Error> {
        if self.options.xl_header && self.options.format == OutputFormat::Libxc {
            // With STREAMv2 set, xl expects a libxl stream and fails on the libxc one; without
            // it, xl runs the converter again on what is already v2 (upstream's bug). No output
            // of this combination can be restored, so none is written.
            return Err(Error::Unsupported {
                offset: 0,
                location: "byte offset 0".to_owned(),
                message: "an xl save file carries a libxl stream: --xl needs --format libxl \
                          (xl cannot restore a bare libxc stream behind an xl header)"
                    .to_owned(),
            });
        }
        if self.options.xl_header {
            self.copy_xl_header()?;
        }
        let probed = self.options.width.is_none() || self.options.guest.is_none();
        let (width, guest) = if probed {
            let found = self.reader.probe()?;
            let width = self.options.width.unwrap_or(found.width);
            let guest = self.options.guest.unwrap_or(found.guest);
            info!(
                self.observer,
                "Detected {} toolstack, {} guest{}",
                width,
                guest,
                match (self.options.width, self.options.guest) {
                    (None, None) => "",
                    (Some(_), None) => " (width given)",
                    _ => " (guest type given)",
                }
            );
            (width, guest)
        } else {
            (
                self.options.width.unwrap_or(Width::W64),
                self.options.guest.unwrap_or(GuestType::Pv),
            )
        };
        self.reader.set_layout(width, guest);
        self.convert_image(guest)?;
        Ok(Summary {
            width,
            guest,
            probed,
            pages: self.pages,
            page_records: self.page_records,
            input_bytes: self.reader.offset(),
        })
    }

    fn copy_xl_header(&mut self) -> Result<(), Error> {
        let mut magic = [0u8; 32];
        self.reader.read_prefix(&mut magic, "xl header magic")?;
        if &magic != XL_MAGIC {
            return Err(Error::Invalid {
                offset: 0,
                location: "byte offset 0".to_owned(),
                message: format!(
                    "No xl header: expected the magic {}, found {}",
                    python_bytes_repr(XL_MAGIC),
                    python_bytes_repr(&magic)
                ),
            });
        }
        let mut fields = [0u8; 16];
        self.reader.read_prefix(&mut fields, "xl header")?;
        let field = |i: usize| {
            u32::from_le_bytes([
                fields[4 * i],
                fields[4 * i + 1],
                fields[4 * i + 2],
                fields[4 * i + 3],
            ])
        };
        // STREAMv2 for both formats: without it xl would run the converter
        // again on what is already a v2 stream.
        let mandatory = field(1) | XL_FLAG_STREAM_V2;
        let optional_len = field(3);
        fields[4..8].copy_from_slice(&mandatory.to_le_bytes());
        self.out.write_raw(&magic).map_err(output_error)?;
        self.out.write_raw(&fields).map_err(output_error)?;
        self.reader.copy_prefix(
            self.out.get_mut(),
            u64::from(optional_len),
            "xl header optional data",
        )?;
        info!(self.observer, "Processed xl header");
        Ok(())
    }

    fn write_headers(&mut self, guest: GuestType) -> Result<(), Error> {
        if self.options.format == OutputFormat::Libxl {
            self.out
                .write_libxl_header(&LibxlHeader::new(LIBXL_OPTION_LEGACY))
                .map_err(output_error)?;
            self.record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
        }
        self.out
            .write_image_header(&ImageHeader::new(LIBXC_VERSION))
            .map_err(output_error)?;
        let domain_type = match guest {
            GuestType::Pv => DomainType::X86_PV,
            GuestType::Hvm => DomainType::X86_HVM,
        };
        self.out
            .write_domain_header(&DomainHeader::new(domain_type, 0, CONVERTER_VERSION))
            .map_err(output_error)
    }

    fn record(&mut self, raw_type: u32, body: &[u8]) -> Result<(), Error> {
        self.out.write_record(raw_type, body).map_err(output_error)
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
            let mut body = Vec::with_capacity(8 + self.xenstore.len());
            body.extend_from_slice(&0u32.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
            body.extend_from_slice(&self.xenstore);
            self.record(LibxlRecordType::EMULATOR_XENSTORE_DATA.0, &body)?;
        }
        if guest == GuestType::Hvm && !self.options.skip_qemu {
            self.convert_qemu()?;
        }
        if self.options.format == OutputFormat::Libxl {
            self.record(LibxlRecordType::END.0, &[])?;
        }
        Ok(())
    }

    fn unexpected(&self, what: &str) -> Error {
        Error::Invalid {
            offset: self.reader.offset(),
            location: format!("byte offset {}", self.reader.offset()),
            message: format!("parser out of step: expected {what}"),
        }
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
                        crate::reader::BlockKind::Vcpu(width) => {
                            info!(
                                self.observer,
                                "    {}bit domain, {} levels",
                                u32::from(width.bytes()) * 8,
                                width.levels()
                            );
                            let body = [width.bytes(), width.levels(), 0, 0, 0, 0, 0, 0];
                            self.record(RecordType::X86_PV_INFO.0, &body)?;
                        }
                        crate::reader::BlockKind::Extv => {}
                        crate::reader::BlockKind::Xcnt { xsave_len } => {
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
        // count ≤ 2^32 / 512, so the body is at most 64 MiB + 8.
        let length = u32::try_from(8 + 8 * count)
            .map_err(|_| self.unexpected("a p2m frame list below 4 GiB"))?;
        let end_pfn = (self.reader.p2m_size() - 1) as u32;
        self.out
            .begin_record(RecordType::X86_PV_P2M_FRAMES.0, length)
            .map_err(output_error)?;
        let mut head = [0u8; 8];
        head[4..].copy_from_slice(&end_pfn.to_le_bytes());
        self.out.write_body(&head).map_err(output_error)?;
        let mut frames = [0u64; 512];
        let mut bytes = Vec::with_capacity(8 * frames.len());
        loop {
            let n = self.reader.read_frames(&mut frames)?;
            if n == 0 {
                break;
            }
            bytes.clear();
            for frame in &frames[..n] {
                bytes.extend_from_slice(&frame.to_le_bytes());
            }
            self.out.write_body(&bytes).map_err(output_error)?;
        }
        self.out.end_record().map_err(output_error)
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
                            return Err(Error::Invalid {
                                offset: self.reader.offset(),
                                location: format!("byte offset {}", self.reader.offset()),
                                message: "HVM-only param in PV stream: the body has HVM \
                                          parameter chunks but the image is a PV one"
                                    .to_owned(),
                            });
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
        self.pfns.clear();
        let mut count: u32 = 0;
        for &entry in self.reader.batch() {
            // A bare XTAB is a page the saver failed to map: upstream drops them.
            if entry != BARE_XTAB {
                self.pfns.extend_from_slice(&v2_pfn(entry).to_le_bytes());
                count += 1;
            }
        }
        let Some(data_len) = self.reader.payload_remaining() else {
            return Err(self.unexpected("page data of known length"));
        };
        if count == 0 {
            // Upstream would write a PAGE_DATA with count 0, which restorers reject.
            return Ok(());
        }
        let length = 8 + u64::from(count) * 8 + data_len;
        let length = u32::try_from(length).map_err(|_| self.unexpected("a batch below 4 GiB"))?;
        self.out
            .begin_record(RecordType::PAGE_DATA.0, length)
            .map_err(output_error)?;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&count.to_le_bytes());
        self.out.write_body(&head).map_err(output_error)?;
        self.out.write_body(&self.pfns).map_err(output_error)?;
        self.reader.copy_payload(&mut self.out)?;
        self.out.end_record().map_err(output_error)?;
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
                if self.observer.wants_info() {
                    let line = match id {
                        ChunkId::HVM_IDENT_PT => format!("  EPT Identity Pagetable: 0x{value:x}"),
                        ChunkId::HVM_VM86_TSS => format!("  VM86 TSS: 0x{value:x}"),
                        ChunkId::HVM_CONSOLE_PFN => format!("  Console pfn: 0x{value:x}"),
                        ChunkId::HVM_ACPI_IOPORTS_LOCATION => {
                            format!("  ACPI ioport location: 0x{value:x}")
                        }
                        ChunkId::HVM_VIRIDIAN => format!("  Viridian location: 0x{value:x}"),
                        ChunkId::HVM_GENERATION_ID_ADDR => {
                            format!("  Generation ID Address: 0x{value:x}")
                        }
                        ChunkId::HVM_PAGING_RING_PFN => format!("  Paging ring pfn: 0x{value:x}"),
                        ChunkId::HVM_MONITOR_RING_PFN => {
                            format!("  Monitor ring pfn: 0x{value:x}")
                        }
                        ChunkId::HVM_SHARING_RING_PFN => {
                            format!("  Sharing ring pfn: 0x{value:x}")
                        }
                        ChunkId::HVM_IOREQ_SERVER_PFN => {
                            format!("  IOREQ server pfn: 0x{value:x}")
                        }
                        ChunkId::HVM_NR_IOREQ_SERVER_PAGES => {
                            format!("  IOREQ server pages: {value}")
                        }
                        _ => format!("  X87 FIP width: {value}"),
                    };
                    self.observer.info(&line);
                }
                // Each chunk appears once in a real image; a repeat would make
                // an HVM_PARAMS record with a duplicate index, which the
                // restorer's checks reject.
                if self.hvm_params.iter().any(|&(p, _)| p == param) {
                    return Err(Error::Invalid {
                        offset: self.reader.offset(),
                        location: format!("byte offset {}", self.reader.offset()),
                        message: format!("HVM parameter chunk {id} appears more than once"),
                    });
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
                let mut body = [0u8; 24];
                body[0..4].copy_from_slice(&tsc.mode.to_le_bytes());
                body[4..8].copy_from_slice(&tsc.khz.to_le_bytes());
                body[8..16].copy_from_slice(&tsc.nsec.to_le_bytes());
                body[16..20].copy_from_slice(&tsc.incarnation.to_le_bytes());
                self.record(RecordType::X86_TSC_INFO.0, &body)?;
            }
            Chunk::LastCheckpoint => info!(self.observer, "  Last Checkpoint"),
            Chunk::Toolstack { size } => {
                if size != 0 {
                    info!(self.observer, "  Toolstack Data: sz 0x{size:x}");
                    if self.options.format == OutputFormat::Libxl {
                        let width = self.reader.width();
                        let limit = REC_LENGTH_MAX as usize - 8;
                        let observer = &mut *self.observer;
                        let wants = observer.wants_info();
                        let mut log = |line: String| {
                            if wants {
                                observer.info(&line);
                            }
                        };
                        read_physmap(
                            &mut self.reader,
                            size,
                            width,
                            &mut self.xenstore,
                            limit,
                            &mut log,
                        )?;
                    } else {
                        info!(self.observer, "    Discarding");
                    }
                }
            }
        }
        Ok(())
    }

    fn write_hvm_params(&mut self, params: &[(u64, u64)]) -> Result<(), Error> {
        let mut body = Vec::with_capacity(8 + 16 * params.len());
        body.extend_from_slice(&(params.len() as u32).to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        for (index, value) in params {
            body.extend_from_slice(&index.to_le_bytes());
            body.extend_from_slice(&value.to_le_bytes());
        }
        self.record(RecordType::HVM_PARAMS.0, &body)
    }

    /// A record of an 8-byte header (`u32 id, u32 0`) and the current payload.
    fn header_and_payload(&mut self, raw_type: u32, id: u32, what: &str) -> Result<(), Error> {
        let Some(len) = self.reader.payload_remaining() else {
            return Err(self.unexpected(what));
        };
        let length = 8 + len;
        if length > u64::from(REC_LENGTH_MAX) {
            return Err(Error::Invalid {
                offset: self.reader.offset(),
                location: format!("byte offset {}", self.reader.offset()),
                message: format!(
                    "{what} of {len} bytes: a v2 record holds at most {REC_LENGTH_MAX} bytes"
                ),
            });
        }
        self.out
            .begin_record(raw_type, length as u32)
            .map_err(output_error)?;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&id.to_le_bytes());
        self.out.write_body(&head).map_err(output_error)?;
        self.reader.copy_payload(&mut self.out)?;
        self.out.end_record().map_err(output_error)
    }

    fn convert_pv_tail(&mut self) -> Result<(), Error> {
        loop {
            match self.next()? {
                Event::UnmappedPfns { count } => {
                    if count != 0 {
                        info!(self.observer, "discarding {count} bogus 'unmapped pfns'");
                    }
                }
                Event::VcpuBasic { id, size } => {
                    info!(self.observer, "Got VCPU basic (size 0x{size:x})");
                    self.header_and_payload(RecordType::X86_PV_VCPU_BASIC.0, id, "vcpu context")?;
                }
                Event::VcpuExtended { id } => {
                    info!(self.observer, "Got VCPU extd (size 0x80)");
                    self.header_and_payload(
                        RecordType::X86_PV_VCPU_EXTENDED.0,
                        id,
                        "extended vcpu context",
                    )?;
                }
                Event::VcpuXsave { id, mask, size } => {
                    info!(
                        self.observer,
                        "Got VCPU xsave (mask 0x{mask:x}, size 0x{size:x})"
                    );
                    self.header_and_payload(RecordType::X86_PV_VCPU_XSAVE.0, id, "xsave area")?;
                }
                Event::SharedInfo => {
                    info!(self.observer, "Got shinfo");
                    self.out
                        .begin_record(RecordType::SHARED_INFO.0, crate::format::PAGE_SIZE as u32)
                        .map_err(output_error)?;
                    self.reader.copy_payload(&mut self.out)?;
                    self.out.end_record().map_err(output_error)?;
                    return self.record(RecordType::END.0, &[]);
                }
                _ => return Err(self.unexpected("the PV tail")),
            }
        }
    }

    fn convert_hvm_tail(&mut self) -> Result<(), Error> {
        let Event::MagicPfns {
            ioreq,
            bufioreq,
            store,
        } = self.next()?
        else {
            return Err(self.unexpected("the magic pfns"));
        };
        info!(
            self.observer,
            "Magic pfns: 0x{ioreq:x} 0x{bufioreq:x} 0x{store:x}"
        );
        self.write_hvm_params(&[
            (hvm_param::IOREQ_PFN, ioreq),
            (hvm_param::BUFIOREQ_PFN, bufioreq),
            (hvm_param::STORE_PFN, store),
        ])?;
        let Event::HvmContext { size } = self.next()? else {
            return Err(self.unexpected("the HVM context"));
        };
        info!(self.observer, "Got HVM Context (0x{size:x} bytes)");
        if size > REC_LENGTH_MAX {
            return Err(Error::Invalid {
                offset: self.reader.offset(),
                location: format!("byte offset {}", self.reader.offset()),
                message: format!(
                    "HVM context of {size} bytes: a v2 record holds at most {REC_LENGTH_MAX}"
                ),
            });
        }
        self.out
            .begin_record(RecordType::HVM_CONTEXT.0, size)
            .map_err(output_error)?;
        self.reader.copy_payload(&mut self.out)?;
        self.out.end_record().map_err(output_error)?;
        self.record(RecordType::END.0, &[])
    }

    fn convert_qemu(&mut self) -> Result<(), Error> {
        let Event::Qemu { signature, size } = self.next()? else {
            return Err(self.unexpected("the qemu record"));
        };
        info!(
            self.observer,
            "Qemu signature: {}",
            python_bytes_repr(signature.bytes())
        );
        if let (None, Some(total)) = (size, self.options.input_len) {
            let left = total.saturating_sub(self.reader.offset());
            self.reader.bound_payload(left);
        }
        // Length unknown (a pipe): hold the data, within the record limit.
        let mut held = Vec::new();
        let len = match self.reader.payload_remaining() {
            Some(len) => len,
            None => {
                self.reader
                    .read_payload_limited(&mut held, u64::from(REC_LENGTH_MAX) - 8)?;
                held.len() as u64
            }
        };
        if len > u64::from(REC_LENGTH_MAX) - 8 {
            return Err(Error::Invalid {
                offset: self.reader.offset(),
                location: format!("byte offset {}", self.reader.offset()),
                message: format!(
                    "qemu record of {len} bytes: a v2 record holds at most {REC_LENGTH_MAX}"
                ),
            });
        }
        match self.options.format {
            OutputFormat::Libxc => {
                // Upstream appends the legacy record after END as it was; it
                // only knows DeviceModelRecord0002, so the other two signatures
                // are written in that form (the form verifiers recognise).
                self.out
                    .write_raw(QemuSignature::DeviceModelRecord0002.bytes())
                    .map_err(output_error)?;
                self.out
                    .write_raw(&(len as u32).to_le_bytes())
                    .map_err(output_error)?;
                self.out.write_raw(&held).map_err(output_error)?;
                self.reader.copy_payload_to_end(self.out.get_mut())?;
                Ok(())
            }
            OutputFormat::Libxl => {
                self.out
                    .begin_record(LibxlRecordType::EMULATOR_CONTEXT.0, 8 + len as u32)
                    .map_err(output_error)?;
                self.out.write_body(&[0u8; 8]).map_err(output_error)?;
                self.out.write_body(&held).map_err(output_error)?;
                self.reader.copy_payload(&mut self.out)?;
                self.out.end_record().map_err(output_error)
            }
        }
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

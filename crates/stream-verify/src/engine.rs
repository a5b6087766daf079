//! The state machine that walks a stream layer by layer and applies every rule.
//!
//! Bodies are never held whole: each record is consumed in order through small
//! fixed buffers (headers, pfn arrays in chunks, policy entries in chunks,
//! xenstore strings of bounded length), and page data and opaque blobs are
//! skipped, by seeking when the input is a regular file. The bytes come
//! through `migration_stream::source`; this module only decodes them.

use crate::report::{
    LegacyQemuRecord, MAX_RECORD_KINDS, MAX_VCPUS_LISTED, Report, Violation, XlSummary,
};
use crate::rules::Rule;
use crate::{Format, Options};
use migration_stream::source::{ByteSource, Input, InputError};
use migration_stream::types::{
    DomainType, EmulatorId, HVM_FILE_MAGIC, HVM_FILE_VERSION, HvmParam, HvmSaveCode, IMAGE_ID,
    IMAGE_MARKER, IMAGE_VERSION_MAX, IMAGE_VERSION_MIN, LIBXL_IDENT, LIBXL_VERSION,
    LibxlRecordType, MAX_BATCH, PAGE_SHIFT, PFN_MASK, PFN_RESERVED_MASK, PFN_TYPE_SHIFT, PageType,
    REC_LENGTH_MAX, RecordType, XEN_CPUID_NO_SUBLEAF, XL_BYTEORDER, XL_MAGIC, XlMandatoryFlags,
};
use std::io;

/// PAGE_DATA records with more pfns than this are not checked for duplicates
/// (the check's memory is bounded; real savers write at most [`MAX_BATCH`]).
const DUPLICATE_CHECK_MAX: u32 = 1 << 17;
/// Xenstore refuses payloads larger than this (`XENSTORE_PAYLOAD_MAX`).
const XENSTORE_STRING_MAX: usize = 4096;
/// Page types 0x5–0x8, which are reserved (as bits of a mask indexed by type).
const INVALID_PAGE_TYPES: u16 = 0b0000_0001_1110_0000;
/// Page types 0x1–0x4 and 0x9–0xC: page tables, PV only.
const PAGE_TABLE_TYPES: u16 = 0b0001_1110_0001_1110;
/// Page types followed by 4096 bytes of data: 0x0–0x4 and 0x9–0xC.
const DATA_PAGE_TYPES: u16 = 0b0001_1110_0001_1111;
/// What the converter appends after END of a libxc-format HVM stream.
const LEGACY_QEMU_SIGNATURE: &[u8; 21] = b"DeviceModelRecord0002";
/// `sizeof(vcpu_guest_context)` for 64-bit and 32-bit PV guests.
const VCPU_BASIC_SIZE_64: u64 = 0x1430;
const VCPU_BASIC_SIZE_32: u64 = 0xAF0;

/// Why the walk stopped early.
pub(crate) enum Stop {
    /// The stream broke a rule.
    Broken(Box<Violation>),
    /// The operating system failed us.
    Io(io::Error),
}

/// How a run of libxc records ended.
enum LibxcExit {
    End,
    Checkpoint,
    /// End of input exactly where the next checkpoint round would start.
    CleanEof,
}

/// Where an error is reported: the record or header being read.
struct Place {
    offset: u64,
    index: Option<u64>,
    kind: What,
}

/// What is being read, named only when a message needs it (this is set for
/// every record, so it must not allocate).
#[derive(Clone, Copy)]
enum What {
    Static(&'static str),
    Libxc(u32),
    Libxl(u32),
}

impl What {
    fn name(self) -> String {
        match self {
            What::Static(name) => name.to_owned(),
            What::Libxc(raw) => libxc_name(raw),
            What::Libxl(raw) => match LibxlRecordType(raw).display_name() {
                Some(name) => format!("libxl {name}"),
                None => format!("libxl record type 0x{raw:x}"),
            },
        }
    }
}

fn libxc_name(raw: u32) -> String {
    let kind = RecordType(raw);
    match kind.display_name() {
        Some(name) => name.to_owned(),
        None if kind.is_optional() => format!("Optional record 0x{raw:08x}"),
        None => format!("record type 0x{raw:x}"),
    }
}

/// Per-type tallies kept as plain counters while walking and turned into the
/// report's name-keyed maps once at the end.
#[derive(Default)]
struct Tally {
    libxc: [u64; 32],
    libxl: [u64; 8],
    optional: std::collections::BTreeMap<u32, u64>,
    page_types: [u64; 16],
}

type Verbose<'a> = Option<&'a mut dyn FnMut(&str)>;

pub(crate) struct Engine<'a, S> {
    input: Input<S>,
    verbose: Verbose<'a>,
    pub(crate) report: Report,
    place: Place,
    next_index: u64,
    body_left: u64,
    // libxc state
    version: u32,
    domain: Option<DomainType>,
    legacy_converted: bool,
    in_libxl: bool,
    sde_seen: bool,
    pv_first_checked: bool,
    pv_width: u8,
    pv_info_seen: bool,
    p2m_end: Option<u64>,
    /// A PV vCPU record came in this checkpoint round (memory must precede them).
    vcpu_seen_in_round: bool,
    vcpu0_basic: bool,
    squashed: u64,
    duplicates: Vec<(u64, u32)>,
    pfn_chunk: Vec<u8>,
    tally: Tally,
    // libxl state
    libxc_context_seen: bool,
    awaiting_checkpoint_end: bool,
}

fn le16(bytes: &[u8], at: usize) -> u16 {
    let mut raw = [0u8; 2];
    raw.copy_from_slice(&bytes[at..at + 2]);
    u16::from_le_bytes(raw)
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(raw)
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    let mut raw = [0u8; 2];
    raw.copy_from_slice(&bytes[at..at + 2]);
    u16::from_be_bytes(raw)
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(raw)
}

fn be64(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(raw)
}

fn padding_of(length: u32) -> usize {
    ((8 - (length % 8)) % 8) as usize
}

/// Xenstore's key charset.
fn is_xenstore_key(key: &[u8]) -> bool {
    !key.is_empty()
        && key
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'@'))
}

impl<'a, S: ByteSource> Engine<'a, S> {
    pub(crate) fn new(source: S, verbose: Verbose<'a>) -> Self {
        Engine {
            input: Input::new(source),
            verbose,
            report: Report::default(),
            place: Place {
                offset: 0,
                index: None,
                kind: What::Static("stream"),
            },
            next_index: 0,
            body_left: 0,
            version: 0,
            domain: None,
            legacy_converted: false,
            in_libxl: false,
            sde_seen: false,
            pv_first_checked: false,
            pv_width: 0,
            pv_info_seen: false,
            p2m_end: None,
            vcpu_seen_in_round: false,
            vcpu0_basic: false,
            squashed: 0,
            duplicates: Vec::new(),
            pfn_chunk: Vec::new(),
            tally: Tally::default(),
            libxc_context_seen: false,
            awaiting_checkpoint_end: false,
        }
    }

    /// Walks the whole stream; the outcome lands in `self.report`.
    pub(crate) fn run(&mut self, options: Options) {
        let outcome = self.walk(options);
        self.report.bytes = self.input.offset();
        self.publish_tally();
        match outcome {
            Ok(()) => {}
            Err(Stop::Broken(violation)) => self.report.error = Some(*violation),
            Err(Stop::Io(err)) => {
                self.report.io_error = Some(format!(
                    "read error at byte offset {}: {err}",
                    self.input.offset()
                ))
            }
        }
    }

    fn walk(&mut self, options: Options) -> Result<(), Stop> {
        let format = match options.format {
            Format::Auto => self.detect()?,
            other => other,
        };
        let cut_at_checkpoint = match format {
            Format::Xl => {
                self.report.format = Some("xl");
                if self.xl_header()? {
                    self.libxl_stream()?
                } else {
                    self.libxc_stream()?;
                    false
                }
            }
            Format::Libxl => {
                self.report.format = Some("libxl");
                self.libxl_stream()?
            }
            _ => {
                self.report.format = Some("libxc");
                self.libxc_stream()?;
                false
            }
        };
        if self.squashed > 0 {
            let n = self.squashed;
            self.info(|| format!("Squashed {n} Page Data records together"));
        }
        if cut_at_checkpoint || options.stop_at_end {
            return Ok(());
        }
        self.trailing_data()
    }

    // ----- plumbing -----------------------------------------------------------------

    fn info(&mut self, line: impl FnOnce() -> String) {
        if let Some(sink) = self.verbose.as_mut() {
            sink(&line());
        }
    }

    fn warn(&mut self, message: String) {
        if let Some(sink) = self.verbose.as_mut() {
            sink(&format!("Warning: {message}"));
        }
        self.report
            .warn(self.place.offset, self.place.index, message);
    }

    fn broken<T>(&self, rule: Rule, message: impl Into<String>) -> Result<T, Stop> {
        Err(Stop::Broken(Box::new(Violation {
            rule,
            offset: self.place.offset,
            record_index: self.place.index,
            record_type: Some(self.place.kind.name()),
            message: message.into(),
        })))
    }

    fn input_error(&self, err: InputError) -> Stop {
        match err {
            InputError::Io(err) => Stop::Io(err),
            InputError::Truncated { offset, wanted } => Stop::Broken(Box::new(Violation {
                rule: Rule::Truncated,
                offset: self.place.offset,
                record_index: self.place.index,
                record_type: Some(self.place.kind.name()),
                message: format!(
                    "Stream truncated: {wanted} more bytes expected at byte offset {offset}"
                ),
            })),
        }
    }

    fn set_place(&mut self, kind: &'static str, index: Option<u64>) {
        self.place = Place {
            offset: self.input.offset(),
            index,
            kind: What::Static(kind),
        };
    }

    fn publish_tally(&mut self) {
        let tally = std::mem::take(&mut self.tally);
        for (raw, &n) in tally.libxc.iter().enumerate() {
            if n > 0 {
                self.report.libxc_records.insert(libxc_name(raw as u32), n);
            }
        }
        for (raw, &n) in tally.optional.iter() {
            self.report.libxc_records.insert(libxc_name(*raw), n);
        }
        for (raw, &n) in tally.libxl.iter().enumerate() {
            if n > 0 {
                let name = LibxlRecordType(raw as u32).display_name().unwrap_or("?");
                self.report.libxl_records.insert(name.to_owned(), n);
            }
        }
        for (code, &n) in tally.page_types.iter().enumerate() {
            if n > 0 {
                let name = PageType(code as u8).display_name().unwrap_or("?");
                self.report.pages_by_type.insert(name, n);
            }
        }
    }

    fn read_exact(&mut self, out: &mut [u8]) -> Result<(), Stop> {
        self.input.read_exact(out).map_err(|e| self.input_error(e))
    }

    fn at_end(&mut self) -> Result<bool, Stop> {
        self.input.at_end().map_err(|e| self.input_error(e))
    }

    /// Reads the next `out.len()` bytes of the current record body.
    fn body(&mut self, out: &mut [u8]) -> Result<(), Stop> {
        debug_assert!(out.len() as u64 <= self.body_left);
        self.read_exact(out)?;
        self.body_left -= out.len() as u64;
        Ok(())
    }

    /// Skips what is left of the body, then checks the padding.
    fn finish_record(&mut self, length: u32) -> Result<(), Stop> {
        let left = std::mem::take(&mut self.body_left);
        self.input.skip(left).map_err(|e| self.input_error(e))?;
        let mut pad = [0u8; 8];
        let pad = &mut pad[..padding_of(length)];
        self.read_exact(pad)?;
        if pad.iter().any(|&b| b != 0) {
            return self.broken(Rule::Padding, "Padding containing non0 bytes found");
        }
        Ok(())
    }

    /// Reads a record header: (type, length, record index).
    fn record_header(&mut self) -> Result<(u32, u32, u64), Stop> {
        self.set_place("record header", None);
        let mut header = [0u8; 8];
        self.read_exact(&mut header)?;
        let index = self.next_index;
        self.next_index += 1;
        Ok((le32(&header, 0), le32(&header, 4), index))
    }

    // ----- format detection and the xl layer ------------------------------------

    fn detect(&mut self) -> Result<Format, Stop> {
        self.set_place("stream start", None);
        let mut first = [0u8; 8];
        let peeked = self.input.peek(8).map(|head| {
            first[..head.len()].copy_from_slice(head);
            head.len()
        });
        let got = peeked.map_err(|e| self.input_error(e))?;
        if got < 8 {
            return Err(self.input_error(InputError::Truncated {
                offset: got as u64,
                wanted: (8 - got) as u64,
            }));
        }
        if first == IMAGE_MARKER.to_be_bytes() {
            return Ok(Format::Libxc);
        }
        if first == LIBXL_IDENT.to_be_bytes() {
            return Ok(Format::Libxl);
        }
        if first[..] == XL_MAGIC[..8] {
            return Ok(Format::Xl);
        }
        let hint = legacy_hint(&first);
        self.broken(
            Rule::UnknownFormat,
            format!(
                "Unrecognised stream: first bytes {} are neither an xl header, a libxl header nor a libxc image header{hint}",
                first.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        )
    }

    /// Checks the xl header; returns whether a libxl (STREAMv2) stream follows.
    fn xl_header(&mut self) -> Result<bool, Stop> {
        self.set_place("xl header", None);
        let mut magic = [0u8; 32];
        self.read_exact(&mut magic)?;
        if &magic != XL_MAGIC {
            return self.broken(Rule::XlMagic, "No xl header");
        }
        let mut fields = [0u8; 16];
        self.read_exact(&mut fields)?;
        let byte_order = le32(&fields, 0);
        let mandatory = le32(&fields, 4);
        let optional_flags = le32(&fields, 8);
        let optional_len = le32(&fields, 12);
        if byte_order != XL_BYTEORDER {
            return self.broken(
                Rule::XlByteOrder,
                format!("File has wrong byte order: byteorder field 0x{byte_order:08x}, expected 0x{XL_BYTEORDER:08x} in little-endian order"),
            );
        }
        let unknown = mandatory & !XlMandatoryFlags::all().bits();
        if unknown != 0 {
            return self.broken(
                Rule::XlMandatoryFlags,
                format!("Unknown mandatory flags 0x{unknown:x} in 0x{mandatory:x} (need newer xl)"),
            );
        }
        let mut config_len = None;
        if optional_len > 0 {
            if optional_len < 4 {
                return self.broken(
                    Rule::XlConfigLength,
                    format!("Savefile truncated: optional data of {optional_len} bytes cannot hold the config length"),
                );
            }
            let mut word = [0u8; 4];
            self.read_exact(&mut word)?;
            let len = u32::from_le_bytes(word);
            if len > optional_len - 4 {
                return self.broken(
                    Rule::XlConfigLength,
                    format!("Savefile truncated: config of {len} bytes in optional data of {optional_len} bytes"),
                );
            }
            config_len = Some(len);
            self.input
                .skip(u64::from(optional_len - 4))
                .map_err(|e| self.input_error(e))?;
        }
        self.report.xl_header = Some(XlSummary {
            mandatory_flags: mandatory,
            optional_flags,
            optional_data_len: optional_len,
            config_len,
        });
        self.info(|| "Processed xl header".to_owned());
        Ok(XlMandatoryFlags::from_bits_retain(mandatory).contains(XlMandatoryFlags::STREAM_V2))
    }

    // ----- the libxl layer -----------------------------------------------------------

    /// Walks a libxl stream; returns true when it ended at a checkpoint boundary
    /// without END (a Remus/COLO stream cut at failover).
    fn libxl_stream(&mut self) -> Result<bool, Stop> {
        self.set_place("libxl header", None);
        let mut header = [0u8; 16];
        self.read_exact(&mut header)?;
        let ident = be64(&header, 0);
        let version = be32(&header, 8);
        let options = be32(&header, 12);
        if ident != LIBXL_IDENT {
            return self.broken(
                Rule::LibxlIdent,
                format!("Bad image id: Expected 0x{LIBXL_IDENT:x}, got 0x{ident:x}"),
            );
        }
        if version != LIBXL_VERSION {
            return self.broken(
                Rule::LibxlVersion,
                format!("Unknown image version: Expected {LIBXL_VERSION}, got {version}"),
            );
        }
        if options & !3 != 0 {
            return self.broken(
                Rule::LibxlOptions,
                format!(
                    "Reserved bits set in image options field: 0x{:x}",
                    options & !3
                ),
            );
        }
        if options & 1 != 0 {
            return self.broken(
                Rule::LibxlEndian,
                "Stream is not native endianess - unable to validate (big-endian flag set; x86 streams are little endian)",
            );
        }
        let legacy = options & 2 != 0;
        self.report.libxl_version = Some(version);
        self.report.libxl_legacy = legacy;
        self.info(|| {
            if legacy {
                "Libxl Header: little endian, legacy converted".to_owned()
            } else {
                "Libxl Header: little endian".to_owned()
            }
        });
        loop {
            let (raw, length, index) = self.record_header()?;
            let kind = LibxlRecordType(raw);
            self.place.index = Some(index);
            self.place.kind = What::Libxl(raw);
            let Some(name) = kind.display_name() else {
                return self.broken(
                    Rule::LibxlUnknownRecord,
                    format!("Unrecognised record type {raw:x}"),
                );
            };
            self.info(|| format!("Libxl Record: {name}, length {length}"));
            if let Some(n) = self.tally.libxl.get_mut(raw as usize) {
                *n += 1;
            }
            self.body_left = u64::from(length);
            match kind {
                LibxlRecordType::END => {
                    if length != 0 {
                        return self
                            .broken(Rule::LibxlEndLength, "End record with non-zero length");
                    }
                    if !self.libxc_context_seen {
                        return self.broken(
                            Rule::LibxcContextOnce,
                            "LIBXC_CONTEXT must appear exactly once (none before END)",
                        );
                    }
                    self.finish_record(length)?;
                    return Ok(false);
                }
                LibxlRecordType::LIBXC_CONTEXT => {
                    if length != 0 {
                        return self.broken(
                            Rule::LibxcContextLength,
                            "Libxc context record with non-zero length",
                        );
                    }
                    if self.libxc_context_seen {
                        return self.broken(
                            Rule::LibxcContextOnce,
                            "LIBXC_CONTEXT must appear exactly once (this is the second)",
                        );
                    }
                    self.libxc_context_seen = true;
                    self.finish_record(length)?;
                    self.in_libxl = true;
                    match self.libxc_stream()? {
                        LibxcExit::Checkpoint => self.awaiting_checkpoint_end = true,
                        LibxcExit::End | LibxcExit::CleanEof => {}
                    }
                }
                LibxlRecordType::EMULATOR_XENSTORE_DATA => {
                    self.emulator_xenstore_data(length)?;
                    self.finish_record(length)?;
                }
                LibxlRecordType::EMULATOR_CONTEXT => {
                    let (id, instance) = self.emulator_header(length)?;
                    self.info(|| format!("  Index {instance}, type {}", emulator_name(id)));
                    self.finish_record(length)?;
                }
                LibxlRecordType::CHECKPOINT_END => {
                    if length != 0 {
                        return self.broken(
                            Rule::CheckpointEndLength,
                            "Checkpoint end record with non-zero length",
                        );
                    }
                    if !self.awaiting_checkpoint_end {
                        return self.broken(
                            Rule::CheckpointEndUnexpected,
                            "Unexpected CHECKPOINT_END record in stream: no libxc CHECKPOINT precedes it",
                        );
                    }
                    self.awaiting_checkpoint_end = false;
                    self.finish_record(length)?;
                    match self.libxc_records(true)? {
                        LibxcExit::Checkpoint => self.awaiting_checkpoint_end = true,
                        LibxcExit::End => {}
                        LibxcExit::CleanEof => {
                            let rounds = self.report.checkpoint_rounds;
                            self.set_place("end of stream", None);
                            self.warn(format!(
                                "stream ends after checkpoint round {rounds} without END (a Remus/COLO stream cut at failover)"
                            ));
                            return Ok(true);
                        }
                    }
                }
                _ => {
                    // CHECKPOINT_STATE: the only type left.
                    if length == 0 {
                        return self.broken(
                            Rule::CheckpointStateEmpty,
                            "Checkpoint state record with zero length",
                        );
                    }
                    if length != 4 {
                        return self.broken(
                            Rule::CheckpointStateLength,
                            format!("CHECKPOINT_STATE length {length}, expected 4"),
                        );
                    }
                    let mut id = [0u8; 4];
                    self.body(&mut id)?;
                    let id = u32::from_le_bytes(id);
                    if id > 3 {
                        return self.broken(
                            Rule::CheckpointStateId,
                            format!("CHECKPOINT_STATE control id {id}, expected 0..3"),
                        );
                    }
                    return self.broken(
                        Rule::CheckpointStateUnexpected,
                        "Unexpected CHECKPOINT_STATE record in stream (it belongs on the COLO back channel)",
                    );
                }
            }
        }
    }

    /// Checks an emulator sub-header; returns (id, index).
    fn emulator_header(&mut self, length: u32) -> Result<(u32, u32), Stop> {
        if length < 8 {
            return self.broken(
                Rule::EmulatorShort,
                format!("Length must be at least 8 bytes, got {length}"),
            );
        }
        let mut header = [0u8; 8];
        self.body(&mut header)?;
        let id = le32(&header, 0);
        let instance = le32(&header, 4);
        if EmulatorId(id).display_name().is_none() {
            return self.broken(
                Rule::EmulatorId,
                format!("Unrecognised emulator id 0x{id:x}"),
            );
        }
        if self.domain == Some(DomainType::X86_PV) {
            return self.broken(
                Rule::EmulatorNotHvm,
                "Received a xenstore emulator record when none was expected: the libxc domain header says x86 PV",
            );
        }
        if instance != 0 {
            self.warn(format!("emulator index {instance}; the writer only uses 0"));
        }
        if EmulatorId(id) == EmulatorId::QEMU_TRADITIONAL {
            self.warn(
                "emulator id 1 (qemu-traditional) is no longer written since Xen 4.21".to_owned(),
            );
        }
        if EmulatorId(id) == EmulatorId::UNKNOWN && !self.report.libxl_legacy {
            self.warn("emulator id 0 (Unknown) in a stream not marked legacy converted".to_owned());
        }
        Ok((id, instance))
    }

    fn emulator_xenstore_data(&mut self, length: u32) -> Result<(), Stop> {
        let (id, instance) = self.emulator_header(length)?;
        self.info(|| {
            format!(
                "Emulator Xenstore Data ({}, idx {instance})",
                emulator_name(id)
            )
        });
        let mut chunk = [0u8; 4096];
        let mut current: Vec<u8> = Vec::new();
        let mut key: Vec<u8> = Vec::new();
        let mut strings: u64 = 0;
        let mut last = 0u8;
        let mut saw_data = false;
        while self.body_left > 0 {
            let take = self.body_left.min(chunk.len() as u64) as usize;
            self.body(&mut chunk[..take])?;
            saw_data = true;
            last = chunk[take - 1];
            for &byte in &chunk[..take] {
                if byte != 0 {
                    if current.len() >= XENSTORE_STRING_MAX {
                        let what = if strings.is_multiple_of(2) {
                            "key"
                        } else {
                            "value"
                        };
                        return self.broken(
                            Rule::XenstoreTooLong,
                            format!("Xenstore {what} of more than {XENSTORE_STRING_MAX} bytes exceeds xenstore's limit of {XENSTORE_STRING_MAX}"),
                        );
                    }
                    current.push(byte);
                    continue;
                }
                strings += 1;
                if strings % 2 == 1 {
                    if !is_xenstore_key(&current) {
                        let shown = String::from_utf8_lossy(&current).into_owned();
                        return self.broken(
                            Rule::XenstoreKey,
                            format!("Xenstore key '{shown}' is empty or uses characters outside alphanumerics and -/_@"),
                        );
                    }
                    std::mem::swap(&mut key, &mut current);
                } else {
                    if !current.iter().all(|b| (0x20..0x7f).contains(b)) {
                        let shown = String::from_utf8_lossy(&key).into_owned();
                        self.warn(format!(
                            "xenstore value of '{shown}' is not printable ASCII"
                        ));
                    }
                    let (k, v) = (
                        String::from_utf8_lossy(&key).into_owned(),
                        String::from_utf8_lossy(&current).into_owned(),
                    );
                    self.info(|| format!("  '{k}' = '{v}'"));
                    key.clear();
                }
                current.clear();
            }
        }
        if saw_data {
            if last != 0 {
                return self.broken(Rule::XenstoreNul, "Data not NUL terminated");
            }
            if !strings.is_multiple_of(2) {
                return self.broken(
                    Rule::XenstorePairs,
                    format!("Expected an even number of strings, got {strings}"),
                );
            }
        }
        Ok(())
    }

    // ----- the libxc layer -----------------------------------------------------------

    fn libxc_stream(&mut self) -> Result<LibxcExit, Stop> {
        self.image_header()?;
        self.domain_header()?;
        self.libxc_records(false)
    }

    fn image_header(&mut self) -> Result<(), Stop> {
        self.set_place("libxc image header", None);
        let mut header = [0u8; 24];
        self.read_exact(&mut header)?;
        let marker = be64(&header, 0);
        let id = be32(&header, 8);
        let version = be32(&header, 12);
        let options = be16(&header, 16);
        let reserved1 = be16(&header, 18);
        let reserved2 = be32(&header, 20);
        if marker != IMAGE_MARKER {
            let hint = legacy_hint(&header);
            return self.broken(
                Rule::ImageMarker,
                format!("Bad image marker: Expected 0x{IMAGE_MARKER:x}, got 0x{marker:x}{hint}"),
            );
        }
        if id != IMAGE_ID {
            return self.broken(
                Rule::ImageId,
                format!("Bad image id: Expected 0x{IMAGE_ID:x}, got 0x{id:x}"),
            );
        }
        if !(IMAGE_VERSION_MIN..=IMAGE_VERSION_MAX).contains(&version) {
            return self.broken(
                Rule::ImageVersion,
                format!("Unknown image version: Expected 2 <= ver <= 3, got {version}"),
            );
        }
        if options & 0xfffe != 0 {
            return self.broken(
                Rule::ImageOptions,
                format!(
                    "Reserved bits set in image options field: 0x{:x}",
                    options & 0xfffe
                ),
            );
        }
        if reserved1 != 0 || reserved2 != 0 {
            return self.broken(
                Rule::ImageReserved,
                format!("Reserved bits set in image header: 0x{reserved1:04x}:0x{reserved2:08x}"),
            );
        }
        if options & 1 != 0 {
            return self.broken(
                Rule::ImageEndian,
                "Stream is not native endianess - unable to validate (big-endian flag set; x86 streams are little endian)",
            );
        }
        self.version = version;
        self.report.libxc_version = Some(version);
        self.info(|| format!("Libxc Image Header: Version {version}, little endian"));
        Ok(())
    }

    fn domain_header(&mut self) -> Result<(), Stop> {
        self.set_place("libxc domain header", None);
        let mut header = [0u8; 16];
        self.read_exact(&mut header)?;
        let kind = DomainType(le32(&header, 0));
        let page_shift = le16(&header, 4);
        let reserved = le16(&header, 6);
        let major = le32(&header, 8);
        let minor = le32(&header, 12);
        let Some(name) = kind.display_name() else {
            return self.broken(
                Rule::DomainType,
                format!("Unrecognised domain type 0x{:x}", kind.0),
            );
        };
        if reserved != 0 {
            return self.broken(
                Rule::DomainReserved,
                format!("Reserved bits set in domain header 0x{reserved:04x}"),
            );
        }
        if page_shift != PAGE_SHIFT {
            return self.broken(
                Rule::DomainPageShift,
                format!("Page shift expected to be 12.  Got {page_shift}"),
            );
        }
        self.domain = Some(kind);
        self.report.domain_type = Some(name);
        self.legacy_converted = major == 0;
        if major == 0 {
            self.report.xen_version = Some("legacy converted".to_owned());
            self.info(|| format!("Domain Header: legacy converted {name}"));
        } else {
            self.report.xen_version = Some(format!("{major}.{minor}"));
            self.info(|| format!("Domain Header: {name} from Xen {major}.{minor}"));
        }
        Ok(())
    }

    fn libxc_records(&mut self, resumed: bool) -> Result<LibxcExit, Stop> {
        let mut may_end = resumed;
        loop {
            if may_end && self.at_end()? {
                return Ok(LibxcExit::CleanEof);
            }
            may_end = false;
            let (raw, length, index) = self.record_header()?;
            let kind = RecordType(raw);
            self.place.index = Some(index);
            self.place.kind = What::Libxc(raw);
            if kind.display_name().is_none() && !kind.is_optional() {
                return self.broken(
                    Rule::UnknownRecord,
                    format!("Unrecognised record type 0x{raw:x}"),
                );
            }
            if length > REC_LENGTH_MAX {
                return self.broken(
                    Rule::RecordTooLong,
                    format!("Record length {length} exceeds REC_LENGTH_MAX ({REC_LENGTH_MAX})"),
                );
            }
            match self.tally.libxc.get_mut(raw as usize) {
                Some(n) => *n += 1,
                None => {
                    let kinds = self.tally.optional.len();
                    match self.tally.optional.get_mut(&raw) {
                        Some(n) => *n += 1,
                        None if kinds < MAX_RECORD_KINDS => {
                            self.tally.optional.insert(raw, 1);
                        }
                        None => self.report.optional_records_not_listed += 1,
                    }
                }
            }
            if kind == RecordType::PAGE_DATA {
                self.squashed += 1;
            } else {
                if self.squashed > 0 {
                    let n = std::mem::take(&mut self.squashed);
                    self.info(|| format!("Squashed {n} Page Data records together"));
                }
                if let Some(name) = kind.display_name() {
                    self.info(|| format!("Libxc Record: {name}, length {length}"));
                }
            }
            self.body_left = u64::from(length);
            if kind.display_name().is_none() {
                self.info(|| {
                    format!(
                        "Libxc Record: {}, length {length}, ignored",
                        libxc_name(raw)
                    )
                });
                self.warn(format!("optional record type 0x{raw:08x} ignored"));
                self.finish_record(length)?;
                continue;
            }
            self.check_domain_fit(kind)?;
            let exit = self.libxc_record(kind, length)?;
            self.finish_record(length)?;
            if let Some(exit) = exit {
                return Ok(exit);
            }
        }
    }

    /// Records that only one domain type handles, and PV's first-record rule.
    fn check_domain_fit(&mut self, kind: RecordType) -> Result<(), Stop> {
        let pv_only = matches!(
            kind,
            RecordType::X86_PV_INFO
                | RecordType::X86_PV_P2M_FRAMES
                | RecordType::X86_PV_VCPU_BASIC
                | RecordType::X86_PV_VCPU_EXTENDED
                | RecordType::X86_PV_VCPU_XSAVE
                | RecordType::X86_PV_VCPU_MSRS
                | RecordType::SHARED_INFO
        );
        let hvm_only = matches!(kind, RecordType::HVM_CONTEXT | RecordType::HVM_PARAMS);
        let domain = self.domain.unwrap_or_default();
        if (pv_only && domain != DomainType::X86_PV) || (hvm_only && domain != DomainType::X86_HVM)
        {
            let record = kind.name().unwrap_or("?");
            return self.broken(
                Rule::DomainRecordMismatch,
                format!(
                    "Mandatory record {record} not handled for an {} domain",
                    domain_name(domain)
                ),
            );
        }
        if domain == DomainType::X86_PV && !self.pv_first_checked {
            self.pv_first_checked = true;
            if kind != RecordType::X86_PV_INFO {
                return self.broken(
                    Rule::PvInfoFirst,
                    format!(
                        "Not yet received X86_PV_INFO record: a PV stream starts with it, found {}",
                        libxc_name(kind.0)
                    ),
                );
            }
        }
        Ok(())
    }

    fn require_sde(&mut self) -> Result<(), Stop> {
        if self.version >= 3 && !self.sde_seen {
            return self.broken(
                Rule::SdeMissing,
                "No STATIC_DATA_END seen: a v3 stream must end its static data before memory, registers or END",
            );
        }
        Ok(())
    }

    fn require_vcpu0(&mut self) -> Result<(), Stop> {
        if self.domain == Some(DomainType::X86_PV) && !self.vcpu0_basic {
            return self.broken(Rule::Vcpu0Basic, "Sender didn't send vcpu0's basic state");
        }
        Ok(())
    }

    fn libxc_record(&mut self, kind: RecordType, length: u32) -> Result<Option<LibxcExit>, Stop> {
        // Register and end-of-round records are not static data, so in v3 they
        // come after STATIC_DATA_END like memory does (PAGE_DATA, P2M_FRAMES
        // and END check it themselves, after upstream's own checks).
        if matches!(
            kind,
            RecordType::X86_PV_VCPU_BASIC
                | RecordType::X86_PV_VCPU_EXTENDED
                | RecordType::X86_PV_VCPU_XSAVE
                | RecordType::X86_PV_VCPU_MSRS
                | RecordType::SHARED_INFO
                | RecordType::X86_TSC_INFO
                | RecordType::HVM_CONTEXT
                | RecordType::HVM_PARAMS
                | RecordType::VERIFY
                | RecordType::CHECKPOINT
        ) {
            self.require_sde()?;
        }
        match kind {
            RecordType::END => {
                if length != 0 {
                    return self.broken(Rule::EndLength, "End record with non-zero length");
                }
                self.require_sde()?;
                self.require_vcpu0()?;
                Ok(Some(LibxcExit::End))
            }
            RecordType::PAGE_DATA => self.page_data(length).map(|()| None),
            RecordType::X86_PV_INFO => self.pv_info(length).map(|()| None),
            RecordType::X86_PV_P2M_FRAMES => self.p2m_frames(length).map(|()| None),
            RecordType::X86_PV_VCPU_BASIC => self.vcpu(length, "basic").map(|()| None),
            RecordType::X86_PV_VCPU_EXTENDED => self.vcpu(length, "extended").map(|()| None),
            RecordType::X86_PV_VCPU_XSAVE => self.vcpu(length, "xsave").map(|()| None),
            RecordType::X86_PV_VCPU_MSRS => self.vcpu(length, "msrs").map(|()| None),
            RecordType::SHARED_INFO => {
                if length != 4096 {
                    return self.broken(
                        Rule::SharedInfoLength,
                        format!("Length expected to be 4906 bytes, not {length}"),
                    );
                }
                Ok(None)
            }
            RecordType::X86_TSC_INFO => {
                if length != 24 {
                    return self.broken(Rule::TscLength, "Length should be 24 bytes");
                }
                let mut body = [0u8; 24];
                self.body(&mut body)?;
                let (mode, khz, nsec, incarnation, reserved) = (
                    le32(&body, 0),
                    le32(&body, 4),
                    le64(&body, 8),
                    le32(&body, 16),
                    le32(&body, 20),
                );
                if reserved != 0 {
                    return self.broken(
                        Rule::TscReserved,
                        format!("Reserved bits set in X86_TSC_INFO: 0x{reserved:08x}"),
                    );
                }
                self.info(|| {
                    format!("  Mode {mode}, {khz} kHz, {nsec} ns, incarnation {incarnation}")
                });
                Ok(None)
            }
            RecordType::HVM_CONTEXT => self.hvm_context(length).map(|()| None),
            RecordType::HVM_PARAMS => self.hvm_params(length).map(|()| None),
            RecordType::TOOLSTACK => self.broken(
                Rule::Toolstack,
                "Found Toolstack record in stream (deprecated: the spec says it must not be used)",
            ),
            RecordType::VERIFY => {
                if length != 0 {
                    return self.broken(Rule::VerifyLength, "Verify record with non-zero length");
                }
                Ok(None)
            }
            RecordType::CHECKPOINT => {
                if length != 0 {
                    return self.broken(
                        Rule::CheckpointLength,
                        "Checkpoint record with non-zero length",
                    );
                }
                if !self.in_libxl {
                    return self.broken(
                        Rule::CheckpointBare,
                        "Found checkpoint in non-checkpointed stream: a bare libxc stream cannot hand control back to libxl",
                    );
                }
                self.require_vcpu0()?;
                self.vcpu_seen_in_round = false;
                self.report.checkpoint_rounds += 1;
                Ok(Some(LibxcExit::Checkpoint))
            }
            RecordType::CHECKPOINT_DIRTY_PFN_LIST => self.broken(
                Rule::DirtyPfnList,
                "Found checkpoint dirty pfn list record in stream",
            ),
            RecordType::STATIC_DATA_END => {
                if self.version < 3 {
                    return self.broken(Rule::SdeInV2, "Static data end record found in v2 stream");
                }
                if length != 0 {
                    return self.broken(Rule::SdeLength, "End record with non-zero length");
                }
                if self.sde_seen {
                    return self
                        .broken(Rule::SdeDuplicate, "Multiple STATIC_DATA_END records found");
                }
                self.sde_seen = true;
                Ok(None)
            }
            RecordType::X86_CPUID_POLICY => self.cpuid_policy(length).map(|()| None),
            _ => self.msr_policy(length).map(|()| None),
        }
    }

    fn page_data(&mut self, length: u32) -> Result<(), Stop> {
        self.require_sde()?;
        if self.domain == Some(DomainType::X86_PV) && self.p2m_end.is_none() {
            return self.broken(
                Rule::P2mBeforePages,
                "PAGE_DATA before X86_PV_P2M_FRAMES in a PV stream: the pfn limit is not known yet",
            );
        }
        if self.vcpu_seen_in_round {
            return self.broken(
                Rule::VcpuBeforePageData,
                "PAGE_DATA after an X86_PV_VCPU record: the spec orders X86_PV_INFO, X86_PV_P2M_FRAMES, PAGE_DATA, then vCPU records",
            );
        }
        if length <= 8 {
            return self.broken(
                Rule::PageDataShort,
                "PAGE_DATA record must be at least 8 bytes long",
            );
        }
        let mut header = [0u8; 8];
        self.body(&mut header)?;
        let count = le32(&header, 0);
        let reserved = le32(&header, 4);
        if reserved != 0 {
            return self.broken(
                Rule::PageDataReserved,
                format!("Reserved bits set in PAGE_DATA record 0x{reserved:04x}"),
            );
        }
        let pfn_bytes = u64::from(count) * 8;
        if u64::from(length) - 8 < pfn_bytes {
            return self.broken(
                Rule::PageDataPfnArray,
                "PAGE_DATA record must contain a pfn record for each count",
            );
        }
        let is_hvm = self.domain == Some(DomainType::X86_HVM);
        let check_duplicates = count <= DUPLICATE_CHECK_MAX;
        self.duplicates.clear();
        let mut pages: u64 = 0;
        // Tallied locally and merged once: this loop runs for every pfn of the stream.
        let mut by_type = [0u64; 16];
        let (mut lowest, mut highest) = (u64::MAX, 0u64);
        // Reused across records: zeroing 8 KiB per record would cost more than
        // checking it. An early return drops it; the next record makes a new one.
        let mut chunk = std::mem::take(&mut self.pfn_chunk);
        chunk.resize(8192, 0);
        let mut index: u32 = 0;
        while index < count {
            let n = (count - index).min(1024) as usize;
            self.body(&mut chunk[..n * 8])?;
            for slot in 0..n {
                let raw = le64(&chunk, slot * 8);
                let at = index + slot as u32;
                if raw & PFN_RESERVED_MASK != 0 {
                    return self.broken(
                        Rule::PageDataPfnReserved,
                        format!(
                            "Reserved bits set in pfn[{at}]: 0x{:016x}",
                            raw & PFN_RESERVED_MASK
                        ),
                    );
                }
                // Bit masks over the 16 page types: this loop runs for every pfn.
                let code = (raw >> PFN_TYPE_SHIFT) as usize & 0xF;
                if INVALID_PAGE_TYPES & (1 << code) != 0 {
                    return self.broken(
                        Rule::PageDataPfnType,
                        format!(
                            "Invalid type value in pfn[{at}]: 0x{:016x}",
                            raw & !PFN_MASK & !PFN_RESERVED_MASK
                        ),
                    );
                }
                let pfn = raw & PFN_MASK;
                if is_hvm && PAGE_TABLE_TYPES & (1 << code) != 0 {
                    return self.broken(
                        Rule::PageTableInHvm,
                        format!(
                            "Page-table page type in pfn[{at}] (0x{raw:016x}) of an HVM stream"
                        ),
                    );
                }
                if let Some(end) = self.p2m_end
                    && !is_hvm
                    && pfn > end
                {
                    return self.broken(
                        Rule::PfnBeyondP2m,
                        format!("pfn[{at}] 0x{pfn:x} beyond the P2M's end pfn 0x{end:x}"),
                    );
                }
                pages += u64::from(DATA_PAGE_TYPES >> code) & 1;
                if check_duplicates {
                    self.duplicates.push((pfn, at));
                }
                by_type[code] += 1;
                lowest = lowest.min(pfn);
                highest = highest.max(pfn);
            }
            index += n as u32;
        }
        self.pfn_chunk = chunk;
        for (total, n) in self.tally.page_types.iter_mut().zip(by_type) {
            *total += n;
        }
        if count > 0 {
            self.report.note_pfn(lowest);
            self.report.note_pfn(highest);
        }
        let page_bytes = pages * 4096;
        if u64::from(length) != 8 + pfn_bytes + page_bytes {
            return self.broken(
                Rule::PageDataLength,
                format!("Expected 8 + {pfn_bytes} + {page_bytes}, got {length}"),
            );
        }
        if check_duplicates {
            self.duplicates.sort_unstable();
            if let Some(pair) = self.duplicates.windows(2).find(|w| w[0].0 == w[1].0) {
                let (pfn, first, second) = (pair[0].0, pair[0].1, pair[1].1);
                return self.broken(
                    Rule::DuplicatePfn,
                    format!(
                        "Duplicate pfn 0x{pfn:x} in PAGE_DATA (pfn[{first}] and pfn[{second}])"
                    ),
                );
            }
        } else {
            self.warn(format!(
                "PAGE_DATA with {count} pfns: not checked for duplicates"
            ));
        }
        if count as usize > MAX_BATCH {
            self.warn(format!(
                "PAGE_DATA with {count} pfns, more than a saver writes ({MAX_BATCH})"
            ));
        }
        self.report.page_data_bytes += page_bytes;
        Ok(())
    }

    fn pv_info(&mut self, length: u32) -> Result<(), Stop> {
        if length != 8 {
            return self.broken(
                Rule::PvInfoLength,
                format!("x86_pv_info: expected length of 8, got {length}"),
            );
        }
        let mut body = [0u8; 8];
        self.body(&mut body)?;
        let (width, levels, reserved1, reserved2) =
            (body[0], body[1], le16(&body, 2), le32(&body, 4));
        if width != 4 && width != 8 {
            return self.broken(
                Rule::PvInfoWidth,
                format!("Expected width of 4 or 8, got {width}"),
            );
        }
        if levels != 3 && levels != 4 {
            return self.broken(
                Rule::PvInfoLevels,
                format!("Expected levels of 3 or 4, got {levels}"),
            );
        }
        if reserved1 != 0 || reserved2 != 0 {
            return self.broken(
                Rule::PvInfoReserved,
                format!("Reserved bits set in X86_PV_INFO: 0x{reserved1:04x} 0x{reserved2:08x}"),
            );
        }
        let bits = u32::from(width) * 8;
        self.info(|| format!("  {bits}bit guest, {levels} levels of pagetables"));
        if self.pv_info_seen {
            return self.broken(Rule::PvInfoDuplicate, "Already received X86_PV_INFO record");
        }
        if (width, levels) != (4, 3) && (width, levels) != (8, 4) {
            return self.broken(
                Rule::PvInfoPair,
                format!("Guest width {width} with {levels} levels of pagetables (expected 4 with 3, or 8 with 4)"),
            );
        }
        self.pv_info_seen = true;
        self.pv_width = width;
        self.report.guest_width = Some(width);
        self.report.pagetable_levels = Some(levels);
        Ok(())
    }

    fn p2m_frames(&mut self, length: u32) -> Result<(), Stop> {
        if length < 8 {
            return self.broken(
                Rule::P2mShort,
                "x86_pv_p2m_frames: record length must be at least 8 bytes long",
            );
        }
        if !length.is_multiple_of(8) {
            return self.broken(
                Rule::P2mMultiple,
                format!("Length expected to be a multiple of 8, not {length}"),
            );
        }
        let mut header = [0u8; 8];
        self.body(&mut header)?;
        let (start, end) = (le32(&header, 0), le32(&header, 4));
        self.info(|| format!("  Start pfn 0x{start:x}, End 0x{end:x}"));
        self.require_sde()?;
        if start > end {
            return self.broken(
                Rule::P2mRange,
                format!("Start pfn in stream (0x{start:x}) exceeds End (0x{end:x})"),
            );
        }
        // X86_PV_INFO came first (checked on the first record), so the width is known.
        let per_frame = 4096 / u64::from(self.pv_width.max(4));
        let frames = u64::from(end) / per_frame + 1 - u64::from(start) / per_frame;
        let expected = 8 + 8 * frames;
        if u64::from(length) != expected {
            return self.broken(
                Rule::P2mLength,
                format!("X86_PV_P2M_FRAMES length {length}, expected {expected} for pfns 0x{start:x}..0x{end:x}"),
            );
        }
        let end = u64::from(end);
        self.p2m_end = Some(self.p2m_end.map_or(end, |old| old.max(end)));
        Ok(())
    }

    fn vcpu(&mut self, length: u32, which: &str) -> Result<(), Stop> {
        if length < 8 {
            return self.broken(
                Rule::VcpuShort,
                format!("X86_PV_VCPU_{which} record length must be at least 8 bytes long"),
            );
        }
        if length == 8 {
            let message = format!("X86_PV_VCPU_{which} record with zero content");
            self.warn(message);
        }
        let mut header = [0u8; 8];
        self.body(&mut header)?;
        let (vcpu, reserved) = (le32(&header, 0), le32(&header, 4));
        if reserved != 0 {
            return self.broken(
                Rule::VcpuReserved,
                format!("Reserved bits set in x86_pv_vcpu_{which} record 0x{reserved:04x}"),
            );
        }
        let context = u64::from(length) - 8;
        self.info(|| format!("  vcpu{vcpu} {which} context, {context} bytes"));
        self.vcpu_seen_in_round = true;
        self.note_vcpu(vcpu);
        if context == 0 {
            return Ok(());
        }
        match which {
            "basic" => {
                let expected = if self.pv_width == 8 {
                    VCPU_BASIC_SIZE_64
                } else {
                    VCPU_BASIC_SIZE_32
                };
                if context != expected {
                    let bits = u32::from(self.pv_width) * 8;
                    return self.broken(
                        Rule::VcpuBasicSize,
                        format!("X86_PV_VCPU_BASIC context of {context} bytes, expected {expected} for a {bits}-bit guest"),
                    );
                }
                if vcpu == 0 {
                    self.vcpu0_basic = true;
                }
            }
            "extended" if context > 128 => {
                return self.broken(
                    Rule::VcpuExtendedSize,
                    format!("X86_PV_VCPU_EXTENDED context of {context} bytes, at most 128 allowed"),
                );
            }
            "xsave" if context < 16 => {
                return self.broken(
                    Rule::VcpuXsaveSize,
                    format!("X86_PV_VCPU_XSAVE context of {context} bytes, at least 16 required"),
                );
            }
            "msrs" if context % 16 != 0 => {
                return self.broken(
                    Rule::VcpuMsrsSize,
                    format!("X86_PV_VCPU_MSRS context of {context} bytes, not a multiple of 16"),
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn note_vcpu(&mut self, vcpu: u32) {
        if self.report.vcpus.len() < MAX_VCPUS_LISTED || self.report.vcpus.contains(&vcpu) {
            self.report.vcpus.insert(vcpu);
        }
    }

    fn hvm_context(&mut self, length: u32) -> Result<(), Stop> {
        if length == 0 {
            return self.broken(Rule::HvmContextEmpty, "Zero length HVM context");
        }
        let mut position: u64 = 0;
        let mut first = true;
        loop {
            if self.body_left == 0 {
                return self.broken(
                    Rule::HvmContextEnd,
                    "HVM context must end with an END descriptor and nothing after it: no END descriptor",
                );
            }
            if self.body_left < 8 {
                let left = self.body_left;
                return self.broken(
                    Rule::HvmContextDescriptor,
                    format!("HVM context descriptor at byte {position} does not fit: only {left} bytes left"),
                );
            }
            let mut descriptor = [0u8; 8];
            self.body(&mut descriptor)?;
            let code = HvmSaveCode(le16(&descriptor, 0));
            let instance = le16(&descriptor, 2);
            let data_len = u64::from(le32(&descriptor, 4));
            if data_len > self.body_left {
                return self.broken(
                    Rule::HvmContextDescriptor,
                    format!(
                        "HVM context descriptor (typecode {}, length {data_len}) at byte {position} does not fit: only {} bytes left",
                        code.0, self.body_left
                    ),
                );
            }
            if first || code == HvmSaveCode::HEADER {
                if !first || code != HvmSaveCode::HEADER || data_len != 24 {
                    return self.broken(
                        Rule::HvmContextHeader,
                        format!(
                            "HVM context must start with a HEADER descriptor (magic 0x{HVM_FILE_MAGIC:08x}, version {HVM_FILE_VERSION}) and have only one: found typecode {} of length {data_len} at byte {position}",
                            code.0
                        ),
                    );
                }
                let mut header = [0u8; 24];
                self.body(&mut header)?;
                let (magic, version) = (le32(&header, 0), le32(&header, 4));
                if magic != HVM_FILE_MAGIC || version != HVM_FILE_VERSION {
                    return self.broken(
                        Rule::HvmContextHeader,
                        format!("HVM context HEADER has magic 0x{magic:08x} version {version}, expected magic 0x{HVM_FILE_MAGIC:08x} version {HVM_FILE_VERSION}"),
                    );
                }
                first = false;
            } else if code == HvmSaveCode::END {
                if data_len != 0 || self.body_left != 0 {
                    let after = self.body_left - data_len;
                    return self.broken(
                        Rule::HvmContextEnd,
                        format!("HVM context must end with an END descriptor and nothing after it: END at byte {position} has length {data_len} and {after} bytes follow it"),
                    );
                }
            } else if code > HvmSaveCode::MAX {
                return self.broken(
                    Rule::HvmContextDescriptor,
                    format!("HVM context descriptor (typecode {}, length {data_len}) at byte {position} has an unknown typecode (at most 20)", code.0),
                );
            } else {
                self.input.skip(data_len).map_err(|e| self.input_error(e))?;
                self.body_left -= data_len;
            }
            let name = code.display_name().unwrap_or("?");
            *self.report.hvm_context_descriptors.entry(name).or_insert(0) += 1;
            if code == HvmSaveCode::CPU {
                // An HVM guest's vCPUs are the instances of its CPU descriptors.
                self.note_vcpu(u32::from(instance));
            }
            if code == HvmSaveCode::END {
                return Ok(());
            }
            position += 8 + data_len;
        }
    }

    fn hvm_params(&mut self, length: u32) -> Result<(), Stop> {
        if length < 8 {
            return self.broken(Rule::HvmParamsShort, "Length should be at least 8 bytes");
        }
        let mut header = [0u8; 8];
        self.body(&mut header)?;
        let (count, reserved) = (le32(&header, 0), le32(&header, 4));
        if reserved != 0 {
            return self.broken(
                Rule::HvmParamsReserved,
                format!("Reserved field not zero (0x{reserved:04x})"),
            );
        }
        if count == 0 {
            self.warn("HVM_PARAMS record with zero content".to_owned());
        }
        let expected = 8 + 16 * u64::from(count);
        if u64::from(length) != expected {
            return self.broken(
                Rule::HvmParamsLength,
                format!("Length should be {expected} bytes"),
            );
        }
        let mut seen: u64 = 0;
        let mut entry = [0u8; 16];
        for _ in 0..count {
            self.body(&mut entry)?;
            let (index, value) = (le64(&entry, 0), le64(&entry, 8));
            let param = HvmParam(index);
            let Some(name) = param.name() else {
                return self.broken(
                    Rule::HvmParamsUnknown,
                    format!("Unknown HVM param index {index}: no saver writes it"),
                );
            };
            // Every named param is below 64, so one bit each is enough.
            let bit = 1u64 << (index & 63);
            if seen & bit != 0 {
                return self.broken(
                    Rule::HvmParamsDuplicate,
                    format!("HVM param {name} ({index}) appears twice in one record"),
                );
            }
            seen |= bit;
            self.report.hvm_params.insert(name.to_owned(), value);
        }
        Ok(())
    }

    fn policy_position(&mut self, which: &str) -> Result<(), Stop> {
        if self.sde_seen {
            return self.broken(
                Rule::PolicyAfterSde,
                format!("{which} record after STATIC_DATA_END: static data must come before it"),
            );
        }
        Ok(())
    }

    fn cpuid_policy(&mut self, length: u32) -> Result<(), Stop> {
        if self.version < 3 {
            return self.broken(
                Rule::CpuidInV2,
                "x86 CPUID policy record found in v2 stream",
            );
        }
        if length < 24 || !length.is_multiple_of(24) {
            return self.broken(
                Rule::CpuidLength,
                format!("Record length {length}, expected multiple of 24"),
            );
        }
        self.policy_position("X86_CPUID_POLICY")?;
        let mut chunk = [0u8; 24 * 170];
        let mut previous: Option<(u32, u32)> = None;
        while self.body_left > 0 {
            let take = self.body_left.min(chunk.len() as u64) as usize;
            self.body(&mut chunk[..take])?;
            for entry in chunk[..take].chunks_exact(24) {
                let key = (le32(entry, 0), le32(entry, 4));
                if let Some(prev) = previous {
                    if key <= prev {
                        return self.broken(
                            Rule::CpuidOrder,
                            format!("CPUID leaf {:08x}:{:08x} not after {:08x}:{:08x} (entries must be sorted and unique)", key.0, key.1, prev.0, prev.1),
                        );
                    }
                    if key.0 == prev.0 && key.1 == XEN_CPUID_NO_SUBLEAF {
                        return self.broken(
                            Rule::CpuidSubleaf,
                            format!("CPUID leaf {:08x} has both XEN_CPUID_NO_SUBLEAF and numbered subleaves", key.0),
                        );
                    }
                }
                previous = Some(key);
                self.report.cpuid_policy_leaves += 1;
            }
        }
        Ok(())
    }

    fn msr_policy(&mut self, length: u32) -> Result<(), Stop> {
        if self.version < 3 {
            return self.broken(Rule::MsrInV2, "x86 MSR policy record found in v2 stream");
        }
        if length < 16 || !length.is_multiple_of(16) {
            return self.broken(
                Rule::MsrLength,
                format!("Record length {length}, expected multiple of 16"),
            );
        }
        self.policy_position("X86_MSR_POLICY")?;
        let mut chunk = [0u8; 4096];
        let mut previous: Option<u32> = None;
        while self.body_left > 0 {
            let take = self.body_left.min(chunk.len() as u64) as usize;
            self.body(&mut chunk[..take])?;
            for entry in chunk[..take].chunks_exact(16) {
                let (index, flags) = (le32(entry, 0), le32(entry, 4));
                if flags != 0 {
                    return self.broken(
                        Rule::MsrFlags,
                        format!("MSR {index:08x}: flags 0x{flags:x} are reserved and must be zero"),
                    );
                }
                if let Some(prev) = previous
                    && index <= prev
                {
                    return self.broken(
                        Rule::MsrOrder,
                        format!("MSR {index:08x} not after {prev:08x} (entries must be sorted and unique)"),
                    );
                }
                previous = Some(index);
                self.report.msr_policy_entries += 1;
            }
        }
        Ok(())
    }

    // ----- after the final END -------------------------------------------------------

    fn trailing_data(&mut self) -> Result<(), Stop> {
        if self.at_end()? {
            return Ok(());
        }
        self.set_place("trailing data", None);
        let offset = self.input.offset();
        let qemu_allowed =
            !self.in_libxl && self.legacy_converted && self.domain == Some(DomainType::X86_HVM);
        if qemu_allowed {
            let mut head = [0u8; 25];
            let peeked = self.input.peek(25).map(|bytes| {
                head[..bytes.len()].copy_from_slice(bytes);
                bytes.len()
            });
            let got = peeked.map_err(|e| self.input_error(e))?;
            if got == 25 && head[..21] == LEGACY_QEMU_SIGNATURE[..] {
                let length = le32(&head, 21);
                self.input.skip(25).map_err(|e| self.input_error(e))?;
                self.place.kind = What::Static("legacy qemu record");
                self.input
                    .skip(u64::from(length))
                    .map_err(|e| self.input_error(e))?;
                self.report.legacy_qemu_record = Some(LegacyQemuRecord {
                    offset,
                    signature: String::from_utf8_lossy(LEGACY_QEMU_SIGNATURE).into_owned(),
                    length,
                });
                self.info(|| {
                    format!("Legacy qemu record after END: DeviceModelRecord0002, {length} bytes")
                });
                if self.at_end()? {
                    return Ok(());
                }
                self.set_place("trailing data", None);
            }
        }
        let at = self.input.offset();
        self.broken(
            Rule::TrailingData,
            format!("Trailing data after the final END record, from byte offset {at}"),
        )
    }
}

/// A pointer to the converter when the first bytes look like a legacy image
/// (bytes 4–7: the high half of a 64-bit p2m_size, or a 32-bit PV
/// extended-info marker; the spec's detection table).
fn legacy_hint(first: &[u8]) -> &'static str {
    match first.get(4..8) {
        Some([0, 0, 0, 0] | [0xff, 0xff, 0xff, 0xff]) => {
            " (it looks like a legacy pre-Xen-4.6 image: convert it with convert-legacy-stream)"
        }
        _ => "",
    }
}

fn emulator_name(id: u32) -> &'static str {
    EmulatorId(id).display_name().unwrap_or("?")
}

fn domain_name(domain: DomainType) -> &'static str {
    domain.display_name().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_type_masks_agree_with_the_type_table() {
        for code in 0u8..16 {
            let kind = PageType(code);
            let bit = 1u16 << code;
            assert_eq!(INVALID_PAGE_TYPES & bit != 0, !kind.is_valid(), "{code:#x}");
            assert_eq!(
                PAGE_TABLE_TYPES & bit != 0,
                kind.is_page_table(),
                "{code:#x}"
            );
            assert_eq!(DATA_PAGE_TYPES & bit != 0, kind.has_data(), "{code:#x}");
        }
    }
}

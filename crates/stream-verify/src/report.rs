//! What the verifier found: a summary of the stream, its warnings and the
//! first rule it breaks.

use crate::rules::{Breach, Rule};
use migration_stream::StreamFormat;
use migration_stream::types::{
    DomainType, HvmParam, HvmSaveCode, LibxlRecordType, PageType, RecordType,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;

/// At most this many warnings are kept; later ones are only counted.
pub const MAX_WARNINGS: usize = 100;
/// At most this many distinct vCPU ids are listed; a hostile stream could name millions.
pub const MAX_VCPUS_LISTED: usize = 4096;
/// At most this many distinct optional record types are counted by name; the
/// rest are counted together (optional types can take any of 2^31 values).
pub const MAX_RECORD_KINDS: usize = 64;

/// Where in the stream a [`Violation`] is: a record of one layer (typed), or
/// a part of the stream that is not a record. Its `Display` is the
/// `record_type` of `--json` and of the tool's message.
///
/// ```
/// use migration_stream::types::{LibxlRecordType, RecordType};
/// use stream_verify::report::Place;
/// assert_eq!(Place::LibxcRecord(RecordType::PAGE_DATA).to_string(), "Page data");
/// assert_eq!(Place::LibxlRecord(LibxlRecordType::EMULATOR_CONTEXT).to_string(), "libxl Emulator context");
/// assert_eq!(Place::DomainHeader.to_string(), "libxc domain header");
/// assert_eq!(Place::LibxlHeader.name(), "libxl header");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Place {
    /// The stream as a whole (nothing read yet).
    Stream,
    /// The first bytes, while the format is told from them.
    StreamStart,
    /// The xl save header.
    XlHeader,
    /// The libxl header.
    LibxlHeader,
    /// The libxc image header.
    ImageHeader,
    /// The libxc domain header.
    DomainHeader,
    /// A record header still being read (its type not known yet).
    RecordHeader,
    /// A libxc record of this type.
    LibxcRecord(RecordType),
    /// A libxl record of this type.
    LibxlRecord(LibxlRecordType),
    /// Where the stream should have gone on (a libxl stream without END).
    EndOfStream,
    /// Data after the final END.
    TrailingData,
    /// The raw qemu record after END of a converted legacy HVM stream.
    LegacyQemuRecord,
}

impl Place {
    /// The name messages and `--json` give it (`Page data`, `libxl header`).
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            Place::Stream => "stream".into(),
            Place::StreamStart => "stream start".into(),
            Place::XlHeader => "xl header".into(),
            Place::LibxlHeader => "libxl header".into(),
            Place::ImageHeader => "libxc image header".into(),
            Place::DomainHeader => "libxc domain header".into(),
            Place::RecordHeader => "record header".into(),
            Place::LibxcRecord(kind) => libxc_name(kind),
            Place::LibxlRecord(kind) => match kind.display_name() {
                Some(name) => format!("libxl {name}").into(),
                None => format!("libxl record type 0x{:x}", kind.0).into(),
            },
            Place::EndOfStream => "end of stream".into(),
            Place::TrailingData => "trailing data".into(),
            Place::LegacyQemuRecord => "legacy qemu record".into(),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The first rule a stream breaks, and where: what (a [`Breach`], whose
/// [`rule`](Breach::rule) is the rule broken) plus the byte offset, record
/// index and [`Place`]. The message is the catalogue's text for the breach.
///
/// In `--json` it is an object with `rule` (the id), `offset`,
/// `record_index`, `record_type` and `message`.
///
/// ```
/// use stream_verify::{Format, Rule, verify};
/// use stream_verify::rules::Breach;
///
/// let report = verify(&b"LibxlFmt\0\0\0\x07\0\0\0\0"[..], Format::Auto, None);
/// let violation = report.error.unwrap();
/// assert_eq!(violation.rule(), Rule::LibxlVersion);
/// assert_eq!(violation.kind(), &Breach::LibxlVersion { version: 7 });
/// assert_eq!((violation.offset(), violation.record_index()), (0, None));
/// assert_eq!(violation.place(), stream_verify::report::Place::LibxlHeader);
/// assert_eq!(violation.record_type(), "libxl header");
/// assert_eq!(violation.message(), "Unknown image version: Expected 2, got 7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    kind: Breach,
    offset: u64,
    record_index: Option<u64>,
    place: Place,
}

impl Violation {
    /// A violation of `kind` in the record (or header) at byte `offset`.
    ///
    /// An embedder that checks more than the verifier reports its own
    /// findings in the same shape:
    ///
    /// ```
    /// use stream_verify::{Rule, Violation, report::Place, rules::Breach};
    /// let found = Violation::new(Breach::LibxlVersion { version: 9 }, 0, None, Place::LibxlHeader);
    /// assert_eq!(found.rule(), Rule::LibxlVersion);
    /// assert_eq!(found.message(), "Unknown image version: Expected 2, got 9");
    /// ```
    pub fn new(kind: Breach, offset: u64, record_index: Option<u64>, place: Place) -> Self {
        Violation {
            kind,
            offset,
            record_index,
            place,
        }
    }

    /// How the rule was broken, with the values that broke it.
    pub fn kind(&self) -> &Breach {
        &self.kind
    }

    /// The rule broken.
    pub fn rule(&self) -> Rule {
        self.kind.rule()
    }

    /// Byte offset of the record (or header) that breaks the rule.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Index of that record in the stream (all layers counted together, from 0);
    /// `None` for headers and trailing data.
    pub fn record_index(&self) -> Option<u64> {
        self.record_index
    }

    /// That record, typed, or the header or part of the stream.
    pub fn place(&self) -> Place {
        self.place
    }

    /// Display name of that record's type, or of the header ([`Place::name`]).
    pub fn record_type(&self) -> std::borrow::Cow<'static, str> {
        self.place.name()
    }

    /// What was expected and what was found (the catalogue's message).
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record_index {
            Some(index) => write!(f, "record {index} ({})", self.place)?,
            None => write!(f, "{}", self.place)?,
        }
        write!(
            f,
            " at byte offset {}: {} [rule {}]",
            self.offset,
            self.kind,
            self.rule().id()
        )
    }
}

impl std::error::Error for Violation {}

impl Serialize for Violation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The report's JSON shape of a violation.
        #[derive(Serialize)]
        struct Json<'a> {
            rule: Rule,
            offset: u64,
            record_index: Option<u64>,
            record_type: Option<&'a str>,
            message: String,
        }
        Json {
            rule: self.rule(),
            offset: self.offset,
            record_index: self.record_index,
            record_type: Some(&self.place.name()),
            message: self.message(),
        }
        .serialize(serializer)
    }
}

/// An operating-system error that stopped verification (not the stream's
/// fault): its [`io::ErrorKind`], where in the input it happened when that
/// is known, and the system's message.
///
/// In `--json` it is the string [`Display`](fmt::Display) gives.
///
/// ```
/// use stream_verify::{Format, verify};
/// struct Unplugged;
/// impl std::io::Read for Unplugged {
///     fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
///         Err(std::io::Error::other("device gone"))
///     }
/// }
/// let report = verify(Unplugged, Format::Auto, None);
/// assert!(report.error.is_none(), "not the stream's fault");
/// let err = report.io_error.unwrap();
/// assert_eq!((err.kind(), err.offset()), (std::io::ErrorKind::Other, Some(0)));
/// assert_eq!(err.to_string(), "read error at byte offset 0: device gone");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    kind: io::ErrorKind,
    offset: Option<u64>,
    message: String,
}

impl ReadError {
    /// A failed read at byte `offset`.
    pub(crate) fn at(offset: u64, err: &io::Error) -> Self {
        ReadError {
            kind: err.kind(),
            offset: Some(offset),
            message: err.to_string(),
        }
    }

    /// The input's size could not be measured before reading it.
    pub(crate) fn unmeasured(err: &io::Error) -> Self {
        ReadError {
            kind: err.kind(),
            offset: None,
            message: err.to_string(),
        }
    }

    /// What kind of failure the system reported.
    pub fn kind(&self) -> io::ErrorKind {
        self.kind
    }

    /// Byte offset of the failed read; `None` when the input could not be measured.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "read error at byte offset {offset}: {}", self.message),
            None => write!(f, "cannot measure the input: {}", self.message),
        }
    }
}

impl std::error::Error for ReadError {}

impl Serialize for ReadError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Something allowed but worth knowing.
///
/// ```
/// use stream_verify::{Format, verify};
/// // HVM_PARAMS with no entries: valid, but unusual.
/// let stream = std::fs::read("../../testdata/verify/valid-empty-hvm-params.stream")?;
/// let report = verify(&stream[..], Format::Auto, None);
/// assert!(report.is_valid());
/// let warning = &report.warnings[0];
/// assert!(warning.record_index.is_some() && warning.offset > 0);
/// assert!(!warning.message.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// Byte offset of the record concerned.
    pub offset: u64,
    /// Its index, when a record is concerned.
    pub record_index: Option<u64>,
    /// What was seen.
    pub message: String,
}

/// The smallest and largest pfn carried by PAGE_DATA records.
///
/// ```
/// use stream_verify::{Format, report::PfnRange, verify};
/// let stream = std::fs::read("../../testdata/streams/libxl-hvm-checkpointed.bin")?;
/// let report = verify(&stream[..], Format::Auto, None);
/// assert_eq!(report.pfn_range, Some(PfnRange { min: 1, max: 0xfeff0 }));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PfnRange {
    /// Lowest pfn.
    pub min: u64,
    /// Highest pfn.
    pub max: u64,
}

/// The xl save header's fields.
///
/// ```
/// use stream_verify::{Format, verify};
/// let stream = std::fs::read("../../testdata/streams/xl-pv-v3.bin")?;
/// let xl = verify(&stream[..], Format::Auto, None).xl_header.unwrap();
/// assert_eq!(xl.mandatory_flags, 3); // JSON config, STREAMv2
/// assert!(xl.config_len.is_some());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct XlSummary {
    /// `mandatory_flags` (bit 0 JSON config, bit 1 STREAMv2).
    pub mandatory_flags: u32,
    /// `optional_flags` (none are defined).
    pub optional_flags: u32,
    /// Length of the optional data (config length word and config).
    pub optional_data_len: u32,
    /// Length of the domain configuration inside the optional data.
    pub config_len: Option<u32>,
}

/// The raw qemu record a converted legacy HVM stream carries after END.
///
/// ```
/// use stream_verify::{Format, verify};
/// let stream = std::fs::read("../../testdata/verify/valid-legacy-hvm-qemu.stream")?;
/// let qemu = verify(&stream[..], Format::Auto, None).legacy_qemu_record.unwrap();
/// assert_eq!((qemu.signature.as_str(), qemu.length), ("DeviceModelRecord0002", 12));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LegacyQemuRecord {
    /// Offset of its signature.
    pub offset: u64,
    /// Its signature (`DeviceModelRecord0002`).
    pub signature: String,
    /// Length of the qemu data that follows the signature and length word.
    pub length: u32,
}

/// The version of the report's JSON document, its `schema_version` key.
///
/// It goes up when a key is removed or changes meaning; new keys may appear
/// without a bump, so a reader ignores keys it does not know.
///
/// ```
/// use stream_verify::{Format, verify};
/// let report = verify(&b"garbage!"[..], Format::Auto, None);
/// let json = serde_json::to_value(&report).unwrap();
/// assert_eq!(json["schema_version"], stream_verify::report::SCHEMA_VERSION);
/// ```
pub const SCHEMA_VERSION: u32 = 1;

/// The Xen version a libxc domain header names: the saving Xen's, or 0.x
/// for a stream made by the legacy converter.
///
/// In `--json` it is a string: `"4.17"`, or `"legacy converted"`.
///
/// ```
/// use stream_verify::report::XenVersion;
/// assert_eq!(XenVersion { major: 4, minor: 17 }.to_string(), "4.17");
/// assert!(XenVersion { major: 0, minor: 1 }.is_legacy_converted());
/// assert_eq!(XenVersion { major: 0, minor: 1 }.to_string(), "legacy converted");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct XenVersion {
    /// `xen_major`; 0 for a converted legacy stream.
    pub major: u32,
    /// `xen_minor` (the converter's version when `major` is 0).
    pub minor: u32,
}

impl XenVersion {
    /// Whether the legacy converter made the stream (`xen_major` 0).
    pub fn is_legacy_converted(self) -> bool {
        self.major == 0
    }
}

impl fmt::Display for XenVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_legacy_converted() {
            f.write_str("legacy converted")
        } else {
            write!(f, "{}.{}", self.major, self.minor)
        }
    }
}

impl Serialize for XenVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Everything the verifier learnt about a stream.
///
/// The fields are typed (the migration-stream crate's open values); the JSON
/// `verify-stream-v2 --json` prints is their rendering, by the names Xen's
/// Python tools print, with a [`SCHEMA_VERSION`] key first.
///
/// ```
/// use migration_stream::types::{DomainType, RecordType};
/// use migration_stream::StreamFormat;
/// use stream_verify::{Format, verify};
///
/// let stream = std::fs::read("../../testdata/streams/libxc-pv-v3.bin")?;
/// let report = verify(&stream[..], Format::Auto, None);
/// assert!(report.is_valid());
/// assert_eq!(report.format, Some(StreamFormat::Libxc));
/// assert_eq!(report.domain_type, Some(DomainType::X86_PV));
/// assert_eq!(report.libxc_records.get(&RecordType::END), Some(&1));
///
/// let json = serde_json::to_value(&report).unwrap();
/// assert_eq!(json["format"], "libxc");
/// assert_eq!(json["domain_type"], "x86 PV");
/// assert_eq!(json["libxc_records"]["End"], 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The JSON's `schema_version` key (the field holds nothing).
    pub(crate) schema_version: SchemaVersion,
    /// The outermost layer.
    #[serde(serialize_with = "json::stream_format")]
    pub format: Option<StreamFormat>,
    /// The xl header, if any.
    pub xl_header: Option<XlSummary>,
    /// libxl stream version, if there is a libxl layer.
    pub libxl_version: Option<u32>,
    /// The libxl header marks the stream as made by the legacy converter.
    pub libxl_legacy: bool,
    /// libxc image version (2 or 3).
    pub libxc_version: Option<u32>,
    /// x86 PV or x86 HVM (the only two a valid stream can name).
    #[serde(serialize_with = "json::domain_type")]
    pub domain_type: Option<DomainType>,
    /// The saving Xen's version, from the domain header.
    pub xen_version: Option<XenVersion>,
    /// PV guest width in bytes (4 or 8).
    pub guest_width: Option<u8>,
    /// PV page-table levels (3 or 4).
    pub pagetable_levels: Option<u8>,
    /// libxc records by type (in the JSON by display name, such as `Page data`).
    #[serde(serialize_with = "json::libxc_records")]
    pub libxc_records: BTreeMap<RecordType, u64>,
    /// Optional libxc records of types beyond the first [`MAX_RECORD_KINDS`] seen, counted only.
    pub optional_records_not_listed: u64,
    /// libxl records by type (in the JSON by display name).
    #[serde(serialize_with = "json::libxl_records")]
    pub libxl_records: BTreeMap<LibxlRecordType, u64>,
    /// Pages (pfn entries) by page type (in the JSON by display name, such as `normal`).
    #[serde(serialize_with = "json::page_types")]
    pub pages_by_type: BTreeMap<PageType, u64>,
    /// Bytes of page data.
    pub page_data_bytes: u64,
    /// Lowest and highest pfn seen.
    pub pfn_range: Option<PfnRange>,
    /// vCPU ids seen (at most [`MAX_VCPUS_LISTED`]): those with a PV vCPU
    /// record, and the instances of an HVM context's CPU descriptors.
    pub vcpus: BTreeSet<u32>,
    /// HVM params (the last value sent wins; in the JSON by upstream name,
    /// such as `STORE_PFN`).
    #[serde(serialize_with = "json::hvm_params")]
    pub hvm_params: BTreeMap<HvmParam, u64>,
    /// HVM context descriptors by type (in the JSON by display name, such as `CPU`).
    #[serde(serialize_with = "json::hvm_save_codes")]
    pub hvm_context_descriptors: BTreeMap<HvmSaveCode, u64>,
    /// Entries in X86_CPUID_POLICY records.
    pub cpuid_policy_leaves: u64,
    /// Entries in X86_MSR_POLICY records.
    pub msr_policy_entries: u64,
    /// Completed checkpoint rounds (libxc CHECKPOINT records).
    pub checkpoint_rounds: u64,
    /// The raw qemu record after END of a converted legacy HVM stream.
    pub legacy_qemu_record: Option<LegacyQemuRecord>,
    /// Bytes consumed.
    pub bytes: u64,
    /// Warnings, at most [`MAX_WARNINGS`].
    pub warnings: Vec<Warning>,
    /// Warnings beyond [`MAX_WARNINGS`], counted only.
    pub warnings_not_listed: u64,
    /// The first rule broken; `None` for a valid stream.
    pub error: Option<Violation>,
    /// An operating-system error that stopped verification (not the stream's fault).
    pub io_error: Option<ReadError>,
}

/// The report's `schema_version` key: always [`SCHEMA_VERSION`], so it is
/// not stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SchemaVersion;

impl Serialize for SchemaVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(SCHEMA_VERSION)
    }
}

/// The report's JSON rendering of the typed fields: the names upstream's
/// tools print, maps ordered by those names (as the document always was).
mod json {
    use migration_stream::StreamFormat;
    use migration_stream::types::{
        DomainType, HvmParam, HvmSaveCode, LibxlRecordType, PageType, RecordType,
    };
    use serde::Serializer;
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    pub(super) fn stream_format<S: Serializer>(
        format: &Option<StreamFormat>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match format {
            Some(format) => s.serialize_str(format.name()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn domain_type<S: Serializer>(
        kind: &Option<DomainType>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match kind {
            Some(kind) => s.collect_str(kind),
            None => s.serialize_none(),
        }
    }

    /// A count per key as a JSON object keyed by `name(key)`, sorted by name;
    /// keys sharing a name are counted together.
    fn by_name<K: Copy, S: Serializer>(
        map: &BTreeMap<K, u64>,
        name: impl Fn(K) -> Cow<'static, str>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut named: BTreeMap<Cow<'static, str>, u64> = BTreeMap::new();
        for (&key, &n) in map {
            *named.entry(name(key)).or_insert(0) += n;
        }
        s.collect_map(named)
    }

    /// The map's last value per name, for values that are not counts.
    fn last_by_name<K: Copy, S: Serializer>(
        map: &BTreeMap<K, u64>,
        name: impl Fn(K) -> Cow<'static, str>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let named: BTreeMap<Cow<'static, str>, u64> = map
            .iter()
            .map(|(&key, &value)| (name(key), value))
            .collect();
        s.collect_map(named)
    }

    /// A name from an open value's table, or `?` for a number without one.
    fn known(name: Option<&'static str>) -> Cow<'static, str> {
        Cow::Borrowed(name.unwrap_or("?"))
    }

    pub(super) fn libxc_records<S: Serializer>(
        map: &BTreeMap<RecordType, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        by_name(map, super::libxc_name, s)
    }

    pub(super) fn libxl_records<S: Serializer>(
        map: &BTreeMap<LibxlRecordType, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        by_name(map, |kind| known(kind.display_name()), s)
    }

    pub(super) fn page_types<S: Serializer>(
        map: &BTreeMap<PageType, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        by_name(map, |kind| known(kind.display_name()), s)
    }

    pub(super) fn hvm_params<S: Serializer>(
        map: &BTreeMap<HvmParam, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        last_by_name(map, |param| known(param.name()), s)
    }

    pub(super) fn hvm_save_codes<S: Serializer>(
        map: &BTreeMap<HvmSaveCode, u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        by_name(map, |code| known(code.display_name()), s)
    }
}

impl Report {
    /// True when the stream was read to its end and broke no rule.
    pub fn is_valid(&self) -> bool {
        self.error.is_none() && self.io_error.is_none()
    }

    pub(crate) fn warn(&mut self, offset: u64, record_index: Option<u64>, message: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning {
                offset,
                record_index,
                message,
            });
        } else {
            self.warnings_not_listed += 1;
        }
    }

    /// Widens the pfn range to take in `lowest..=highest`.
    pub(crate) fn note_pfns(&mut self, lowest: u64, highest: u64) {
        self.pfn_range = Some(match self.pfn_range {
            None => PfnRange {
                min: lowest,
                max: highest,
            },
            Some(r) => PfnRange {
                min: r.min.min(lowest),
                max: r.max.max(highest),
            },
        });
    }
}

/// How a libxc record type is named in messages and in the report.
pub(crate) fn libxc_name(kind: RecordType) -> std::borrow::Cow<'static, str> {
    let raw = kind.0;
    match kind.display_name() {
        Some(name) => name.into(),
        None if kind.is_optional() => format!("Optional record 0x{raw:08x}").into(),
        None => format!("record type 0x{raw:x}").into(),
    }
}

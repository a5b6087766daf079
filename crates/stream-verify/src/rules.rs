//! The catalogue of rules a stream must obey, and the one text of each message.
//!
//! Every check the verifier makes has a [`Rule`] with a stable id (used in
//! error messages, `--json` output and `docs/verify-rules.md`), where the rule
//! comes from, and its message forms. A form is a variant of [`Breach`]: the
//! values that broke the rule, typed, and one format string that turns them
//! into the message. The verifier only builds a `Breach`; this module formats
//! it, and `docs/verify-rules.md` shows the same format strings, so the page
//! and the tool cannot say different things. Upstream's own checks keep
//! upstream's message text (typos included) so that scripts grepping for it
//! keep working.
//!
//! ```
//! use stream_verify::rules::{Breach, Rule};
//!
//! let breach = Breach::DuplicatePfn { pfn: 0x10, first: 0, second: 2 };
//! assert_eq!(breach.rule(), Rule::DuplicatePfn);
//! assert_eq!(breach.rule().id(), "page-data.duplicate-pfn");
//! assert_eq!(breach.to_string(), "Duplicate pfn 0x10 in PAGE_DATA (pfn[0] and pfn[2])");
//! assert_eq!(breach.template(), "Duplicate pfn 0x{pfn:x} in PAGE_DATA (pfn[{first}] and pfn[{second}])");
//! ```

use serde::Serialize;
use std::fmt;

use crate::Format;
use migration_stream::types::{
    HVM_FILE_MAGIC, HVM_FILE_VERSION, IMAGE_ID, IMAGE_MARKER, LIBXL_IDENT, LIBXL_VERSION,
    REC_LENGTH_MAX, XL_BYTEORDER,
};

// The messages spell these out so that the docs show the numbers.
const _: () = assert!(REC_LENGTH_MAX == 134_217_728);
const _: () = assert!(IMAGE_MARKER == 0xffff_ffff_ffff_ffff && IMAGE_ID == 0x5845_4e46);
const _: () = assert!(LIBXL_IDENT == 0x4c69_6278_6c46_6d74 && LIBXL_VERSION == 2);
const _: () = assert!(XL_BYTEORDER == 0x0102_0304);
const _: () = assert!(HVM_FILE_MAGIC == 0x5438_1286 && HVM_FILE_VERSION == 1);
const _: () = assert!(XENSTORE_STRING_MAX == 4096);

/// Xenstore refuses payloads larger than this (`XENSTORE_PAYLOAD_MAX`): the
/// limit of each string of EMULATOR_XENSTORE_DATA, which the engine holds
/// each string to.
pub(crate) const XENSTORE_STRING_MAX: usize = 4096;

/// Where a rule comes from.
///
/// ```
/// use stream_verify::{Rule, RuleSource};
/// assert_eq!(Rule::DuplicatePfn.source(), RuleSource::Spec);
/// assert_eq!(RuleSource::CRestorer.name(), "C restorer");
/// let upstream = Rule::ALL.iter().filter(|r| r.source() == RuleSource::Upstream).count();
/// assert!(upstream > 0 && upstream < Rule::ALL.len());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleSource {
    /// Xen's `verify-stream-v2` applies it.
    Upstream,
    /// The libxc/libxl stream specifications require it.
    Spec,
    /// The C restore paths (libxenguest, libxl, xl) enforce it.
    CRestorer,
}

impl RuleSource {
    /// How the source is written in documentation.
    pub fn name(self) -> &'static str {
        match self {
            RuleSource::Upstream => "upstream",
            RuleSource::Spec => "spec",
            RuleSource::CRestorer => "C restorer",
        }
    }
}

/// The first eight bytes of an input, shown in hexadecimal.
///
/// ```
/// use stream_verify::rules::FirstBytes;
/// assert_eq!(FirstBytes(*b"LibxlFmt").to_string(), "4c6962786c466d74");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstBytes(pub [u8; 8]);

impl fmt::Display for FirstBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// What the bytes where a header was expected look like instead. Shown as a
/// parenthesised hint after the message (nothing for [`Lookalike::Unknown`]).
///
/// ```
/// use stream_verify::{Breach, Format, rules::Lookalike, verify};
/// // An xl save file verified as a bare libxc stream.
/// let stream = std::fs::read("../../testdata/streams/xl-pv-v3.bin")?;
/// let report = verify(&stream[..], Format::Libxc, None);
/// let violation = report.error.unwrap();
/// let Breach::ImageMarker { hint, .. } = violation.kind() else { panic!("{violation}") };
/// assert_eq!(*hint, Lookalike::Header { format: Format::Xl, at_start: true });
/// assert!(violation.message().ends_with("verify the stream as format xl, or auto)"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lookalike {
    /// Nothing the verifier recognises.
    Unknown,
    /// A pre-Xen-4.6 save image (bytes 4–7 are those of a 64-bit p2m size
    /// or of a 32-bit PV extended-info marker).
    LegacyImage,
    /// The header of another layer.
    Header {
        /// The layer whose header the bytes are.
        format: Format,
        /// The bytes are the input's first, so the format given for the
        /// input is the likely mistake.
        at_start: bool,
    },
}

impl fmt::Display for Lookalike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, format) = match *self {
            Lookalike::Unknown => return Ok(()),
            Lookalike::LegacyImage => {
                return f.write_str(
                    " (it looks like a legacy pre-Xen-4.6 image: convert it with convert-legacy-stream)",
                );
            }
            Lookalike::Header { format, at_start } => {
                let (what, name) = match format {
                    Format::Xl => ("an xl save header", "xl"),
                    Format::Libxl => ("a libxl header", "libxl"),
                    Format::Libxc | Format::Auto => ("a libxc image header", "libxc"),
                };
                (what, at_start.then_some(name))
            }
        };
        match format {
            Some(name) => write!(
                f,
                " (these bytes are {what}: verify the stream as format {name}, or auto)"
            ),
            None => write!(f, " (these bytes are {what})"),
        }
    }
}

macro_rules! catalogue {
    ($(
        $(#[$rule_doc:meta])*
        $rule:ident = $id:literal, $source:ident, $missed:expr => {
            $( $form:ident $({ $($field:ident : $ty:ty),* $(,)? })? => $text:literal ),+ $(,)?
        }
    )*) => {
        /// One rule of the stream formats; see the module documentation.
        ///
        /// New rules are added over time (the enum is `#[non_exhaustive]`):
        /// match the rules you act on and keep a catch-all arm.
        ///
        /// ```
        /// use stream_verify::Rule;
        /// let rule = Rule::ALL.iter().find(|r| r.id() == "page-data.duplicate-pfn").unwrap();
        /// assert_eq!(*rule, Rule::DuplicatePfn);
        /// assert_eq!(rule.to_string(), "page-data.duplicate-pfn");
        /// assert_eq!(rule.templates().len(), 1);
        /// assert_eq!(rule.missed_item(), Some(12)); // migration-stream.md section 9
        /// assert_eq!(rule.source(), stream_verify::rules::RuleSource::Spec);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Rule {
            $(
                #[doc = concat!("`", $id, "`")]
                $rule,
            )*
        }

        impl Rule {
            /// Every rule, in catalogue order.
            pub const ALL: &'static [Rule] = &[$(Rule::$rule),*];

            /// The stable id, e.g. `page-data.duplicate-pfn`.
            pub fn id(self) -> &'static str {
                match self { $(Rule::$rule => $id),* }
            }

            /// Where the rule comes from.
            pub fn source(self) -> RuleSource {
                match self { $(Rule::$rule => RuleSource::$source),* }
            }

            /// The item of the reference's list of rules upstream misses
            /// (`migration-stream.md` §9) that this rule implements, if any.
            pub fn missed_item(self) -> Option<u8> {
                match self { $(Rule::$rule => $missed),* }
            }

            /// The format strings of the rule's messages (one per [`Breach`]
            /// form), as [`Breach::template`] gives them.
            pub fn templates(self) -> &'static [&'static str] {
                match self { $(Rule::$rule => &[$($text),+]),* }
            }
        }

        /// How a stream broke a rule: the rule's message form and the values
        /// that broke it. [`Breach::rule`] says which rule; `Display` gives
        /// the message.
        ///
        /// ```
        /// use stream_verify::{Breach, Format, Rule, verify};
        /// // A libxl header of version 7.
        /// let report = verify(&b"LibxlFmt\0\0\0\x07\0\0\0\0"[..], Format::Auto, None);
        /// let violation = report.error.unwrap();
        /// match violation.kind() {
        ///     Breach::LibxlVersion { version } => assert_eq!(*version, 7),
        ///     other => panic!("another breach: {other}"),
        /// }
        /// assert_eq!(violation.rule(), Rule::LibxlVersion);
        /// // The message is the form's template with the values put in.
        /// assert_eq!(violation.kind().template(), "Unknown image version: Expected 2, got {version}");
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Breach {
            $($(
                #[doc = concat!("[`Rule::", stringify!($rule), "`]: ", $text)]
                $form $({ $(
                    #[allow(missing_docs)]
                    $field: $ty
                ),* })?,
            )+)*
        }

        impl Breach {
            /// The rule broken.
            pub fn rule(&self) -> Rule {
                match self { $($(Breach::$form { .. } => Rule::$rule,)+)* }
            }

            /// The format string of this form's message (Rust `format!`
            /// syntax, the placeholders named after the fields).
            pub fn template(&self) -> &'static str {
                match self { $($(Breach::$form { .. } => $text,)+)* }
            }
        }

        impl fmt::Display for Breach {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($(
                        Breach::$form $({ $($field),* })? => write!(f, $text),
                    )+)*
                }
            }
        }
    };
}

catalogue! {
    // Input and framing.
    Truncated = "stream.truncated", Upstream, None => {
        Truncated { wanted: u64, at: u64 } => "Stream truncated: {wanted} more bytes expected at byte offset {at}",
    }
    UnknownFormat = "stream.format", Spec, None => {
        UnknownFormat { first: FirstBytes, hint: Lookalike } => "Unrecognised stream: first bytes {first} are neither an xl header, a libxl header nor a libxc image header{hint}",
    }
    TrailingData = "stream.trailing-data", Spec, Some(5) => {
        TrailingData { at: u64 } => "Trailing data after the final END record, from byte offset {at}",
    }
    Padding = "record.padding", Upstream, None => {
        Padding => "Padding containing non0 bytes found",
    }
    RecordTooLong = "record.length-max", CRestorer, Some(4) => {
        RecordTooLong { length: u32 } => "Record length {length} exceeds REC_LENGTH_MAX (134217728)",
    }
    UnknownRecord = "record.unknown", Upstream, Some(3) => {
        UnknownRecord { raw: u32 } => "Unrecognised record type 0x{raw:x}",
    }
    // xl header.
    XlMagic = "xl.magic", Upstream, None => {
        XlMagic { hint: Lookalike } => "No xl header{hint}",
    }
    XlByteOrder = "xl.byte-order", CRestorer, Some(24) => {
        XlByteOrder { byte_order: u32 } => "File has wrong byte order: byteorder field 0x{byte_order:08x}, expected 0x01020304 in little-endian order",
    }
    XlMandatoryFlags = "xl.mandatory-flags", CRestorer, Some(24) => {
        XlMandatoryFlags { unknown: u32, mandatory: u32 } => "Unknown mandatory flags 0x{unknown:x} in 0x{mandatory:x} (need newer xl)",
    }
    XlConfigLength = "xl.config-length", CRestorer, Some(24) => {
        XlConfigLengthMissing { optional_len: u32 } => "Savefile truncated: optional data of {optional_len} bytes cannot hold the config length",
        XlConfigLength { config_len: u32, optional_len: u32 } => "Savefile truncated: config of {config_len} bytes in optional data of {optional_len} bytes",
    }
    // libxc image and domain headers.
    ImageMarker = "image-header.marker", Upstream, None => {
        ImageMarker { marker: u64, hint: Lookalike } => "Bad image marker: Expected 0xffffffffffffffff, got 0x{marker:x}{hint}",
    }
    ImageId = "image-header.id", Upstream, None => {
        ImageId { id: u32 } => "Bad image id: Expected 0x58454e46, got 0x{id:x}",
    }
    ImageVersion = "image-header.version", Upstream, None => {
        ImageVersion { version: u32 } => "Unknown image version: Expected 2 <= ver <= 3, got {version}",
    }
    ImageOptions = "image-header.options", Upstream, None => {
        ImageOptions { reserved: u16 } => "Reserved bits set in image options field: 0x{reserved:x}",
    }
    ImageReserved = "image-header.reserved", Upstream, None => {
        ImageReserved { reserved1: u16, reserved2: u32 } => "Reserved bits set in image header: 0x{reserved1:04x}:0x{reserved2:08x}",
    }
    ImageEndian = "image-header.endianness", CRestorer, Some(1) => {
        ImageEndian => "Stream is not native endianess - unable to validate (big-endian flag set; x86 streams are little endian)",
    }
    DomainType = "domain-header.type", Upstream, None => {
        DomainType { domain_type: u32 } => "Unrecognised domain type 0x{domain_type:x}",
    }
    DomainReserved = "domain-header.reserved", Upstream, None => {
        DomainReserved { reserved: u16 } => "Reserved bits set in domain header 0x{reserved:04x}",
    }
    DomainPageShift = "domain-header.page-shift", Upstream, None => {
        DomainPageShift { page_shift: u16 } => "Page shift expected to be 12.  Got {page_shift}",
    }
    // libxc records, upstream's checks.
    EndLength = "end.length", Upstream, None => {
        EndLength => "End record with non-zero length",
    }
    PageDataShort = "page-data.min-length", Upstream, None => {
        PageDataShort => "PAGE_DATA record must be at least 8 bytes long",
    }
    PageDataReserved = "page-data.reserved", Upstream, None => {
        PageDataReserved { reserved: u32 } => "Reserved bits set in PAGE_DATA record 0x{reserved:04x}",
    }
    PageDataPfnArray = "page-data.pfn-array", Upstream, None => {
        PageDataPfnArray => "PAGE_DATA record must contain a pfn record for each count",
    }
    PageDataPfnReserved = "page-data.pfn-reserved", Upstream, None => {
        PageDataPfnReserved { index: u32, bits: u64 } => "Reserved bits set in pfn[{index}]: 0x{bits:016x}",
    }
    PageDataPfnType = "page-data.pfn-type", Upstream, None => {
        PageDataPfnType { index: u32, bits: u64 } => "Invalid type value in pfn[{index}]: 0x{bits:016x}",
    }
    PageDataLength = "page-data.length", Upstream, None => {
        PageDataLength { pfn_bytes: u64, page_bytes: u64, length: u32 } => "Expected 8 + {pfn_bytes} + {page_bytes}, got {length}",
    }
    PvInfoLength = "x86-pv-info.length", Upstream, None => {
        PvInfoLength { length: u32 } => "x86_pv_info: expected length of 8, got {length}",
    }
    PvInfoWidth = "x86-pv-info.width", Upstream, None => {
        PvInfoWidth { width: u8 } => "Expected width of 4 or 8, got {width}",
    }
    PvInfoLevels = "x86-pv-info.levels", Upstream, None => {
        PvInfoLevels { levels: u8 } => "Expected levels of 3 or 4, got {levels}",
    }
    PvInfoReserved = "x86-pv-info.reserved", Upstream, None => {
        PvInfoReserved { reserved1: u16, reserved2: u32 } => "Reserved bits set in X86_PV_INFO: 0x{reserved1:04x} 0x{reserved2:08x}",
    }
    P2mShort = "x86-pv-p2m-frames.min-length", Upstream, None => {
        P2mShort => "x86_pv_p2m_frames: record length must be at least 8 bytes long",
    }
    P2mMultiple = "x86-pv-p2m-frames.multiple", Upstream, None => {
        P2mMultiple { length: u32 } => "Length expected to be a multiple of 8, not {length}",
    }
    VcpuShort = "vcpu.min-length", Upstream, None => {
        VcpuShort { which: &'static str } => "X86_PV_VCPU_{which} record length must be at least 8 bytes long",
    }
    VcpuReserved = "vcpu.reserved", Upstream, None => {
        VcpuReserved { which: &'static str, reserved: u32 } => "Reserved bits set in x86_pv_vcpu_{which} record 0x{reserved:04x}",
    }
    SharedInfoLength = "shared-info.length", Upstream, None => {
        SharedInfoLength { length: u32 } => "Length expected to be 4906 bytes, not {length}",
    }
    TscLength = "x86-tsc-info.length", Upstream, None => {
        TscLength => "Length should be 24 bytes",
    }
    TscReserved = "x86-tsc-info.reserved", Upstream, None => {
        TscReserved { reserved: u32 } => "Reserved bits set in X86_TSC_INFO: 0x{reserved:08x}",
    }
    HvmContextEmpty = "hvm-context.empty", Upstream, None => {
        HvmContextEmpty => "Zero length HVM context",
    }
    HvmParamsShort = "hvm-params.min-length", Upstream, None => {
        HvmParamsShort => "Length should be at least 8 bytes",
    }
    HvmParamsReserved = "hvm-params.reserved", Upstream, None => {
        HvmParamsReserved { reserved: u32 } => "Reserved field not zero (0x{reserved:04x})",
    }
    HvmParamsLength = "hvm-params.length", Upstream, None => {
        HvmParamsLength { expected: u64 } => "Length should be {expected} bytes",
    }
    Toolstack = "toolstack.present", Upstream, Some(18) => {
        Toolstack => "Found Toolstack record in stream (deprecated: the spec says it must not be used)",
    }
    VerifyLength = "verify.length", Upstream, None => {
        VerifyLength => "Verify record with non-zero length",
    }
    CheckpointLength = "checkpoint.length", Upstream, None => {
        CheckpointLength => "Checkpoint record with non-zero length",
    }
    DirtyPfnList = "checkpoint-dirty-pfn-list.present", Upstream, None => {
        DirtyPfnList => "Found checkpoint dirty pfn list record in stream",
    }
    SdeInV2 = "static-data-end.v2", Upstream, None => {
        SdeInV2 => "Static data end record found in v2 stream",
    }
    SdeLength = "static-data-end.length", Upstream, None => {
        SdeLength => "End record with non-zero length",
    }
    CpuidInV2 = "x86-cpuid-policy.v2", Upstream, None => {
        CpuidInV2 => "x86 CPUID policy record found in v2 stream",
    }
    CpuidLength = "x86-cpuid-policy.length", Upstream, None => {
        CpuidLength { length: u32 } => "Record length {length}, expected multiple of 24",
    }
    MsrInV2 = "x86-msr-policy.v2", Upstream, None => {
        MsrInV2 => "x86 MSR policy record found in v2 stream",
    }
    MsrLength = "x86-msr-policy.length", Upstream, None => {
        MsrLength { length: u32 } => "Record length {length}, expected multiple of 16",
    }
    // libxc records, what upstream misses.
    DomainRecordMismatch = "domain-type.record", CRestorer, Some(6) => {
        DomainRecordMismatch { record: &'static str, domain: &'static str } => "Mandatory record {record} not handled for an {domain} domain",
    }
    PageTableInHvm = "domain-type.page-table", Spec, Some(12) => {
        PageTableInHvm { index: u32, raw: u64 } => "Page-table page type in pfn[{index}] (0x{raw:016x}) of an HVM stream",
    }
    SdeMissing = "static-data-end.missing", CRestorer, Some(7) => {
        SdeMissing => "No STATIC_DATA_END seen: a v3 stream must end its static data before memory, registers or END",
    }
    SdeDuplicate = "static-data-end.duplicate", CRestorer, Some(7) => {
        SdeDuplicate => "Multiple STATIC_DATA_END records found",
    }
    PolicyAfterSde = "policy.after-static-data-end", Spec, Some(7) => {
        PolicyAfterSde { record: &'static str } => "{record} record after STATIC_DATA_END: static data must come before it",
    }
    CpuidOrder = "x86-cpuid-policy.order", Spec, Some(15) => {
        CpuidOrder { leaf: u32, subleaf: u32, previous_leaf: u32, previous_subleaf: u32 } => "CPUID leaf {leaf:08x}:{subleaf:08x} not after {previous_leaf:08x}:{previous_subleaf:08x} (entries must be sorted and unique)",
    }
    CpuidSubleaf = "x86-cpuid-policy.subleaf", Spec, Some(15) => {
        CpuidSubleaf { leaf: u32 } => "CPUID leaf {leaf:08x} has both XEN_CPUID_NO_SUBLEAF and numbered subleaves",
    }
    MsrFlags = "x86-msr-policy.flags", Spec, Some(15) => {
        MsrFlags { index: u32, flags: u32 } => "MSR {index:08x}: flags 0x{flags:x} are reserved and must be zero",
    }
    MsrOrder = "x86-msr-policy.order", Spec, Some(15) => {
        MsrOrder { index: u32, previous: u32 } => "MSR {index:08x} not after {previous:08x} (entries must be sorted and unique)",
    }
    PvInfoFirst = "x86-pv-info.first", CRestorer, Some(8) => {
        PvInfoFirst { found: String } => "Not yet received X86_PV_INFO record: a PV stream starts with it, found {found}",
    }
    PvInfoDuplicate = "x86-pv-info.duplicate", CRestorer, Some(8) => {
        PvInfoDuplicate => "Already received X86_PV_INFO record",
    }
    PvInfoPair = "x86-pv-info.pair", CRestorer, Some(9) => {
        PvInfoPair { width: u8, levels: u8 } => "Guest width {width} with {levels} levels of pagetables (expected 4 with 3, or 8 with 4)",
    }
    P2mRange = "x86-pv-p2m-frames.range", CRestorer, Some(10) => {
        P2mRange { start: u32, end: u32 } => "Start pfn in stream (0x{start:x}) exceeds End (0x{end:x})",
    }
    P2mLength = "x86-pv-p2m-frames.length", CRestorer, Some(10) => {
        P2mLength { length: u32, expected: u64, start: u32, end: u32 } => "X86_PV_P2M_FRAMES length {length}, expected {expected} for pfns 0x{start:x}..0x{end:x}",
    }
    P2mBeforePages = "x86-pv-p2m-frames.before-page-data", Spec, Some(8) => {
        P2mBeforePages => "PAGE_DATA before X86_PV_P2M_FRAMES in a PV stream: the pfn limit is not known yet",
    }
    PfnBeyondP2m = "page-data.pfn-beyond-p2m", CRestorer, Some(12) => {
        PfnBeyondP2m { index: u32, pfn: u64, end: u64 } => "pfn[{index}] 0x{pfn:x} beyond the P2M's end pfn 0x{end:x}",
    }
    DuplicatePfn = "page-data.duplicate-pfn", Spec, Some(12) => {
        DuplicatePfn { pfn: u64, first: u32, second: u32 } => "Duplicate pfn 0x{pfn:x} in PAGE_DATA (pfn[{first}] and pfn[{second}])",
    }
    VcpuBasicSize = "vcpu.basic-size", CRestorer, Some(11) => {
        VcpuBasicSize { context: u64, expected: u64, bits: u32 } => "X86_PV_VCPU_BASIC context of {context} bytes, expected {expected} for a {bits}-bit guest",
    }
    VcpuExtendedSize = "vcpu.extended-size", CRestorer, Some(11) => {
        VcpuExtendedSize { context: u64 } => "X86_PV_VCPU_EXTENDED context of {context} bytes, at most 128 allowed",
    }
    VcpuXsaveSize = "vcpu.xsave-size", CRestorer, Some(11) => {
        VcpuXsaveSize { context: u64 } => "X86_PV_VCPU_XSAVE context of {context} bytes, at least 16 required",
    }
    VcpuMsrsSize = "vcpu.msrs-size", CRestorer, Some(11) => {
        VcpuMsrsSize { context: u64 } => "X86_PV_VCPU_MSRS context of {context} bytes, not a multiple of 16",
    }
    VcpuBeforePageData = "vcpu.before-page-data", Spec, Some(8) => {
        VcpuBeforePageData => "PAGE_DATA after an X86_PV_VCPU record: the spec orders X86_PV_INFO, X86_PV_P2M_FRAMES, PAGE_DATA, then vCPU records",
    }
    Vcpu0Basic = "vcpu.vcpu0-basic", CRestorer, Some(11) => {
        Vcpu0Basic => "Sender didn't send vcpu0's basic state",
    }
    HvmParamsDuplicate = "hvm-params.duplicate", Spec, Some(13) => {
        HvmParamsDuplicate { name: &'static str, index: u64 } => "HVM param {name} ({index}) appears twice in one record",
    }
    HvmParamsUnknown = "hvm-params.unknown", CRestorer, Some(13) => {
        HvmParamsUnknown { index: u64 } => "Unknown HVM param index {index}: no saver writes it",
    }
    HvmContextHeader = "hvm-context.header", Spec, Some(14) => {
        HvmContextHeader { code: u16, length: u64, position: u64 } => "HVM context must start with a HEADER descriptor (magic 0x54381286, version 1) and have only one: found typecode {code} of length {length} at byte {position}",
        HvmContextHeaderMagic { magic: u32, version: u32 } => "HVM context HEADER has magic 0x{magic:08x} version {version}, expected magic 0x54381286 version 1",
    }
    HvmContextDescriptor = "hvm-context.descriptor", Spec, Some(14) => {
        HvmContextDescriptorCut { position: u64, left: u64 } => "HVM context descriptor at byte {position} does not fit: only {left} bytes left",
        HvmContextDescriptor { code: u16, length: u64, position: u64, left: u64 } => "HVM context descriptor (typecode {code}, length {length}) at byte {position} does not fit: only {left} bytes left",
        HvmContextDescriptorCode { code: u16, length: u64, position: u64 } => "HVM context descriptor (typecode {code}, length {length}) at byte {position} has an unknown typecode (at most 20)",
    }
    HvmContextEnd = "hvm-context.end", Spec, Some(14) => {
        HvmContextEndMissing => "HVM context must end with an END descriptor and nothing after it: no END descriptor",
        HvmContextEnd { position: u64, length: u64, after: u64 } => "HVM context must end with an END descriptor and nothing after it: END at byte {position} has length {length} and {after} bytes follow it",
    }
    CheckpointBare = "checkpoint.not-checkpointed", CRestorer, Some(16) => {
        CheckpointBare => "Found checkpoint in non-checkpointed stream: a bare libxc stream cannot hand control back to libxl",
    }
    // libxl layer.
    LibxlIdent = "libxl-header.ident", Upstream, None => {
        LibxlIdent { ident: u64, hint: Lookalike } => "Bad image id: Expected 0x4c6962786c466d74, got 0x{ident:x}{hint}",
    }
    LibxlVersion = "libxl-header.version", Upstream, None => {
        LibxlVersion { version: u32 } => "Unknown image version: Expected 2, got {version}",
    }
    LibxlOptions = "libxl-header.options", Upstream, Some(2) => {
        LibxlOptions { reserved: u32 } => "Reserved bits set in image options field: 0x{reserved:x}",
    }
    LibxlEndian = "libxl-header.endianness", CRestorer, Some(1) => {
        LibxlEndian => "Stream is not native endianess - unable to validate (big-endian flag set; x86 streams are little endian)",
    }
    LibxlUnknownRecord = "libxl.record-unknown", Upstream, None => {
        LibxlUnknownRecord { raw: u32 } => "Unrecognised record type {raw:x}",
    }
    LibxlEndLength = "libxl.end-length", Upstream, None => {
        LibxlEndLength => "End record with non-zero length",
    }
    LibxcContextLength = "libxl.libxc-context-length", Upstream, None => {
        LibxcContextLength => "Libxc context record with non-zero length",
    }
    LibxcContextOnce = "libxl.libxc-context-once", CRestorer, Some(21) => {
        LibxcContextMissing => "LIBXC_CONTEXT must appear exactly once (none before END)",
        LibxcContextRepeated => "LIBXC_CONTEXT must appear exactly once (this is the second)",
    }
    EmulatorShort = "libxl.emulator-length", Upstream, None => {
        EmulatorShort { length: u32 } => "Length must be at least 8 bytes, got {length}",
    }
    EmulatorId = "libxl.emulator-id", Upstream, Some(22) => {
        EmulatorId { id: u32 } => "Unrecognised emulator id 0x{id:x}",
    }
    EmulatorNotHvm = "libxl.emulator-not-hvm", CRestorer, Some(21) => {
        EmulatorNotHvm => "Received a xenstore emulator record when none was expected: the libxc domain header says x86 PV",
    }
    XenstoreNul = "libxl.xenstore-nul", Upstream, Some(20) => {
        XenstoreNul => "Data not NUL terminated",
    }
    XenstorePairs = "libxl.xenstore-pairs", Upstream, Some(20) => {
        XenstorePairs { strings: u64 } => "Expected an even number of strings, got {strings}",
    }
    XenstoreKey = "libxl.xenstore-key", Spec, Some(20) => {
        XenstoreKey { key: String } => "Xenstore key '{key}' is empty or uses characters outside alphanumerics and -/_@",
    }
    XenstoreTooLong = "libxl.xenstore-string-length", CRestorer, Some(20) => {
        XenstoreTooLong { what: &'static str } => "Xenstore {what} of more than 4096 bytes exceeds xenstore's limit of 4096",
    }
    CheckpointEndLength = "libxl.checkpoint-end-length", Upstream, None => {
        CheckpointEndLength => "Checkpoint end record with non-zero length",
    }
    CheckpointEndUnexpected = "libxl.checkpoint-end-unexpected", CRestorer, Some(21) => {
        CheckpointEndUnexpected => "Unexpected CHECKPOINT_END record in stream: no libxc CHECKPOINT precedes it",
    }
    CheckpointStateEmpty = "libxl.checkpoint-state-empty", Upstream, None => {
        CheckpointStateEmpty => "Checkpoint state record with zero length",
    }
    CheckpointStateLength = "libxl.checkpoint-state-length", Spec, Some(21) => {
        CheckpointStateLength { length: u32 } => "CHECKPOINT_STATE length {length}, expected 4",
    }
    CheckpointStateId = "libxl.checkpoint-state-id", Spec, Some(21) => {
        CheckpointStateId { id: u32 } => "CHECKPOINT_STATE control id {id}, expected 0..3",
    }
    CheckpointStateUnexpected = "libxl.checkpoint-state-unexpected", CRestorer, Some(19) => {
        CheckpointStateUnexpected => "Unexpected CHECKPOINT_STATE record in stream (it belongs on the COLO back channel)",
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// A message template as the docs show it: `{name}` for each placeholder,
/// without its format spec (`0x{pfn:x}` becomes `0x{pfn}`).
pub(crate) fn template_for_docs(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let (mut in_placeholder, mut in_spec) = (false, false);
    for c in template.chars() {
        match c {
            '{' => in_placeholder = true,
            '}' => (in_placeholder, in_spec) = (false, false),
            ':' if in_placeholder => in_spec = true,
            _ => {}
        }
        if !in_spec {
            out.push(c);
        }
    }
    out
}

/// The rule catalogue as a Markdown page (`docs/verify-rules.md` is generated from it).
///
/// ```
/// let page = stream_verify::rules::catalogue_markdown();
/// assert!(page.starts_with("# verify-stream-v2 rules\n"));
/// assert!(page.contains("page-data.duplicate-pfn"));
/// ```
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# verify-stream-v2 rules\n\n\
         Generated from `crates/stream-verify/src/rules.rs` by `cargo xtask gen-testdata`; do not edit.\n\n\
         Every check `verify-stream-v2` makes, with its id (shown in error messages and in `--json`),\n\
         where it comes from, and its messages. *upstream* rules are the ones Xen's Python verifier applies and\n\
         keep its message text; *spec* and *C restorer* rules are the ones it misses (the §9 item number of\n\
         `migration-stream.md` is given). An *upstream* rule with a §9 number is one upstream applies\n\
         wrongly or too narrowly (optional records, the libxl options mask, TOOLSTACK's exit code, the\n\
         xenstore data); it is applied here as that item says. Each rule has a test stream in\n\
         `testdata/verify/` that breaks exactly that rule (one per message where a rule has several),\n\
         and a test checks that each message below is the one the tool prints for it.\n\n\
         A message is shown as its template: `{name}` is a value from the stream. `{hint}` is empty, or\n\
         says in parentheses what the bytes are instead of the header expected (another layer's header,\n\
         with the format to verify the stream as when they are the input's first bytes; or a legacy\n\
         pre-Xen-4.6 image).\n\n\
         | id | source | §9 | message |\n|---|---|---|---|\n",
    );
    for rule in Rule::ALL {
        let item = rule
            .missed_item()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let messages: Vec<String> = rule
            .templates()
            .iter()
            .map(|t| template_for_docs(t).replace('|', "\\|"))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            rule.id(),
            rule.source().name(),
            item,
            messages.join("<br>")
        ));
    }
    out.push_str(
        "\nNot errors but warnings (reported, exit 0): empty HVM_PARAMS and vCPU records (Xen 4.6–4.8 wrote them),\n\
         optional records (bit 31 of the type; ignored as the spec allows), PAGE_DATA with more than 1024 pfns\n\
         (and, above 131,072 pfns, unchecked for duplicates), emulator index not 0, emulator id 1 (qemu-traditional, dropped by the\n\
         writer in Xen 4.21), emulator id 0 outside a legacy-converted stream, non-ASCII xenstore values, and a\n\
         checkpointed stream that ends after a complete round without END. A converted legacy HVM stream in libxc\n\
         format carries the raw qemu record (`DeviceModelRecord0002`) after END: it is recognised and reported,\n\
         not called trailing data.\n\n\
         Two §9 items have no rule: 17 (the records after VERIFY should re-send all of memory; checking that\n\
         needs memory in proportion to the guest, and the verifier's is constant) and 23 (summary statistics:\n\
         that is the `--json` report, not a rule).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_for_docs_as_its_docs_said() {
        use crate::rules::template_for_docs;
        assert_eq!(
            template_for_docs("Duplicate pfn 0x{pfn:x}"),
            "Duplicate pfn 0x{pfn}"
        );
    }
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for rule in Rule::ALL {
            assert!(seen.insert(rule.id()), "duplicate id {}", rule.id());
            assert!(
                rule.id().bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'.'),
                "{}",
                rule.id()
            );
        }
    }

    #[test]
    fn rules_upstream_misses_name_their_reference_item() {
        for rule in Rule::ALL {
            // Format detection is ours: upstream makes the user name the format.
            if rule.source() != RuleSource::Upstream && *rule != Rule::UnknownFormat {
                assert!(
                    rule.missed_item().is_some(),
                    "{} lacks its §9 item",
                    rule.id()
                );
            }
        }
    }

    #[test]
    fn docs_templates_drop_format_specs_only() {
        assert_eq!(
            template_for_docs("MSR {index:08x}: flags 0x{flags:x} in {n}"),
            "MSR {index}: flags 0x{flags} in {n}"
        );
        assert_eq!(template_for_docs("no placeholders"), "no placeholders");
    }

    #[test]
    fn hints_say_what_the_bytes_are() {
        let xl = Lookalike::Header {
            format: Format::Xl,
            at_start: true,
        };
        assert_eq!(
            xl.to_string(),
            " (these bytes are an xl save header: verify the stream as format xl, or auto)"
        );
        let libxl = Lookalike::Header {
            format: Format::Libxl,
            at_start: false,
        };
        assert_eq!(libxl.to_string(), " (these bytes are a libxl header)");
        assert_eq!(Lookalike::Unknown.to_string(), "");
    }
}

//! Type codes as open values, and the format's constants.
//!
//! Every type code read from a stream is a newtype over its number. Known
//! numbers have associated constants and names; any other number is kept as
//! is, so a record of a type this crate has never heard of still travels
//! through the reader and writer unchanged (the verifier decides whether it is
//! acceptable).
//!
//! ```
//! use migration_stream::types::RecordType;
//!
//! assert_eq!(RecordType::PAGE_DATA.name(), Some("PAGE_DATA"));
//! assert_eq!(RecordType(0x11).display_name(), Some("x86 CPUID policy"));
//! let unknown = RecordType(0x8000_0001);
//! assert!(unknown.is_optional());
//! assert_eq!(unknown.name(), None);
//! assert_eq!(unknown.to_string(), "unknown optional record type 0x80000001");
//! ```

use core::fmt;

/// Largest libxc record body the C implementation reads or writes: 128 MiB.
pub const REC_LENGTH_MAX: u32 = 128 << 20;
/// Page size of every supported guest (bytes).
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`], the only `page_shift` a domain header may carry.
pub const PAGE_SHIFT: u16 = 12;
/// Most pfns the C saver puts in one PAGE_DATA record.
pub const MAX_BATCH: usize = 1024;
/// Record bodies and records are padded to a multiple of this many bytes.
pub const RECORD_ALIGN: u64 = 8;

/// First 8 bytes of a libxc v2+ stream (no legacy image starts with them).
pub const IMAGE_MARKER: u64 = 0xFFFF_FFFF_FFFF_FFFF;
/// `"XENF"`: the libxc image header id.
pub const IMAGE_ID: u32 = 0x5845_4E46;
/// Oldest libxc stream version the reader accepts.
pub const IMAGE_VERSION_MIN: u32 = 2;
/// Newest libxc stream version the reader accepts.
pub const IMAGE_VERSION_MAX: u32 = 3;
/// `"LibxlFmt"`: the libxl header ident.
pub const LIBXL_IDENT: u64 = 0x4c69_6278_6c46_6d74;
/// The only libxl stream version.
pub const LIBXL_VERSION: u32 = 2;
/// The xl save file magic: 32 bytes, no terminating NUL.
pub const XL_MAGIC: &[u8; 32] = b"Xen saved domain, xl format\n \0 \r";
/// The xl header's byte order mark, written in the writer's native order.
pub const XL_BYTEORDER: u32 = 0x0102_0304;
/// Largest xl optional data (config) this crate reads: 16 MiB. Real configs
/// are a few KiB; the bound keeps an untrusted length from sizing an allocation.
pub const XL_OPTIONAL_DATA_MAX: u32 = 16 << 20;
/// `HVM_FILE_MAGIC`: first field of the HVM context HEADER entry.
pub const HVM_FILE_MAGIC: u32 = 0x5438_1286;
/// `HVM_FILE_VERSION`.
pub const HVM_FILE_VERSION: u32 = 1;
/// `XEN_CPUID_NO_SUBLEAF`: subleaf of CPUID policy leaves without subleaves.
pub const XEN_CPUID_NO_SUBLEAF: u32 = 0xffff_ffff;

/// Bit 31 of a record type: the record is optional and may be ignored.
pub const RECORD_OPTIONAL_BIT: u32 = 0x8000_0000;

macro_rules! open_value {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $value:expr, $display:expr; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($value); )*

            /// Every named value, in numeric order of definition.
            pub const ALL: &'static [$name] = &[$($name::$konst),*];

            /// The upstream (C/spec) name, or `None` for a number without one.
            ///
            #[doc = concat!(
                "```\n",
                "use migration_stream::types::", stringify!($name), ";\n",
                "let named = ", stringify!($name), "::ALL[0];\n",
                "let name = named.name().unwrap();\n",
                "// A name belongs to one value.\n",
                "assert_eq!(", stringify!($name), "::ALL.iter().filter(|v| v.name() == Some(name)).count(), 1);\n",
                "assert_eq!(", stringify!($name), "(<", stringify!($repr), ">::MAX).name(), None);\n",
                "```"
            )]
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$konst => Some(stringify!($konst)), )*
                    _ => None,
                }
            }

            /// The name upstream's Python tools print, or `None` for an unknown number.
            ///
            #[doc = concat!(
                "```\n",
                "use migration_stream::types::", stringify!($name), ";\n",
                "assert!(", stringify!($name), "::ALL.iter().all(|v| v.display_name().is_some()));\n",
                "assert_eq!(", stringify!($name), "(<", stringify!($repr), ">::MAX).display_name(), None);\n",
                "```"
            )]
            pub fn display_name(self) -> Option<&'static str> {
                match self {
                    $( $name::$konst => Some($display), )*
                    _ => None,
                }
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                $name(value)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

open_value! {
    /// A libxc record type (open: any `u32` is representable).
    ///
    /// ```
    /// use migration_stream::types::RecordType;
    /// assert_eq!(RecordType::PAGE_DATA.name(), Some("PAGE_DATA"));
    /// assert_eq!(RecordType::PAGE_DATA.display_name(), Some("Page data")); // as Xen's tools print it
    /// let future = RecordType(0x8000_0042); // a number Xen may define later
    /// assert!(future.is_optional() && future.name().is_none());
    /// assert_eq!(future.to_string(), "unknown optional record type 0x80000042");
    /// ```
    RecordType(u32) {
        /// End of the stream.
        END = 0x00, "End";
        /// Guest memory pages.
        PAGE_DATA = 0x01, "Page data";
        /// PV guest width and page-table levels.
        X86_PV_INFO = 0x02, "x86 PV info";
        /// Frames of a PV guest's P2M table.
        X86_PV_P2M_FRAMES = 0x03, "x86 PV P2M frames";
        /// PV vCPU basic context.
        X86_PV_VCPU_BASIC = 0x04, "x86 PV vcpu basic";
        /// PV vCPU extended context.
        X86_PV_VCPU_EXTENDED = 0x05, "x86 PV vcpu extended";
        /// PV vCPU xsave state.
        X86_PV_VCPU_XSAVE = 0x06, "x86 PV vcpu xsave";
        /// The shared info page.
        SHARED_INFO = 0x07, "Shared info";
        /// TSC mode and frequency.
        X86_TSC_INFO = 0x08, "TSC info";
        /// The HVM context blob.
        HVM_CONTEXT = 0x09, "HVM context";
        /// HVM parameters.
        HVM_PARAMS = 0x0A, "HVM params";
        /// Deprecated toolstack blob.
        TOOLSTACK = 0x0B, "Toolstack";
        /// PV vCPU MSRs.
        X86_PV_VCPU_MSRS = 0x0C, "x86 PV vcpu msrs";
        /// Memory is re-sent for debugging after this record.
        VERIFY = 0x0D, "Verify";
        /// End of one checkpoint round (Remus/COLO).
        CHECKPOINT = 0x0E, "Checkpoint";
        /// Dirty pfns, COLO back channel only.
        CHECKPOINT_DIRTY_PFN_LIST = 0x0F, "Checkpoint dirty pfn list";
        /// End of static data (v3).
        STATIC_DATA_END = 0x10, "Static data end";
        /// CPUID policy (v3).
        X86_CPUID_POLICY = 0x11, "x86 CPUID policy";
        /// MSR policy (v3).
        X86_MSR_POLICY = 0x12, "x86 MSR policy";
    }
}

impl RecordType {
    /// Whether bit 31 marks this record as optional.
    pub fn is_optional(self) -> bool {
        self.0 & RECORD_OPTIONAL_BIT != 0
    }
}

impl fmt::Display for RecordType {
    /// The upstream name, or `unknown [optional ]record type 0x…` for other numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None if self.is_optional() => {
                write!(f, "unknown optional record type {:#010x}", self.0)
            }
            None => write!(f, "unknown record type {:#010x}", self.0),
        }
    }
}

open_value! {
    /// A libxl record type (open: any `u32` is representable).
    ///
    /// ```
    /// use migration_stream::types::LibxlRecordType;
    /// assert_eq!(LibxlRecordType(1), LibxlRecordType::LIBXC_CONTEXT);
    /// assert_eq!(LibxlRecordType::EMULATOR_CONTEXT.display_name(), Some("Emulator context"));
    /// assert_eq!(LibxlRecordType(9).to_string(), "unknown libxl record type 0x00000009");
    /// ```
    LibxlRecordType(u32) {
        /// End of the libxl stream.
        END = 0, "End";
        /// A libxc stream follows inline.
        LIBXC_CONTEXT = 1, "Libxc context";
        /// Device model xenstore keys.
        EMULATOR_XENSTORE_DATA = 2, "Emulator xenstore data";
        /// Device model state blob.
        EMULATOR_CONTEXT = 3, "Emulator context";
        /// End of the libxl part of a checkpoint round.
        CHECKPOINT_END = 4, "Checkpoint end";
        /// COLO checkpoint control message.
        CHECKPOINT_STATE = 5, "Checkpoint state";
    }
}

impl LibxlRecordType {
    /// Whether bit 31 marks this record as optional.
    ///
    /// ```
    /// use migration_stream::types::LibxlRecordType;
    /// assert!(!LibxlRecordType::EMULATOR_CONTEXT.is_optional());
    /// assert!(LibxlRecordType(0x8000_0007).is_optional());
    /// ```
    pub fn is_optional(self) -> bool {
        self.0 & RECORD_OPTIONAL_BIT != 0
    }
}

impl fmt::Display for LibxlRecordType {
    /// The upstream name, or `unknown libxl record type 0x…` for other numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown libxl record type {:#010x}", self.0),
        }
    }
}

open_value! {
    /// The guest type of a libxc domain header.
    ///
    /// ```
    /// use migration_stream::types::DomainType;
    /// assert_eq!(DomainType::X86_HVM.to_string(), "x86 HVM");
    /// assert_eq!(DomainType(3).to_string(), "unknown domain type 0x3"); // ARM, say
    /// ```
    DomainType(u32) {
        /// x86 paravirtualised guest.
        X86_PV = 1, "x86 PV";
        /// x86 hardware virtualised guest.
        X86_HVM = 2, "x86 HVM";
    }
}

impl fmt::Display for DomainType {
    /// The display name, or `unknown domain type 0x…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.display_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown domain type {:#x}", self.0),
        }
    }
}

open_value! {
    /// A page type (`XEN_DOMCTL_PFINFO_*` >> 28), the top nibble of a PAGE_DATA pfn entry.
    ///
    /// ```
    /// use migration_stream::types::{PageType, PfnEntry};
    /// let entry = PfnEntry::from_raw(0x9000_0000_0000_0010);
    /// assert_eq!(entry.page_type, PageType::L1TAB_PINNED);
    /// assert_eq!(entry.page_type.display_name(), Some("pinned L1 table"));
    /// assert!(entry.page_type.is_page_table() && entry.page_type.has_data());
    /// assert!(entry.page_type.is_valid() && !PageType(0x5).is_valid());
    /// ```
    PageType(u8) {
        /// Normal page.
        NOTAB = 0x0, "normal";
        /// L1 page table.
        L1TAB = 0x1, "L1 table";
        /// L2 page table.
        L2TAB = 0x2, "L2 table";
        /// L3 page table.
        L3TAB = 0x3, "L3 table";
        /// L4 page table.
        L4TAB = 0x4, "L4 table";
        /// Pinned L1 page table.
        L1TAB_PINNED = 0x9, "pinned L1 table";
        /// Pinned L2 page table.
        L2TAB_PINNED = 0xA, "pinned L2 table";
        /// Pinned L3 page table.
        L3TAB_PINNED = 0xB, "pinned L3 table";
        /// Pinned L4 page table.
        L4TAB_PINNED = 0xC, "pinned L4 table";
        /// Broken page, no data.
        BROKEN = 0xD, "broken";
        /// Allocate only, no data.
        XALLOC = 0xE, "allocate only";
        /// Invalid page, no data.
        XTAB = 0xF, "invalid";
    }
}

/// The "pinned" bit of a page type (`XEN_DOMCTL_PFINFO_LPINTAB >> 28`).
pub const PAGE_TYPE_PINNED: u8 = 0x8;

impl PageType {
    /// Whether 4096 bytes of page data follow in the record for a pfn of this
    /// type: the defined types whose low three bits are 0–4 (normal and page
    /// table pages). The invalid types 0x5–0x8 carry none.
    ///
    /// ```
    /// use migration_stream::types::PageType;
    /// assert!(PageType::L2TAB_PINNED.has_data());
    /// assert!(!PageType::XTAB.has_data());
    /// ```
    pub fn has_data(self) -> bool {
        self.is_valid() && (self.0 & 7) <= 4
    }

    /// Whether the type is defined (0x5–0x8 are invalid).
    pub fn is_valid(self) -> bool {
        self.name().is_some()
    }

    /// Whether this is a page-table type (L1–L4, pinned or not): PV only.
    pub fn is_page_table(self) -> bool {
        self.is_valid() && self.has_data() && self != PageType::NOTAB
    }
}

/// Bit position of the page type within a PAGE_DATA pfn entry.
pub const PFN_TYPE_SHIFT: u32 = 60;
/// Bits 59–52 of a PAGE_DATA pfn entry: reserved, must be zero.
pub const PFN_RESERVED_MASK: u64 = 0x0FF0_0000_0000_0000;
/// Bits 51–0 of a PAGE_DATA pfn entry: the pfn.
pub const PFN_MASK: u64 = 0x000F_FFFF_FFFF_FFFF;

/// One decoded PAGE_DATA pfn entry.
///
/// ```
/// use migration_stream::types::{PageType, PfnEntry};
/// let entry = PfnEntry::new(0x1234, PageType::L1TAB);
/// assert_eq!(entry.to_raw(), 0x1000_0000_0000_1234);
/// assert_eq!(PfnEntry::from_raw(0x1000_0000_0000_1234), entry);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PfnEntry {
    /// The guest pfn (bits 51–0).
    pub pfn: u64,
    /// The page type (bits 63–60).
    pub page_type: PageType,
    /// Bits 59–52, which must be zero (kept so a checker can report them).
    pub reserved: u8,
}

impl PfnEntry {
    /// An entry with reserved bits zero. Bits of `pfn` above bit 51 are dropped.
    pub fn new(pfn: u64, page_type: PageType) -> Self {
        PfnEntry {
            pfn: pfn & PFN_MASK,
            page_type,
            reserved: 0,
        }
    }

    /// Decodes a raw entry as stored in a PAGE_DATA record.
    pub fn from_raw(raw: u64) -> Self {
        PfnEntry {
            pfn: raw & PFN_MASK,
            page_type: PageType((raw >> PFN_TYPE_SHIFT) as u8),
            reserved: ((raw & PFN_RESERVED_MASK) >> 52) as u8,
        }
    }

    /// Encodes the entry as stored in a PAGE_DATA record.
    pub fn to_raw(self) -> u64 {
        (u64::from(self.page_type.0 & 0xF) << PFN_TYPE_SHIFT)
            | (u64::from(self.reserved) << 52)
            | (self.pfn & PFN_MASK)
    }
}

open_value! {
    /// An HVM parameter index (`HVM_PARAM_*`) as carried in HVM_PARAMS.
    ///
    /// ```
    /// use migration_stream::types::HvmParam;
    /// assert_eq!(HvmParam(1), HvmParam::STORE_PFN);
    /// assert_eq!(HvmParam::STORE_PFN.name(), Some("STORE_PFN"));
    /// assert!(HvmParam::ALL.contains(&HvmParam::IDENT_PT));
    /// ```
    HvmParam(u64) {
        /// Xenstore ring pfn.
        STORE_PFN = 1, "store pfn";
        /// PAE enabled (discarded on restore).
        PAE_ENABLED = 4, "PAE enabled";
        /// Synchronous ioreq page pfn.
        IOREQ_PFN = 5, "ioreq pfn";
        /// Buffered ioreq page pfn.
        BUFIOREQ_PFN = 6, "buffered ioreq pfn";
        /// Viridian (Hyper-V enlightenment) flags.
        VIRIDIAN = 9, "viridian";
        /// EPT identity page table address.
        IDENT_PT = 12, "identity page table";
        /// VM86 TSS address (legacy form).
        VM86_TSS = 15, "VM86 TSS";
        /// Console ring pfn.
        CONSOLE_PFN = 17, "console pfn";
        /// ACPI I/O port location.
        ACPI_IOPORTS_LOCATION = 19, "ACPI ioports location";
        /// Paging ring pfn.
        PAGING_RING_PFN = 27, "paging ring pfn";
        /// Monitor (access) ring pfn.
        MONITOR_RING_PFN = 28, "monitor ring pfn";
        /// Sharing ring pfn.
        SHARING_RING_PFN = 29, "sharing ring pfn";
        /// First ioreq server pfn.
        IOREQ_SERVER_PFN = 32, "ioreq server pfn";
        /// Number of ioreq server pages.
        NR_IOREQ_SERVER_PAGES = 33, "ioreq server pages";
        /// VM generation id address.
        VM_GENERATION_ID_ADDR = 34, "VM generation id address";
        /// x87 FIP width.
        X87_FIP_WIDTH = 36, "x87 FIP width";
        /// VM86 TSS address and size.
        VM86_TSS_SIZED = 37, "VM86 TSS sized";
        /// Machine-check capabilities.
        MCA_CAP = 38, "MCA capabilities";
    }
}

impl fmt::Display for HvmParam {
    /// `NAME` or `unknown HVM param N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown HVM param {}", self.0),
        }
    }
}

open_value! {
    /// The device model of a libxl EMULATOR_* record.
    ///
    /// ```
    /// use migration_stream::types::EmulatorId;
    /// assert_eq!(EmulatorId::QEMU_UPSTREAM, EmulatorId(2));
    /// assert_eq!(EmulatorId::QEMU_UPSTREAM.name(), Some("QEMU_UPSTREAM"));
    /// assert_eq!(EmulatorId::QEMU_UPSTREAM.to_string(), "Qemu Upstream");
    /// assert_eq!(EmulatorId(7).to_string(), "unknown emulator 0x7"); // an open value
    /// assert_eq!(EmulatorId::ALL.len(), 3);
    /// ```
    EmulatorId(u32) {
        /// Unknown (legacy-converted stream).
        UNKNOWN = 0, "Unknown";
        /// qemu-traditional (no longer written since Xen 4.21, still defined).
        QEMU_TRADITIONAL = 1, "Qemu Traditional";
        /// Upstream QEMU.
        QEMU_UPSTREAM = 2, "Qemu Upstream";
    }
}

impl fmt::Display for EmulatorId {
    /// The display name, or `unknown emulator 0x…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.display_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown emulator {:#x}", self.0),
        }
    }
}

open_value! {
    /// The control id of a COLO CHECKPOINT_STATE record.
    ///
    /// ```
    /// use migration_stream::types::CheckpointControlId;
    /// let id = CheckpointControlId::from(3);
    /// assert_eq!(id, CheckpointControlId::SVM_RESUMED);
    /// assert_eq!(id.display_name(), Some("secondary resumed"));
    /// assert_eq!(u32::from(CheckpointControlId::CHECKPOINT_NEW), 0);
    /// assert_eq!(CheckpointControlId(9).name(), None);
    /// ```
    CheckpointControlId(u32) {
        /// Primary → secondary: start a new checkpoint.
        CHECKPOINT_NEW = 0, "new checkpoint";
        /// Secondary → primary: secondary VM suspended.
        SVM_SUSPENDED = 1, "secondary suspended";
        /// Secondary → primary: secondary VM ready.
        SVM_READY = 2, "secondary ready";
        /// Secondary → primary: secondary VM resumed.
        SVM_RESUMED = 3, "secondary resumed";
    }
}

open_value! {
    /// An HVM save record type code inside HVM_CONTEXT.
    ///
    /// ```
    /// use migration_stream::types::HvmSaveCode;
    /// assert_eq!(HvmSaveCode::CPU.display_name(), Some("CPU"));
    /// assert!(HvmSaveCode::ALL.iter().all(|c| *c <= HvmSaveCode::MAX));
    /// ```
    HvmSaveCode(u16) {
        /// Last entry.
        END = 0, "end";
        /// First entry: [`HvmSaveHeader`](crate::wire::HvmSaveHeader).
        HEADER = 1, "header";
        /// vCPU registers.
        CPU = 2, "CPU";
        /// PIC.
        PIC = 3, "PIC";
        /// IO-APIC.
        IOAPIC = 4, "IO-APIC";
        /// Local APIC.
        LAPIC = 5, "LAPIC";
        /// Local APIC registers.
        LAPIC_REGS = 6, "LAPIC registers";
        /// PCI interrupt lines.
        PCI_IRQ = 7, "PCI IRQ";
        /// ISA interrupt lines.
        ISA_IRQ = 8, "ISA IRQ";
        /// PCI link routing.
        PCI_LINK = 9, "PCI link";
        /// PIT.
        PIT = 10, "PIT";
        /// RTC.
        RTC = 11, "RTC";
        /// HPET.
        HPET = 12, "HPET";
        /// ACPI PM timer.
        PMTIMER = 13, "PM timer";
        /// MTRRs.
        MTRR = 14, "MTRR";
        /// Viridian domain state.
        VIRIDIAN_DOMAIN = 15, "viridian domain";
        /// xsave state (variable length).
        CPU_XSAVE = 16, "CPU xsave";
        /// Viridian vCPU state.
        VIRIDIAN_VCPU = 17, "viridian vCPU";
        /// vMCE vCPU state.
        VMCE_VCPU = 18, "vMCE vCPU";
        /// TSC adjust.
        TSC_ADJUST = 19, "TSC adjust";
        /// MSRs (variable length).
        CPU_MSR = 20, "CPU MSR";
    }
}

impl HvmSaveCode {
    /// `HVM_SAVE_CODE_MAX`: the highest defined code.
    pub const MAX: HvmSaveCode = HvmSaveCode(20);
}

bitflags::bitflags! {
    /// Mandatory flags of the xl save header. Unknown bits are kept
    /// ([`from_bits_retain`](Self::from_bits_retain)) so they can be reported.
    ///
    /// The methods are bitflags' (the `bitflags` crate documents each):
    ///
    /// ```
    /// use migration_stream::types::XlMandatoryFlags as F;
    ///
    /// let both = F::JSON | F::STREAM_V2;
    /// assert_eq!((both.bits(), both, F::all()), (3, F::all(), both));
    /// assert!(F::empty().is_empty() && both.is_all());
    /// assert_eq!(F::from_bits(2), Some(F::STREAM_V2));
    /// assert_eq!(F::from_bits(4), None, "an unknown bit");
    /// assert_eq!(F::from_bits_truncate(6), F::STREAM_V2);
    /// assert_eq!(F::from_bits_retain(6).bits(), 6, "kept, to be reported");
    /// assert_eq!(F::from_name("JSON"), Some(F::JSON));
    /// assert!(both.contains(F::JSON) && both.intersects(F::STREAM_V2));
    ///
    /// let mut flags = F::JSON;
    /// flags.insert(F::STREAM_V2);
    /// flags.remove(F::JSON);
    /// assert_eq!(flags, F::STREAM_V2);
    /// flags.toggle(F::JSON);
    /// flags.set(F::STREAM_V2, false);
    /// assert_eq!(flags, F::JSON);
    ///
    /// assert_eq!(both.intersection(F::JSON), F::JSON);
    /// assert_eq!(F::JSON.union(F::STREAM_V2), both);
    /// assert_eq!(both.difference(F::JSON), F::STREAM_V2);
    /// assert_eq!(both.symmetric_difference(F::JSON), F::STREAM_V2);
    /// assert_eq!(F::JSON.complement(), F::STREAM_V2);
    /// assert_eq!(both.iter().collect::<Vec<_>>(), [F::JSON, F::STREAM_V2]);
    /// let names: Vec<_> = both.iter_names().map(|(name, _)| name).collect();
    /// assert_eq!(names, ["JSON", "STREAM_V2"]);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct XlMandatoryFlags: u32 {
        /// The config in the optional data is JSON (with a trailing NUL).
        const JSON = 1 << 0;
        /// A libxl v2 stream follows (otherwise a legacy stream).
        const STREAM_V2 = 1 << 1;
    }
}

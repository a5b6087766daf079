//! One Rust definition per on-wire structure, byte for byte.
//!
//! Every struct here is `#[repr(C)]`, has alignment 1 (all fields are byte
//! arrays or zerocopy's byte-order-aware integers) and no padding, so it can be
//! viewed in place over a borrowed byte slice with zerocopy and written back
//! with [`IntoBytes::as_bytes`]. A
//! `const _: () = assert!(size_of::<T>() == N)` next to each definition pins
//! its size to the one in the specification, so a wrong field width fails the
//! build rather than a test.
//!
//! The libxc image header, the libxl header and the fields of the xl save
//! header that precede the byte order mark are big-endian or byte arrays; all
//! other structures are in the stream's byte order, which on every supported
//! architecture is little-endian (the reader refuses big-endian streams).
//!
//! ```
//! use migration_stream::wire::RecordHeader;
//! use zerocopy::FromBytes;
//!
//! let bytes = [0x01, 0, 0, 0, 0x10, 0, 0, 0];
//! let header = RecordHeader::ref_from_bytes(&bytes).unwrap();
//! assert_eq!(header.record_type.get(), 1);
//! assert_eq!(header.length.get(), 16);
//! ```

use core::mem::size_of;

use zerocopy::byteorder::{big_endian, little_endian};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::types::{
    DomainType, HVM_FILE_MAGIC, HVM_FILE_VERSION, IMAGE_ID, IMAGE_MARKER, LIBXL_IDENT,
    LIBXL_VERSION, PAGE_SHIFT, RECORD_ALIGN, XL_MAGIC,
};

/// Little-endian `u16` as stored in a stream.
///
/// ```
/// use migration_stream::wire::Le16;
/// use zerocopy::IntoBytes;
/// let value = Le16::new(0x1234);
/// assert_eq!(value.as_bytes(), [0x34, 0x12]);
/// assert_eq!(value.get(), 0x1234);
/// ```
pub type Le16 = little_endian::U16;
/// Little-endian `u32` as stored in a stream.
///
/// ```
/// use migration_stream::wire::Le32;
/// use zerocopy::IntoBytes;
/// let value = Le32::new(0x1234_5678);
/// assert_eq!(value.as_bytes(), [0x78, 0x56, 0x34, 0x12]);
/// assert_eq!(value.get(), 0x1234_5678);
/// ```
pub type Le32 = little_endian::U32;
/// Little-endian `u64` as stored in a stream.
///
/// ```
/// use migration_stream::wire::Le64;
/// use zerocopy::IntoBytes;
/// let value = Le64::new(0x0102);
/// assert_eq!(value.as_bytes(), [2, 1, 0, 0, 0, 0, 0, 0]);
/// assert_eq!(value.get(), 0x0102);
/// ```
pub type Le64 = little_endian::U64;
/// Big-endian `u16` as stored in a stream header.
///
/// ```
/// use migration_stream::wire::Be16;
/// use zerocopy::IntoBytes;
/// let value = Be16::new(0x1234);
/// assert_eq!(value.as_bytes(), [0x12, 0x34]);
/// assert_eq!(value.get(), 0x1234);
/// ```
pub type Be16 = big_endian::U16;
/// Big-endian `u32` as stored in a stream header.
///
/// ```
/// use migration_stream::wire::Be32;
/// use zerocopy::IntoBytes;
/// let value = Be32::new(0x1234_5678);
/// assert_eq!(value.as_bytes(), [0x12, 0x34, 0x56, 0x78]);
/// assert_eq!(value.get(), 0x1234_5678);
/// ```
pub type Be32 = big_endian::U32;
/// Big-endian `u64` as stored in a stream header.
///
/// ```
/// use migration_stream::wire::Be64;
/// use zerocopy::IntoBytes;
/// let value = Be64::new(0x0102);
/// assert_eq!(value.as_bytes(), [0, 0, 0, 0, 0, 0, 1, 2]);
/// assert_eq!(value.get(), 0x0102);
/// ```
pub type Be64 = big_endian::U64;

/// Zero bytes that follow a record body of `length` bytes, so that the next
/// record starts at a multiple of [`RECORD_ALIGN`] (0–7).
///
/// ```
/// use migration_stream::wire::padding_for;
/// assert_eq!((padding_for(0), padding_for(5), padding_for(8)), (0, 3, 0));
/// ```
pub fn padding_for(length: u64) -> usize {
    ((RECORD_ALIGN - length % RECORD_ALIGN) % RECORD_ALIGN) as usize
}

/// The libxc image header (24 bytes, always big-endian): the first bytes of a
/// libxc v2/v3 stream.
///
/// Every structure of this module is its bytes on the wire, read and written
/// with `zerocopy` (no offsets by hand):
///
/// ```
/// use migration_stream::types::IMAGE_MARKER;
/// use migration_stream::wire::ImageHeader;
/// use zerocopy::{FromBytes, IntoBytes};
/// let header = ImageHeader::new(3);
/// let bytes = header.as_bytes();
/// assert_eq!(bytes.len(), 24);
/// assert_eq!(&bytes[..12], b"\xff\xff\xff\xff\xff\xff\xff\xffXENF");
/// let back = ImageHeader::read_from_bytes(bytes).unwrap();
/// assert_eq!((back.marker.get(), back.version.get()), (IMAGE_MARKER, 3));
/// assert!(!back.is_big_endian());
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct ImageHeader {
    /// [`IMAGE_MARKER`]: all ones, which no legacy image starts with.
    pub marker: Be64,
    /// [`IMAGE_ID`], `"XENF"`.
    pub id: Be32,
    /// Stream version, 2 or 3.
    pub version: Be32,
    /// Bit 0: endianness of the rest of the stream (1 = big-endian); bits 1–15 reserved.
    pub options: Be16,
    /// Reserved, zero.
    pub reserved1: Be16,
    /// Reserved, zero.
    pub reserved2: Be32,
}
const _: () = assert!(size_of::<ImageHeader>() == 24);

/// Image header option bit 0: the stream after the image header is big-endian.
pub const IMAGE_OPTION_BIG_ENDIAN: u16 = 0x0001;
/// Image header option bits that are reserved and must be zero.
pub const IMAGE_OPTIONS_RESERVED: u16 = 0xfffe;

impl ImageHeader {
    /// A little-endian image header of `version` (2 or 3) with every reserved field zero.
    ///
    /// ```
    /// use migration_stream::wire::{IMAGE_OPTION_BIG_ENDIAN, ImageHeader};
    /// let mut header = ImageHeader::new(3);
    /// assert_eq!(header.version.get(), 3);
    /// assert!(!header.is_big_endian());
    /// header.options.set(IMAGE_OPTION_BIG_ENDIAN);
    /// assert!(header.is_big_endian());
    /// ```
    pub fn new(version: u32) -> Self {
        ImageHeader {
            marker: Be64::new(IMAGE_MARKER),
            id: Be32::new(IMAGE_ID),
            version: Be32::new(version),
            options: Be16::new(0),
            reserved1: Be16::new(0),
            reserved2: Be32::new(0),
        }
    }

    /// Whether the options field flags the rest of the stream as big-endian.
    pub fn is_big_endian(&self) -> bool {
        self.options.get() & IMAGE_OPTION_BIG_ENDIAN != 0
    }
}

/// The libxc domain header (16 bytes), right after the image header.
///
/// ```
/// use migration_stream::types::DomainType;
/// use migration_stream::wire::DomainHeader;
/// use zerocopy::{FromBytes, IntoBytes};
/// let header = DomainHeader::new(DomainType::X86_PV, 4, 17);
/// let read = DomainHeader::read_from_bytes(header.as_bytes()).unwrap();
/// assert_eq!(read.domain_type(), DomainType::X86_PV);
/// assert_eq!((read.xen_major.get(), read.xen_minor.get(), read.page_shift.get()), (4, 17, 12));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct DomainHeader {
    /// Guest type, see [`DomainType`].
    pub domain_type: Le32,
    /// log2 of the page size; 12 on x86.
    pub page_shift: Le16,
    /// Reserved, zero.
    pub reserved: Le16,
    /// Xen major version of the saver; 0 means "converted from a legacy stream".
    pub xen_major: Le32,
    /// Xen minor version of the saver (the converter's version when `xen_major` is 0).
    pub xen_minor: Le32,
}
const _: () = assert!(size_of::<DomainHeader>() == 16);

impl DomainHeader {
    /// A domain header for `domain_type` saved by Xen `xen_major.xen_minor`, page shift 12.
    ///
    /// ```
    /// use migration_stream::{types::DomainType, wire::DomainHeader};
    /// let header = DomainHeader::new(DomainType::X86_HVM, 4, 19);
    /// assert_eq!(header.domain_type(), DomainType::X86_HVM);
    /// ```
    pub fn new(domain_type: DomainType, xen_major: u32, xen_minor: u32) -> Self {
        DomainHeader {
            domain_type: Le32::new(domain_type.0),
            page_shift: Le16::new(PAGE_SHIFT),
            reserved: Le16::new(0),
            xen_major: Le32::new(xen_major),
            xen_minor: Le32::new(xen_minor),
        }
    }

    /// The guest type as an open value.
    pub fn domain_type(&self) -> DomainType {
        DomainType(self.domain_type.get())
    }
}

/// Every record's header (8 bytes): type and body length (padding not included).
///
/// ```
/// use migration_stream::types::RecordType;
/// use migration_stream::wire::{RecordHeader, padding_for};
/// use zerocopy::FromBytes;
/// // An X86_TSC_INFO record header: type 8, 24 bytes of body, no padding.
/// let header = RecordHeader::read_from_bytes(&[8, 0, 0, 0, 24, 0, 0, 0]).unwrap();
/// assert_eq!(RecordType(header.record_type.get()), RecordType::X86_TSC_INFO);
/// assert_eq!((header.length.get(), padding_for(24)), (24, 0));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct RecordHeader {
    /// Record type number; bit 31 marks an optional record.
    pub record_type: Le32,
    /// Body length in bytes, excluding the 0–7 padding bytes that follow.
    pub length: Le32,
}
const _: () = assert!(size_of::<RecordHeader>() == 8);

/// Header of a PAGE_DATA body (8 bytes), followed by `count` pfn entries and the page data.
///
/// ```
/// use migration_stream::payload::PageData;
/// use migration_stream::types::{PageType, PfnEntry};
/// use migration_stream::wire::PageDataHeader;
/// use zerocopy::FromBytes;
///
/// let body = PageData::encode(&[PfnEntry::new(1, PageType::XTAB)], &[]);
/// let (header, pfns) = PageDataHeader::ref_from_prefix(&body).unwrap();
/// assert_eq!((header.count.get(), header.reserved.get(), pfns.len()), (1, 0, 8));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct PageDataHeader {
    /// Number of pfn entries.
    pub count: Le32,
    /// Reserved, zero.
    pub reserved: Le32,
}
const _: () = assert!(size_of::<PageDataHeader>() == 8);

/// Body of X86_PV_INFO (8 bytes).
///
/// ```
/// use migration_stream::wire::X86PvInfo;
/// use zerocopy::FromBytes;
/// let info = X86PvInfo::read_from_bytes(&[8, 4, 0, 0, 0, 0, 0, 0]).unwrap();
/// assert_eq!((info.guest_width, info.pt_levels, info.reserved1.get(), info.reserved2.get()), (8, 4, 0, 0));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct X86PvInfo {
    /// Guest word size in bytes: 4 or 8.
    pub guest_width: u8,
    /// Page-table levels: 3 (with width 4) or 4 (with width 8).
    pub pt_levels: u8,
    /// Reserved, zero.
    pub reserved1: Le16,
    /// Reserved, zero.
    pub reserved2: Le32,
}
const _: () = assert!(size_of::<X86PvInfo>() == 8);

/// Header of an X86_PV_P2M_FRAMES body (8 bytes), followed by `u64` frame numbers.
///
/// ```
/// use migration_stream::payload::X86PvP2mFrames;
/// use migration_stream::wire::X86PvP2mFramesHeader;
/// use zerocopy::FromBytes;
/// let body = X86PvP2mFrames::encode(0, 511, &[0x42]);
/// let (header, frames) = X86PvP2mFramesHeader::ref_from_prefix(&body).unwrap();
/// assert_eq!((header.p2m_start_pfn.get(), header.p2m_end_pfn.get(), frames.len()), (0, 511, 8));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct X86PvP2mFramesHeader {
    /// First pfn index covered by the frames.
    pub p2m_start_pfn: Le32,
    /// Last pfn index covered by the frames (inclusive).
    pub p2m_end_pfn: Le32,
}
const _: () = assert!(size_of::<X86PvP2mFramesHeader>() == 8);

/// Header of every X86_PV_VCPU_* body (8 bytes), followed by the context blob.
///
/// ```
/// use migration_stream::payload::Vcpu;
/// use migration_stream::wire::VcpuHeader;
/// use zerocopy::FromBytes;
/// let body = Vcpu::encode(2, &[1, 2, 3]);
/// let (header, context) = VcpuHeader::ref_from_prefix(&body).unwrap();
/// assert_eq!((header.vcpu_id.get(), header.reserved.get(), context), (2, 0, &[1, 2, 3][..]));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct VcpuHeader {
    /// The vCPU the context belongs to.
    pub vcpu_id: Le32,
    /// Reserved, zero.
    pub reserved: Le32,
}
const _: () = assert!(size_of::<VcpuHeader>() == 8);

/// Bytes of an X86_PV_VCPU_BASIC context (after its [`VcpuHeader`]) of a
/// 64-bit PV guest: `sizeof(vcpu_guest_context)` for x86_64. A legacy image's
/// `"vcpu"` block carries the same structure.
///
/// ```
/// use migration_stream::payload::Vcpu;
/// use migration_stream::wire::{PV_VCPU_CONTEXT_32, PV_VCPU_CONTEXT_64, VcpuHeader};
/// let body = Vcpu::encode(0, &[0; PV_VCPU_CONTEXT_64 as usize]);
/// assert_eq!(Vcpu::parse(&body)?.context.len(), 0x1430);
/// assert_eq!(body.len(), size_of::<VcpuHeader>() + 0x1430); // the header, then the context
/// assert!(PV_VCPU_CONTEXT_32 < PV_VCPU_CONTEXT_64); // x86_32 registers are narrower
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const PV_VCPU_CONTEXT_64: u32 = 0x1430;
/// Bytes of an X86_PV_VCPU_BASIC context of a 32-bit (PAE) PV guest:
/// `sizeof(vcpu_guest_context)` for x86_32.
pub const PV_VCPU_CONTEXT_32: u32 = 0xAF0;

/// Body of X86_TSC_INFO (24 bytes).
///
/// ```
/// use migration_stream::payload;
/// use migration_stream::wire::X86TscInfo;
/// use zerocopy::FromBytes;
/// let tsc = payload::X86TscInfo { mode: 2, khz: 1_000_000, nsec: 9, incarnation: 1, reserved: 0 };
/// let raw = X86TscInfo::read_from_bytes(&tsc.encode()).unwrap();
/// assert_eq!((raw.mode.get(), raw.khz.get(), raw.nsec.get()), (2, 1_000_000, 9));
/// assert_eq!((raw.incarnation.get(), raw.reserved.get()), (1, 0));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct X86TscInfo {
    /// TSC mode (`XEN_DOMCTL_{get,set}tscinfo`).
    pub mode: Le32,
    /// Guest TSC frequency in kHz.
    pub khz: Le32,
    /// Elapsed nanoseconds.
    pub nsec: Le64,
    /// TSC incarnation counter.
    pub incarnation: Le32,
    /// Reserved, zero.
    pub reserved: Le32,
}
const _: () = assert!(size_of::<X86TscInfo>() == 24);

/// Header of an HVM_PARAMS body (8 bytes), followed by `count` entries.
///
/// ```
/// use migration_stream::{payload::HvmParams, types::HvmParam};
/// use migration_stream::wire::{HvmParamsEntry, HvmParamsHeader};
/// use zerocopy::FromBytes;
/// let body = HvmParams::encode(&[(HvmParam::STORE_PFN, 7)]);
/// let (header, rest) = HvmParamsHeader::ref_from_prefix(&body).unwrap();
/// assert_eq!((header.count.get(), header.reserved.get()), (1, 0));
/// let entries = <[HvmParamsEntry]>::ref_from_bytes(rest).unwrap();
/// assert_eq!((entries[0].index.get(), entries[0].value.get()), (HvmParam::STORE_PFN.0, 7));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct HvmParamsHeader {
    /// Number of [`HvmParamsEntry`] that follow.
    pub count: Le32,
    /// Reserved, zero.
    pub reserved: Le32,
}
const _: () = assert!(size_of::<HvmParamsHeader>() == 8);

/// One HVM parameter (16 bytes).
///
/// ```
/// use migration_stream::wire::{HvmParamsEntry, Le64};
/// use zerocopy::IntoBytes;
/// let entry = HvmParamsEntry { index: Le64::new(1), value: Le64::new(2) };
/// assert_eq!(entry.as_bytes(), [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct HvmParamsEntry {
    /// Parameter index, see [`HvmParam`](crate::types::HvmParam).
    pub index: Le64,
    /// Parameter value.
    pub value: Le64,
}
const _: () = assert!(size_of::<HvmParamsEntry>() == 16);

/// One `xen_cpuid_leaf_t` of X86_CPUID_POLICY (24 bytes).
///
/// ```
/// use migration_stream::types::XEN_CPUID_NO_SUBLEAF;
/// use migration_stream::wire::CpuidPolicyLeaf;
/// use zerocopy::IntoBytes;
/// let leaf = CpuidPolicyLeaf::new(1, XEN_CPUID_NO_SUBLEAF, [0x906ea, 0, 0x7ffafbff, 0xbfebfbff]);
/// assert_eq!((leaf.leaf.get(), leaf.subleaf.get(), leaf.a.get()), (1, XEN_CPUID_NO_SUBLEAF, 0x906ea));
/// assert_eq!((leaf.b.get(), leaf.c.get(), leaf.d.get()), (0, 0x7ffafbff, 0xbfebfbff));
/// assert_eq!(&leaf.as_bytes()[..8], [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct CpuidPolicyLeaf {
    /// CPUID leaf (EAX input).
    pub leaf: Le32,
    /// CPUID subleaf (ECX input); `XEN_CPUID_NO_SUBLEAF` for leaves without subleaves.
    pub subleaf: Le32,
    /// EAX output.
    pub a: Le32,
    /// EBX output.
    pub b: Le32,
    /// ECX output.
    pub c: Le32,
    /// EDX output.
    pub d: Le32,
}
const _: () = assert!(size_of::<CpuidPolicyLeaf>() == 24);

impl CpuidPolicyLeaf {
    /// A leaf from native integers.
    pub fn new(leaf: u32, subleaf: u32, regs: [u32; 4]) -> Self {
        CpuidPolicyLeaf {
            leaf: Le32::new(leaf),
            subleaf: Le32::new(subleaf),
            a: Le32::new(regs[0]),
            b: Le32::new(regs[1]),
            c: Le32::new(regs[2]),
            d: Le32::new(regs[3]),
        }
    }
}

/// One `xen_msr_entry_t` of X86_MSR_POLICY (16 bytes).
///
/// ```
/// use migration_stream::wire::MsrPolicyEntry;
/// use zerocopy::IntoBytes;
/// let entry = MsrPolicyEntry::new(0xce, 0x8000_0000);
/// assert_eq!((entry.idx.get(), entry.flags.get(), entry.val.get()), (0xce, 0, 0x8000_0000));
/// assert_eq!(entry.as_bytes().len(), 16);
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct MsrPolicyEntry {
    /// MSR index.
    pub idx: Le32,
    /// Reserved, zero.
    pub flags: Le32,
    /// MSR value.
    pub val: Le64,
}
const _: () = assert!(size_of::<MsrPolicyEntry>() == 16);

impl MsrPolicyEntry {
    /// An entry from native integers, flags zero.
    pub fn new(idx: u32, val: u64) -> Self {
        MsrPolicyEntry {
            idx: Le32::new(idx),
            flags: Le32::new(0),
            val: Le64::new(val),
        }
    }
}

/// One `xen_domctl_vcpu_msr_t` in the context of an X86_PV_VCPU_MSRS record (16 bytes).
///
/// ```
/// use migration_stream::wire::VcpuMsrEntry;
/// use zerocopy::IntoBytes;
/// let entry = VcpuMsrEntry::new(0xc000_0080, 0xd01);
/// assert_eq!((entry.index.get(), entry.reserved.get(), entry.value.get()), (0xc000_0080, 0, 0xd01));
/// assert_eq!(&entry.as_bytes()[..4], [0x80, 0, 0, 0xc0]);
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct VcpuMsrEntry {
    /// MSR index.
    pub index: Le32,
    /// Reserved, zero.
    pub reserved: Le32,
    /// MSR value.
    pub value: Le64,
}
const _: () = assert!(size_of::<VcpuMsrEntry>() == 16);

impl VcpuMsrEntry {
    /// An entry from native integers, reserved zero.
    pub fn new(index: u32, value: u64) -> Self {
        VcpuMsrEntry {
            index: Le32::new(index),
            reserved: Le32::new(0),
            value: Le64::new(value),
        }
    }
}

/// The libxl stream header (16 bytes, always big-endian).
///
/// ```
/// use migration_stream::types::{LIBXL_IDENT, LIBXL_VERSION};
/// use migration_stream::wire::{LIBXL_OPTION_BIG_ENDIAN, LIBXL_OPTION_LEGACY, LibxlHeader};
/// use zerocopy::IntoBytes;
/// let header = LibxlHeader::new(LIBXL_OPTION_LEGACY);
/// assert_eq!(&header.as_bytes()[..8], b"LibxlFmt");
/// assert_eq!((header.ident.get(), header.version.get()), (LIBXL_IDENT, LIBXL_VERSION));
/// assert!(header.is_legacy() && !header.is_big_endian());
/// assert!(LibxlHeader::new(LIBXL_OPTION_BIG_ENDIAN).is_big_endian());
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct LibxlHeader {
    /// [`LIBXL_IDENT`], `"LibxlFmt"`.
    pub ident: Be64,
    /// Stream version; 2 is the only one defined.
    pub version: Be32,
    /// Bit 0: big-endian records; bit 1: made by the legacy converter; bits 2–31 reserved.
    pub options: Be32,
}
const _: () = assert!(size_of::<LibxlHeader>() == 16);

/// libxl header option bit 0: the records are big-endian.
pub const LIBXL_OPTION_BIG_ENDIAN: u32 = 0x0000_0001;
/// libxl header option bit 1: the stream was produced by the legacy converter.
pub const LIBXL_OPTION_LEGACY: u32 = 0x0000_0002;
/// libxl header option bits that are reserved and must be zero.
pub const LIBXL_OPTIONS_RESERVED: u32 = 0xffff_fffc;

impl LibxlHeader {
    /// A version-2 little-endian libxl header with the given option bits.
    ///
    /// ```
    /// use migration_stream::wire::{LibxlHeader, LIBXL_OPTION_LEGACY};
    /// assert!(LibxlHeader::new(LIBXL_OPTION_LEGACY).is_legacy());
    /// ```
    pub fn new(options: u32) -> Self {
        LibxlHeader {
            ident: Be64::new(LIBXL_IDENT),
            version: Be32::new(LIBXL_VERSION),
            options: Be32::new(options),
        }
    }

    /// Whether the options flag big-endian records.
    pub fn is_big_endian(&self) -> bool {
        self.options.get() & LIBXL_OPTION_BIG_ENDIAN != 0
    }

    /// Whether the options flag a stream made by the legacy converter.
    pub fn is_legacy(&self) -> bool {
        self.options.get() & LIBXL_OPTION_LEGACY != 0
    }
}

/// Sub-header of the libxl EMULATOR_* records (8 bytes).
///
/// ```
/// use migration_stream::{payload::EmulatorRecord, types::EmulatorId, wire::EmulatorHeader};
/// use zerocopy::FromBytes;
/// let body = EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, b"state");
/// let (header, data) = EmulatorHeader::ref_from_prefix(&body).unwrap();
/// assert_eq!((header.id.get(), header.index.get(), data), (2, 0, &b"state"[..]));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct EmulatorHeader {
    /// Which device model, see [`EmulatorId`](crate::types::EmulatorId).
    pub id: Le32,
    /// The emulator's index for the domain (0 in practice).
    pub index: Le32,
}
const _: () = assert!(size_of::<EmulatorHeader>() == 8);

/// The fixed part of the xl save header (48 bytes); `optional_data_len` bytes follow.
///
/// The four integers are in the byte order of the machine that wrote the
/// file, which `byteorder` reveals (it holds `0x01020304`); they are kept as
/// raw bytes here and decoded by [`XlHeader`](crate::XlHeader).
///
/// ```
/// use migration_stream::types::XlMandatoryFlags;
/// use migration_stream::wire::XlHeader;
/// use zerocopy::{FromBytes, FromZeros};
/// let bytes = migration_stream::XlHeader::new(XlMandatoryFlags::STREAM_V2, b"").to_bytes();
/// let fixed = XlHeader::read_from_bytes(&bytes).unwrap();
/// assert!(fixed.has_magic());
/// assert_eq!(fixed.byteorder, [4, 3, 2, 1]); // written little-endian
/// assert_eq!((fixed.mandatory_flags, fixed.optional_data_len), ([2, 0, 0, 0], [0; 4]));
/// assert!(!XlHeader::new_zeroed().has_magic());
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct XlHeader {
    /// [`XL_MAGIC`].
    pub magic: [u8; 32],
    /// `0x01020304` in the writer's byte order.
    pub byteorder: [u8; 4],
    /// Mandatory flags (JSON config, STREAMv2); unknown bits must make a reader stop.
    pub mandatory_flags: [u8; 4],
    /// Optional flags; none are defined.
    pub optional_flags: [u8; 4],
    /// Length of the optional data that follows.
    pub optional_data_len: [u8; 4],
}
const _: () = assert!(size_of::<XlHeader>() == 48);

impl XlHeader {
    /// Whether `magic` is the xl save file magic.
    pub fn has_magic(&self) -> bool {
        self.magic == *XL_MAGIC
    }
}

/// One HVM save record descriptor inside HVM_CONTEXT (8 bytes); `length` data bytes follow.
///
/// ```
/// use migration_stream::{payload::HvmContext, types::HvmSaveCode, wire::HvmSaveDescriptor};
/// use zerocopy::FromBytes;
/// let body = HvmContext::encode(&[(HvmSaveCode::CPU, 1, &[0; 16])]);
/// let (descriptor, data) = HvmSaveDescriptor::ref_from_prefix(&body).unwrap();
/// assert_eq!(HvmSaveCode(descriptor.typecode.get()), HvmSaveCode::CPU);
/// assert_eq!((descriptor.instance.get(), descriptor.length.get(), data.len()), (1, 16, 16));
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct HvmSaveDescriptor {
    /// Save record type, see [`HvmSaveCode`](crate::types::HvmSaveCode).
    pub typecode: Le16,
    /// Instance (e.g. the vCPU number for per-vCPU state).
    pub instance: Le16,
    /// Length of the data after this descriptor.
    pub length: Le32,
}
const _: () = assert!(size_of::<HvmSaveDescriptor>() == 8);

/// Data of the HEADER entry that starts every HVM context (24 bytes).
///
/// ```
/// use migration_stream::types::{HVM_FILE_MAGIC, HVM_FILE_VERSION};
/// use migration_stream::wire::HvmSaveHeader;
/// use zerocopy::IntoBytes;
/// let header = HvmSaveHeader::new(0x4_0013, 0xa06a4, 2_000_000);
/// assert_eq!((header.magic.get(), header.version.get()), (HVM_FILE_MAGIC, HVM_FILE_VERSION));
/// assert_eq!((header.changeset.get(), header.cpuid.get(), header.gtsc_khz.get()), (0x4_0013, 0xa06a4, 2_000_000));
/// assert_eq!(header.as_bytes().len(), 24);
/// ```
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq,
)]
#[repr(C)]
pub struct HvmSaveHeader {
    /// [`HVM_FILE_MAGIC`].
    pub magic: Le32,
    /// [`HVM_FILE_VERSION`].
    pub version: Le32,
    /// Xen changeset (version) that saved the context.
    pub changeset: Le64,
    /// CPUID\[1\].EAX of the saving machine.
    pub cpuid: Le32,
    /// Guest TSC frequency in kHz.
    pub gtsc_khz: Le32,
}
const _: () = assert!(size_of::<HvmSaveHeader>() == 24);

impl HvmSaveHeader {
    /// A header with the right magic and version.
    pub fn new(changeset: u64, cpuid: u32, gtsc_khz: u32) -> Self {
        HvmSaveHeader {
            magic: Le32::new(HVM_FILE_MAGIC),
            version: Le32::new(HVM_FILE_VERSION),
            changeset: Le64::new(changeset),
            cpuid: Le32::new(cpuid),
            gtsc_khz: Le32::new(gtsc_khz),
        }
    }
}

//! Numbers and shapes of the legacy (Xen 4.5 and earlier) save image format.
//!
//! The layout is described in `docs/legacy-format.md`; this module holds the
//! values the parser, the converter and the image writer share.

use std::fmt;

/// Bytes in a guest page.
pub const PAGE_SIZE: usize = 4096;

/// The largest page batch a legacy saver writes (`MAX_BATCH_SIZE`).
pub const MAX_BATCH: u32 = 1024;

/// The largest vCPU id a legacy restorer accepts (4096 vCPUs).
pub const MAX_VCPU_ID: i32 = 4095;

/// Size of vCPU context of a 64-bit PV guest (`vcpu_guest_context` x86_64).
pub const VCPU_CONTEXT_64: u32 = migration_stream::wire::PV_VCPU_CONTEXT_64;

/// Size of vCPU context of a 32-bit (PAE) PV guest (`vcpu_guest_context` x86_32).
pub const VCPU_CONTEXT_32: u32 = migration_stream::wire::PV_VCPU_CONTEXT_32;

/// Size of the extended vCPU context carried when the `"extv"` block is present.
pub const VCPU_EXTENDED_SIZE: u32 = 128;

/// The pfn_type entry a 4.5 saver writes for a page it failed to map: XTAB with pfn 0.
pub const BARE_XTAB: u64 = 0xF000_0000;

/// Mask of the page type in a legacy pfn_type entry (bits 31..28).
pub const PFN_TYPE_MASK: u64 = 0xF000_0000;

/// Mask of the pfn in a legacy pfn_type entry (bits 27..0).
pub const PFN_MASK: u64 = 0x0FFF_FFFF;

/// The width of `unsigned long` in the toolstack that wrote the image.
///
/// ```
/// use legacy_convert::format::Width;
/// assert_eq!(Width::from_bits(64), Some(Width::W64)); // `--width 64`
/// assert_eq!(Width::from_bits(16), None);
/// assert_eq!(Width::W32.to_string(), "32-bit");
/// assert_eq!((Width::W64.bits(), Width::W64.ulong_bytes()), (64, 8));
/// assert_eq!(Width::W32.all_ones(), 0xffff_ffff); // the PV extended-info marker
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Width {
    /// A 32-bit toolstack: ulongs are 4 bytes.
    W32,
    /// A 64-bit toolstack: ulongs are 8 bytes.
    W64,
}

impl Width {
    /// Bytes in one ulong.
    ///
    /// ```
    /// assert_eq!(legacy_convert::format::Width::W32.ulong_bytes(), 4);
    /// ```
    pub const fn ulong_bytes(self) -> usize {
        match self {
            Width::W32 => 4,
            Width::W64 => 8,
        }
    }

    /// Bits in one ulong (32 or 64), as upstream's `--width` takes them.
    pub const fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }

    /// The width for `--width 32` or `--width 64`.
    pub fn from_bits(bits: u32) -> Option<Width> {
        match bits {
            32 => Some(Width::W32),
            64 => Some(Width::W64),
            _ => None,
        }
    }

    /// The ulong that marks the PV extended-info block (`~0UL`).
    pub const fn all_ones(self) -> u64 {
        match self {
            Width::W32 => u32::MAX as u64,
            Width::W64 => u64::MAX,
        }
    }
}

impl fmt::Display for Width {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-bit", self.bits())
    }
}

/// The kind of guest an image holds.
///
/// ```
/// use legacy_convert::format::GuestType;
/// assert_eq!(GuestType::Hvm.to_string(), "HVM");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestType {
    /// A paravirtualised guest: extended info, p2m frame list, PV tail.
    Pv,
    /// A hardware-virtualised guest: HVM tail and a qemu record.
    Hvm,
}

impl fmt::Display for GuestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuestType::Pv => "PV",
            GuestType::Hvm => "HVM",
        })
    }
}

/// The width of a PV guest, told by the size of the `"vcpu"` extended-info block.
///
/// ```
/// use legacy_convert::format::GuestWidth;
/// assert_eq!(GuestWidth::from_context_size(0x1430), Some(GuestWidth::W64));
/// assert_eq!((GuestWidth::W32.bytes(), GuestWidth::W32.levels()), (4, 3));
/// assert_eq!(GuestWidth::W64.context_size(), 0x1430);
/// assert_eq!(GuestWidth::W32.frames_per_page(), 1024); // p2m entries per frame
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestWidth {
    /// A 32-bit PAE guest: 3 levels of page tables, vCPU context of 0xAF0 bytes.
    W32,
    /// A 64-bit guest: 4 levels of page tables, vCPU context of 0x1430 bytes.
    W64,
}

impl GuestWidth {
    /// The guest width for a `"vcpu"` block of `size` bytes, if it is one of the two.
    pub fn from_context_size(size: u32) -> Option<GuestWidth> {
        match size {
            VCPU_CONTEXT_64 => Some(GuestWidth::W64),
            VCPU_CONTEXT_32 => Some(GuestWidth::W32),
            _ => None,
        }
    }

    /// Size of one vCPU context for this width.
    pub const fn context_size(self) -> u32 {
        match self {
            GuestWidth::W32 => VCPU_CONTEXT_32,
            GuestWidth::W64 => VCPU_CONTEXT_64,
        }
    }

    /// Bytes in a guest `unsigned long` (the X86_PV_INFO `guest_width`).
    pub const fn bytes(self) -> u8 {
        match self {
            GuestWidth::W32 => 4,
            GuestWidth::W64 => 8,
        }
    }

    /// Levels of page tables (3 for PAE, 4 for 64-bit).
    pub const fn levels(self) -> u8 {
        match self {
            GuestWidth::W32 => 3,
            GuestWidth::W64 => 4,
        }
    }

    /// P2M entries per frame (`4096 / guest width`).
    pub const fn frames_per_page(self) -> u64 {
        (PAGE_SIZE / self.bytes() as usize) as u64
    }
}

/// A negative chunk marker of the image body (`XC_SAVE_ID_*`), kept open: any
/// value can be held, and [`ChunkId::name`] says whether it is known.
///
/// ```
/// use legacy_convert::format::ChunkId;
/// assert_eq!(ChunkId(-7), ChunkId::TSC_INFO);
/// assert_eq!(ChunkId::TSC_INFO.to_string(), "-7 (tsc_info)");
/// assert_eq!(ChunkId(-99).to_string(), "-99 (unknown)");
/// assert!(ChunkId::HVM_PARAM_CHUNKS.iter().all(|c| c.hvm_param().is_some()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub i32);

impl ChunkId {
    /// Marker 0: end of the body.
    pub const END: ChunkId = ChunkId(0);
    /// Switch to the verify phase (`xl migrate --debug`).
    pub const ENABLE_VERIFY_MODE: ChunkId = ChunkId(-1);
    /// The online vCPU map.
    pub const VCPU_INFO: ChunkId = ChunkId(-2);
    /// HVM_PARAM_IDENT_PT.
    pub const HVM_IDENT_PT: ChunkId = ChunkId(-3);
    /// HVM_PARAM_VM86_TSS.
    pub const HVM_VM86_TSS: ChunkId = ChunkId(-4);
    /// Transcendent memory pages (cannot be converted).
    pub const TMEM: ChunkId = ChunkId(-5);
    /// Transcendent memory extra data (cannot be converted).
    pub const TMEM_EXTRA: ChunkId = ChunkId(-6);
    /// TSC mode, frequency, elapsed time and incarnation.
    pub const TSC_INFO: ChunkId = ChunkId(-7);
    /// HVM_PARAM_CONSOLE_PFN.
    pub const HVM_CONSOLE_PFN: ChunkId = ChunkId(-8);
    /// The last checkpoint of a Remus stream.
    pub const LAST_CHECKPOINT: ChunkId = ChunkId(-9);
    /// HVM_PARAM_ACPI_IOPORTS_LOCATION.
    pub const HVM_ACPI_IOPORTS_LOCATION: ChunkId = ChunkId(-10);
    /// HVM_PARAM_VIRIDIAN.
    pub const HVM_VIRIDIAN: ChunkId = ChunkId(-11);
    /// Remus compressed page data (cannot be converted).
    pub const COMPRESSED_DATA: ChunkId = ChunkId(-12);
    /// Switch to Remus compression (cannot be converted).
    pub const ENABLE_COMPRESSION: ChunkId = ChunkId(-13);
    /// HVM_PARAM_VM_GENERATION_ID_ADDR.
    pub const HVM_GENERATION_ID_ADDR: ChunkId = ChunkId(-14);
    /// HVM_PARAM_PAGING_RING_PFN.
    pub const HVM_PAGING_RING_PFN: ChunkId = ChunkId(-15);
    /// HVM_PARAM_ACCESS_RING_PFN (MONITOR_RING_PFN today).
    pub const HVM_MONITOR_RING_PFN: ChunkId = ChunkId(-16);
    /// HVM_PARAM_SHARING_RING_PFN.
    pub const HVM_SHARING_RING_PFN: ChunkId = ChunkId(-17);
    /// The libxl "toolstack" blob (physmap entries).
    pub const TOOLSTACK: ChunkId = ChunkId(-18);
    /// HVM_PARAM_IOREQ_SERVER_PFN.
    pub const HVM_IOREQ_SERVER_PFN: ChunkId = ChunkId(-19);
    /// HVM_PARAM_NR_IOREQ_SERVER_PAGES.
    pub const HVM_NR_IOREQ_SERVER_PAGES: ChunkId = ChunkId(-20);
    /// HVM_PARAM_X87_FIP_WIDTH (Xen 4.5.4 and 4.5.5 only).
    pub const HVM_X87_FIP_WIDTH: ChunkId = ChunkId(-21);

    /// Upstream's name for the chunk (as its `-v` prints it), if known.
    ///
    /// ```
    /// use legacy_convert::format::ChunkId;
    /// assert_eq!(ChunkId(-7).name(), Some("tsc_info"));
    /// assert_eq!(ChunkId(-99).name(), None);
    /// ```
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "end",
            -1 => "enable_verify_mode",
            -2 => "vcpu_info",
            -3 => "hvm_ident_pt",
            -4 => "hvm_vm86_tss",
            -5 => "tmem",
            -6 => "tmem_extra",
            -7 => "tsc_info",
            -8 => "hvm_console_pfn",
            -9 => "last_checkpoint",
            -10 => "hvm_acpi_ioports_location",
            -11 => "hvm_viridian",
            -12 => "compressed_data",
            -13 => "enable_compression",
            -14 => "hvm_generation_id_addr",
            -15 => "hvm_paging_ring_pfn",
            -16 => "hvm_monitor_ring_pfn",
            -17 => "hvm_sharing_ring_pfn",
            -18 => "toolstack",
            -19 => "hvm_ioreq_server_pfn",
            -20 => "hvm_nr_ioreq_server_pages",
            -21 => "hvm_x87_fip_width",
            _ => return None,
        })
    }

    /// The HVM parameter a `u32 pad, u64 value` chunk carries, if this is one.
    ///
    /// ```
    /// use legacy_convert::format::ChunkId;
    /// assert_eq!(ChunkId::HVM_X87_FIP_WIDTH.hvm_param(), Some(36));
    /// assert_eq!(ChunkId::TSC_INFO.hvm_param(), None);
    /// ```
    pub fn hvm_param(self) -> Option<u64> {
        Some(match self {
            ChunkId::HVM_IDENT_PT => 12,
            ChunkId::HVM_VM86_TSS => 15,
            ChunkId::HVM_CONSOLE_PFN => 17,
            ChunkId::HVM_ACPI_IOPORTS_LOCATION => 19,
            ChunkId::HVM_VIRIDIAN => 9,
            ChunkId::HVM_GENERATION_ID_ADDR => 34,
            ChunkId::HVM_PAGING_RING_PFN => 27,
            ChunkId::HVM_MONITOR_RING_PFN => 28,
            ChunkId::HVM_SHARING_RING_PFN => 29,
            ChunkId::HVM_IOREQ_SERVER_PFN => 32,
            ChunkId::HVM_NR_IOREQ_SERVER_PAGES => 33,
            ChunkId::HVM_X87_FIP_WIDTH => 36,
            _ => return None,
        })
    }

    /// Every chunk that carries an HVM parameter, in chunk-number order.
    pub const HVM_PARAM_CHUNKS: [ChunkId; 12] = [
        ChunkId::HVM_IDENT_PT,
        ChunkId::HVM_VM86_TSS,
        ChunkId::HVM_CONSOLE_PFN,
        ChunkId::HVM_ACPI_IOPORTS_LOCATION,
        ChunkId::HVM_VIRIDIAN,
        ChunkId::HVM_GENERATION_ID_ADDR,
        ChunkId::HVM_PAGING_RING_PFN,
        ChunkId::HVM_MONITOR_RING_PFN,
        ChunkId::HVM_SHARING_RING_PFN,
        ChunkId::HVM_IOREQ_SERVER_PFN,
        ChunkId::HVM_NR_IOREQ_SERVER_PAGES,
        ChunkId::HVM_X87_FIP_WIDTH,
    ];
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.name().unwrap_or("unknown"))
    }
}

/// HVM parameter numbers the converter writes for the "magic pfns" of the HVM tail.
pub mod hvm_param {
    /// HVM_PARAM_STORE_PFN.
    pub const STORE_PFN: u64 = 1;
    /// HVM_PARAM_IOREQ_PFN.
    pub const IOREQ_PFN: u64 = 5;
    /// HVM_PARAM_BUFIOREQ_PFN.
    pub const BUFIOREQ_PFN: u64 = 6;
}

/// The signature that opens the qemu record at the end of an HVM image.
///
/// ```
/// use legacy_convert::format::QemuSignature;
/// let raw = *b"DeviceModelRecord0002";
/// let signature = QemuSignature::from_bytes(&raw);
/// assert_eq!(signature, Some(QemuSignature::DeviceModelRecord0002));
/// assert_eq!(QemuSignature::DeviceModelRecord0002.bytes(), &raw);
/// assert!(QemuSignature::DeviceModelRecord0002.is_length_prefixed());
/// // xend's record runs to the end of the input, with no length.
/// assert!(!QemuSignature::QemuDeviceModelRecord.is_length_prefixed());
/// assert_eq!(QemuSignature::from_bytes(b"NotADeviceModelRecord"), None);
/// assert_eq!(QemuSignature::ALL.len(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QemuSignature {
    /// `DeviceModelRecord0002`: `u32 len` and `len` bytes (libxl 4.5).
    DeviceModelRecord0002,
    /// `RemusDeviceModelState`: `u32 len` and `len` bytes (Remus).
    RemusDeviceModelState,
    /// `QemuDeviceModelRecord`: qemu data up to the end of the input (xend).
    QemuDeviceModelRecord,
}

impl QemuSignature {
    /// All three signatures.
    pub const ALL: [QemuSignature; 3] = [
        QemuSignature::DeviceModelRecord0002,
        QemuSignature::RemusDeviceModelState,
        QemuSignature::QemuDeviceModelRecord,
    ];

    /// The 21 signature bytes.
    pub const fn bytes(self) -> &'static [u8; 21] {
        match self {
            QemuSignature::DeviceModelRecord0002 => b"DeviceModelRecord0002",
            QemuSignature::RemusDeviceModelState => b"RemusDeviceModelState",
            QemuSignature::QemuDeviceModelRecord => b"QemuDeviceModelRecord",
        }
    }

    /// The signature for 21 bytes read from an image, if they are one.
    pub fn from_bytes(raw: &[u8; 21]) -> Option<QemuSignature> {
        QemuSignature::ALL.into_iter().find(|s| s.bytes() == raw)
    }

    /// True when a `u32` length follows the signature; false when the data runs to the end.
    pub const fn is_length_prefixed(self) -> bool {
        !matches!(self, QemuSignature::QemuDeviceModelRecord)
    }
}

/// The id of a PV extended-info block.
///
/// ```
/// use legacy_convert::format::BlockId;
/// assert_eq!(BlockId(*b"extv"), BlockId::EXTV);
/// assert_eq!(BlockId::VCPU.to_string(), "b'vcpu'"); // as upstream's -v prints it
/// assert_eq!(BlockId(*b"x\0yz").to_string(), "b'x\\x00yz'");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockId(pub [u8; 4]);

impl BlockId {
    /// vCPU0's context; its size gives the guest width.
    pub const VCPU: BlockId = BlockId(*b"vcpu");
    /// Present when every vCPU carries a 128-byte extended context.
    pub const EXTV: BlockId = BlockId(*b"extv");
    /// The xsave area size + 16, present when the guest uses xsave.
    pub const XCNT: BlockId = BlockId(*b"xcnt");
}

impl fmt::Display for BlockId {
    /// Python's `bytes` repr, as upstream prints it (`b'vcpu'`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&python_bytes_repr(&self.0))
    }
}

/// Renders bytes the way Python 3's `repr(bytes)` does (`b'...'`), which is
/// what upstream's `-v` prints for block ids and qemu signatures.
pub(crate) fn python_bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if b as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

/// The page type of a legacy pfn_type entry (bits 31..28), as a 4-bit number.
pub(crate) const fn entry_type(entry: u64) -> u8 {
    ((entry & PFN_TYPE_MASK) >> 28) as u8
}

/// True when a legacy pfn_type entry is followed by a page of data
/// (every type below BROKEN, 0xD).
pub(crate) const fn entry_has_data(entry: u64) -> bool {
    entry_type(entry) < 0xD
}

/// True for the page types that do not exist (0x5..=0x8).
///
/// ```
/// use legacy_convert::format::entry_type_is_invalid;
/// assert!(entry_type_is_invalid(0x5000_0001));
/// assert!(!entry_type_is_invalid(0x9000_0001));
/// ```
pub const fn entry_type_is_invalid(entry: u64) -> bool {
    matches!(entry_type(entry), 0x5..=0x8)
}

/// True for page-table types (L1–L4, pinned or not: 0x1..=0x4, 0x9..=0xC).
///
/// ```
/// use legacy_convert::format::entry_type_is_page_table;
/// assert!(entry_type_is_page_table(0x4000_0001) && entry_type_is_page_table(0xC000_0001));
/// assert!(!entry_type_is_page_table(0x0000_0001)); // a normal page
/// assert!(!entry_type_is_page_table(0xF000_0001)); // XTAB
/// ```
pub const fn entry_type_is_page_table(entry: u64) -> bool {
    matches!(entry_type(entry), 0x1..=0x4 | 0x9..=0xC)
}

/// The v2 PAGE_DATA pfn encoding of a legacy entry: type moved to bits 63..60.
/// Public for programs that write what the converter writes without
/// converting (the benchmark's floor experiments in xtask).
///
/// ```
/// use legacy_convert::format::v2_pfn;
/// assert_eq!(v2_pfn(0x0000_1234), 0x1234); // a normal page keeps its number
/// assert_eq!(v2_pfn(0x1000_0005), 0x1000_0000_0000_0005); // L1TAB
/// ```
pub const fn v2_pfn(entry: u64) -> u64 {
    ((entry & PFN_TYPE_MASK) << 32) | (entry & PFN_MASK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn python_bytes_repr_as_its_docs_said() {
        use crate::format::python_bytes_repr;
        assert_eq!(python_bytes_repr(b"vcpu"), "b'vcpu'");
        assert_eq!(python_bytes_repr(b"a'\x00\n"), "b\"a'\\x00\\n\"");
    }

    #[test]
    fn entry_type_as_its_docs_said() {
        use crate::format::entry_type;
        assert_eq!(entry_type(0x9000_0123), 0x9); // a pinned L1 table
        assert_eq!(entry_type(0x0000_0123), 0x0);
    }

    #[test]
    fn entry_has_data_as_its_docs_said() {
        use crate::format::{BARE_XTAB, entry_has_data};
        assert!(entry_has_data(0x1000_0005)); // L1 table
        assert!(!entry_has_data(BARE_XTAB));
        assert!(!entry_has_data(0xD000_0005)); // broken
    }
}

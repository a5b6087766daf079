//! The byte layouts of the legacy format: the one place in this crate where
//! bytes of a legacy image become fields and fields become bytes.
//!
//! Everything is in the saving host's byte order, which for every Xen x86
//! toolstack is little-endian; a "ulong" is 4 or 8 bytes by the toolstack's
//! [`Width`]. As in `migration_stream::wire`, each structure is a
//! `#[repr(C)]` struct of zerocopy's little-endian integers with its size
//! pinned by a compile-time assertion, so the struct *is* the layout table.
//! What the v2 stream is written with comes from `migration_stream::wire`
//! and `migration_stream::payload`; this module only knows the legacy side
//! (the layout described in `docs/legacy-format.md`).
//!
//! ```
//! use legacy_convert::wire::TscChunk;
//! use zerocopy::{FromBytes, IntoBytes};
//!
//! // Chunk −7 in legacy field order: mode, nsec, khz, incarnation.
//! let raw = TscChunk::new(1, 5, 7, 9).as_bytes().to_vec();
//! assert_eq!(&raw[4..12], &[5, 0, 0, 0, 0, 0, 0, 0]);
//! let tsc = TscChunk::read_from_bytes(&raw).unwrap();
//! assert_eq!((tsc.mode.get(), tsc.nsec.get(), tsc.khz.get()), (1, 5, 7));
//! ```

use core::mem::size_of;

use zerocopy::byteorder::little_endian;
pub(crate) use zerocopy::{FromBytes, IntoBytes};
use zerocopy::{Immutable, KnownLayout, Unaligned};

use crate::format::Width;

/// A little-endian `u32` of a legacy image.
///
/// ```
/// use legacy_convert::wire::Le32;
/// use zerocopy::IntoBytes;
/// let value = Le32::new(0x1234_5678);
/// assert_eq!(value.as_bytes(), [0x78, 0x56, 0x34, 0x12]);
/// assert_eq!(value.get(), 0x1234_5678);
/// ```
pub type Le32 = little_endian::U32;
/// A little-endian `i32` of a legacy image (chunk markers).
///
/// ```
/// use legacy_convert::wire::LeI32;
/// use zerocopy::IntoBytes;
/// let value = LeI32::new(-2);
/// assert_eq!(value.as_bytes(), [0xfe, 0xff, 0xff, 0xff]);
/// assert_eq!(value.get(), -2);
/// ```
pub type LeI32 = little_endian::I32;
/// A little-endian `u64` of a legacy image.
///
/// ```
/// use legacy_convert::wire::Le64;
/// use zerocopy::IntoBytes;
/// let value = Le64::new(0x0102);
/// assert_eq!(value.as_bytes(), [2, 1, 0, 0, 0, 0, 0, 0]);
/// assert_eq!(value.get(), 0x0102);
/// ```
pub type Le64 = little_endian::U64;

macro_rules! layout {
    ($(#[$doc:meta])* $name:ident, $size:expr, { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(
            FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq,
            Eq,
        )]
        #[repr(C)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)*
        }
        const _: () = assert!(size_of::<$name>() == $size);
    };
}

layout!(
    /// Chunk −7 (TSC_INFO) after its marker (20 bytes), in legacy field order.
    ///
    /// ```
    /// use legacy_convert::wire::TscChunk;
    /// use zerocopy::{FromBytes, IntoBytes};
    /// let chunk = TscChunk::new(1, 2, 3, 4);
    /// assert_eq!(chunk.as_bytes().len(), 20);
    /// let back = TscChunk::read_from_bytes(chunk.as_bytes()).unwrap();
    /// assert_eq!((back.mode.get(), back.nsec.get(), back.khz.get(), back.incarnation.get()), (1, 2, 3, 4));
    /// ```
    TscChunk, 20, {
        /// TSC mode.
        mode: Le32,
        /// Elapsed nanoseconds.
        nsec: Le64,
        /// Guest TSC frequency in kHz.
        khz: Le32,
        /// Incarnation counter.
        incarnation: Le32,
    }
);

impl TscChunk {
    /// The chunk's fields.
    pub fn new(mode: u32, nsec: u64, khz: u32, incarnation: u32) -> Self {
        TscChunk {
            mode: mode.into(),
            nsec: nsec.into(),
            khz: khz.into(),
            incarnation: incarnation.into(),
        }
    }
}

layout!(
    /// An HVM parameter chunk after its marker (12 bytes): `u32 pad, u64 value`.
    ///
    /// ```
    /// use legacy_convert::format::{ChunkId, Width};
    /// use legacy_convert::wire::HvmParamChunk;
    /// use zerocopy::FromBytes;
    /// use legacy_convert::writer::ImageWriter;
    /// let mut image = ImageWriter::new(Vec::new(), Width::W64);
    /// image.hvm_param(ChunkId::HVM_VIRIDIAN, 0x1f)?;
    /// let bytes = image.into_inner(); // the marker, then the chunk
    /// let chunk = HvmParamChunk::read_from_bytes(&bytes[4..]).unwrap();
    /// assert_eq!((chunk.pad.get(), chunk.value.get()), (0, 0x1f));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    HvmParamChunk, 12, {
        /// Structure padding, ignored.
        pad: Le32,
        /// The parameter's value.
        value: Le64,
    }
);

layout!(
    /// The header of a PV extended-info block (8 bytes); `size` data bytes follow.
    ///
    /// ```
    /// use legacy_convert::format::BlockId;
    /// use legacy_convert::wire::BlockHeader;
    /// use zerocopy::FromBytes;
    /// let header = BlockHeader::read_from_bytes(b"xcnt\x50\x02\0\0").unwrap();
    /// assert_eq!((BlockId(header.id), header.size.get()), (BlockId::XCNT, 0x250));
    /// ```
    BlockHeader, 8, {
        /// The block id (`"vcpu"`, `"extv"`, `"xcnt"`).
        id: [u8; 4],
        /// Bytes of data.
        size: Le32,
    }
);

layout!(
    /// The header of a PV vCPU's xsave area (16 bytes); `size` bytes follow.
    ///
    /// ```
    /// use legacy_convert::wire::{Le64, XsaveHeader};
    /// use zerocopy::IntoBytes;
    /// let header = XsaveHeader { xfeature_mask: Le64::new(7), size: Le64::new(0x240) };
    /// assert_eq!(&header.as_bytes()[8..10], [0x40, 0x02]);
    /// ```
    XsaveHeader, 16, {
        /// The xfeature mask.
        xfeature_mask: Le64,
        /// Bytes of xsave data.
        size: Le64,
    }
);

layout!(
    /// The HVM tail's magic pfns (24 bytes).
    ///
    /// ```
    /// use legacy_convert::format::Width;
    /// use legacy_convert::wire::MagicPfns;
    /// use zerocopy::FromBytes;
    /// use legacy_convert::writer::ImageWriter;
    /// let mut tail = ImageWriter::new(Vec::new(), Width::W64);
    /// tail.hvm_tail([0xfeff0, 0xfeff1, 0xfeffc], &[])?;
    /// let (pfns, _) = MagicPfns::read_from_prefix(&tail.into_inner()).unwrap();
    /// assert_eq!((pfns.ioreq.get(), pfns.bufioreq.get(), pfns.store.get()), (0xfeff0, 0xfeff1, 0xfeffc));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    MagicPfns, 24, {
        /// HVM_PARAM_IOREQ_PFN.
        ioreq: Le64,
        /// HVM_PARAM_BUFIOREQ_PFN.
        bufioreq: Le64,
        /// HVM_PARAM_STORE_PFN.
        store: Le64,
    }
);

layout!(
    /// The start of libxl's toolstack blob (chunk −18 data, 8 bytes).
    ///
    /// ```
    /// use legacy_convert::format::Width;
    /// use legacy_convert::wire::ToolstackHeader;
    /// use zerocopy::FromBytes;
    /// use legacy_convert::writer::encode_physmap;
    /// let blob = encode_physmap(Width::W32, &[], 0);
    /// let header = ToolstackHeader::read_from_bytes(&blob).unwrap();
    /// assert_eq!((header.version.get(), header.count.get()), (1, 0));
    /// ```
    ToolstackHeader, 8, {
        /// Blob version: 1.
        version: Le32,
        /// Physmap entries that follow.
        count: Le32,
    }
);

layout!(
    /// One physmap entry's fixed part (28 bytes); `namelen` bytes of name
    /// follow, then 4 bytes of structure padding on a 64-bit toolstack.
    ///
    /// ```
    /// use legacy_convert::format::Width;
    /// use legacy_convert::wire::PhysmapEntryHeader;
    /// use zerocopy::FromBytes;
    /// use legacy_convert::writer::{PhysmapEntry, encode_physmap};
    /// let entry = PhysmapEntry { phys_offset: 0xf000_0000, start_addr: 0xfc00_0000, size: 0x1000, name: Some(b"vga".to_vec()) };
    /// let blob = encode_physmap(Width::W32, &[entry], 0);
    /// let (header, name) = PhysmapEntryHeader::read_from_prefix(&blob[8..]).unwrap();
    /// assert_eq!((header.phys_offset.get(), header.start_addr.get(), header.size.get()), (0xf000_0000, 0xfc00_0000, 0x1000));
    /// assert_eq!((header.namelen.get(), name), (4, &b"vga\0"[..]));
    /// ```
    PhysmapEntryHeader, 28, {
        /// Guest physical offset (the xenstore directory name).
        phys_offset: Le64,
        /// Start address.
        start_addr: Le64,
        /// Size.
        size: Le64,
        /// Bytes of name, including its NUL (0: no name).
        namelen: Le32,
    }
);

/// The ulong of a toolstack of `width`, decoded from the first 4 or 8 bytes
/// of `raw` (`None` when `raw` is shorter).
///
/// ```
/// use legacy_convert::{format::Width, wire::ulong};
/// let raw = [5, 0, 0, 0, 7, 0, 0, 0];
/// assert_eq!(ulong(Width::W32, &raw), Some(5));
/// assert_eq!(ulong(Width::W64, &raw), Some(0x7_0000_0005));
/// assert_eq!(ulong(Width::W64, &raw[..7]), None);
/// ```
pub fn ulong(width: Width, raw: &[u8]) -> Option<u64> {
    match width {
        Width::W32 => Le32::read_from_prefix(raw)
            .ok()
            .map(|(v, _)| u64::from(v.get())),
        Width::W64 => Le64::read_from_prefix(raw).ok().map(|(v, _)| v.get()),
    }
}

/// Every ulong of `raw` (a whole number of them), for pfn lists and frame lists.
pub(crate) fn ulongs(width: Width, raw: &[u8]) -> impl Iterator<Item = u64> + '_ {
    raw.chunks_exact(width.ulong_bytes())
        .filter_map(move |piece| ulong(width, piece))
}

/// The bytes of a ulong of a toolstack of `width` (truncated to 32 bits on a
/// 32-bit toolstack), appended to `out`.
pub(crate) fn put_ulong(out: &mut Vec<u8>, width: Width, value: u64) {
    match width {
        Width::W32 => out.extend_from_slice(Le32::new(value as u32).as_bytes()),
        Width::W64 => out.extend_from_slice(Le64::new(value).as_bytes()),
    }
}

/// The 4 bytes of a `u32`.
pub(crate) fn u32_bytes(value: u32) -> [u8; 4] {
    Le32::new(value).to_bytes()
}

/// The 4 bytes of an `i32` (a chunk marker).
pub(crate) fn i32_bytes(value: i32) -> [u8; 4] {
    LeI32::new(value).to_bytes()
}

/// The 8 bytes of a `u64`.
pub(crate) fn u64_bytes(value: u64) -> [u8; 8] {
    Le64::new(value).to_bytes()
}

/// The `u32` at byte `at` of `raw`, if 4 bytes are there.
pub(crate) fn u32_at(raw: &[u8], at: usize) -> Option<u32> {
    let piece = raw.get(at..)?;
    Le32::read_from_prefix(piece).ok().map(|(v, _)| v.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulongs_as_its_docs_said() {
        use crate::{format::Width, wire::ulongs};
        let raw = [5, 0, 0, 0, 7, 0, 0, 0];
        assert_eq!(ulongs(Width::W32, &raw).collect::<Vec<_>>(), [5, 7]);
        assert_eq!(
            ulongs(Width::W64, &raw).collect::<Vec<_>>(),
            [0x7_0000_0005]
        );
    }

    #[test]
    fn put_ulong_as_its_docs_said() {
        use crate::{format::Width, wire::put_ulong};
        let mut out = Vec::new();
        put_ulong(&mut out, Width::W32, 0x1_0000_0005); // truncated
        put_ulong(&mut out, Width::W64, 7);
        assert_eq!(out, [5, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn u32_bytes_as_its_docs_said() {
        assert_eq!(crate::wire::u32_bytes(0x1448), [0x48, 0x14, 0, 0]);
    }

    #[test]
    fn i32_bytes_as_its_docs_said() {
        assert_eq!(crate::wire::i32_bytes(-2), [0xfe, 0xff, 0xff, 0xff]); // VCPU_INFO
    }

    #[test]
    fn u64_bytes_as_its_docs_said() {
        assert_eq!(crate::wire::u64_bytes(u64::MAX), [0xff; 8]);
    }

    #[test]
    fn u32_at_as_its_docs_said() {
        use crate::wire::u32_at;
        let raw = [5, 0, 0, 0, 7, 0, 0, 0];
        assert_eq!((u32_at(&raw, 0), u32_at(&raw, 4)), (Some(5), Some(7)));
        assert_eq!(u32_at(&raw, 5), None);
    }

    #[test]
    fn ulongs_follow_the_toolstack_width() {
        let mut raw = Vec::new();
        put_ulong(&mut raw, Width::W32, 0x1_0000_0005);
        put_ulong(&mut raw, Width::W32, 7);
        assert_eq!(raw, [5, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(ulongs(Width::W32, &raw).collect::<Vec<_>>(), [5, 7]);
        assert_eq!(
            ulongs(Width::W64, &raw).collect::<Vec<_>>(),
            [0x7_0000_0005]
        );
        assert_eq!(ulong(Width::W64, &raw[..7]), None);
        assert_eq!(u32_at(&raw, 4), Some(7));
        assert_eq!(u32_at(&raw, 5), None);
        assert_eq!(i32_bytes(-2), [0xfe, 0xff, 0xff, 0xff]);
    }
}

//! Writes legacy save images, for tests, fuzz seeds and benchmarks.
//!
//! [`ImageWriter`] writes the pieces of an image one at a time, exactly as a
//! Xen 4.5 saver lays them out (and lets a test write them wrongly on
//! purpose). [`LegacyImage`] describes a whole image as data, which is what
//! the property tests generate and compare against the converted output.
//!
//! ```
//! use legacy_convert::format::{GuestWidth, Width};
//! use legacy_convert::writer::{BodyItem, LegacyImage, PvVcpu};
//!
//! let image = LegacyImage::pv(Width::W32, GuestWidth::W32, 0x20)
//!     .with_body(vec![BodyItem::pages(&[(0, 0x1), (0, 0x2)], 0xab)])
//!     .with_vcpus(vec![PvVcpu::new(0, GuestWidth::W32)]);
//! let bytes = image.to_bytes();
//! assert_eq!(&bytes[..8], &[0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
//! ```

use std::io::{self, Write};

use crate::format::{
    BlockId, ChunkId, GuestType, GuestWidth, PAGE_SIZE, QemuSignature, VCPU_EXTENDED_SIZE, Width,
    entry_has_data,
};
use crate::reader::TscInfo;
use crate::wire::{self, IntoBytes};
use migration_stream::payload::HvmContext;
use migration_stream::types::HvmSaveCode;
use migration_stream::wire::HvmSaveHeader;

/// Writes the pieces of a legacy image in order.
///
/// A PV image piece by piece, read back by the parser:
///
/// ```
/// use legacy_convert::format::{BlockId, GuestType, GuestWidth, Width};
/// use legacy_convert::reader::{BlockKind, Chunk, Event, LegacyReader, TscInfo};
/// use legacy_convert::writer::{ImageWriter, PvVcpu};
///
/// let tsc = TscInfo { mode: 0, nsec: 1, khz: 2_000_000, incarnation: 3 };
/// let vcpu = PvVcpu::new(0, GuestWidth::W64);
/// let mut w = ImageWriter::new(Vec::new(), Width::W64);
/// w.p2m_size(0x10)?;
/// w.extended_info(&[(BlockId::VCPU, &vcpu.basic)])?;
/// w.p2m_frames(&[0x1000])?; // ⌈0x10 / 512⌉ frames
/// w.vcpu_info(0, &[1])?;
/// w.page_batch(&[0x1, 0xF000_0002], &[0xab; 4096])?; // pfn 2 is XTAB: no data
/// w.tsc_info(tsc)?;
/// w.end_of_body()?;
/// w.unmapped_pfns(&[5])?;
/// w.vcpu(&vcpu)?;
/// w.raw(&[0; 4096])?; // the shared info page
/// let image = w.into_inner();
///
/// let mut reader = LegacyReader::new(&image[..]);
/// reader.set_layout(Width::W64, GuestType::Pv);
/// let mut events = Vec::new();
/// loop {
///     match reader.next_event()? {
///         Event::End => break,
///         event => events.push(event),
///     }
/// }
/// assert_eq!(events, [
///     Event::P2mSize(0x10),
///     Event::ExtendedInfo { total_length: 8 + 0x1430 },
///     Event::ExtendedBlock { id: BlockId::VCPU, size: 0x1430, kind: BlockKind::Vcpu(GuestWidth::W64) },
///     Event::P2mFrames { frames_per_page: 512, count: 1 },
///     Event::Chunk(Chunk::VcpuInfo { max_id: 0 }),
///     Event::PageBatch { count: 2, data_pages: 1 },
///     Event::Chunk(Chunk::TscInfo(tsc)),
///     Event::EndOfBody,
///     Event::UnmappedPfns { count: 1 },
///     Event::VcpuBasic { id: 0, size: 0x1430 },
///     Event::SharedInfo,
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// An HVM body and tail, and the pieces' bytes on a 32-bit toolstack:
///
/// ```
/// use legacy_convert::format::{ChunkId, GuestType, QemuSignature, Width};
/// use legacy_convert::reader::{Chunk, Event, LegacyReader};
/// use legacy_convert::writer::{ImageWriter, encode_physmap, hvm_context};
///
/// let mut w = ImageWriter::new(Vec::new(), Width::W64);
/// w.p2m_size(0x100)?;
/// w.hvm_param(ChunkId::HVM_VIRIDIAN, 1)?;
/// w.toolstack(&encode_physmap(Width::W64, &[], 0))?;
/// w.end_of_body()?;
/// w.hvm_tail([0xfeff0, 0xfeff1, 0xfeffc], &hvm_context(0, 0))?;
/// w.qemu(QemuSignature::DeviceModelRecord0002, b"QEVM")?;
/// let image = w.into_inner();
/// let mut reader = LegacyReader::new(&image[..]);
/// reader.set_layout(Width::W64, GuestType::Hvm);
/// let mut events = Vec::new();
/// loop {
///     match reader.next_event()? {
///         Event::End => break,
///         event => events.push(event),
///     }
/// }
/// assert_eq!(events[1], Event::Chunk(Chunk::HvmParam { id: ChunkId::HVM_VIRIDIAN, param: 9, value: 1 }));
/// assert_eq!(events[2], Event::Chunk(Chunk::Toolstack { size: 8 }));
/// assert_eq!(events[4], Event::MagicPfns { ioreq: 0xfeff0, bufioreq: 0xfeff1, store: 0xfeffc });
/// assert_eq!(events[6], Event::Qemu { signature: QemuSignature::DeviceModelRecord0002, size: Some(4) });
///
/// let mut w = ImageWriter::new(Vec::new(), Width::W32);
/// w.ulong(0x1_0000_0005)?; // truncated to 32 bits
/// w.marker(ChunkId::LAST_CHECKPOINT.0)?;
/// w.compressed_data(b"zz")?;
/// w.extended_info_with_length(99, &[])?; // a wrong length, on purpose
/// assert_eq!(w.into_inner(), [
///     5, 0, 0, 0,
///     0xf7, 0xff, 0xff, 0xff,
///     0xf4, 0xff, 0xff, 0xff, 2, 0, 0, 0, b'z', b'z',
///     0xff, 0xff, 0xff, 0xff, 99, 0, 0, 0,
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ImageWriter<W> {
    inner: W,
    width: Width,
}

impl<W: Write> ImageWriter<W> {
    /// A writer for a toolstack of `width`.
    pub fn new(inner: W, width: Width) -> Self {
        ImageWriter { inner, width }
    }

    /// Gives back the sink.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Raw bytes, for damaged images in tests.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)
    }

    /// One ulong of the toolstack's width (truncated to 32 bits on a 32-bit toolstack).
    pub fn ulong(&mut self, value: u64) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(8);
        wire::put_ulong(&mut bytes, self.width, value);
        self.inner.write_all(&bytes)
    }

    fn u32(&mut self, value: u32) -> io::Result<()> {
        self.inner.write_all(&wire::u32_bytes(value))
    }

    fn i32(&mut self, value: i32) -> io::Result<()> {
        self.inner.write_all(&wire::i32_bytes(value))
    }

    fn u64(&mut self, value: u64) -> io::Result<()> {
        self.inner.write_all(&wire::u64_bytes(value))
    }

    /// The header's p2m size.
    pub fn p2m_size(&mut self, p2m_size: u64) -> io::Result<()> {
        self.ulong(p2m_size)
    }

    /// PV extended info: the all-ones marker, the total length (the sum of the
    /// blocks, as the saver computes it) and the blocks.
    pub fn extended_info(&mut self, blocks: &[(BlockId, &[u8])]) -> io::Result<()> {
        let total: usize = blocks.iter().map(|(_, data)| 8 + data.len()).sum();
        self.extended_info_with_length(total as u32, blocks)
    }

    /// PV extended info with a given total length (which may be wrong on purpose).
    pub fn extended_info_with_length(
        &mut self,
        total_length: u32,
        blocks: &[(BlockId, &[u8])],
    ) -> io::Result<()> {
        self.ulong(u64::MAX)?;
        self.u32(total_length)?;
        for (id, data) in blocks {
            self.inner.write_all(&id.0)?;
            self.u32(data.len() as u32)?;
            self.inner.write_all(data)?;
        }
        Ok(())
    }

    /// PV p2m frame list.
    pub fn p2m_frames(&mut self, frames: &[u64]) -> io::Result<()> {
        frames.iter().try_for_each(|&f| self.ulong(f))
    }

    /// A page batch: the count, the pfn_type entries, then `pages` (which must
    /// hold 4096 bytes for every entry with data, in order).
    pub fn page_batch(&mut self, entries: &[u64], pages: &[u8]) -> io::Result<()> {
        self.i32(entries.len() as i32)?;
        self.p2m_frames(entries)?;
        self.inner.write_all(pages)
    }

    /// A chunk marker with no payload (−1, −9, −13, or any number at all).
    pub fn marker(&mut self, marker: i32) -> io::Result<()> {
        self.i32(marker)
    }

    /// VCPU_INFO (−2): `max_id` and the online map words.
    pub fn vcpu_info(&mut self, max_id: i32, map: &[u64]) -> io::Result<()> {
        self.i32(ChunkId::VCPU_INFO.0)?;
        self.i32(max_id)?;
        map.iter().try_for_each(|&w| self.u64(w))
    }

    /// A `u32 pad, u64 value` chunk.
    pub fn hvm_param(&mut self, id: ChunkId, value: u64) -> io::Result<()> {
        self.i32(id.0)?;
        self.u32(0)?;
        self.u64(value)
    }

    /// TSC_INFO (−7) in legacy field order.
    pub fn tsc_info(&mut self, tsc: TscInfo) -> io::Result<()> {
        self.i32(ChunkId::TSC_INFO.0)?;
        let chunk = wire::TscChunk::new(tsc.mode, tsc.nsec, tsc.khz, tsc.incarnation);
        self.inner.write_all(chunk.as_bytes())
    }

    /// TOOLSTACK (−18): `u32 len` and the blob.
    pub fn toolstack(&mut self, blob: &[u8]) -> io::Result<()> {
        self.i32(ChunkId::TOOLSTACK.0)?;
        self.u32(blob.len() as u32)?;
        self.inner.write_all(blob)
    }

    /// COMPRESSED_DATA (−12): `ulong size` and the data.
    pub fn compressed_data(&mut self, data: &[u8]) -> io::Result<()> {
        self.i32(ChunkId::COMPRESSED_DATA.0)?;
        self.ulong(data.len() as u64)?;
        self.inner.write_all(data)
    }

    /// Marker 0: the end of the body.
    pub fn end_of_body(&mut self) -> io::Result<()> {
        self.i32(0)
    }

    /// PV tail: the unmapped pfn list.
    pub fn unmapped_pfns(&mut self, pfns: &[u64]) -> io::Result<()> {
        self.u32(pfns.len() as u32)?;
        self.p2m_frames(pfns)
    }

    /// PV tail: one vCPU's state (basic, then extended and xsave when given).
    pub fn vcpu(&mut self, vcpu: &PvVcpu) -> io::Result<()> {
        self.inner.write_all(&vcpu.basic)?;
        if let Some(extended) = &vcpu.extended {
            self.inner.write_all(extended)?;
        }
        if let Some((mask, area)) = &vcpu.xsave {
            self.u64(*mask)?;
            self.u64(area.len() as u64)?;
            self.inner.write_all(area)?;
        }
        Ok(())
    }

    /// HVM tail: the magic pfns (ioreq, bufioreq, store) and the HVM context.
    pub fn hvm_tail(&mut self, magic_pfns: [u64; 3], context: &[u8]) -> io::Result<()> {
        magic_pfns.iter().try_for_each(|&p| self.u64(p))?;
        self.u32(context.len() as u32)?;
        self.inner.write_all(context)
    }

    /// The qemu record: signature, then `u32 len` when the signature has one, then the data.
    pub fn qemu(&mut self, signature: QemuSignature, data: &[u8]) -> io::Result<()> {
        self.inner.write_all(signature.bytes())?;
        if signature.is_length_prefixed() {
            self.u32(data.len() as u32)?;
        }
        self.inner.write_all(data)
    }
}

/// One entry of the libxl physmap ("toolstack") blob.
///
/// ```
/// use legacy_convert::format::Width;
/// use legacy_convert::writer::{PhysmapEntry, encode_physmap};
/// let named = PhysmapEntry { phys_offset: 0xf000_0000, start_addr: 0xfc00_0000, size: 0x80_0000, name: Some(b"vga".to_vec()) };
/// let unnamed = PhysmapEntry { name: None, ..named.clone() };
/// // 8 bytes of blob header; 28 per entry, its name with a NUL.
/// assert_eq!(encode_physmap(Width::W32, &[named], 0).len(), 8 + 28 + 4);
/// assert_eq!(encode_physmap(Width::W32, &[unnamed], 0).len(), 8 + 28);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysmapEntry {
    /// Guest physical offset (the xenstore directory name).
    pub phys_offset: u64,
    /// Start address.
    pub start_addr: u64,
    /// Size.
    pub size: u64,
    /// Name without its NUL; `None` writes `namelen` 0 (no name in xenstore).
    pub name: Option<Vec<u8>>,
}

/// Encodes a physmap blob (version 1) as libxl 4.5 wrote it on a toolstack of
/// `width`: on 64-bit toolstacks every entry is followed by 4 bytes of
/// structure padding, which the writer left as garbage (`slack` fills them).
///
/// ```
/// use legacy_convert::format::Width;
/// use legacy_convert::writer::{PhysmapEntry, encode_physmap};
/// let entry = PhysmapEntry { phys_offset: 1, start_addr: 2, size: 3, name: Some(b"rom".to_vec()) };
/// let blob = encode_physmap(Width::W64, &[entry], 0xee);
/// assert_eq!(&blob[..8], [1, 0, 0, 0, 1, 0, 0, 0]); // version 1, one entry
/// assert_eq!(&blob[8 + 28..], b"rom\0\xee\xee\xee\xee"); // name, then 64-bit padding
/// ```
pub fn encode_physmap(width: Width, entries: &[PhysmapEntry], slack: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let header = wire::ToolstackHeader {
        version: 1.into(),
        count: (entries.len() as u32).into(),
    };
    out.extend_from_slice(header.as_bytes());
    for entry in entries {
        let namelen = entry.name.as_ref().map_or(0, |name| name.len() as u32 + 1);
        let fixed = wire::PhysmapEntryHeader {
            phys_offset: entry.phys_offset.into(),
            start_addr: entry.start_addr.into(),
            size: entry.size.into(),
            namelen: namelen.into(),
        };
        out.extend_from_slice(fixed.as_bytes());
        if let Some(name) = &entry.name {
            out.extend_from_slice(name);
            out.push(0);
        }
        if width == Width::W64 {
            out.extend_from_slice(&[slack; 4]);
        }
    }
    out
}

/// One item of an image body, as data.
///
/// ```
/// use legacy_convert::format::{ChunkId, GuestType, Width};
/// use legacy_convert::reader::{Chunk, Event, LegacyReader, TscInfo};
/// use legacy_convert::writer::{BodyItem, LegacyImage};
///
/// let body = vec![
///     BodyItem::vcpu_info(&[0, 1, 65]),
///     BodyItem::HvmParam { id: ChunkId::HVM_VIRIDIAN, value: 1 },
///     BodyItem::Tsc(TscInfo::default()),
///     BodyItem::VerifyMode,
///     BodyItem::pages(&[(0, 7)], 0), // one normal page of pfn 7
///     BodyItem::LastCheckpoint,
/// ];
/// assert_eq!(body[0], BodyItem::VcpuInfo { max_id: 65, map: vec![0b11, 0b10] });
/// let image = LegacyImage::hvm(Width::W64, 0x100).with_body(body).to_bytes();
/// let mut reader = LegacyReader::new(&image[..]);
/// reader.set_layout(Width::W64, GuestType::Hvm);
/// let mut chunks = Vec::new();
/// loop {
///     match reader.next_event()? {
///         Event::Chunk(chunk) => chunks.push(chunk),
///         Event::PageBatch { count, .. } => assert_eq!(reader.batch(), [7], "{count}"),
///         Event::EndOfBody => break,
///         _ => {}
///     }
/// }
/// assert_eq!(chunks.len(), 5);
/// assert_eq!(reader.online_vcpus().collect::<Vec<_>>(), [0, 1, 65]);
/// assert_eq!(chunks.last(), Some(&Chunk::LastCheckpoint));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyItem {
    /// A page batch: raw pfn_type entries and the data of the entries that carry it.
    Pages {
        /// pfn_type entries (type in bits 31..28, pfn in 27..0).
        entries: Vec<u64>,
        /// 4096 bytes per data-carrying entry.
        data: Vec<u8>,
    },
    /// −1.
    VerifyMode,
    /// −2 with `max_id` and the online map.
    VcpuInfo {
        /// Highest vCPU id.
        max_id: i32,
        /// Map words.
        map: Vec<u64>,
    },
    /// An HVM parameter chunk.
    HvmParam {
        /// Which chunk.
        id: ChunkId,
        /// Its value.
        value: u64,
    },
    /// −7.
    Tsc(TscInfo),
    /// −9.
    LastCheckpoint,
    /// −18 with a blob.
    Toolstack(Vec<u8>),
    /// Bytes written as they are (a chunk this model has no variant for).
    Raw(Vec<u8>),
}

impl BodyItem {
    /// A batch of `(page type, pfn)` pairs whose pages are filled with a
    /// pattern derived from `seed` and the pfn.
    pub fn pages(pages: &[(u8, u64)], seed: u8) -> BodyItem {
        let entries: Vec<u64> = pages
            .iter()
            .map(|&(ty, pfn)| (u64::from(ty & 0xF) << 28) | (pfn & 0x0FFF_FFFF))
            .collect();
        let mut data = Vec::new();
        for &entry in &entries {
            if entry_has_data(entry) {
                data.extend(page_pattern(seed, entry));
            }
        }
        BodyItem::Pages { entries, data }
    }

    /// VCPU_INFO for a set of online vCPU ids (`max_id` is the largest id).
    pub fn vcpu_info(online: &[u32]) -> BodyItem {
        let max_id = online.iter().copied().max().unwrap_or(0);
        let mut map = vec![0u64; (max_id / 64 + 1) as usize];
        for &id in online {
            if let Some(word) = map.get_mut((id / 64) as usize) {
                *word |= 1 << (id % 64);
            }
        }
        BodyItem::VcpuInfo {
            max_id: max_id as i32,
            map,
        }
    }

    fn write_to<W: Write>(&self, w: &mut ImageWriter<W>) -> io::Result<()> {
        match self {
            BodyItem::Pages { entries, data } => w.page_batch(entries, data),
            BodyItem::VerifyMode => w.marker(ChunkId::ENABLE_VERIFY_MODE.0),
            BodyItem::VcpuInfo { max_id, map } => w.vcpu_info(*max_id, map),
            BodyItem::HvmParam { id, value } => w.hvm_param(*id, *value),
            BodyItem::Tsc(tsc) => w.tsc_info(*tsc),
            BodyItem::LastCheckpoint => w.marker(ChunkId::LAST_CHECKPOINT.0),
            BodyItem::Toolstack(blob) => w.toolstack(blob),
            BodyItem::Raw(bytes) => w.raw(bytes),
        }
    }
}

/// 4096 bytes that differ from page to page: a cheap pattern from a seed and the entry.
pub(crate) fn page_pattern(seed: u8, entry: u64) -> impl Iterator<Item = u8> {
    let mut state = u64::from(seed) ^ entry.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66;
    (0..PAGE_SIZE).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    })
}

/// A PV vCPU's state in the tail.
///
/// ```
/// use legacy_convert::format::{GuestWidth, Width};
/// use legacy_convert::writer::{GuestParts, LegacyImage, PvVcpu, extended_context};
/// use legacy_convert::{Options, convert, convert::Quiet};
///
/// let mut vcpu = PvVcpu::new(1, GuestWidth::W32);
/// assert_eq!(vcpu.basic.len(), 0xAF0);
/// vcpu.extended = Some(extended_context(1));
/// vcpu.xsave = Some((0x7, vec![0; 0x240]));
/// let mut image = LegacyImage::pv(Width::W32, GuestWidth::W32, 0x20).with_vcpus(vec![vcpu]);
/// if let GuestParts::Pv(pv) = &mut image.guest {
///     pv.extv = true;
///     pv.xsave_size = Some(0x240);
/// }
/// let summary = convert(&image.to_bytes()[..], &mut Vec::new(), &Options::default(), &mut Quiet)?;
/// assert_eq!(summary.width, Width::W32);
/// # Ok::<(), legacy_convert::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvVcpu {
    /// The vCPU id (must be online in the VCPU_INFO map).
    pub id: u32,
    /// Basic context (0x1430 or 0xAF0 bytes).
    pub basic: Vec<u8>,
    /// Extended context (128 bytes), when the image has `"extv"`.
    pub extended: Option<Vec<u8>>,
    /// xfeature mask and xsave area, when the image has `"xcnt"`.
    pub xsave: Option<(u64, Vec<u8>)>,
}

impl PvVcpu {
    /// A vCPU with a patterned basic context and nothing else.
    pub fn new(id: u32, width: GuestWidth) -> PvVcpu {
        let basic = (0..width.context_size())
            .map(|i| (i as u8) ^ (id as u8).wrapping_mul(31))
            .collect();
        PvVcpu {
            id,
            basic,
            extended: None,
            xsave: None,
        }
    }
}

/// The PV-only parts of an image.
///
/// ```
/// use legacy_convert::format::{GuestWidth, Width};
/// use legacy_convert::writer::{GuestParts, LegacyImage};
/// let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x1000);
/// let GuestParts::Pv(pv) = &image.guest else { unreachable!() };
/// assert_eq!(pv.frames.len(), 8); // 0x1000 pfns, 512 per frame
/// assert_eq!(pv.shared_info.len(), 4096);
/// assert!(!pv.extv && pv.xsave_size.is_none() && pv.vcpus.is_empty() && pv.unmapped.is_empty());
/// assert_eq!(pv.guest_width, GuestWidth::W64);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvParts {
    /// Guest width (decides the `"vcpu"` block size).
    pub guest_width: GuestWidth,
    /// Write the `"extv"` block.
    pub extv: bool,
    /// Write an `"xcnt"` block with this xsave area size (+16 on the wire).
    pub xsave_size: Option<u32>,
    /// The p2m frame list (must have ⌈p2m_size / fpp⌉ entries).
    pub frames: Vec<u64>,
    /// Unmapped pfns in the tail.
    pub unmapped: Vec<u64>,
    /// vCPUs in the tail, ascending ids.
    pub vcpus: Vec<PvVcpu>,
    /// The shared info page.
    pub shared_info: Vec<u8>,
}

/// The HVM-only parts of an image.
///
/// ```
/// use legacy_convert::format::{QemuSignature, Width};
/// use legacy_convert::writer::{GuestParts, HvmParts, LegacyImage, hvm_context};
/// use legacy_convert::{Options, OutputFormat, convert, convert::Quiet};
///
/// let mut image = LegacyImage::hvm(Width::W64, 0x100);
/// image.guest = GuestParts::Hvm(HvmParts {
///     magic_pfns: [0xfeff0, 0xfeff1, 0xfeffc],
///     context: hvm_context(0x0004_0005_0000_0000, 0x000A_0655),
///     qemu: Some((QemuSignature::RemusDeviceModelState, b"state".to_vec())),
/// });
/// let mut options = Options::default();
/// options.format = OutputFormat::Libxl;
/// let mut out = Vec::new();
/// convert(&image.to_bytes()[..], &mut out, &options, &mut Quiet)?;
/// assert!(out.windows(5).any(|w| w == b"state"), "the qemu data travels in the libxl stream");
/// # Ok::<(), legacy_convert::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HvmParts {
    /// ioreq, bufioreq and store pfns.
    pub magic_pfns: [u64; 3],
    /// The HVM context blob.
    pub context: Vec<u8>,
    /// The qemu record, if written.
    pub qemu: Option<(QemuSignature, Vec<u8>)>,
}

/// Guest-type specific parts of an image.
///
/// ```
/// use legacy_convert::format::{GuestType, GuestWidth, Width};
/// use legacy_convert::writer::{GuestParts, LegacyImage};
/// let images = [LegacyImage::hvm(Width::W32, 0x100), LegacyImage::pv(Width::W32, GuestWidth::W32, 0x100)];
/// for image in &images {
///     match &image.guest {
///         GuestParts::Hvm(hvm) => assert!(hvm.qemu.is_some()),
///         GuestParts::Pv(pv) => assert_eq!(pv.guest_width, GuestWidth::W32),
///     }
/// }
/// assert_eq!(images.map(|i| i.guest_type()), [GuestType::Hvm, GuestType::Pv]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestParts {
    /// A PV guest.
    Pv(PvParts),
    /// An HVM guest.
    Hvm(HvmParts),
}

/// A whole legacy image, as data.
///
/// ```
/// use legacy_convert::format::{GuestType, Width};
/// use legacy_convert::probe::probe;
/// use legacy_convert::writer::{BodyItem, LegacyImage};
///
/// let image = LegacyImage::hvm(Width::W32, 0x100).with_body(vec![BodyItem::pages(&[(0, 1)], 9)]);
/// assert_eq!((image.width, image.p2m_size, image.guest_type()), (Width::W32, 0x100, GuestType::Hvm));
/// let bytes = image.write_to(Vec::new())?;
/// assert_eq!(bytes, image.to_bytes());
/// let found = probe(&bytes)?;
/// assert_eq!((found.width, found.guest), (Width::W32, GuestType::Hvm));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyImage {
    /// The toolstack width.
    pub width: Width,
    /// The header's p2m size.
    pub p2m_size: u64,
    /// Body items, in order (the 0 marker is added by the writer).
    pub body: Vec<BodyItem>,
    /// The guest-type specific parts.
    pub guest: GuestParts,
}

impl LegacyImage {
    /// A PV image with a frame list of the right length, an empty body and no vCPUs.
    ///
    /// ```
    /// use legacy_convert::format::{GuestType, GuestWidth, Width};
    /// use legacy_convert::writer::{GuestParts, LegacyImage};
    ///
    /// // A 64-bit guest's frame list page holds 512 pfns: 0x201 pfns need two.
    /// let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x201);
    /// assert_eq!(image.guest_type(), GuestType::Pv);
    /// let GuestParts::Pv(pv) = &image.guest else { unreachable!() };
    /// assert_eq!((pv.frames.len(), pv.vcpus.len(), image.body.len()), (2, 0, 0));
    /// ```
    pub fn pv(width: Width, guest_width: GuestWidth, p2m_size: u64) -> LegacyImage {
        let frames = p2m_size.saturating_sub(1) / guest_width.frames_per_page() + 1;
        LegacyImage {
            width,
            p2m_size,
            body: Vec::new(),
            guest: GuestParts::Pv(PvParts {
                guest_width,
                extv: false,
                xsave_size: None,
                frames: (0..frames).map(|i| 0x1000 + i).collect(),
                unmapped: Vec::new(),
                vcpus: Vec::new(),
                shared_info: (0..PAGE_SIZE).map(|i| (i % 251) as u8).collect(),
            }),
        }
    }

    /// An HVM image with an empty body, a small context and a `DeviceModelRecord0002`.
    pub fn hvm(width: Width, p2m_size: u64) -> LegacyImage {
        LegacyImage {
            width,
            p2m_size,
            body: Vec::new(),
            guest: GuestParts::Hvm(HvmParts {
                magic_pfns: [0xfeff0, 0xfeff1, 0xfeffc],
                context: hvm_context(0x0004_0005_0000_0000, 0x000A_0655),
                qemu: Some((QemuSignature::DeviceModelRecord0002, b"QEVM qemu".to_vec())),
            }),
        }
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: Vec<BodyItem>) -> LegacyImage {
        self.body = body;
        self
    }

    /// PV: replaces the tail vCPUs and puts a matching VCPU_INFO chunk first in the body.
    ///
    /// ```
    /// use legacy_convert::format::{GuestWidth, Width};
    /// use legacy_convert::writer::{GuestParts, LegacyImage, PvVcpu};
    ///
    /// let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10)
    ///     .with_vcpus(vec![PvVcpu::new(0, GuestWidth::W64), PvVcpu::new(1, GuestWidth::W64)]);
    /// let GuestParts::Pv(pv) = &image.guest else { unreachable!() };
    /// assert_eq!(pv.vcpus.iter().map(|v| v.id).collect::<Vec<_>>(), [0, 1]);
    /// assert_eq!(image.body.len(), 1, "the VCPU_INFO chunk");
    /// ```
    pub fn with_vcpus(mut self, vcpus: Vec<PvVcpu>) -> LegacyImage {
        let ids: Vec<u32> = vcpus.iter().map(|v| v.id).collect();
        self.body.insert(0, BodyItem::vcpu_info(&ids));
        if let GuestParts::Pv(pv) = &mut self.guest {
            pv.vcpus = vcpus;
        }
        self
    }

    /// The guest type.
    pub fn guest_type(&self) -> GuestType {
        match self.guest {
            GuestParts::Pv(_) => GuestType::Pv,
            GuestParts::Hvm(_) => GuestType::Hvm,
        }
    }

    /// Writes the image.
    pub fn write_to<W: Write>(&self, inner: W) -> io::Result<W> {
        let mut w = ImageWriter::new(inner, self.width);
        w.p2m_size(self.p2m_size)?;
        if let GuestParts::Pv(pv) = &self.guest {
            let vcpu0: Vec<u8> = match pv.vcpus.first() {
                Some(v) if v.basic.len() == pv.guest_width.context_size() as usize => {
                    v.basic.clone()
                }
                _ => vec![0; pv.guest_width.context_size() as usize],
            };
            let xcnt = pv.xsave_size.map(|s| wire::u32_bytes(s + 16));
            let mut blocks: Vec<(BlockId, &[u8])> = vec![(BlockId::VCPU, &vcpu0[..])];
            if pv.extv {
                blocks.push((BlockId::EXTV, &[]));
            }
            if let Some(xcnt) = &xcnt {
                blocks.push((BlockId::XCNT, &xcnt[..]));
            }
            w.extended_info(&blocks)?;
            w.p2m_frames(&pv.frames)?;
        }
        for item in &self.body {
            item.write_to(&mut w)?;
        }
        w.end_of_body()?;
        match &self.guest {
            GuestParts::Pv(pv) => {
                w.unmapped_pfns(&pv.unmapped)?;
                for vcpu in &pv.vcpus {
                    w.vcpu(vcpu)?;
                }
                w.raw(&pv.shared_info)?;
            }
            GuestParts::Hvm(hvm) => {
                w.hvm_tail(hvm.magic_pfns, &hvm.context)?;
                if let Some((signature, data)) = &hvm.qemu {
                    w.qemu(*signature, data)?;
                }
            }
        }
        Ok(w.into_inner())
    }

    /// The image as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self.write_to(Vec::new()) {
            Ok(bytes) => bytes,
            Err(_) => unreachable!("writing to a Vec cannot fail"),
        }
    }
}

/// A patterned extended vCPU context.
///
/// ```
/// use legacy_convert::format::VCPU_EXTENDED_SIZE;
/// use legacy_convert::writer::extended_context;
/// let context = extended_context(2);
/// assert_eq!(context.len(), VCPU_EXTENDED_SIZE as usize);
/// assert_eq!(&context[..3], [2, 3, 4]);
/// ```
pub fn extended_context(id: u32) -> Vec<u8> {
    (0..VCPU_EXTENDED_SIZE)
        .map(|i| (i as u8).wrapping_add(id as u8))
        .collect()
}

/// A minimal well-formed HVM context: the HEADER descriptor (magic
/// 0x54381286, version 1, the saving Xen's `changeset` and CPUID leaf 1 EAX)
/// and the END descriptor.
///
/// ```
/// use legacy_convert::writer::hvm_context;
/// use migration_stream::payload::HvmContext;
/// use migration_stream::types::{HVM_FILE_MAGIC, HvmSaveCode};
///
/// let blob = hvm_context(0x0004_0005_0000_0000, 0x000A_0655);
/// let context = HvmContext::parse(&blob)?;
/// let header = context.iter().next().expect("HEADER")?;
/// let save = header.save_header().expect("a save header");
/// assert_eq!((save.magic.get(), save.changeset.get(), save.cpuid.get()), (HVM_FILE_MAGIC, 0x0004_0005_0000_0000, 0x000A_0655));
/// assert_eq!(context.iter().last().expect("END")?.code, HvmSaveCode::END);
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
pub fn hvm_context(changeset: u64, cpuid: u32) -> Vec<u8> {
    let header = HvmSaveHeader::new(changeset, cpuid, 2_400_000);
    HvmContext::encode(&[
        (HvmSaveCode::HEADER, 0, header.as_bytes()),
        (HvmSaveCode::END, 0, &[]),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_pattern_as_its_docs_said() {
        use crate::writer::{BodyItem, page_pattern};
        let page: Vec<u8> = page_pattern(1, 0x7).collect();
        assert_eq!(page.len(), 4096);
        assert_ne!(page, page_pattern(1, 0x8).collect::<Vec<_>>());
        assert_eq!(
            page,
            page_pattern(1, 0x7).collect::<Vec<_>>(),
            "the same seed and entry, the same page"
        );
        // What BodyItem::pages fills the pages with:
        assert!(
            matches!(BodyItem::pages(&[(0, 7)], 1), BodyItem::Pages { data, .. } if data == page)
        );
    }
}

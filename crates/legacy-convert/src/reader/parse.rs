//! The items of a legacy image, one parser per item, in file order: the
//! header, the PV extended info and frame list, the body's chunks and page
//! batches, the PV and HVM tails.

use std::io::Read;

use super::{BlockKind, Chunk, Event, LegacyReader, Payload, State, TscInfo, VcpuPart};
use crate::error::{Error, ErrorKind};
use crate::format::{
    BARE_XTAB, BlockId, ChunkId, GuestType, GuestWidth, MAX_BATCH, MAX_VCPU_ID, PAGE_SIZE,
    PFN_MASK, PFN_TYPE_MASK, QemuSignature, VCPU_EXTENDED_SIZE, entry_has_data,
    entry_type_is_invalid, entry_type_is_page_table,
};
use crate::wire::{self, BlockHeader, HvmParamChunk, MagicPfns, TscChunk, XsaveHeader};

impl<R: Read> LegacyReader<R> {
    /// The next item of the image. After [`Event::End`] it keeps returning `End`.
    pub fn next_event(&mut self) -> Result<Event, Error> {
        if self.state == State::P2mFrames && self.frames_left > 0 {
            // Frames the caller did not read are skipped with the payload.
            self.frames_left = 0;
        }
        self.skip_rest_of_payload()?;
        self.item_offset = self.offset();
        match self.state {
            State::Start => self.read_p2m_size(),
            State::ExtendedInfoHeader => self.read_extended_info_header(),
            State::ExtendedBlocks { total, so_far } => self.read_extended_block(total, so_far),
            State::P2mFrames => {
                self.state = State::Body;
                self.read_body_item()
            }
            State::Body => self.read_body_item(),
            State::PvTail => self.read_unmapped(),
            State::PvVcpus { next_id, part } => self.read_vcpu(next_id, part),
            State::SharedInfo => {
                self.state = State::Done;
                self.set_payload(PAGE_SIZE as u64, "shared info page");
                Ok(Event::SharedInfo)
            }
            State::HvmTail => self.read_magic_pfns(),
            State::HvmContext => self.read_hvm_context(),
            State::Qemu => self.read_qemu(),
            State::Done => Ok(Event::End),
        }
    }

    fn read_p2m_size(&mut self) -> Result<Event, Error> {
        let p2m_size = self.read_ulong("p2m size")?;
        self.p2m_size = p2m_size;
        self.state = match self.guest {
            GuestType::Pv => State::ExtendedInfoHeader,
            GuestType::Hvm => State::Body,
        };
        Ok(Event::P2mSize(p2m_size))
    }

    fn read_extended_info_header(&mut self) -> Result<Event, Error> {
        let marker = self.read_ulong("extended info marker")?;
        if marker != self.width.all_ones() {
            return Err(self.error(ErrorKind::BadExtendedInfoMarker {
                found: marker,
                width: self.width,
            }));
        }
        let total_length = self.read_u32("extended info length")?;
        self.state = State::ExtendedBlocks {
            total: total_length,
            so_far: 0,
        };
        Ok(Event::ExtendedInfo { total_length })
    }

    fn read_extended_block(&mut self, total: u32, so_far: u64) -> Result<Event, Error> {
        if so_far >= u64::from(total) {
            if so_far != u64::from(total) {
                return Err(self.error(ErrorKind::ExtendedInfoOvershoot {
                    blocks: so_far,
                    total,
                }));
            }
            return self.start_p2m_frames();
        }
        let header: BlockHeader = self.read_item("extended info block header")?;
        let (id, size) = (BlockId(header.id), header.size.get());
        let so_far = so_far + 8 + u64::from(size);
        self.state = State::ExtendedBlocks { total, so_far };
        let kind = match id {
            BlockId::VCPU => self.vcpu_block(size)?,
            BlockId::EXTV => {
                self.pv.extended = true;
                self.set_payload(u64::from(size), "\"extv\" block data");
                BlockKind::Extv
            }
            BlockId::XCNT => self.xcnt_block(size)?,
            other => return Err(self.error(ErrorKind::UnknownExtendedBlock { id: other })),
        };
        Ok(Event::ExtendedBlock { id, size, kind })
    }

    fn vcpu_block(&mut self, size: u32) -> Result<BlockKind, Error> {
        let Some(width) = GuestWidth::from_context_size(size) else {
            return Err(self.error(ErrorKind::BadVcpuBlockSize { size }));
        };
        if self.pv.guest_width.is_some() {
            return Err(self.error(ErrorKind::DuplicateVcpuBlock));
        }
        self.pv.guest_width = Some(width);
        self.set_payload(u64::from(size), "vcpu0 context");
        Ok(BlockKind::Vcpu(width))
    }

    fn xcnt_block(&mut self, size: u32) -> Result<BlockKind, Error> {
        if size < 4 {
            return Err(self.error(ErrorKind::ShortXcntBlock { size }));
        }
        let xsave_len = self.read_u32("xcnt size")?;
        // The xsave area starts with xcr0 and xcr0_accum (16 bytes).
        if xsave_len != 0 && xsave_len < 32 {
            return Err(self.error(ErrorKind::BadXcntSize { size: xsave_len }));
        }
        self.pv.xsave_len = xsave_len;
        self.set_payload(u64::from(size) - 4, "\"xcnt\" block data");
        Ok(BlockKind::Xcnt { xsave_len })
    }

    fn start_p2m_frames(&mut self) -> Result<Event, Error> {
        let Some(width) = self.pv.guest_width else {
            return Err(self.error(ErrorKind::MissingVcpuBlock));
        };
        if self.p2m_size == 0 || self.p2m_size > 1 << 32 {
            return Err(self.error(ErrorKind::P2mSizeOutOfRange {
                p2m_size: self.p2m_size,
            }));
        }
        let frames_per_page = width.frames_per_page();
        let count = (self.p2m_size - 1) / frames_per_page + 1;
        self.state = State::P2mFrames;
        self.frames_left = count;
        self.set_payload(count * self.width.ulong_bytes() as u64, "p2m frame list");
        Ok(Event::P2mFrames {
            frames_per_page,
            count,
        })
    }

    fn read_body_item(&mut self) -> Result<Event, Error> {
        self.chunk_index += 1;
        let marker = self.read_i32("chunk marker")?;
        if marker > 0 {
            return self.read_batch(marker as u32);
        }
        let id = ChunkId(marker);
        match id {
            ChunkId::END => {
                self.state = match self.guest {
                    GuestType::Pv => State::PvTail,
                    GuestType::Hvm => State::HvmTail,
                };
                Ok(Event::EndOfBody)
            }
            ChunkId::ENABLE_VERIFY_MODE => Ok(Event::Chunk(Chunk::EnableVerifyMode)),
            ChunkId::VCPU_INFO => self.read_vcpu_info(),
            ChunkId::TSC_INFO => {
                let raw: TscChunk = self.read_item("TSC info")?;
                Ok(Event::Chunk(Chunk::TscInfo(TscInfo {
                    mode: raw.mode.get(),
                    nsec: raw.nsec.get(),
                    khz: raw.khz.get(),
                    incarnation: raw.incarnation.get(),
                })))
            }
            ChunkId::LAST_CHECKPOINT => Ok(Event::Chunk(Chunk::LastCheckpoint)),
            ChunkId::TOOLSTACK => {
                let size = self.read_u32("toolstack data size")?;
                self.set_payload(u64::from(size), "toolstack data");
                Ok(Event::Chunk(Chunk::Toolstack { size }))
            }
            ChunkId::TMEM | ChunkId::TMEM_EXTRA => Err(self.error(ErrorKind::Tmem { chunk: id })),
            ChunkId::COMPRESSED_DATA | ChunkId::ENABLE_COMPRESSION => {
                Err(self.error(ErrorKind::RemusCompression { chunk: id }))
            }
            _ => match id.hvm_param() {
                Some(param) => {
                    let raw: HvmParamChunk = self.read_item("HVM parameter chunk")?;
                    Ok(Event::Chunk(Chunk::HvmParam {
                        id,
                        param,
                        value: raw.value.get(),
                    }))
                }
                None => Err(self.error(ErrorKind::UnknownChunk { marker })),
            },
        }
    }

    fn read_batch(&mut self, count: u32) -> Result<Event, Error> {
        if count > MAX_BATCH {
            return Err(self.error(ErrorKind::BatchTooLarge { count }));
        }
        // The entries in one read, then decoded (count <= 1024, so at most 8 KiB).
        let mut raw = std::mem::take(&mut self.batch_raw);
        raw.clear();
        raw.resize(count as usize * self.width.ulong_bytes(), 0);
        let offset = self.offset();
        let read = self.input.read_exact(&mut raw);
        self.batch.clear();
        self.batch.extend(wire::ulongs(self.width, &raw));
        self.batch_raw = raw;
        read.map_err(|f| {
            let want = self.batch_raw.len() as u64;
            self.failure(f, offset, want, "page batch pfn_type entries")
        })?;
        let data_pages = self.check_batch()?;
        self.check_duplicates()?;
        self.set_payload(u64::from(data_pages) * PAGE_SIZE as u64, "page data");
        Ok(Event::PageBatch { count, data_pages })
    }

    /// Checks each entry of the batch; returns how many carry a page of data.
    fn check_batch(&self) -> Result<u32, Error> {
        let mut data_pages: u32 = 0;
        for (index, &entry) in self.batch.iter().enumerate() {
            if entry > PFN_TYPE_MASK | PFN_MASK {
                return Err(self.error(ErrorKind::PfnHighBits { index, entry }));
            }
            if entry_type_is_invalid(entry) {
                return Err(self.error(ErrorKind::InvalidPageType { index, entry }));
            }
            if self.guest == GuestType::Hvm && entry_type_is_page_table(entry) {
                return Err(self.error(ErrorKind::PageTableInHvm { index, entry }));
            }
            // A PV guest's pfns index its p2m: none can reach p2m_size
            // (the restorer refuses them; bare XTAB entries are dropped).
            if self.guest == GuestType::Pv
                && entry != BARE_XTAB
                && entry & PFN_MASK >= self.p2m_size
            {
                return Err(self.error(ErrorKind::PfnBeyondP2m {
                    index,
                    entry,
                    p2m_size: self.p2m_size,
                }));
            }
            if entry_has_data(entry) {
                data_pages += 1;
            }
        }
        Ok(data_pages)
    }

    /// Duplicate pfns (bare XTAB entries aside, which the saver writes for
    /// every page it failed to map). Batches are at most 1024 entries: sort a copy.
    fn check_duplicates(&mut self) -> Result<(), Error> {
        if self.batch.len() < 2 {
            return Ok(());
        }
        let mut pfns = std::mem::take(&mut self.sorted);
        pfns.clear();
        pfns.extend(
            self.batch
                .iter()
                .filter(|&&e| e != BARE_XTAB)
                .map(|&e| e & PFN_MASK),
        );
        pfns.sort_unstable();
        let duplicate = pfns.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]);
        self.sorted = pfns;
        match duplicate {
            Some(pfn) => Err(self.error(ErrorKind::DuplicatePfn { pfn })),
            None => Ok(()),
        }
    }

    fn read_vcpu_info(&mut self) -> Result<Event, Error> {
        let max_id = self.read_i32("VCPU_INFO max_id")?;
        if !(0..=MAX_VCPU_ID).contains(&max_id) {
            return Err(self.error(ErrorKind::VcpuMaxIdOutOfRange { max_id }));
        }
        if self.online.is_some() {
            return Err(self.error(ErrorKind::DuplicateVcpuInfo));
        }
        let words = (max_id / 64 + 1) as usize;
        let mut map = Vec::with_capacity(words);
        for _ in 0..words {
            map.push(self.read_u64("VCPU_INFO online map")?);
        }
        self.online = Some(map);
        Ok(Event::Chunk(Chunk::VcpuInfo { max_id }))
    }

    fn next_online_from(&self, from: u32) -> Option<u32> {
        self.online_vcpus().find(|&id| id >= from)
    }

    fn read_unmapped(&mut self) -> Result<Event, Error> {
        let count = self.read_u32("unmapped pfn count")?;
        self.set_payload(
            u64::from(count) * self.width.ulong_bytes() as u64,
            "unmapped pfn list",
        );
        self.state = match self.next_online_from(0) {
            Some(id) => State::PvVcpus {
                next_id: id,
                part: VcpuPart::Basic,
            },
            None => State::SharedInfo,
        };
        Ok(Event::UnmappedPfns { count })
    }

    /// After vCPU `id`'s part `done`: its next part, or the next online vCPU.
    fn after_vcpu_part(&mut self, id: u32, done: VcpuPart) {
        let next_part = match done {
            VcpuPart::Basic if self.pv.extended => Some(VcpuPart::Extended),
            VcpuPart::Basic | VcpuPart::Extended if self.pv.xsave_len != 0 => Some(VcpuPart::Xsave),
            _ => None,
        };
        self.state = match next_part {
            Some(part) => State::PvVcpus { next_id: id, part },
            None => match id.checked_add(1).and_then(|n| self.next_online_from(n)) {
                Some(next_id) => State::PvVcpus {
                    next_id,
                    part: VcpuPart::Basic,
                },
                None => State::SharedInfo,
            },
        };
    }

    fn read_vcpu(&mut self, id: u32, part: VcpuPart) -> Result<Event, Error> {
        let width = self.pv.guest_width.unwrap_or(GuestWidth::W64);
        let event = match part {
            VcpuPart::Basic => {
                let size = width.context_size();
                self.set_payload(u64::from(size), "vcpu basic context");
                Event::VcpuBasic { id, size }
            }
            VcpuPart::Extended => {
                self.set_payload(u64::from(VCPU_EXTENDED_SIZE), "vcpu extended context");
                Event::VcpuExtended { id }
            }
            VcpuPart::Xsave => {
                let header: XsaveHeader = self.read_item("xsave area header")?;
                let (mask, size) = (header.xfeature_mask.get(), header.size.get());
                if u64::from(self.pv.xsave_len).checked_sub(16) != Some(size) {
                    return Err(self.error(ErrorKind::XsaveSizeMismatch {
                        vcpu: id,
                        size,
                        xcnt: self.pv.xsave_len,
                    }));
                }
                self.set_payload(size, "vcpu xsave area");
                Event::VcpuXsave { id, mask, size }
            }
        };
        self.after_vcpu_part(id, part);
        Ok(event)
    }

    fn read_magic_pfns(&mut self) -> Result<Event, Error> {
        let pfns: MagicPfns = self.read_item("magic pfns")?;
        self.state = State::HvmContext;
        Ok(Event::MagicPfns {
            ioreq: pfns.ioreq.get(),
            bufioreq: pfns.bufioreq.get(),
            store: pfns.store.get(),
        })
    }

    fn read_hvm_context(&mut self) -> Result<Event, Error> {
        let size = self.read_u32("HVM context size")?;
        if size == 0 {
            return Err(self.error(ErrorKind::EmptyHvmContext));
        }
        self.set_payload(u64::from(size), "HVM context");
        self.state = State::Qemu;
        Ok(Event::HvmContext { size })
    }

    fn read_qemu(&mut self) -> Result<Event, Error> {
        let raw: [u8; 21] = self.read_item("qemu record signature")?;
        let Some(signature) = QemuSignature::from_bytes(&raw) else {
            return Err(self.error(ErrorKind::UnknownQemuSignature { found: raw }));
        };
        self.state = State::Done;
        if signature.is_length_prefixed() {
            let size = self.read_u32("qemu record length")?;
            self.set_payload(u64::from(size), "qemu record");
            Ok(Event::Qemu {
                signature,
                size: Some(size),
            })
        } else {
            self.payload = Payload::ToEnd;
            self.payload_what = "qemu record";
            Ok(Event::Qemu {
                signature,
                size: None,
            })
        }
    }
}

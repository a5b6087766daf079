//! PAGE_DATA: the pfn array checked in chunks, the page data skipped.
//!
//! This is the one loop that runs for every pfn of a stream, so it is split
//! in two. The fast pass over a chunk only accumulates: the reserved bits of
//! every entry ORed together, the set of page types seen, per-type counts,
//! the lowest and highest pfn, whether the pfns ascend. Only when that says
//! something is wrong does the slow pass walk the chunk again, entry by entry
//! in upstream's check order, to name the first offending entry. Duplicates
//! need no work when the pfns ascend (what savers write); otherwise the pfns
//! are sorted with their indices.

use super::{Engine, Step};
use crate::rules::Breach;
use migration_stream::source::ByteSource;
use migration_stream::types::{DomainType, MAX_BATCH, PAGE_SIZE, PFN_RESERVED_MASK, PfnEntry};
use migration_stream::wire::{Le64, PageDataHeader};
use zerocopy::{FromZeros, IntoBytes};

/// PAGE_DATA records with more pfns than this are not checked for duplicates
/// (the check's memory is bounded; real savers write at most [`MAX_BATCH`]).
const DUPLICATE_CHECK_MAX: u32 = 1 << 17;
/// Pfn entries read at a time: a saver's whole batch.
const CHUNK: usize = MAX_BATCH;
/// Page types 0x5–0x8, which are reserved (as bits of a mask indexed by type).
const INVALID_PAGE_TYPES: u16 = 0b0000_0001_1110_0000;
/// Page types 0x1–0x4 and 0x9–0xC: page tables, PV only.
const PAGE_TABLE_TYPES: u16 = 0b0001_1110_0001_1110;

/// Page types followed by 4096 bytes of data: 0x0–0x4 and 0x9–0xC.
const DATA_PAGE_TYPES: u16 = 0b0001_1110_0001_1111;
/// Bytes of one pfn entry.
const PFN_ENTRY_SIZE: u64 = size_of::<Le64>() as u64;

/// Buffers kept from one PAGE_DATA record to the next.
#[derive(Default)]
pub(super) struct Scratch {
    /// The pfn entries of the current chunk.
    chunk: Vec<Le64>,
    /// Entries of the current record by page type, merged into the tally
    /// once the record's entries are known to be good.
    by_type: [u64; 16],
    /// (pfn, index) of a record whose pfns do not ascend, for the duplicate check.
    duplicates: Vec<(u64, u32)>,
}

/// What the fast pass learnt about the pfn entries of one record (besides
/// the counts by type).
#[derive(Clone, Copy)]
struct Summary {
    /// Reserved bits of all entries, ORed.
    reserved: u8,
    /// Bit `t` set when an entry has page type `t`.
    types: u16,
    lowest: u64,
    highest: u64,
    /// Every pfn is above the one before it (so none repeats).
    ascending: bool,
    /// The last pfn, for the ascending check across chunks.
    last: Option<u64>,
}

impl Summary {
    fn new() -> Self {
        Summary {
            reserved: 0,
            types: 0,
            lowest: u64::MAX,
            highest: 0,
            ascending: true,
            last: None,
        }
    }

    fn add(&mut self, entries: &[Le64], by_type: &mut [u64; 16]) {
        let mut previous = self.last;
        for raw in entries {
            let PfnEntry {
                pfn,
                page_type,
                reserved,
            } = PfnEntry::from_raw(raw.get());
            self.reserved |= reserved;
            // A page type is 4 bits (the mask keeps the index in bounds).
            let code = usize::from(page_type.0 & 0xF);
            self.types |= 1 << code;
            by_type[code] += 1;
            self.ascending &= previous.is_none_or(|p| pfn > p);
            previous = Some(pfn);
            self.lowest = self.lowest.min(pfn);
            self.highest = self.highest.max(pfn);
        }
        self.last = previous;
    }
}

/// The page types present in `types`, as indices.
fn codes(types: u16) -> impl Iterator<Item = usize> {
    let mut left = types;
    std::iter::from_fn(move || {
        let code = left.trailing_zeros() as usize;
        left &= left.wrapping_sub(1);
        (code < 16).then_some(code)
    })
}

impl<S: ByteSource> Engine<'_, S> {
    pub(super) fn page_data(&mut self, length: u32) -> Step {
        self.page_data_position()?;
        if length as usize <= size_of::<PageDataHeader>() {
            return self.broken(Breach::PageDataShort);
        }
        let header: PageDataHeader = self.body_wire()?;
        let (count, reserved) = (header.count.get(), header.reserved.get());
        if reserved != 0 {
            return self.broken(Breach::PageDataReserved { reserved });
        }
        let pfn_bytes = u64::from(count) * PFN_ENTRY_SIZE;
        if self.body_left < pfn_bytes {
            return self.broken(Breach::PageDataPfnArray);
        }
        let summary = self.pfn_entries(count)?;
        let mut data_pages = 0;
        for code in codes(summary.types) {
            let n = self.pages.by_type[code];
            self.tally.page_types[code] += n;
            if DATA_PAGE_TYPES & (1 << code) != 0 {
                data_pages += n;
            }
        }
        if count > 0 {
            self.report.note_pfns(summary.lowest, summary.highest);
        }
        let page_bytes = data_pages * PAGE_SIZE as u64;
        let header_bytes = size_of::<PageDataHeader>() as u64;
        if u64::from(length) != header_bytes + pfn_bytes + page_bytes {
            return self.broken(Breach::PageDataLength {
                pfn_bytes,
                page_bytes,
                length,
            });
        }
        if !summary.ascending || count > DUPLICATE_CHECK_MAX {
            self.duplicate_check(count)?;
        }
        if count as usize > MAX_BATCH {
            self.warn(format!(
                "PAGE_DATA with {count} pfns, more than a saver writes ({MAX_BATCH})"
            ));
        }
        self.report.page_data_bytes += page_bytes;
        Ok(())
    }

    /// Where PAGE_DATA may come: after STATIC_DATA_END, and in a PV stream
    /// after the P2M and before this round's vCPU records.
    fn page_data_position(&mut self) -> Step {
        self.require_sde()?;
        if self.libxc.domain == Some(DomainType::X86_PV) && self.pv.p2m_end.is_none() {
            return self.broken(Breach::P2mBeforePages);
        }
        if self.pv.vcpu_seen_in_round {
            return self.broken(Breach::VcpuBeforePageData);
        }
        Ok(())
    }

    /// Reads and checks the `count` pfn entries in chunks.
    fn pfn_entries(&mut self, count: u32) -> Step<Summary> {
        if self.pages.chunk.len() < CHUNK {
            self.pages.chunk.resize(CHUNK, Le64::new_zeroed());
        }
        self.pages.duplicates.clear();
        self.pages.by_type = [0; 16];
        let collect = count as usize > CHUNK && count <= DUPLICATE_CHECK_MAX;
        let mut summary = Summary::new();
        let mut index: u32 = 0;
        while index < count {
            let n = ((count - index) as usize).min(CHUNK);
            // Not through body(): the chunk is borrowed from self.
            let entries = &mut self.pages.chunk[..n];
            if let Err(err) = self.input.read_exact(entries.as_mut_bytes()) {
                return Err(self.input_error(err));
            }
            self.body_left -= n as u64 * PFN_ENTRY_SIZE;
            let entries = &self.pages.chunk[..n];
            summary.add(entries, &mut self.pages.by_type);
            self.check_chunk(entries, index, &summary)?;
            if collect {
                let pfns = entries.iter().map(|raw| PfnEntry::from_raw(raw.get()).pfn);
                self.pages.duplicates.extend(pfns.zip(index..));
            }
            index += n as u32;
        }
        if !collect && !summary.ascending {
            // One chunk holds the whole array: collect it now.
            let entries = &self.pages.chunk[..count as usize];
            let pfns = entries.iter().map(|raw| PfnEntry::from_raw(raw.get()).pfn);
            self.pages.duplicates.extend(pfns.zip(0..));
        }
        Ok(summary)
    }

    /// The slow pass: when the summary shows a bad entry in this chunk (its
    /// first entry is pfn[`first`]), finds it and says what is wrong with it.
    fn check_chunk(&self, entries: &[Le64], first: u32, summary: &Summary) -> Step {
        let is_hvm = self.libxc.domain == Some(DomainType::X86_HVM);
        let p2m_end = self.pv.p2m_end.filter(|_| !is_hvm);
        let forbidden = INVALID_PAGE_TYPES | if is_hvm { PAGE_TABLE_TYPES } else { 0 };
        let clean = summary.reserved == 0
            && summary.types & forbidden == 0
            && p2m_end.is_none_or(|end| summary.highest <= end);
        if clean {
            return Ok(());
        }
        for (raw, index) in entries.iter().zip(first..) {
            let raw = raw.get();
            let entry = PfnEntry::from_raw(raw);
            if entry.reserved != 0 {
                let bits = raw & PFN_RESERVED_MASK;
                return self.broken(Breach::PageDataPfnReserved { index, bits });
            }
            if !entry.page_type.is_valid() {
                // The type bits in place (the reserved ones are zero here).
                let bits = PfnEntry { pfn: 0, ..entry }.to_raw();
                return self.broken(Breach::PageDataPfnType { index, bits });
            }
            if is_hvm && entry.page_type.is_page_table() {
                return self.broken(Breach::PageTableInHvm { index, raw });
            }
            let pfn = entry.pfn;
            if let Some(end) = p2m_end
                && pfn > end
            {
                return self.broken(Breach::PfnBeyondP2m { index, pfn, end });
            }
        }
        // The summary covers earlier chunks too, whose entries were fine.
        Ok(())
    }

    /// No pfn twice in one record (checked up to [`DUPLICATE_CHECK_MAX`] pfns).
    /// Pfns that ascend need no check: the caller knows.
    fn duplicate_check(&mut self, count: u32) -> Step {
        if count > DUPLICATE_CHECK_MAX {
            self.warn(format!(
                "PAGE_DATA with {count} pfns: not checked for duplicates"
            ));
            return Ok(());
        }
        let duplicates = &mut self.pages.duplicates;
        duplicates.sort_unstable();
        if let Some(pair) = duplicates.windows(2).find(|w| w[0].0 == w[1].0) {
            let (pfn, first, second) = (pair[0].0, pair[0].1, pair[1].1);
            return self.broken(Breach::DuplicatePfn { pfn, first, second });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migration_stream::types::PageType;

    #[test]
    fn codes_are_the_set_bits() {
        assert_eq!(codes(0).count(), 0);
        assert_eq!(codes(0b1000_0000_0010_0001).collect::<Vec<_>>(), [0, 5, 15]);
        assert_eq!(codes(u16::MAX).count(), 16);
    }

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

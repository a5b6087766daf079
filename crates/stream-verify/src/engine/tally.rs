//! Per-type tallies kept as plain counters while walking and turned into the
//! report's name-keyed maps once at the end.

use crate::report::{MAX_RECORD_KINDS, Report};
use migration_stream::types::{LibxlRecordType, PageType, RecordType};
use std::collections::BTreeMap;

#[derive(Default)]
pub(super) struct Tally {
    libxc: [u64; 32],
    libxl: [u64; 8],
    /// Optional libxc record types, at most [`MAX_RECORD_KINDS`] of them.
    optional: BTreeMap<u32, u64>,
    /// Optional records of types beyond those.
    optional_not_listed: u64,
    pub(super) page_types: [u64; 16],
}

impl Tally {
    pub(super) fn libxc_record(&mut self, raw: u32) {
        if let Some(n) = self.libxc.get_mut(raw as usize) {
            *n += 1;
            return;
        }
        let kinds = self.optional.len();
        match self.optional.get_mut(&raw) {
            Some(n) => *n += 1,
            None if kinds < MAX_RECORD_KINDS => {
                self.optional.insert(raw, 1);
            }
            None => self.optional_not_listed += 1,
        }
    }

    pub(super) fn libxl_record(&mut self, raw: u32) {
        if let Some(n) = self.libxl.get_mut(raw as usize) {
            *n += 1;
        }
    }

    /// Moves the counts into the report, by name.
    pub(super) fn publish(&mut self, report: &mut Report) {
        let tally = std::mem::take(self);
        for (raw, &n) in tally.libxc.iter().enumerate() {
            if n > 0 {
                report.libxc_records.insert(RecordType(raw as u32), n);
            }
        }
        for (raw, &n) in tally.optional.iter() {
            report.libxc_records.insert(RecordType(*raw), n);
        }
        report.optional_records_not_listed += tally.optional_not_listed;
        for (raw, &n) in tally.libxl.iter().enumerate() {
            if n > 0 {
                report.libxl_records.insert(LibxlRecordType(raw as u32), n);
            }
        }
        for (code, &n) in tally.page_types.iter().enumerate() {
            if n > 0 {
                report.pages_by_type.insert(PageType(code as u8), n);
            }
        }
    }
}

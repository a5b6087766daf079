//! What the verifier found: a summary of the stream, its warnings and the
//! first rule it breaks.

use crate::rules::Rule;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// At most this many warnings are kept; later ones are only counted.
pub const MAX_WARNINGS: usize = 100;
/// At most this many distinct vCPU ids are listed; a hostile stream could name millions.
pub const MAX_VCPUS_LISTED: usize = 4096;
/// At most this many distinct optional record types are counted by name; the
/// rest are counted together (optional types can take any of 2^31 values).
pub const MAX_RECORD_KINDS: usize = 64;

/// The first rule a stream breaks, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// Byte offset of the record (or header) that breaks it.
    pub offset: u64,
    /// Index of that record in the stream (all layers counted together, from 0);
    /// `None` for headers and trailing data.
    pub record_index: Option<u64>,
    /// Display name of that record's type, or of the header.
    pub record_type: Option<String>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.record_index, &self.record_type) {
            (Some(index), Some(kind)) => write!(f, "record {index} ({kind})")?,
            (None, Some(kind)) => f.write_str(kind)?,
            _ => f.write_str("stream")?,
        }
        write!(
            f,
            " at byte offset {}: {} [rule {}]",
            self.offset,
            self.message,
            self.rule.id()
        )
    }
}

/// Something allowed but worth knowing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Byte offset of the record concerned.
    pub offset: u64,
    /// Its index, when a record is concerned.
    pub record_index: Option<u64>,
    /// What was seen.
    pub message: String,
}

/// The smallest and largest pfn carried by PAGE_DATA records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PfnRange {
    /// Lowest pfn.
    pub min: u64,
    /// Highest pfn.
    pub max: u64,
}

/// The xl save header's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegacyQemuRecord {
    /// Offset of its signature.
    pub offset: u64,
    /// Its signature (`DeviceModelRecord0002`).
    pub signature: String,
    /// Length of the qemu data that follows the signature and length word.
    pub length: u32,
}

/// Everything the verifier learnt about a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The outermost layer: `libxc`, `libxl` or `xl`.
    pub format: Option<&'static str>,
    /// The xl header, if any.
    pub xl_header: Option<XlSummary>,
    /// libxl stream version, if there is a libxl layer.
    pub libxl_version: Option<u32>,
    /// The libxl header marks the stream as made by the legacy converter.
    pub libxl_legacy: bool,
    /// libxc image version (2 or 3).
    pub libxc_version: Option<u32>,
    /// `x86 PV` or `x86 HVM`.
    pub domain_type: Option<&'static str>,
    /// `major.minor` of the saving Xen, or `legacy converted`.
    pub xen_version: Option<String>,
    /// PV guest width in bytes (4 or 8).
    pub guest_width: Option<u8>,
    /// PV page-table levels (3 or 4).
    pub pagetable_levels: Option<u8>,
    /// libxc records by display name.
    pub libxc_records: BTreeMap<String, u64>,
    /// Optional libxc records of types beyond the first [`MAX_RECORD_KINDS`] seen, counted only.
    pub optional_records_not_listed: u64,
    /// libxl records by display name.
    pub libxl_records: BTreeMap<String, u64>,
    /// Pages (pfn entries) by page type name.
    pub pages_by_type: BTreeMap<&'static str, u64>,
    /// Bytes of page data.
    pub page_data_bytes: u64,
    /// Lowest and highest pfn seen.
    pub pfn_range: Option<PfnRange>,
    /// vCPU ids seen (at most [`MAX_VCPUS_LISTED`]): those with a PV vCPU
    /// record, and the instances of an HVM context's CPU descriptors.
    pub vcpus: BTreeSet<u32>,
    /// HVM params by name (the last value sent wins).
    pub hvm_params: BTreeMap<String, u64>,
    /// HVM context descriptors by type name.
    pub hvm_context_descriptors: BTreeMap<&'static str, u64>,
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
    pub io_error: Option<String>,
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

    pub(crate) fn note_pfn(&mut self, pfn: u64) {
        self.pfn_range = Some(match self.pfn_range {
            None => PfnRange { min: pfn, max: pfn },
            Some(r) => PfnRange {
                min: r.min.min(pfn),
                max: r.max.max(pfn),
            },
        });
    }
}

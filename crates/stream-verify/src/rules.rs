//! The catalogue of rules a stream must obey.
//!
//! Every check the verifier makes has a [`Rule`] with a stable id (used in
//! error messages, `--json` output and `docs/verify-rules.md`), where the rule
//! comes from, and the message template. Upstream's own checks keep upstream's
//! message text (typos included) so that scripts grepping for it keep working.

use serde::Serialize;

/// Where a rule comes from.
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

macro_rules! rules {
    ($( $variant:ident = $id:literal, $source:ident, $missed:expr, $message:literal; )*) => {
        /// One rule of the stream formats; see the module documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $(
                #[doc = concat!("`", $id, "`: ", $message)]
                $variant,
            )*
        }

        impl Rule {
            /// Every rule, in catalogue order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            /// The stable id, e.g. `page-data.duplicate-pfn`.
            pub fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id),* }
            }

            /// Where the rule comes from.
            pub fn source(self) -> RuleSource {
                match self { $(Rule::$variant => RuleSource::$source),* }
            }

            /// The item of the reference's list of rules upstream misses
            /// (`migration-stream.md` §9) that this rule implements, if any.
            pub fn missed_item(self) -> Option<u8> {
                match self { $(Rule::$variant => $missed),* }
            }

            /// The message template (`%` placeholders as upstream writes them).
            pub fn template(self) -> &'static str {
                match self { $(Rule::$variant => $message),* }
            }
        }
    };
}

rules! {
    // Input and framing.
    Truncated = "stream.truncated", Upstream, None, "Stream truncated";
    UnknownFormat = "stream.format", Spec, None, "Unrecognised stream: neither an xl header, a libxl header nor a libxc image header";
    TrailingData = "stream.trailing-data", Spec, Some(5), "Trailing data after the final END record";
    Padding = "record.padding", Upstream, None, "Padding containing non0 bytes found";
    RecordTooLong = "record.length-max", CRestorer, Some(4), "Record length %u exceeds REC_LENGTH_MAX (134217728)";
    UnknownRecord = "record.unknown", Upstream, Some(3), "Unrecognised record type 0x%x";
    // xl header.
    XlMagic = "xl.magic", Upstream, None, "No xl header";
    XlByteOrder = "xl.byte-order", CRestorer, Some(24), "File has wrong byte order";
    XlMandatoryFlags = "xl.mandatory-flags", CRestorer, Some(24), "Unknown mandatory flags 0x%x (need newer xl)";
    XlConfigLength = "xl.config-length", CRestorer, Some(24), "Savefile truncated: config length does not fit the optional data";
    // libxc image and domain headers.
    ImageMarker = "image-header.marker", Upstream, None, "Bad image marker: Expected 0x%x, got 0x%x";
    ImageId = "image-header.id", Upstream, None, "Bad image id: Expected 0x%x, got 0x%x";
    ImageVersion = "image-header.version", Upstream, None, "Unknown image version: Expected 2 <= ver <= 3, got %d";
    ImageOptions = "image-header.options", Upstream, None, "Reserved bits set in image options field: 0x%x";
    ImageReserved = "image-header.reserved", Upstream, None, "Reserved bits set in image header: 0x%04x:0x%08x";
    ImageEndian = "image-header.endianness", CRestorer, Some(1), "Stream is not native endianess - unable to validate";
    DomainType = "domain-header.type", Upstream, None, "Unrecognised domain type 0x%x";
    DomainReserved = "domain-header.reserved", Upstream, None, "Reserved bits set in domain header 0x%04x";
    DomainPageShift = "domain-header.page-shift", Upstream, None, "Page shift expected to be 12.  Got %d";
    // libxc records, upstream's checks.
    EndLength = "end.length", Upstream, None, "End record with non-zero length";
    PageDataShort = "page-data.min-length", Upstream, None, "PAGE_DATA record must be at least 8 bytes long";
    PageDataReserved = "page-data.reserved", Upstream, None, "Reserved bits set in PAGE_DATA record 0x%04x";
    PageDataPfnArray = "page-data.pfn-array", Upstream, None, "PAGE_DATA record must contain a pfn record for each count";
    PageDataPfnReserved = "page-data.pfn-reserved", Upstream, None, "Reserved bits set in pfn[%d]: 0x%016x";
    PageDataPfnType = "page-data.pfn-type", Upstream, None, "Invalid type value in pfn[%d]: 0x%016x";
    PageDataLength = "page-data.length", Upstream, None, "Expected %u + %u + %u, got %u";
    PvInfoLength = "x86-pv-info.length", Upstream, None, "x86_pv_info: expected length of %d, got %d";
    PvInfoWidth = "x86-pv-info.width", Upstream, None, "Expected width of 4 or 8, got %d";
    PvInfoLevels = "x86-pv-info.levels", Upstream, None, "Expected levels of 3 or 4, got %d";
    PvInfoReserved = "x86-pv-info.reserved", Upstream, None, "Reserved bits set in X86_PV_INFO: 0x%04x 0x%08x";
    P2mShort = "x86-pv-p2m-frames.min-length", Upstream, None, "x86_pv_p2m_frames: record length must be at least 8 bytes long";
    P2mMultiple = "x86-pv-p2m-frames.multiple", Upstream, None, "Length expected to be a multiple of 8, not %d";
    VcpuShort = "vcpu.min-length", Upstream, None, "X86_PV_VCPU_%s record length must be at least %d bytes long";
    VcpuReserved = "vcpu.reserved", Upstream, None, "Reserved bits set in x86_pv_vcpu_%s record 0x%04x";
    SharedInfoLength = "shared-info.length", Upstream, None, "Length expected to be 4906 bytes, not %d";
    TscLength = "x86-tsc-info.length", Upstream, None, "Length should be %u bytes";
    TscReserved = "x86-tsc-info.reserved", Upstream, None, "Reserved bits set in X86_TSC_INFO: 0x%08x";
    HvmContextEmpty = "hvm-context.empty", Upstream, None, "Zero length HVM context";
    HvmParamsShort = "hvm-params.min-length", Upstream, None, "Length should be at least %u bytes";
    HvmParamsReserved = "hvm-params.reserved", Upstream, None, "Reserved field not zero (0x%04x)";
    HvmParamsLength = "hvm-params.length", Upstream, None, "Length should be %u bytes";
    Toolstack = "toolstack.present", Upstream, Some(18), "Found Toolstack record in stream";
    VerifyLength = "verify.length", Upstream, None, "Verify record with non-zero length";
    CheckpointLength = "checkpoint.length", Upstream, None, "Checkpoint record with non-zero length";
    DirtyPfnList = "checkpoint-dirty-pfn-list.present", Upstream, None, "Found checkpoint dirty pfn list record in stream";
    SdeInV2 = "static-data-end.v2", Upstream, None, "Static data end record found in v2 stream";
    SdeLength = "static-data-end.length", Upstream, None, "End record with non-zero length";
    CpuidInV2 = "x86-cpuid-policy.v2", Upstream, None, "x86 CPUID policy record found in v2 stream";
    CpuidLength = "x86-cpuid-policy.length", Upstream, None, "Record length %u, expected multiple of %u";
    MsrInV2 = "x86-msr-policy.v2", Upstream, None, "x86 MSR policy record found in v2 stream";
    MsrLength = "x86-msr-policy.length", Upstream, None, "Record length %u, expected multiple of %u";
    // libxc records, what upstream misses.
    DomainRecordMismatch = "domain-type.record", CRestorer, Some(6), "Mandatory record %s not handled for an %s domain";
    PageTableInHvm = "domain-type.page-table", Spec, Some(12), "Page-table page type in pfn[%d] (0x%016x) of an HVM stream";
    SdeMissing = "static-data-end.missing", CRestorer, Some(7), "No STATIC_DATA_END seen";
    SdeDuplicate = "static-data-end.duplicate", CRestorer, Some(7), "Multiple STATIC_DATA_END records found";
    PolicyAfterSde = "policy.after-static-data-end", Spec, Some(7), "%s record after STATIC_DATA_END";
    CpuidOrder = "x86-cpuid-policy.order", Spec, Some(15), "CPUID leaf %08x:%08x not after %08x:%08x (entries must be sorted and unique)";
    CpuidSubleaf = "x86-cpuid-policy.subleaf", Spec, Some(15), "CPUID leaf %08x has both XEN_CPUID_NO_SUBLEAF and numbered subleaves";
    MsrFlags = "x86-msr-policy.flags", Spec, Some(15), "MSR %08x: flags 0x%x are reserved and must be zero";
    MsrOrder = "x86-msr-policy.order", Spec, Some(15), "MSR %08x not after %08x (entries must be sorted and unique)";
    PvInfoFirst = "x86-pv-info.first", CRestorer, Some(8), "Not yet received X86_PV_INFO record";
    PvInfoDuplicate = "x86-pv-info.duplicate", CRestorer, Some(8), "Already received X86_PV_INFO record";
    PvInfoPair = "x86-pv-info.pair", CRestorer, Some(9), "Guest width %d with %d levels of pagetables (expected 4 with 3, or 8 with 4)";
    P2mRange = "x86-pv-p2m-frames.range", CRestorer, Some(10), "Start pfn in stream (0x%x) exceeds End (0x%x)";
    P2mLength = "x86-pv-p2m-frames.length", CRestorer, Some(10), "X86_PV_P2M_FRAMES length %u, expected %u";
    P2mBeforePages = "x86-pv-p2m-frames.before-page-data", Spec, Some(8), "PAGE_DATA before X86_PV_P2M_FRAMES in a PV stream";
    PfnBeyondP2m = "page-data.pfn-beyond-p2m", CRestorer, Some(12), "pfn[%d] 0x%x beyond the P2M's end pfn 0x%x";
    DuplicatePfn = "page-data.duplicate-pfn", Spec, Some(12), "Duplicate pfn 0x%x in PAGE_DATA (pfn[%d] and pfn[%d])";
    VcpuBasicSize = "vcpu.basic-size", CRestorer, Some(11), "X86_PV_VCPU_BASIC context of %u bytes, expected %u for a %u-bit guest";
    VcpuExtendedSize = "vcpu.extended-size", CRestorer, Some(11), "X86_PV_VCPU_EXTENDED context of %u bytes, at most 128 allowed";
    VcpuXsaveSize = "vcpu.xsave-size", CRestorer, Some(11), "X86_PV_VCPU_XSAVE context of %u bytes, at least 16 required";
    VcpuMsrsSize = "vcpu.msrs-size", CRestorer, Some(11), "X86_PV_VCPU_MSRS context of %u bytes, not a multiple of 16";
    VcpuBeforePageData = "vcpu.before-page-data", Spec, Some(8), "PAGE_DATA after an X86_PV_VCPU record";
    Vcpu0Basic = "vcpu.vcpu0-basic", CRestorer, Some(11), "Sender didn't send vcpu0's basic state";
    HvmParamsDuplicate = "hvm-params.duplicate", Spec, Some(13), "HVM param %s (%u) appears twice in one record";
    HvmParamsUnknown = "hvm-params.unknown", CRestorer, Some(13), "Unknown HVM param index %u";
    HvmContextHeader = "hvm-context.header", Spec, Some(14), "HVM context must start with a HEADER descriptor (magic 0x54381286, version 1)";
    HvmContextDescriptor = "hvm-context.descriptor", Spec, Some(14), "HVM context descriptor (typecode %u, length %u) at byte %u does not fit";
    HvmContextEnd = "hvm-context.end", Spec, Some(14), "HVM context must end with an END descriptor and nothing after it";
    CheckpointBare = "checkpoint.not-checkpointed", CRestorer, Some(16), "Found checkpoint in non-checkpointed stream";
    // libxl layer.
    LibxlIdent = "libxl-header.ident", Upstream, None, "Bad image id: Expected 0x%x, got 0x%x";
    LibxlVersion = "libxl-header.version", Upstream, None, "Unknown image version: Expected %d, got %d";
    LibxlOptions = "libxl-header.options", Upstream, Some(2), "Reserved bits set in image options field: 0x%x";
    LibxlEndian = "libxl-header.endianness", CRestorer, Some(1), "Stream is not native endianess - unable to validate";
    LibxlUnknownRecord = "libxl.record-unknown", Upstream, None, "Unrecognised record type %x";
    LibxlEndLength = "libxl.end-length", Upstream, None, "End record with non-zero length";
    LibxcContextLength = "libxl.libxc-context-length", Upstream, None, "Libxc context record with non-zero length";
    LibxcContextOnce = "libxl.libxc-context-once", CRestorer, Some(21), "LIBXC_CONTEXT must appear exactly once (%s)";
    EmulatorShort = "libxl.emulator-length", Upstream, None, "Length must be at least %d bytes, got %d";
    EmulatorId = "libxl.emulator-id", Upstream, Some(22), "Unrecognised emulator id 0x%x";
    EmulatorNotHvm = "libxl.emulator-not-hvm", CRestorer, Some(21), "Received a xenstore emulator record when none was expected";
    XenstoreNul = "libxl.xenstore-nul", Upstream, Some(20), "Data not NUL terminated";
    XenstorePairs = "libxl.xenstore-pairs", Upstream, Some(20), "Expected an even number of strings, got %d";
    XenstoreKey = "libxl.xenstore-key", Spec, Some(20), "Xenstore key '%s' is empty or uses characters outside alphanumerics and -/_@";
    XenstoreTooLong = "libxl.xenstore-string-length", CRestorer, Some(20), "Xenstore %s of %u bytes exceeds xenstore's limit of 4096";
    CheckpointEndLength = "libxl.checkpoint-end-length", Upstream, None, "Checkpoint end record with non-zero length";
    CheckpointEndUnexpected = "libxl.checkpoint-end-unexpected", CRestorer, Some(21), "Unexpected CHECKPOINT_END record in stream";
    CheckpointStateEmpty = "libxl.checkpoint-state-empty", Upstream, None, "Checkpoint state record with zero length";
    CheckpointStateLength = "libxl.checkpoint-state-length", Spec, Some(21), "CHECKPOINT_STATE length %u, expected 4";
    CheckpointStateId = "libxl.checkpoint-state-id", Spec, Some(21), "CHECKPOINT_STATE control id %u, expected 0..3";
    CheckpointStateUnexpected = "libxl.checkpoint-state-unexpected", CRestorer, Some(19), "Unexpected CHECKPOINT_STATE record in stream (it belongs on the COLO back channel)";
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

/// The rule catalogue as a Markdown page (`docs/verify-rules.md` is generated from it).
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# verify-stream-v2 rules\n\n\
         Generated from `crates/stream-verify/src/rules.rs` by `cargo xtask gen-testdata`; do not edit.\n\n\
         Every check `verify-stream-v2` makes, with its id (shown in error messages and in `--json`),\n\
         where it comes from, and its message. *upstream* rules are the ones Xen's Python verifier applies and\n\
         keep its message text; *spec* and *C restorer* rules are the ones it misses (the §9 item number of\n\
         `migration-stream.md` is given). An *upstream* rule with a §9 number is one upstream applies\n\
         wrongly or too narrowly (optional records, the libxl options mask, TOOLSTACK's exit code, the\n\
         xenstore data); it is applied here as that item says. Each rule has a test stream in\n\
         `testdata/verify/` that breaks exactly that rule.\n\n\
         | id | source | §9 | message |\n|---|---|---|---|\n",
    );
    for rule in Rule::ALL {
        let item = rule
            .missed_item()
            .map(|n| n.to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            rule.id(),
            rule.source().name(),
            item,
            rule.template().replace('|', "\\|")
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
}

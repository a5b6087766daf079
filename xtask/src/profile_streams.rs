//! Saved-domain streams for `cpu-profile check --stream`, in
//! `testdata/profile/`, written with `migration-stream`'s `Writer`.
//!
//! The guest's CPUID policy is what Xen would give an HVM guest on the
//! Skylake-SP host of `testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt`:
//! that host's leaves with the basic max leaf clamped to 0xD, VMX and the
//! monitoring, thermal and debug-store bits hidden, Intel PT and RDT hidden,
//! HYPERVISOR set. So it fits that host (and Cascade Lake, Ice Lake) and not
//! Haswell (no AVX-512, no MPX...). Each stream carries page data after
//! STATIC_DATA_END, which the checker must skip without reading.

use std::io;
use std::path::Path;

use migration_stream::payload::{MsrPolicy, PageData};
use migration_stream::types::{
    DomainType, LibxlRecordType, PAGE_SIZE, PageType, PfnEntry, RecordType, XEN_CPUID_NO_SUBLEAF,
    XlMandatoryFlags,
};
use migration_stream::wire::{
    CpuidPolicyLeaf, DomainHeader, ImageHeader, LibxlHeader, MsrPolicyEntry,
};
use migration_stream::{Writer, XlHeader};
use zerocopy::IntoBytes;

use crate::GeneratedFile;

const DIR: &str = "testdata/profile";

/// 1.ECX bits Xen hides from HVM guests here: DTES64, MONITOR, DSCPL, VMX,
/// SMX, EIST, TM2, XTPR, PDCM, DCA.
const LEAF1_ECX_HIDDEN: u32 =
    1 << 2 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 14 | 1 << 15 | 1 << 18;
/// 1.EDX bits hidden: DS, ACPI, TM1, PBE.
const LEAF1_EDX_HIDDEN: u32 = 1 << 21 | 1 << 22 | 1 << 29 | 1 << 31;
/// 7.0.EBX bits hidden: PQM, PQE, PROC_TRACE.
const LEAF7_EBX_HIDDEN: u32 = 1 << 12 | 1 << 15 | 1 << 25;

/// The guest's CPUID policy (see the module documentation).
fn skylake_guest_policy() -> Vec<CpuidPolicyLeaf> {
    let none = XEN_CPUID_NO_SUBLEAF;
    vec![
        CpuidPolicyLeaf::new(0, none, [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]),
        CpuidPolicyLeaf::new(
            1,
            none,
            [
                0x0005_0654,
                0x0001_0800,
                (0x7ffe_fbff & !LEAF1_ECX_HIDDEN) | 1 << 31,
                0xbfeb_fbff & !LEAF1_EDX_HIDDEN,
            ],
        ),
        CpuidPolicyLeaf::new(7, 0, [0, 0xd39f_fffb & !LEAF7_EBX_HIDDEN, 0x0000_0008, 0]),
        CpuidPolicyLeaf::new(0xd, 0, [0x0000_02ff, 0x0000_0a80, 0x0000_0a88, 0]),
        CpuidPolicyLeaf::new(0xd, 1, [0x0000_000f, 0x0000_0a00, 0, 0]),
        CpuidPolicyLeaf::new(0x8000_0000, none, [0x8000_0008, 0, 0, 0]),
        CpuidPolicyLeaf::new(0x8000_0001, none, [0, 0, 0x0000_0121, 0x2c10_0000]),
        CpuidPolicyLeaf::new(0x8000_0007, none, [0, 0, 0, 0x0000_0100]),
        CpuidPolicyLeaf::new(0x8000_0008, none, [0x0000_302e, 0, 0, 0]),
    ]
}

/// MSR_PLATFORM_INFO with CPUID faulting; no ARCH_CAPS (Skylake-SP does not enumerate it).
fn skylake_guest_msrs() -> Vec<MsrPolicyEntry> {
    vec![MsrPolicyEntry::new(0xce, 0x8000_0000)]
}

/// 7.0.EDX bits of the Cascade Lake guest: MD_CLEAR (10) and ARCH_CAPS (29).
const CASCADELAKE_LEAF7_EDX: u32 = 1 << 10 | 1 << 29;
/// Its IA32_ARCH_CAPABILITIES: RDCL_NO, EIBRS, SKIP_L1DFL, MDS_NO.
const CASCADELAKE_ARCH_CAPS: u64 = 0x2b;

/// A guest saved on Cascade Lake: the Skylake-SP guest's leaves (Cascade Lake
/// has all of them) plus MD_CLEAR and ARCH_CAPS, and an MSR policy with
/// IA32_ARCH_CAPABILITIES.
fn cascadelake_guest_policy() -> (Vec<CpuidPolicyLeaf>, Vec<MsrPolicyEntry>) {
    let mut leaves = skylake_guest_policy();
    for leaf in &mut leaves {
        if leaf.leaf.get() == 7 && leaf.subleaf.get() == 0 {
            leaf.d.set(leaf.d.get() | CASCADELAKE_LEAF7_EDX);
        }
    }
    let mut msrs = skylake_guest_msrs();
    msrs.push(MsrPolicyEntry::new(0x10a, CASCADELAKE_ARCH_CAPS));
    (leaves, msrs)
}

/// The HVM libxc records: headers, policies, STATIC_DATA_END, two pages, END.
fn libxc_guest(w: &mut Writer<Vec<u8>>, version: u32) -> io::Result<()> {
    libxc_guest_with(w, version, &skylake_guest_policy(), &skylake_guest_msrs())
}

/// The same with a given CPUID and MSR policy.
fn libxc_guest_with(
    w: &mut Writer<Vec<u8>>,
    version: u32,
    leaves: &[CpuidPolicyLeaf],
    msrs: &[MsrPolicyEntry],
) -> io::Result<()> {
    w.write_image_header(&ImageHeader::new(version))?;
    w.write_domain_header(&DomainHeader::new(
        DomainType::X86_HVM,
        4,
        if version >= 3 { 19 } else { 13 },
    ))?;
    if version >= 3 {
        w.write_record(RecordType::X86_CPUID_POLICY.0, leaves.as_bytes())?;
        w.write_record(RecordType::X86_MSR_POLICY.0, &MsrPolicy::encode(msrs))?;
        w.write_record(RecordType::STATIC_DATA_END.0, &[])?;
    }
    let entries = [
        PfnEntry::new(0, PageType::NOTAB),
        PfnEntry::new(1, PageType::NOTAB),
    ];
    let data: Vec<u8> = (0..2 * PAGE_SIZE).map(|i| (i / 64) as u8).collect();
    w.write_record(RecordType::PAGE_DATA.0, &PageData::encode(&entries, &data))?;
    w.write_record(RecordType::END.0, &[])
}

fn libxl_guest(w: &mut Writer<Vec<u8>>) -> io::Result<()> {
    w.write_libxl_header(&LibxlHeader::new(0))?;
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
    libxc_guest(w, 3)?;
    w.write_record(LibxlRecordType::END.0, &[])
}

fn build(f: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>) -> Result<Vec<u8>, String> {
    let mut w = Writer::new(Vec::new());
    f(&mut w).map_err(|e| format!("writing a profile test stream: {e}"))?;
    Ok(w.into_inner())
}

/// A valid profile but for its one cpuid entry, which stands in for
/// `CPUID_ENTRY`.
const PROFILE_TEMPLATE: &str = r#"{
  "format": "xenmig-cpu-profile",
  "version": 1,
  "name": "bad",
  "vendor": "GenuineIntel",
  "hosts": [],
  "limits": {"max_basic_leaf": "0x0000000d", "max_leaf7_subleaf": "0x00000000", "max_extended_leaf": "0x80000008", "signature": "0x000306f2", "physical_address_bits": "0x0000002e", "linear_address_bits": "0x00000030"},
  "cpuid": [
    CPUID_ENTRY
  ],
  "msrs": [],
  "pool_masks": []
}
"#;

/// Profile files with one mistake each, for the error messages of the CLI.
fn malformed_profiles() -> Vec<(&'static str, &'static str, String)> {
    let valid = |cpuid: &str| PROFILE_TEMPLATE.replace("CPUID_ENTRY", cpuid);
    vec![
        (
            "bad-value-outside-mask.json",
            "a cpuid entry whose value has bits outside its mask",
            valid(
                "{\"leaf\": \"0x00000007\", \"subleaf\": 0, \"register\": \"ebx\", \"value\": \"0x00000120\", \"mask\": \"0x000000ff\"}",
            ),
        ),
        (
            "bad-register-name.json",
            "a cpuid entry naming a register CPUID does not have",
            valid(
                "{\"leaf\": \"0x00000007\", \"subleaf\": 0, \"register\": \"esp\", \"value\": \"0x00000020\", \"mask\": \"0x000000ff\"}",
            ),
        ),
        (
            "bad-version.json",
            "a profile of a format version this tool does not know",
            valid("").replace("\"version\": 1", "\"version\": 2"),
        ),
    ]
}

/// Every stream, and a README describing them.
pub fn generate(_root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let libxc = build(|w| libxc_guest(w, 3))?;
    let truncated = libxc
        .get(..libxc.len().min(100))
        .unwrap_or_default()
        .to_vec();
    let config = b"{\"c_info\": {\"name\": \"skylake-guest\"}}\0";
    let streams: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "libxc-skylake-guest.bin",
            "bare libxc v3 HVM stream with the Skylake-SP guest's CPUID and MSR policy, then page data",
            libxc,
        ),
        (
            "libxl-skylake-guest.bin",
            "the same inside a libxl stream",
            build(libxl_guest)?,
        ),
        (
            "xl-skylake-guest.bin",
            "the same inside an xl save file (xl header, libxl, libxc)",
            build(|w| {
                w.write_xl_header(&XlHeader::new(
                    XlMandatoryFlags::STREAM_V2 | XlMandatoryFlags::JSON,
                    config,
                ))?;
                libxl_guest(w)
            })?,
        ),
        (
            "libxc-cascadelake-guest.bin",
            "libxc v3 HVM stream of a guest saved on Cascade Lake: the Skylake-SP guest plus MD_CLEAR, ARCH_CAPS and IA32_ARCH_CAPABILITIES 0x2b in its MSR policy",
            build(|w| {
                let (leaves, msrs) = cascadelake_guest_policy();
                libxc_guest_with(w, 3, &leaves, &msrs)
            })?,
        ),
        (
            "libxc-v2-no-policy.bin",
            "libxc v2 HVM stream (Xen 4.13): no policy records at all",
            build(|w| libxc_guest(w, 2))?,
        ),
        (
            "libxc-truncated.bin",
            "the first 100 bytes of libxc-skylake-guest.bin: cut inside the CPUID policy record",
            truncated,
        ),
    ];
    let mut readme_rows = Vec::new();
    let mut readme = String::from(
        "# Test inputs of `cpu-profile`: saved-domain streams and malformed profiles\n\n\
         Generated by `cargo xtask gen-testdata` from `xtask/src/profile_streams.rs`; do not edit.\n\
         The CPUID policy is what Xen would give an HVM guest on the Skylake-SP host of\n\
         `testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt` (see the generator).\n\n\
         | file | bytes | what |\n|---|---|---|\n",
    );
    let mut files = Vec::new();
    for (name, what, text) in malformed_profiles() {
        readme_rows.push(format!("| `{name}` | {} | {what} |\n", text.len()));
        files.push(GeneratedFile::new(format!("{DIR}/{name}"), text));
    }
    for (name, what, bytes) in streams {
        readme.push_str(&format!("| `{name}` | {} | {what} |\n", bytes.len()));
        files.push(GeneratedFile::new(format!("{DIR}/{name}"), bytes));
    }
    for row in readme_rows {
        readme.push_str(&row);
    }
    files.push(GeneratedFile::new(format!("{DIR}/README.md"), readme));
    Ok(files)
}

//! Test streams for `stream-verify`: for every rule a small stream that breaks
//! exactly that rule, plus valid streams of every shape the verifier follows.
//!
//! Output: `testdata/verify/<name>.stream` and `testdata/verify/cases.txt`,
//! one line per stream: `<file> <format> <expected rule id | valid>`.
//! The rule catalogue page `docs/verify-rules.md` is generated here too, so it
//! cannot drift from the code.

use crate::GeneratedFile;
use migration_stream::Writer;
use migration_stream::XlHeader;
use migration_stream::payload::{
    CpuidPolicy, EmulatorRecord, HvmContext, HvmParams, MsrPolicy, PageData, Vcpu, X86PvInfo,
    X86PvP2mFrames, XenstorePairs,
};
use migration_stream::types::{
    DomainType, EmulatorId, HvmParam, HvmSaveCode, LibxlRecordType as L, PageType, PfnEntry,
    RecordType as T, XlMandatoryFlags,
};
use migration_stream::wire::{
    CpuidPolicyLeaf, DomainHeader, HvmSaveHeader, ImageHeader, LibxlHeader, MsrPolicyEntry,
};
use std::path::Path;
use zerocopy::IntoBytes;

/// One piece of a stream: raw bytes (headers) or a record (type, body).
#[derive(Clone)]
enum Item {
    Raw(Vec<u8>),
    /// A libxc record.
    Rec(u32, Vec<u8>),
    /// A libxl record (its type numbers overlap libxc's).
    Xl(u32, Vec<u8>),
}

/// Which record a mutation is about.
#[derive(Clone, Copy)]
enum Key {
    Xc(T),
    Xl(L),
}

impl From<T> for Key {
    fn from(kind: T) -> Key {
        Key::Xc(kind)
    }
}

impl From<L> for Key {
    fn from(kind: L) -> Key {
        Key::Xl(kind)
    }
}

fn rec(kind: T, body: Vec<u8>) -> Item {
    Item::Rec(kind.0, body)
}

fn xl_rec(kind: L, body: Vec<u8>) -> Item {
    Item::Xl(kind.0, body)
}

fn encode(items: &[Item]) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new());
    for item in items {
        let done = match item {
            Item::Raw(bytes) => writer.write_raw(bytes),
            Item::Rec(kind, body) | Item::Xl(kind, body) => writer.write_record(*kind, body),
        };
        done.expect("writing to a Vec cannot fail");
    }
    writer.into_inner()
}

fn image_header(version: u32) -> Vec<u8> {
    ImageHeader::new(version).as_bytes().to_vec()
}

fn domain_header(kind: DomainType, major: u32, minor: u32) -> Vec<u8> {
    DomainHeader::new(kind, major, minor).as_bytes().to_vec()
}

/// A page whose bytes say which pfn it is, so streams are not all zeros.
fn page(pfn: u64) -> Vec<u8> {
    (0..4096u64).map(|i| ((i * 7 + pfn) % 256) as u8).collect()
}

fn page_data(entries: &[(u64, PageType)]) -> Vec<u8> {
    let pfns: Vec<PfnEntry> = entries.iter().map(|&(p, t)| PfnEntry::new(p, t)).collect();
    let mut data = Vec::new();
    for &(pfn, kind) in entries {
        if kind.has_data() {
            data.extend_from_slice(&page(pfn));
        }
    }
    PageData::encode(&pfns, &data)
}

fn tsc_info() -> Vec<u8> {
    let mut body = Vec::new();
    for word in [1u32, 2_400_000] {
        body.extend_from_slice(&word.to_le_bytes());
    }
    body.extend_from_slice(&123_456_789u64.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body
}

fn hvm_context() -> Vec<u8> {
    let header = HvmSaveHeader::new(0x0004_0011, 0x000a_0655, 2_400_000);
    let cpu = [0x5au8; 16];
    HvmContext::encode(&[
        (HvmSaveCode::HEADER, 0, header.as_bytes()),
        (HvmSaveCode::CPU, 0, &cpu),
        (HvmSaveCode::END, 0, &[]),
    ])
}

fn hvm_params() -> Vec<u8> {
    HvmParams::encode(&[
        (HvmParam::STORE_PFN, 0xfeffc),
        (HvmParam::IOREQ_PFN, 0xfeff0),
        (HvmParam::BUFIOREQ_PFN, 0xfeff1),
    ])
}

fn cpuid_policy() -> Vec<u8> {
    CpuidPolicy::encode(&[
        CpuidPolicyLeaf::new(0, 0xffff_ffff, [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]),
        CpuidPolicyLeaf::new(7, 0, [0, 0x029c_6fbf, 0, 0]),
        CpuidPolicyLeaf::new(7, 1, [0, 0, 0, 0]),
    ])
}

fn msr_policy() -> Vec<u8> {
    MsrPolicy::encode(&[
        MsrPolicyEntry::new(0xce, 0x8000_0000),
        MsrPolicyEntry::new(0x10a, 0x0c),
    ])
}

/// Xen 4.17 HVM stream in the order the C saver writes: HVM_CONTEXT before HVM_PARAMS.
fn hvm(version: u32) -> Vec<Item> {
    let mut items = vec![
        Item::Raw(image_header(version)),
        Item::Raw(domain_header(DomainType::X86_HVM, 4, 17)),
    ];
    if version >= 3 {
        items.push(rec(T::X86_CPUID_POLICY, cpuid_policy()));
        items.push(rec(T::X86_MSR_POLICY, msr_policy()));
        items.push(rec(T::STATIC_DATA_END, vec![]));
    }
    items.extend([
        rec(
            T::PAGE_DATA,
            page_data(&[(0x10, PageType::NOTAB), (0x11, PageType::XALLOC)]),
        ),
        rec(T::X86_TSC_INFO, tsc_info()),
        rec(T::HVM_CONTEXT, hvm_context()),
        rec(T::HVM_PARAMS, hvm_params()),
        rec(T::END, vec![]),
    ]);
    items
}

fn pv_basic_size(width: u8) -> usize {
    if width == 8 { 0x1430 } else { 0xAF0 }
}

/// PV stream: X86_PV_INFO first, the P2M covering pfns 0..=511, one vcpu.
fn pv(version: u32, width: u8) -> Vec<Item> {
    let levels = if width == 8 { 4 } else { 3 };
    let mut items = vec![
        Item::Raw(image_header(version)),
        Item::Raw(domain_header(DomainType::X86_PV, 4, 17)),
        rec(T::X86_PV_INFO, X86PvInfo::encode(width, levels)),
    ];
    if version >= 3 {
        items.push(rec(T::X86_CPUID_POLICY, cpuid_policy()));
        items.push(rec(T::STATIC_DATA_END, vec![]));
    }
    let frames = 511 / (4096 / u64::from(width)) + 1;
    let frame_list: Vec<u64> = (0..frames).map(|i| 0x2000 + i).collect();
    items.extend([
        rec(
            T::X86_PV_P2M_FRAMES,
            X86PvP2mFrames::encode(0, 511, &frame_list),
        ),
        rec(
            T::PAGE_DATA,
            page_data(&[(1, PageType::L1TAB_PINNED), (2, PageType::XTAB)]),
        ),
        rec(T::X86_TSC_INFO, tsc_info()),
        rec(T::SHARED_INFO, vec![0x11; 4096]),
        rec(
            T::X86_PV_VCPU_BASIC,
            Vcpu::encode(0, &vec![0x22; pv_basic_size(width)]),
        ),
        rec(T::X86_PV_VCPU_EXTENDED, Vcpu::encode(0, &[0x33; 128])),
        rec(T::X86_PV_VCPU_XSAVE, Vcpu::encode(0, &[0x44; 32])),
        rec(T::X86_PV_VCPU_MSRS, Vcpu::encode(0, &[0x55; 16])),
        rec(T::END, vec![]),
    ]);
    items
}

fn libxl_header(options: u32) -> Vec<u8> {
    LibxlHeader::new(options).as_bytes().to_vec()
}

fn xenstore_data() -> Vec<u8> {
    let pairs = XenstorePairs::encode(&[
        (b"physmap/f0000000/start_addr", b"f0000000"),
        (b"physmap/f0000000/size", b"800000"),
        (b"physmap/f0000000/name", b"vga.vram"),
    ]);
    EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, &pairs)
}

fn emulator_context() -> Vec<u8> {
    EmulatorRecord::encode(
        EmulatorId::QEMU_UPSTREAM,
        0,
        b"QEVM\0\0\0\x03qemu device state",
    )
}

/// libxl stream around `libxc`, with the records libxl writes for HVM guests.
fn libxl(libxc: Vec<Item>, hvm_extras: bool) -> Vec<Item> {
    let mut items = vec![Item::Raw(libxl_header(0)), xl_rec(L::LIBXC_CONTEXT, vec![])];
    items.extend(libxc);
    if hvm_extras {
        items.push(xl_rec(L::EMULATOR_XENSTORE_DATA, xenstore_data()));
        items.push(xl_rec(L::EMULATOR_CONTEXT, emulator_context()));
    }
    items.push(xl_rec(L::END, vec![]));
    items
}

fn xl_header(flags: XlMandatoryFlags) -> Vec<u8> {
    XlHeader::new(
        flags,
        b"{\"c_info\": {\"type\": \"hvm\", \"name\": \"guest\"}}\0",
    )
    .to_bytes()
}

/// A Remus/COLO libxl stream: `rounds` checkpoints, each followed by the libxl
/// records and CHECKPOINT_END, the later rounds without new libxc headers.
fn checkpointed(rounds: usize, end: bool) -> Vec<Item> {
    let mut libxc = hvm(3);
    libxc.pop(); // END
    libxc.push(rec(T::CHECKPOINT, vec![]));
    let mut items = vec![Item::Raw(libxl_header(0)), xl_rec(L::LIBXC_CONTEXT, vec![])];
    items.extend(libxc);
    for round in 1..=rounds {
        items.push(xl_rec(L::EMULATOR_XENSTORE_DATA, xenstore_data()));
        items.push(xl_rec(L::EMULATOR_CONTEXT, emulator_context()));
        items.push(xl_rec(L::CHECKPOINT_END, vec![]));
        if round == rounds && !end {
            return items;
        }
        items.push(rec(
            T::PAGE_DATA,
            page_data(&[(0x10 + round as u64, PageType::NOTAB)]),
        ));
        items.push(rec(T::X86_TSC_INFO, tsc_info()));
        items.push(rec(T::HVM_CONTEXT, hvm_context()));
        items.push(rec(T::HVM_PARAMS, hvm_params()));
        if round == rounds {
            items.push(rec(T::END, vec![]));
        } else {
            items.push(rec(T::CHECKPOINT, vec![]));
        }
    }
    items.push(xl_rec(L::EMULATOR_CONTEXT, emulator_context()));
    items.push(xl_rec(L::END, vec![]));
    items
}

// ----- mutations ------------------------------------------------------------------

/// Index of the first record `key` names (the last one for libxl END).
fn position(items: &[Item], key: impl Into<Key>) -> usize {
    let key = key.into();
    let hit = |item: &Item| match (key, item) {
        (Key::Xc(kind), Item::Rec(k, _)) => *k == kind.0,
        (Key::Xl(kind), Item::Xl(k, _)) => *k == kind.0,
        _ => false,
    };
    let found = match key {
        Key::Xl(L::END) => items.iter().rposition(hit),
        _ => items.iter().position(hit),
    };
    found.unwrap_or_else(|| panic!("no such record in the base stream"))
}

/// Replaces the body of the record `key` names.
fn with_body(mut items: Vec<Item>, key: impl Into<Key>, body: Vec<u8>) -> Vec<Item> {
    let key = key.into();
    let at = position(&items, key);
    items[at] = match key {
        Key::Xc(kind) => Item::Rec(kind.0, body),
        Key::Xl(kind) => Item::Xl(kind.0, body),
    };
    items
}

fn insert_before(mut items: Vec<Item>, key: impl Into<Key>, item: Item) -> Vec<Item> {
    let at = position(&items, key);
    items.insert(at, item);
    items
}

fn insert_after(mut items: Vec<Item>, key: impl Into<Key>, item: Item) -> Vec<Item> {
    let at = position(&items, key);
    items.insert(at + 1, item);
    items
}

fn remove(mut items: Vec<Item>, key: impl Into<Key>) -> Vec<Item> {
    let at = position(&items, key);
    items.remove(at);
    items
}

/// Replaces the header item at `index` (0 = first item).
fn with_raw(mut items: Vec<Item>, index: usize, bytes: Vec<u8>) -> Vec<Item> {
    items[index] = Item::Raw(bytes);
    items
}

fn patched(mut bytes: Vec<u8>, at: usize, with: &[u8]) -> Vec<u8> {
    bytes[at..at + with.len()].copy_from_slice(with);
    bytes
}

fn le32s(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn hvm_context_with(entries: &[(HvmSaveCode, u16, &[u8])]) -> Vec<u8> {
    HvmContext::encode(entries)
}

/// A stream case: file stem, format argument, expected rule (None = valid), bytes.
struct Case {
    name: String,
    format: &'static str,
    expect: Option<&'static str>,
    bytes: Vec<u8>,
}

fn valid(name: &str, format: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        name: format!("valid-{name}"),
        format,
        expect: None,
        bytes,
    }
}

fn broken(rule: &'static str, format: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        name: rule.to_owned(),
        format,
        expect: Some(rule),
        bytes,
    }
}

fn cases() -> Vec<Case> {
    let hvm3 = || hvm(3);
    let pv64 = || pv(3, 8);
    let hvm_libxl = || libxl(hvm(3), true);
    let mut out = vec![
        valid("hvm-v3", "auto", encode(&hvm3())),
        valid("hvm-v2", "auto", encode(&hvm(2))),
        valid("pv64-v3", "auto", encode(&pv64())),
        valid("pv32-v2", "auto", encode(&pv(2, 4))),
        valid("hvm-libxl", "auto", encode(&hvm_libxl())),
        valid("pv-libxl", "libxl", encode(&libxl(pv(3, 8), false))),
        valid("hvm-xl", "auto", {
            let mut bytes = xl_header(XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2);
            bytes.extend(encode(&hvm_libxl()));
            bytes
        }),
        valid("xl-libxc", "xl", {
            let mut bytes = xl_header(XlMandatoryFlags::JSON);
            bytes.extend(encode(&hvm3()));
            bytes
        }),
        valid("checkpointed", "auto", encode(&checkpointed(2, true))),
        valid("checkpointed-cut", "auto", encode(&checkpointed(2, false))),
        valid("legacy-hvm-qemu", "auto", {
            // What the converter writes in libxc mode: v3, Xen 0.1, SDE first,
            // two HVM_PARAMS records, then the raw qemu record after END.
            let mut items = hvm3();
            items = with_raw(items, 1, domain_header(DomainType::X86_HVM, 0, 1));
            items.retain(|i| !matches!(i, Item::Rec(k, _) if *k == T::X86_CPUID_POLICY.0 || *k == T::X86_MSR_POLICY.0));
            items = insert_after(
                items,
                T::X86_TSC_INFO,
                rec(
                    T::HVM_PARAMS,
                    HvmParams::encode(&[(HvmParam::IDENT_PT, 0xfeffd000)]),
                ),
            );
            let mut bytes = encode(&items);
            bytes.extend_from_slice(b"DeviceModelRecord0002");
            bytes.extend_from_slice(&12u32.to_le_bytes());
            bytes.extend_from_slice(b"QEVM\0\0\0\x03....");
            bytes
        }),
        valid(
            "optional-record",
            "auto",
            encode(&insert_before(
                hvm3(),
                T::END,
                Item::Rec(0x8000_0001, b"hello".to_vec()),
            )),
        ),
        valid("empty-hvm-params", "auto", {
            // Xen 4.6-4.8 wrote empty HVM_PARAMS records: a warning, not an error.
            let items = insert_before(hvm(2), T::END, rec(T::HVM_PARAMS, HvmParams::encode(&[])));
            encode(&items)
        }),
        valid(
            "pv-empty-vcpu-extended",
            "auto",
            encode(&with_body(
                pv(2, 8),
                T::X86_PV_VCPU_EXTENDED,
                Vcpu::encode(0, &[]),
            )),
        ),
    ];

    // Input and framing.
    out.push(broken("stream.truncated", "auto", {
        let bytes = encode(&hvm3());
        bytes[..bytes.len() - 3000].to_vec()
    }));
    out.push(broken(
        "stream.format",
        "auto",
        b"This is not a migration stream at all.\n".to_vec(),
    ));
    out.push(broken("stream.trailing-data", "auto", {
        let mut bytes = encode(&hvm3());
        bytes.extend_from_slice(&[0u8; 16]);
        bytes
    }));
    out.push(broken("record.padding", "auto", {
        let mut bytes = encode(&hvm3());
        let end = bytes.len() - 8;
        let mut optional = encode(&[Item::Rec(0x8000_0002, b"abc".to_vec())]);
        let last = optional.len() - 1;
        optional[last] = 0xee;
        bytes.splice(end..end, optional);
        bytes
    }));
    out.push(broken("record.length-max", "auto", {
        let mut bytes = encode(&hvm3());
        let end = bytes.len() - 8;
        let mut header = T::HVM_CONTEXT.0.to_le_bytes().to_vec();
        header.extend_from_slice(&((128u32 << 20) + 8).to_le_bytes());
        bytes.splice(end..end, header);
        bytes
    }));
    out.push(broken(
        "record.unknown",
        "auto",
        encode(&insert_before(hvm3(), T::END, Item::Rec(0x13, vec![]))),
    ));

    // xl header.
    let xl = |header: Vec<u8>| {
        let mut bytes = header;
        bytes.extend(encode(&hvm_libxl()));
        bytes
    };
    let xl_ok = || xl_header(XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2);
    out.push(broken("xl.magic", "xl", xl(patched(xl_ok(), 31, b"\n"))));
    out.push(broken(
        "xl.byte-order",
        "auto",
        xl(patched(xl_ok(), 32, &[1, 2, 3, 4])),
    ));
    out.push(broken(
        "xl.mandatory-flags",
        "auto",
        xl(patched(xl_ok(), 36, &le32s(&[7]))),
    ));
    out.push(broken("xl.config-length", "auto", {
        let mut header = xl_ok();
        let optional_len = u32::from_le_bytes([header[44], header[45], header[46], header[47]]);
        header = patched(header, 48, &le32s(&[optional_len]));
        xl(header)
    }));

    // libxc headers (inside libxl so that detection is not what fails).
    let in_libxl = |image: Vec<u8>| encode(&with_raw(hvm_libxl(), 2, image));
    out.push(broken(
        "image-header.marker",
        "libxc",
        patched(encode(&hvm3()), 0, &[0xfe]),
    ));
    out.push(broken(
        "image-header.id",
        "auto",
        in_libxl(patched(image_header(3), 8, b"XENG")),
    ));
    out.push(broken(
        "image-header.version",
        "auto",
        in_libxl(image_header(4)),
    ));
    out.push(broken(
        "image-header.options",
        "auto",
        in_libxl(patched(image_header(3), 16, &[0, 2])),
    ));
    out.push(broken(
        "image-header.reserved",
        "auto",
        in_libxl(patched(image_header(3), 20, &[0, 0, 0, 1])),
    ));
    out.push(broken(
        "image-header.endianness",
        "auto",
        patched(encode(&hvm3()), 16, &[0, 1]),
    ));
    let with_domain = |bytes: Vec<u8>| encode(&with_raw(hvm3(), 1, bytes));
    let hvm_domain = || domain_header(DomainType::X86_HVM, 4, 17);
    out.push(broken(
        "domain-header.type",
        "auto",
        with_domain(patched(hvm_domain(), 0, &[3])),
    ));
    out.push(broken(
        "domain-header.reserved",
        "auto",
        with_domain(patched(hvm_domain(), 6, &[1, 0])),
    ));
    out.push(broken(
        "domain-header.page-shift",
        "auto",
        with_domain(patched(hvm_domain(), 4, &[13, 0])),
    ));

    // libxc records: upstream's checks.
    out.push(broken(
        "end.length",
        "auto",
        encode(&with_body(hvm3(), T::END, vec![0; 8])),
    ));
    out.push(broken(
        "page-data.min-length",
        "auto",
        encode(&with_body(hvm3(), T::PAGE_DATA, vec![0; 8])),
    ));
    let mut pd = page_data(&[(0x10, PageType::NOTAB)]);
    out.push(broken(
        "page-data.reserved",
        "auto",
        encode(&with_body(
            hvm3(),
            T::PAGE_DATA,
            patched(pd.clone(), 4, &[1]),
        )),
    ));
    out.push(broken(
        "page-data.pfn-array",
        "auto",
        encode(&with_body(
            hvm3(),
            T::PAGE_DATA,
            patched(pd.clone(), 0, &le32s(&[600])),
        )),
    ));
    out.push(broken(
        "page-data.pfn-reserved",
        "auto",
        encode(&with_body(
            hvm3(),
            T::PAGE_DATA,
            patched(pd.clone(), 14, &[0x10]),
        )),
    ));
    out.push(broken(
        "page-data.pfn-type",
        "auto",
        encode(&with_body(
            hvm3(),
            T::PAGE_DATA,
            patched(pd.clone(), 15, &[0x50]),
        )),
    ));
    pd.truncate(pd.len() - 8);
    out.push(broken(
        "page-data.length",
        "auto",
        encode(&with_body(hvm3(), T::PAGE_DATA, pd)),
    ));
    out.push(broken(
        "x86-pv-info.length",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_INFO,
            vec![8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        )),
    ));
    out.push(broken(
        "x86-pv-info.width",
        "auto",
        encode(&with_body(pv64(), T::X86_PV_INFO, X86PvInfo::encode(2, 4))),
    ));
    out.push(broken(
        "x86-pv-info.levels",
        "auto",
        encode(&with_body(pv64(), T::X86_PV_INFO, X86PvInfo::encode(8, 2))),
    ));
    out.push(broken(
        "x86-pv-info.reserved",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_INFO,
            vec![8, 4, 0, 0, 1, 0, 0, 0],
        )),
    ));
    out.push(broken(
        "x86-pv-p2m-frames.min-length",
        "auto",
        encode(&with_body(pv64(), T::X86_PV_P2M_FRAMES, vec![0; 4])),
    ));
    out.push(broken(
        "x86-pv-p2m-frames.multiple",
        "auto",
        encode(&with_body(pv64(), T::X86_PV_P2M_FRAMES, {
            let mut body = X86PvP2mFrames::encode(0, 511, &[0x2000]);
            body.extend_from_slice(&[0; 4]);
            body
        })),
    ));
    out.push(broken(
        "vcpu.min-length",
        "auto",
        encode(&with_body(pv64(), T::X86_PV_VCPU_MSRS, vec![0; 4])),
    ));
    out.push(broken(
        "vcpu.reserved",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_VCPU_MSRS,
            patched(Vcpu::encode(0, &[0x55; 16]), 4, &[1]),
        )),
    ));
    out.push(broken(
        "shared-info.length",
        "auto",
        encode(&with_body(pv64(), T::SHARED_INFO, vec![0x11; 4088])),
    ));
    out.push(broken(
        "x86-tsc-info.length",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_TSC_INFO,
            tsc_info()[..16].to_vec(),
        )),
    ));
    out.push(broken(
        "x86-tsc-info.reserved",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_TSC_INFO,
            patched(tsc_info(), 20, &[1]),
        )),
    ));
    out.push(broken(
        "hvm-context.empty",
        "auto",
        encode(&with_body(hvm3(), T::HVM_CONTEXT, vec![])),
    ));
    out.push(broken(
        "hvm-params.min-length",
        "auto",
        encode(&with_body(hvm3(), T::HVM_PARAMS, vec![0; 4])),
    ));
    out.push(broken(
        "hvm-params.reserved",
        "auto",
        encode(&with_body(
            hvm3(),
            T::HVM_PARAMS,
            patched(hvm_params(), 4, &[1]),
        )),
    ));
    out.push(broken(
        "hvm-params.length",
        "auto",
        encode(&with_body(
            hvm3(),
            T::HVM_PARAMS,
            patched(hvm_params(), 0, &[4]),
        )),
    ));
    out.push(broken(
        "toolstack.present",
        "auto",
        encode(&insert_before(
            hvm3(),
            T::END,
            rec(T::TOOLSTACK, vec![1; 16]),
        )),
    ));
    out.push(broken(
        "verify.length",
        "auto",
        encode(&insert_before(
            hvm3(),
            T::PAGE_DATA,
            rec(T::VERIFY, vec![0; 8]),
        )),
    ));
    out.push(broken(
        "checkpoint.length",
        "auto",
        encode(&{
            let mut items = checkpointed(1, true);
            let at = position(&items, T::CHECKPOINT);
            items[at] = rec(T::CHECKPOINT, vec![0; 8]);
            items
        }),
    ));
    out.push(broken(
        "checkpoint-dirty-pfn-list.present",
        "auto",
        encode(&insert_before(
            hvm3(),
            T::END,
            rec(T::CHECKPOINT_DIRTY_PFN_LIST, le32s(&[5, 0])),
        )),
    ));
    out.push(broken(
        "static-data-end.v2",
        "auto",
        encode(&insert_before(
            hvm(2),
            T::PAGE_DATA,
            rec(T::STATIC_DATA_END, vec![]),
        )),
    ));
    out.push(broken(
        "static-data-end.length",
        "auto",
        encode(&with_body(hvm3(), T::STATIC_DATA_END, vec![0; 8])),
    ));
    out.push(broken(
        "x86-cpuid-policy.v2",
        "auto",
        encode(&insert_before(
            hvm(2),
            T::PAGE_DATA,
            rec(T::X86_CPUID_POLICY, cpuid_policy()),
        )),
    ));
    out.push(broken(
        "x86-cpuid-policy.length",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_CPUID_POLICY,
            cpuid_policy()[..60].to_vec(),
        )),
    ));
    out.push(broken(
        "x86-msr-policy.v2",
        "auto",
        encode(&insert_before(
            hvm(2),
            T::PAGE_DATA,
            rec(T::X86_MSR_POLICY, msr_policy()),
        )),
    ));
    out.push(broken(
        "x86-msr-policy.length",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_MSR_POLICY,
            msr_policy()[..24].to_vec(),
        )),
    ));

    // libxc records: what upstream misses.
    out.push(broken(
        "domain-type.record",
        "auto",
        encode(&insert_before(
            hvm3(),
            T::PAGE_DATA,
            rec(T::X86_PV_INFO, X86PvInfo::encode(8, 4)),
        )),
    ));
    out.push(broken(
        "domain-type.page-table",
        "auto",
        encode(&with_body(
            hvm3(),
            T::PAGE_DATA,
            page_data(&[(0x10, PageType::L1TAB)]),
        )),
    ));
    out.push(broken(
        "static-data-end.missing",
        "auto",
        encode(&remove(hvm3(), T::STATIC_DATA_END)),
    ));
    // Register content before STATIC_DATA_END, with no memory before it.
    out.push(Case {
        name: "static-data-end.missing.hvm-context-first".to_owned(),
        format: "auto",
        expect: Some("static-data-end.missing"),
        bytes: encode(&{
            let items = remove(hvm3(), T::HVM_CONTEXT);
            insert_before(
                items,
                T::STATIC_DATA_END,
                rec(T::HVM_CONTEXT, hvm_context()),
            )
        }),
    });
    out.push(broken(
        "static-data-end.duplicate",
        "auto",
        encode(&insert_before(
            hvm3(),
            T::PAGE_DATA,
            rec(T::STATIC_DATA_END, vec![]),
        )),
    ));
    out.push(broken(
        "policy.after-static-data-end",
        "auto",
        encode(&{
            let items = remove(hvm3(), T::X86_MSR_POLICY);
            insert_after(
                items,
                T::STATIC_DATA_END,
                rec(T::X86_MSR_POLICY, msr_policy()),
            )
        }),
    ));
    out.push(broken(
        "x86-cpuid-policy.order",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_CPUID_POLICY,
            CpuidPolicy::encode(&[
                CpuidPolicyLeaf::new(7, 0, [0; 4]),
                CpuidPolicyLeaf::new(0, 0xffff_ffff, [0xd, 0, 0, 0]),
            ]),
        )),
    ));
    out.push(broken(
        "x86-cpuid-policy.subleaf",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_CPUID_POLICY,
            CpuidPolicy::encode(&[
                CpuidPolicyLeaf::new(7, 0, [0; 4]),
                CpuidPolicyLeaf::new(7, 0xffff_ffff, [0; 4]),
            ]),
        )),
    ));
    out.push(broken(
        "x86-msr-policy.flags",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_MSR_POLICY,
            patched(msr_policy(), 4, &[1]),
        )),
    ));
    out.push(broken(
        "x86-msr-policy.order",
        "auto",
        encode(&with_body(
            hvm3(),
            T::X86_MSR_POLICY,
            MsrPolicy::encode(&[MsrPolicyEntry::new(0x10a, 0), MsrPolicyEntry::new(0xce, 0)]),
        )),
    ));
    out.push(broken(
        "x86-pv-info.first",
        "auto",
        encode(&{
            let items = remove(pv64(), T::X86_PV_INFO);
            insert_after(
                items,
                T::STATIC_DATA_END,
                rec(T::X86_PV_INFO, X86PvInfo::encode(8, 4)),
            )
        }),
    ));
    out.push(broken(
        "x86-pv-info.duplicate",
        "auto",
        encode(&insert_after(
            pv64(),
            T::X86_PV_INFO,
            rec(T::X86_PV_INFO, X86PvInfo::encode(8, 4)),
        )),
    ));
    out.push(broken(
        "x86-pv-info.pair",
        "auto",
        encode(&with_body(pv64(), T::X86_PV_INFO, X86PvInfo::encode(8, 3))),
    ));
    out.push(broken(
        "x86-pv-p2m-frames.range",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_P2M_FRAMES,
            X86PvP2mFrames::encode(600, 511, &[0x2000]),
        )),
    ));
    out.push(broken(
        "x86-pv-p2m-frames.length",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_P2M_FRAMES,
            X86PvP2mFrames::encode(0, 511, &[0x2000, 0x2001, 0x2002]),
        )),
    ));
    out.push(broken(
        "x86-pv-p2m-frames.before-page-data",
        "auto",
        encode(&{
            let items = remove(pv64(), T::X86_PV_P2M_FRAMES);
            insert_after(
                items,
                T::PAGE_DATA,
                rec(
                    T::X86_PV_P2M_FRAMES,
                    X86PvP2mFrames::encode(0, 511, &[0x2000]),
                ),
            )
        }),
    ));
    out.push(broken(
        "page-data.pfn-beyond-p2m",
        "auto",
        encode(&with_body(
            pv64(),
            T::PAGE_DATA,
            page_data(&[(512, PageType::NOTAB)]),
        )),
    ));
    out.push(broken(
        "page-data.duplicate-pfn",
        "auto",
        encode(&with_body(
            hvm3(),
            T::PAGE_DATA,
            page_data(&[
                (0x10, PageType::NOTAB),
                (0x11, PageType::NOTAB),
                (0x10, PageType::XALLOC),
            ]),
        )),
    ));
    out.push(broken(
        "vcpu.basic-size",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_VCPU_BASIC,
            Vcpu::encode(0, &vec![0x22; pv_basic_size(4)]),
        )),
    ));
    out.push(broken(
        "vcpu.extended-size",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_VCPU_EXTENDED,
            Vcpu::encode(0, &[0x33; 136]),
        )),
    ));
    out.push(broken(
        "vcpu.xsave-size",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_VCPU_XSAVE,
            Vcpu::encode(0, &[0x44; 8]),
        )),
    ));
    out.push(broken(
        "vcpu.msrs-size",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_VCPU_MSRS,
            Vcpu::encode(0, &[0x55; 24]),
        )),
    ));
    out.push(broken(
        "vcpu.before-page-data",
        "auto",
        encode(&{
            let basic = rec(
                T::X86_PV_VCPU_BASIC,
                Vcpu::encode(0, &vec![0x22; pv_basic_size(8)]),
            );
            insert_before(remove(pv64(), T::X86_PV_VCPU_BASIC), T::PAGE_DATA, basic)
        }),
    ));
    out.push(broken(
        "vcpu.vcpu0-basic",
        "auto",
        encode(&with_body(
            pv64(),
            T::X86_PV_VCPU_BASIC,
            Vcpu::encode(1, &vec![0x22; pv_basic_size(8)]),
        )),
    ));
    out.push(broken(
        "hvm-params.duplicate",
        "auto",
        encode(&with_body(
            hvm3(),
            T::HVM_PARAMS,
            HvmParams::encode(&[(HvmParam::STORE_PFN, 1), (HvmParam::STORE_PFN, 2)]),
        )),
    ));
    out.push(broken(
        "hvm-params.unknown",
        "auto",
        encode(&with_body(
            hvm3(),
            T::HVM_PARAMS,
            HvmParams::encode(&[(HvmParam(2), 1)]),
        )),
    ));
    let good_header = HvmSaveHeader::new(0x0004_0011, 0, 0);
    out.push(broken(
        "hvm-context.header",
        "auto",
        encode(&with_body(
            hvm3(),
            T::HVM_CONTEXT,
            patched(hvm_context(), 8, &[0x87]),
        )),
    ));
    out.push(broken(
        "hvm-context.descriptor",
        "auto",
        encode(&with_body(hvm3(), T::HVM_CONTEXT, {
            let mut body = hvm_context_with(&[
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode::CPU, 0, &[0; 16]),
            ]);
            body = patched(body, 36, &le32s(&[17]));
            body
        })),
    ));
    out.push(broken(
        "hvm-context.end",
        "auto",
        encode(&with_body(
            hvm3(),
            T::HVM_CONTEXT,
            hvm_context_with(&[
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode::CPU, 0, &[0; 16]),
            ]),
        )),
    ));
    out.push(broken(
        "checkpoint.not-checkpointed",
        "auto",
        encode(&insert_before(hvm3(), T::END, rec(T::CHECKPOINT, vec![]))),
    ));

    // libxl layer.
    let with_libxl_header = |header: Vec<u8>| encode(&with_raw(hvm_libxl(), 0, header));
    out.push(broken(
        "libxl-header.ident",
        "libxl",
        with_libxl_header(patched(libxl_header(0), 7, b"u")),
    ));
    out.push(broken(
        "libxl-header.version",
        "auto",
        with_libxl_header(patched(libxl_header(0), 8, &[0, 0, 0, 3])),
    ));
    out.push(broken(
        "libxl-header.options",
        "auto",
        with_libxl_header(libxl_header(1 << 16)),
    ));
    out.push(broken(
        "libxl-header.endianness",
        "auto",
        with_libxl_header(libxl_header(1)),
    ));
    out.push(broken(
        "libxl.record-unknown",
        "auto",
        encode(&insert_before(
            hvm_libxl(),
            L::EMULATOR_CONTEXT,
            Item::Rec(6, vec![]),
        )),
    ));
    out.push(broken(
        "libxl.end-length",
        "auto",
        encode(&{
            let mut items = hvm_libxl();
            let last = items.len() - 1;
            items[last] = xl_rec(L::END, vec![0; 8]);
            items
        }),
    ));
    out.push(broken(
        "libxl.libxc-context-length",
        "auto",
        encode(&with_body(hvm_libxl(), L::LIBXC_CONTEXT, vec![0; 8])),
    ));
    out.push(broken(
        "libxl.libxc-context-once",
        "auto",
        encode(&[
            Item::Raw(libxl_header(0)),
            xl_rec(L::EMULATOR_CONTEXT, emulator_context()),
            xl_rec(L::END, vec![]),
        ]),
    ));
    out.push(broken(
        "libxl.emulator-length",
        "auto",
        encode(&with_body(
            hvm_libxl(),
            L::EMULATOR_CONTEXT,
            vec![2, 0, 0, 0],
        )),
    ));
    out.push(broken(
        "libxl.emulator-id",
        "auto",
        encode(&with_body(
            hvm_libxl(),
            L::EMULATOR_CONTEXT,
            EmulatorRecord::encode(EmulatorId(3), 0, b"x"),
        )),
    ));
    out.push(broken(
        "libxl.emulator-not-hvm",
        "auto",
        encode(&insert_before(
            libxl(pv64(), false),
            L::END,
            xl_rec(L::EMULATOR_CONTEXT, emulator_context()),
        )),
    ));
    let xenstore = |data: &[u8]| {
        encode(&with_body(
            hvm_libxl(),
            L::EMULATOR_XENSTORE_DATA,
            EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, data),
        ))
    };
    out.push(broken(
        "libxl.xenstore-nul",
        "auto",
        xenstore(b"physmap/1/size\0800000"),
    ));
    out.push(broken(
        "libxl.xenstore-pairs",
        "auto",
        xenstore(b"physmap/1/size\0800000\0physmap/1/name\0"),
    ));
    out.push(broken(
        "libxl.xenstore-key",
        "auto",
        xenstore(b"physmap/1/bad key!\0800000\0"),
    ));
    out.push(broken(
        "libxl.xenstore-string-length",
        "auto",
        xenstore(&{
            let mut data = b"physmap/1/name\0".to_vec();
            data.extend(std::iter::repeat_n(b'v', 5000));
            data.push(0);
            data
        }),
    ));
    out.push(broken(
        "libxl.checkpoint-end-length",
        "auto",
        encode(&with_body(
            checkpointed(1, true),
            L::CHECKPOINT_END,
            vec![0; 8],
        )),
    ));
    out.push(broken(
        "libxl.checkpoint-end-unexpected",
        "auto",
        encode(&insert_before(
            hvm_libxl(),
            L::END,
            xl_rec(L::CHECKPOINT_END, vec![]),
        )),
    ));
    let state = |body: Vec<u8>| {
        encode(&insert_before(
            hvm_libxl(),
            L::END,
            xl_rec(L::CHECKPOINT_STATE, body),
        ))
    };
    out.push(broken(
        "libxl.checkpoint-state-empty",
        "auto",
        state(vec![]),
    ));
    out.push(broken(
        "libxl.checkpoint-state-length",
        "auto",
        state(vec![0; 8]),
    ));
    out.push(broken(
        "libxl.checkpoint-state-id",
        "auto",
        state(le32s(&[7])),
    ));
    out.push(broken(
        "libxl.checkpoint-state-unexpected",
        "auto",
        state(le32s(&[0])),
    ));
    out.extend(other_message_forms());
    out.extend(wrong_format_given());
    out
}

/// A case for a rule's message form other than the one its main case shows:
/// `<rule>.<form>.stream`.
fn broken_form(rule: &'static str, form: &str, format: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        name: format!("{rule}.{form}"),
        ..broken(rule, format, bytes)
    }
}

/// One case per further message form of the rules that have several, so
/// that every message in `docs/verify-rules.md` is shown to be the tool's.
fn other_message_forms() -> Vec<Case> {
    let hvm3 = || hvm(3);
    let good_header = HvmSaveHeader::new(0x0004_0011, 0, 0);
    let context = |entries: &[(HvmSaveCode, u16, &[u8])]| {
        encode(&with_body(
            hvm3(),
            T::HVM_CONTEXT,
            hvm_context_with(entries),
        ))
    };
    let mut xl_short = xl_header(XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2);
    xl_short.truncate(44);
    xl_short.extend(le32s(&[3]));
    xl_short.extend([0; 3]);
    xl_short.extend(encode(&libxl(hvm3(), true)));
    vec![
        broken_form("xl.config-length", "no-length-word", "auto", xl_short),
        broken_form(
            "libxl.libxc-context-once",
            "repeated",
            "auto",
            encode(&insert_before(
                libxl(hvm3(), true),
                L::END,
                xl_rec(L::LIBXC_CONTEXT, vec![]),
            )),
        ),
        broken_form(
            "hvm-context.header",
            "not-first",
            "auto",
            context(&[
                (HvmSaveCode::CPU, 0, &[0; 16]),
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode::END, 0, &[]),
            ]),
        ),
        broken_form("hvm-context.descriptor", "cut", "auto", {
            let mut body = hvm_context_with(&[(HvmSaveCode::HEADER, 0, good_header.as_bytes())]);
            body.extend([0; 4]);
            encode(&with_body(hvm3(), T::HVM_CONTEXT, body))
        }),
        broken_form(
            "hvm-context.descriptor",
            "typecode",
            "auto",
            context(&[
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode(21), 0, &[0; 8]),
                (HvmSaveCode::END, 0, &[]),
            ]),
        ),
        broken_form(
            "hvm-context.end",
            "data-after",
            "auto",
            context(&[
                (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
                (HvmSaveCode::END, 0, &[]),
                (HvmSaveCode::CPU, 0, &[0; 16]),
            ]),
        ),
    ]
}

/// A valid stream verified as a format it is not: the message says what the
/// bytes are (`-f libxc` on an xl file says they are an xl header).
fn wrong_format_given() -> Vec<Case> {
    let libxc = encode(&hvm(3));
    let libxl_stream = encode(&libxl(hvm(3), true));
    let mut xl = xl_header(XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2);
    xl.extend(&libxl_stream);
    vec![
        broken_form("image-header.marker", "xl-file", "libxc", xl.clone()),
        broken_form(
            "image-header.marker",
            "libxl-stream",
            "libxc",
            libxl_stream.clone(),
        ),
        broken_form("libxl-header.ident", "libxc-stream", "libxl", libxc.clone()),
        broken_form("libxl-header.ident", "xl-file", "libxl", xl),
        broken_form("xl.magic", "libxc-stream", "xl", libxc),
        broken_form("xl.magic", "libxl-stream", "xl", libxl_stream),
    ]
}

/// The files of the `verify-cases` generator.
pub fn generate(_root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let mut files = Vec::new();
    let mut manifest = String::from(
        "# Generated by `cargo xtask gen-testdata` (xtask/src/verify_cases.rs); do not edit.\n\
         # <file> <format> <expected rule id | valid>\n",
    );
    for case in cases() {
        let file = format!("{}.stream", case.name);
        manifest.push_str(&format!(
            "{file} {} {}\n",
            case.format,
            case.expect.unwrap_or("valid")
        ));
        files.push(GeneratedFile::new(
            format!("testdata/verify/{file}"),
            case.bytes,
        ));
    }
    files.push(GeneratedFile::new("testdata/verify/cases.txt", manifest));
    files.push(GeneratedFile::new(
        "docs/verify-rules.md",
        stream_verify::rules::catalogue_markdown(),
    ));
    Ok(files)
}

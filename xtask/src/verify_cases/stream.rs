//! The pieces the verifier's test streams are built from: headers and record
//! bodies as Xen 4.17 writes them, whole valid streams of each shape, and the
//! mutations that break one thing in such a stream.

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
use zerocopy::IntoBytes;

/// One piece of a stream: raw bytes (headers) or a record (type, body).
#[derive(Clone)]
pub(super) enum Item {
    Raw(Vec<u8>),
    /// A libxc record.
    Rec(u32, Vec<u8>),
    /// A libxl record (its type numbers overlap libxc's).
    Xl(u32, Vec<u8>),
}

/// Which record a mutation is about.
#[derive(Clone, Copy)]
pub(super) enum Key {
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

pub(super) fn rec(kind: T, body: Vec<u8>) -> Item {
    Item::Rec(kind.0, body)
}

pub(super) fn xl_rec(kind: L, body: Vec<u8>) -> Item {
    Item::Xl(kind.0, body)
}

pub(super) fn encode(items: &[Item]) -> Vec<u8> {
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

pub(super) fn image_header(version: u32) -> Vec<u8> {
    ImageHeader::new(version).as_bytes().to_vec()
}

pub(super) fn domain_header(kind: DomainType, major: u32, minor: u32) -> Vec<u8> {
    DomainHeader::new(kind, major, minor).as_bytes().to_vec()
}

/// A page whose bytes say which pfn it is, so streams are not all zeros.
pub(super) fn page(pfn: u64) -> Vec<u8> {
    (0..4096u64).map(|i| ((i * 7 + pfn) % 256) as u8).collect()
}

pub(super) fn page_data(entries: &[(u64, PageType)]) -> Vec<u8> {
    let pfns: Vec<PfnEntry> = entries.iter().map(|&(p, t)| PfnEntry::new(p, t)).collect();
    let mut data = Vec::new();
    for &(pfn, kind) in entries {
        if kind.has_data() {
            data.extend_from_slice(&page(pfn));
        }
    }
    PageData::encode(&pfns, &data)
}

pub(super) fn tsc_info() -> Vec<u8> {
    let mut body = Vec::new();
    for word in [1u32, 2_400_000] {
        body.extend_from_slice(&word.to_le_bytes());
    }
    body.extend_from_slice(&123_456_789u64.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body
}

pub(super) fn hvm_context() -> Vec<u8> {
    let header = HvmSaveHeader::new(0x0004_0011, 0x000a_0655, 2_400_000);
    let cpu = [0x5au8; 16];
    HvmContext::encode(&[
        (HvmSaveCode::HEADER, 0, header.as_bytes()),
        (HvmSaveCode::CPU, 0, &cpu),
        (HvmSaveCode::END, 0, &[]),
    ])
}

pub(super) fn hvm_params() -> Vec<u8> {
    HvmParams::encode(&[
        (HvmParam::STORE_PFN, 0xfeffc),
        (HvmParam::IOREQ_PFN, 0xfeff0),
        (HvmParam::BUFIOREQ_PFN, 0xfeff1),
    ])
}

pub(super) fn cpuid_policy() -> Vec<u8> {
    CpuidPolicy::encode(&[
        CpuidPolicyLeaf::new(0, 0xffff_ffff, [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]),
        CpuidPolicyLeaf::new(7, 0, [0, 0x029c_6fbf, 0, 0]),
        CpuidPolicyLeaf::new(7, 1, [0, 0, 0, 0]),
    ])
}

pub(super) fn msr_policy() -> Vec<u8> {
    MsrPolicy::encode(&[
        MsrPolicyEntry::new(0xce, 0x8000_0000),
        MsrPolicyEntry::new(0x10a, 0x0c),
    ])
}

/// Xen 4.17 HVM stream in the order the C saver writes: HVM_CONTEXT before HVM_PARAMS.
pub(super) fn hvm(version: u32) -> Vec<Item> {
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

pub(super) fn pv_basic_size(width: u8) -> usize {
    if width == 8 { 0x1430 } else { 0xAF0 }
}

/// PV stream: X86_PV_INFO first, the P2M covering pfns 0..=511, one vcpu.
pub(super) fn pv(version: u32, width: u8) -> Vec<Item> {
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

pub(super) fn libxl_header(options: u32) -> Vec<u8> {
    LibxlHeader::new(options).as_bytes().to_vec()
}

pub(super) fn xenstore_data() -> Vec<u8> {
    let pairs = XenstorePairs::encode(&[
        (b"physmap/f0000000/start_addr", b"f0000000"),
        (b"physmap/f0000000/size", b"800000"),
        (b"physmap/f0000000/name", b"vga.vram"),
    ]);
    EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, &pairs)
}

pub(super) fn emulator_context() -> Vec<u8> {
    EmulatorRecord::encode(
        EmulatorId::QEMU_UPSTREAM,
        0,
        b"QEVM\0\0\0\x03qemu device state",
    )
}

/// libxl stream around `libxc`, with the records libxl writes for HVM guests.
pub(super) fn libxl(libxc: Vec<Item>, hvm_extras: bool) -> Vec<Item> {
    let mut items = vec![Item::Raw(libxl_header(0)), xl_rec(L::LIBXC_CONTEXT, vec![])];
    items.extend(libxc);
    if hvm_extras {
        items.push(xl_rec(L::EMULATOR_XENSTORE_DATA, xenstore_data()));
        items.push(xl_rec(L::EMULATOR_CONTEXT, emulator_context()));
    }
    items.push(xl_rec(L::END, vec![]));
    items
}

pub(super) fn xl_header(flags: XlMandatoryFlags) -> Vec<u8> {
    XlHeader::new(
        flags,
        b"{\"c_info\": {\"type\": \"hvm\", \"name\": \"guest\"}}\0",
    )
    .to_bytes()
}

/// A Remus/COLO libxl stream: `rounds` checkpoints, each followed by the libxl
/// records and CHECKPOINT_END, the later rounds without new libxc headers.
pub(super) fn checkpointed(rounds: usize, end: bool) -> Vec<Item> {
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

/// The base stream most cases break: Xen 4.17 HVM, stream version 3.
pub(super) fn hvm3() -> Vec<Item> {
    hvm(3)
}

/// The base PV stream: a 64-bit guest, stream version 3.
pub(super) fn pv64() -> Vec<Item> {
    pv(3, 8)
}

/// [`hvm3`] inside a libxl stream, with the records libxl writes for HVM guests.
pub(super) fn hvm_libxl() -> Vec<Item> {
    libxl(hvm(3), true)
}

// ----- mutations ------------------------------------------------------------------

/// Index of the first record `key` names (the last one for libxl END).
pub(super) fn position(items: &[Item], key: impl Into<Key>) -> usize {
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
pub(super) fn with_body(mut items: Vec<Item>, key: impl Into<Key>, body: Vec<u8>) -> Vec<Item> {
    let key = key.into();
    let at = position(&items, key);
    items[at] = match key {
        Key::Xc(kind) => Item::Rec(kind.0, body),
        Key::Xl(kind) => Item::Xl(kind.0, body),
    };
    items
}

pub(super) fn insert_before(mut items: Vec<Item>, key: impl Into<Key>, item: Item) -> Vec<Item> {
    let at = position(&items, key);
    items.insert(at, item);
    items
}

pub(super) fn insert_after(mut items: Vec<Item>, key: impl Into<Key>, item: Item) -> Vec<Item> {
    let at = position(&items, key);
    items.insert(at + 1, item);
    items
}

pub(super) fn remove(mut items: Vec<Item>, key: impl Into<Key>) -> Vec<Item> {
    let at = position(&items, key);
    items.remove(at);
    items
}

/// The bytes of `items` with the body of the record `key` names replaced.
pub(super) fn replaced(items: Vec<Item>, key: impl Into<Key>, body: Vec<u8>) -> Vec<u8> {
    encode(&with_body(items, key, body))
}

/// The bytes of `items` with `item` inserted before the record `key` names.
pub(super) fn inserted(items: Vec<Item>, key: impl Into<Key>, item: Item) -> Vec<u8> {
    encode(&insert_before(items, key, item))
}

/// Replaces the header item at `index` (0 = first item).
pub(super) fn with_raw(mut items: Vec<Item>, index: usize, bytes: Vec<u8>) -> Vec<Item> {
    items[index] = Item::Raw(bytes);
    items
}

pub(super) fn patched(mut bytes: Vec<u8>, at: usize, with: &[u8]) -> Vec<u8> {
    bytes[at..at + with.len()].copy_from_slice(with);
    bytes
}

pub(super) fn le32s(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

pub(super) fn hvm_context_with(entries: &[(HvmSaveCode, u16, &[u8])]) -> Vec<u8> {
    HvmContext::encode(entries)
}

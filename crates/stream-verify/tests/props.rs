//! Properties: every stream the Writer builds by the rules verifies, read in
//! order or by seeking; corrupting any single byte never panics and gives the
//! same report both ways.

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
use migration_stream::{Writer, XlHeader};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::io::Cursor;
use stream_verify::{Format, verify, verify_seekable};

#[derive(Debug, Clone)]
struct Shape {
    pv: bool,
    v3: bool,
    layer: u8, // 0 libxc, 1 libxl, 2 xl
    batches: Vec<Vec<(u64, u8)>>,
    params: BTreeSet<usize>,
    cpuid_leaves: BTreeSet<(u32, u32)>,
    msrs: BTreeSet<u32>,
    vcpus: u32,
}

const PARAMS: [HvmParam; 6] = [
    HvmParam::STORE_PFN,
    HvmParam::IOREQ_PFN,
    HvmParam::BUFIOREQ_PFN,
    HvmParam::CONSOLE_PFN,
    HvmParam::VIRIDIAN,
    HvmParam::MCA_CAP,
];

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        prop::collection::vec(prop::collection::btree_map(0u64..1024, 0u8..4, 1..6), 0..4),
        prop::collection::btree_set(0usize..PARAMS.len(), 0..PARAMS.len()),
        prop::collection::btree_set((0u32..20, 0u32..3), 1..8),
        prop::collection::btree_set(0u32..0x1000, 1..6),
        1u32..4,
    )
        .prop_map(
            |(pv, v3, layer, batches, params, cpuid_leaves, msrs, vcpus)| Shape {
                pv,
                v3,
                layer,
                batches: batches
                    .into_iter()
                    .map(|b| b.into_iter().collect())
                    .collect(),
                params,
                cpuid_leaves,
                msrs,
                vcpus,
            },
        )
}

fn page_type(pv: bool, choice: u8) -> PageType {
    match (pv, choice) {
        (_, 0) => PageType::NOTAB,
        (_, 1) => PageType::XTAB,
        (true, 2) => PageType::L1TAB,
        (true, _) => PageType::L4TAB_PINNED,
        (false, _) => PageType::XALLOC,
    }
}

fn build(shape: &Shape) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let hvm = !shape.pv;
    if shape.layer == 2 {
        w.write_xl_header(&XlHeader::new(
            XlMandatoryFlags::JSON | XlMandatoryFlags::STREAM_V2,
            b"{}\0",
        ))
        .unwrap();
    }
    if shape.layer >= 1 {
        w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
        w.write_record(L::LIBXC_CONTEXT.0, &[]).unwrap();
    }
    let kind = if shape.pv {
        DomainType::X86_PV
    } else {
        DomainType::X86_HVM
    };
    w.write_image_header(&ImageHeader::new(if shape.v3 { 3 } else { 2 }))
        .unwrap();
    w.write_domain_header(&DomainHeader::new(kind, 4, 18))
        .unwrap();
    if shape.pv {
        w.write_record(T::X86_PV_INFO.0, &X86PvInfo::encode(8, 4))
            .unwrap();
    }
    if shape.v3 {
        let leaves: Vec<CpuidPolicyLeaf> = shape
            .cpuid_leaves
            .iter()
            .map(|&(l, s)| CpuidPolicyLeaf::new(l, s, [l, s, 0, 0]))
            .collect();
        w.write_record(T::X86_CPUID_POLICY.0, &CpuidPolicy::encode(&leaves))
            .unwrap();
        let msrs: Vec<MsrPolicyEntry> = shape
            .msrs
            .iter()
            .map(|&i| MsrPolicyEntry::new(i, 1))
            .collect();
        w.write_record(T::X86_MSR_POLICY.0, &MsrPolicy::encode(&msrs))
            .unwrap();
        w.write_record(T::STATIC_DATA_END.0, &[]).unwrap();
    }
    if shape.pv {
        w.write_record(
            T::X86_PV_P2M_FRAMES.0,
            &X86PvP2mFrames::encode(0, 1023, &[7, 8]),
        )
        .unwrap();
    }
    for batch in &shape.batches {
        let entries: Vec<PfnEntry> = batch
            .iter()
            .map(|&(pfn, c)| PfnEntry::new(pfn, page_type(shape.pv, c)))
            .collect();
        let pages = entries.iter().filter(|e| e.page_type.has_data()).count();
        w.write_record(
            T::PAGE_DATA.0,
            &PageData::encode(&entries, &vec![0x5a; pages * 4096]),
        )
        .unwrap();
    }
    if shape.pv {
        w.write_record(T::SHARED_INFO.0, &[0; 4096]).unwrap();
        for vcpu in 0..shape.vcpus {
            w.write_record(T::X86_PV_VCPU_BASIC.0, &Vcpu::encode(vcpu, &[1; 0x1430]))
                .unwrap();
            w.write_record(T::X86_PV_VCPU_EXTENDED.0, &Vcpu::encode(vcpu, &[]))
                .unwrap();
        }
    } else {
        let header = HvmSaveHeader::new(1, 2, 3);
        let context = HvmContext::encode(&[
            (
                HvmSaveCode::HEADER,
                0,
                zerocopy::IntoBytes::as_bytes(&header),
            ),
            (HvmSaveCode::CPU, 0, &[9; 40]),
            (HvmSaveCode::END, 0, &[]),
        ]);
        w.write_record(T::HVM_CONTEXT.0, &context).unwrap();
        let params: Vec<(HvmParam, u64)> = shape
            .params
            .iter()
            .map(|&i| (PARAMS[i], i as u64))
            .collect();
        w.write_record(T::HVM_PARAMS.0, &HvmParams::encode(&params))
            .unwrap();
    }
    w.write_record(T::END.0, &[]).unwrap();
    if shape.layer >= 1 {
        if hvm {
            let pairs = XenstorePairs::encode(&[(b"physmap/1/size", b"1000")]);
            w.write_record(
                L::EMULATOR_XENSTORE_DATA.0,
                &EmulatorRecord::encode(EmulatorId::QEMU_UPSTREAM, 0, &pairs),
            )
            .unwrap();
        }
        w.write_record(L::END.0, &[]).unwrap();
    }
    w.into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn streams_built_by_the_rules_verify(shape in shape()) {
        let bytes = build(&shape);
        let report = verify(&bytes[..], Format::Auto, None);
        prop_assert!(report.is_valid(), "{:?}", report.error);
        prop_assert_eq!(report.bytes, bytes.len() as u64);
        let pages: u64 = shape.batches.iter().map(|b| b.len() as u64).sum();
        prop_assert_eq!(report.pages_by_type.values().sum::<u64>(), pages);
        let seeking = verify_seekable(Cursor::new(&bytes), Format::Auto, None);
        prop_assert_eq!(seeking, report);
    }

    #[test]
    fn one_corrupt_byte_never_panics(shape in shape(), at in any::<prop::sample::Index>(), value in any::<u8>()) {
        let mut bytes = build(&shape);
        let at = at.index(bytes.len());
        bytes[at] = value;
        let mut lines = 0;
        let mut sink = |_: &str| lines += 1;
        let report = verify(&bytes[..], Format::Auto, Some(&mut sink));
        let seeking = verify_seekable(Cursor::new(&bytes), Format::Auto, None);
        prop_assert_eq!(&seeking, &report);
        if let Some(error) = &report.error {
            prop_assert!(error.offset() <= bytes.len() as u64);
        }
    }
}

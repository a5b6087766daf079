//! Valid streams of every shape the verifier follows: each must verify clean.

use super::stream::{
    Item, checkpointed, domain_header, encode, hvm, hvm_libxl, hvm3, insert_after, insert_before,
    inserted, libxl, pv, pv64, rec, replaced, with_raw, xl_header,
};
use super::{Case, valid};
use migration_stream::payload::{HvmParams, Vcpu};
use migration_stream::types::{DomainType, HvmParam, RecordType as T, XlMandatoryFlags};

pub(super) fn streams() -> Vec<Case> {
    vec![
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
        valid("legacy-hvm-qemu", "auto", legacy_hvm_qemu()),
        valid(
            "optional-record",
            "auto",
            inserted(hvm3(), T::END, Item::Rec(0x8000_0001, b"hello".to_vec())),
        ),
        valid("empty-hvm-params", "auto", {
            // Xen 4.6-4.8 wrote empty HVM_PARAMS records: a warning, not an error.
            let items = insert_before(hvm(2), T::END, rec(T::HVM_PARAMS, HvmParams::encode(&[])));
            encode(&items)
        }),
        valid(
            "pv-empty-vcpu-extended",
            "auto",
            replaced(pv(2, 8), T::X86_PV_VCPU_EXTENDED, Vcpu::encode(0, &[])),
        ),
    ]
}

/// What the converter writes in libxc mode: v3, Xen 0.1, SDE first, two
/// HVM_PARAMS records, then the raw qemu record after END.
fn legacy_hvm_qemu() -> Vec<u8> {
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
}

//! Cases for the libxc layer: the image and domain headers, the record checks
//! upstream's verify-stream-v2 makes, and those it misses.

use super::stream::{
    checkpointed, cpuid_policy, domain_header, encode, hvm, hvm_context, hvm_context_with,
    hvm_libxl, hvm_params, hvm3, image_header, insert_after, insert_before, inserted, le32s,
    msr_policy, page_data, patched, position, pv_basic_size, pv64, rec, remove, replaced, tsc_info,
    with_raw,
};
use super::{Case, auto, broken};
use migration_stream::payload::{
    CpuidPolicy, HvmParams, MsrPolicy, Vcpu, X86PvInfo, X86PvP2mFrames,
};
use migration_stream::types::{DomainType, HvmParam, HvmSaveCode, PageType, RecordType as T};
use migration_stream::wire::{CpuidPolicyLeaf, HvmSaveHeader, MsrPolicyEntry};
use zerocopy::IntoBytes;

/// The image and domain headers (inside libxl where detection must not be
/// what fails).
pub(super) fn headers() -> Vec<Case> {
    let in_libxl = |image: Vec<u8>| encode(&with_raw(hvm_libxl(), 2, image));
    let with_domain = |bytes: Vec<u8>| encode(&with_raw(hvm3(), 1, bytes));
    let hvm_domain = || domain_header(DomainType::X86_HVM, 4, 17);
    vec![
        broken(
            "image-header.marker",
            "libxc",
            patched(encode(&hvm3()), 0, &[0xfe]),
        ),
        auto(
            "image-header.id",
            in_libxl(patched(image_header(3), 8, b"XENG")),
        ),
        auto("image-header.version", in_libxl(image_header(4))),
        auto(
            "image-header.options",
            in_libxl(patched(image_header(3), 16, &[0, 2])),
        ),
        auto(
            "image-header.reserved",
            in_libxl(patched(image_header(3), 20, &[0, 0, 0, 1])),
        ),
        auto(
            "image-header.endianness",
            patched(encode(&hvm3()), 16, &[0, 1]),
        ),
        auto(
            "domain-header.type",
            with_domain(patched(hvm_domain(), 0, &[3])),
        ),
        auto(
            "domain-header.reserved",
            with_domain(patched(hvm_domain(), 6, &[1, 0])),
        ),
        auto(
            "domain-header.page-shift",
            with_domain(patched(hvm_domain(), 4, &[13, 0])),
        ),
    ]
}

/// Upstream's checks of END, PAGE_DATA and the PV records.
pub(super) fn upstream_memory_and_pv_checks() -> Vec<Case> {
    let pd = page_data(&[(0x10, PageType::NOTAB)]);
    let page_data_with =
        |at: usize, with: &[u8]| replaced(hvm3(), T::PAGE_DATA, patched(pd.clone(), at, with));
    let mut cut = pd.clone();
    cut.truncate(cut.len() - 8);
    vec![
        auto("end.length", replaced(hvm3(), T::END, vec![0; 8])),
        auto(
            "page-data.min-length",
            replaced(hvm3(), T::PAGE_DATA, vec![0; 8]),
        ),
        auto("page-data.reserved", page_data_with(4, &[1])),
        auto("page-data.pfn-array", page_data_with(0, &le32s(&[600]))),
        auto("page-data.pfn-reserved", page_data_with(14, &[0x10])),
        auto("page-data.pfn-type", page_data_with(15, &[0x50])),
        auto("page-data.length", replaced(hvm3(), T::PAGE_DATA, cut)),
        auto(
            "x86-pv-info.length",
            replaced(
                pv64(),
                T::X86_PV_INFO,
                vec![8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
        ),
        auto(
            "x86-pv-info.width",
            replaced(pv64(), T::X86_PV_INFO, X86PvInfo::encode(2, 4)),
        ),
        auto(
            "x86-pv-info.levels",
            replaced(pv64(), T::X86_PV_INFO, X86PvInfo::encode(8, 2)),
        ),
        auto(
            "x86-pv-info.reserved",
            replaced(pv64(), T::X86_PV_INFO, vec![8, 4, 0, 0, 1, 0, 0, 0]),
        ),
        auto(
            "x86-pv-p2m-frames.min-length",
            replaced(pv64(), T::X86_PV_P2M_FRAMES, vec![0; 4]),
        ),
        auto(
            "x86-pv-p2m-frames.multiple",
            replaced(pv64(), T::X86_PV_P2M_FRAMES, {
                let mut body = X86PvP2mFrames::encode(0, 511, &[0x2000]);
                body.extend_from_slice(&[0; 4]);
                body
            }),
        ),
        auto(
            "vcpu.min-length",
            replaced(pv64(), T::X86_PV_VCPU_MSRS, vec![0; 4]),
        ),
        auto(
            "vcpu.reserved",
            replaced(
                pv64(),
                T::X86_PV_VCPU_MSRS,
                patched(Vcpu::encode(0, &[0x55; 16]), 4, &[1]),
            ),
        ),
        auto(
            "shared-info.length",
            replaced(pv64(), T::SHARED_INFO, vec![0x11; 4088]),
        ),
    ]
}

/// Upstream's checks of the HVM records, the checkpoint records, and the
/// static data (STATIC_DATA_END and the CPU policies).
pub(super) fn upstream_hvm_and_policy_checks() -> Vec<Case> {
    vec![
        auto(
            "x86-tsc-info.length",
            replaced(hvm3(), T::X86_TSC_INFO, tsc_info()[..16].to_vec()),
        ),
        auto(
            "x86-tsc-info.reserved",
            replaced(hvm3(), T::X86_TSC_INFO, patched(tsc_info(), 20, &[1])),
        ),
        auto(
            "hvm-context.empty",
            replaced(hvm3(), T::HVM_CONTEXT, vec![]),
        ),
        auto(
            "hvm-params.min-length",
            replaced(hvm3(), T::HVM_PARAMS, vec![0; 4]),
        ),
        auto(
            "hvm-params.reserved",
            replaced(hvm3(), T::HVM_PARAMS, patched(hvm_params(), 4, &[1])),
        ),
        auto(
            "hvm-params.length",
            replaced(hvm3(), T::HVM_PARAMS, patched(hvm_params(), 0, &[4])),
        ),
        auto(
            "toolstack.present",
            inserted(hvm3(), T::END, rec(T::TOOLSTACK, vec![1; 16])),
        ),
        auto(
            "verify.length",
            inserted(hvm3(), T::PAGE_DATA, rec(T::VERIFY, vec![0; 8])),
        ),
        auto("checkpoint.length", {
            let mut items = checkpointed(1, true);
            let at = position(&items, T::CHECKPOINT);
            items[at] = rec(T::CHECKPOINT, vec![0; 8]);
            encode(&items)
        }),
        auto(
            "checkpoint-dirty-pfn-list.present",
            inserted(
                hvm3(),
                T::END,
                rec(T::CHECKPOINT_DIRTY_PFN_LIST, le32s(&[5, 0])),
            ),
        ),
        auto(
            "static-data-end.v2",
            inserted(hvm(2), T::PAGE_DATA, rec(T::STATIC_DATA_END, vec![])),
        ),
        auto(
            "static-data-end.length",
            replaced(hvm3(), T::STATIC_DATA_END, vec![0; 8]),
        ),
        auto(
            "x86-cpuid-policy.v2",
            inserted(
                hvm(2),
                T::PAGE_DATA,
                rec(T::X86_CPUID_POLICY, cpuid_policy()),
            ),
        ),
        auto(
            "x86-cpuid-policy.length",
            replaced(hvm3(), T::X86_CPUID_POLICY, cpuid_policy()[..60].to_vec()),
        ),
        auto(
            "x86-msr-policy.v2",
            inserted(hvm(2), T::PAGE_DATA, rec(T::X86_MSR_POLICY, msr_policy())),
        ),
        auto(
            "x86-msr-policy.length",
            replaced(hvm3(), T::X86_MSR_POLICY, msr_policy()[..24].to_vec()),
        ),
    ]
}

/// What upstream misses about the domain type, the static data and the CPU
/// policies.
pub(super) fn static_data_and_policy_checks() -> Vec<Case> {
    vec![
        auto(
            "domain-type.record",
            inserted(
                hvm3(),
                T::PAGE_DATA,
                rec(T::X86_PV_INFO, X86PvInfo::encode(8, 4)),
            ),
        ),
        auto(
            "domain-type.page-table",
            replaced(hvm3(), T::PAGE_DATA, page_data(&[(0x10, PageType::L1TAB)])),
        ),
        auto(
            "static-data-end.missing",
            encode(&remove(hvm3(), T::STATIC_DATA_END)),
        ),
        // Register content before STATIC_DATA_END, with no memory before it.
        Case {
            name: "static-data-end.missing.hvm-context-first".to_owned(),
            ..auto(
                "static-data-end.missing",
                inserted(
                    remove(hvm3(), T::HVM_CONTEXT),
                    T::STATIC_DATA_END,
                    rec(T::HVM_CONTEXT, hvm_context()),
                ),
            )
        },
        auto(
            "static-data-end.duplicate",
            inserted(hvm3(), T::PAGE_DATA, rec(T::STATIC_DATA_END, vec![])),
        ),
        auto(
            "policy.after-static-data-end",
            encode(&insert_after(
                remove(hvm3(), T::X86_MSR_POLICY),
                T::STATIC_DATA_END,
                rec(T::X86_MSR_POLICY, msr_policy()),
            )),
        ),
        auto(
            "x86-cpuid-policy.order",
            replaced(
                hvm3(),
                T::X86_CPUID_POLICY,
                CpuidPolicy::encode(&[
                    CpuidPolicyLeaf::new(7, 0, [0; 4]),
                    CpuidPolicyLeaf::new(0, 0xffff_ffff, [0xd, 0, 0, 0]),
                ]),
            ),
        ),
        auto(
            "x86-cpuid-policy.subleaf",
            replaced(
                hvm3(),
                T::X86_CPUID_POLICY,
                CpuidPolicy::encode(&[
                    CpuidPolicyLeaf::new(7, 0, [0; 4]),
                    CpuidPolicyLeaf::new(7, 0xffff_ffff, [0; 4]),
                ]),
            ),
        ),
        auto(
            "x86-msr-policy.flags",
            replaced(hvm3(), T::X86_MSR_POLICY, patched(msr_policy(), 4, &[1])),
        ),
        auto(
            "x86-msr-policy.order",
            replaced(
                hvm3(),
                T::X86_MSR_POLICY,
                MsrPolicy::encode(&[MsrPolicyEntry::new(0x10a, 0), MsrPolicyEntry::new(0xce, 0)]),
            ),
        ),
    ]
}

/// What upstream misses about a PV guest's layout: X86_PV_INFO, the P2M,
/// the pfns PAGE_DATA names and the vcpu records.
pub(super) fn pv_layout_checks() -> Vec<Case> {
    let pv_info = || rec(T::X86_PV_INFO, X86PvInfo::encode(8, 4));
    vec![
        auto(
            "x86-pv-info.first",
            encode(&insert_after(
                remove(pv64(), T::X86_PV_INFO),
                T::STATIC_DATA_END,
                pv_info(),
            )),
        ),
        auto(
            "x86-pv-info.duplicate",
            encode(&insert_after(pv64(), T::X86_PV_INFO, pv_info())),
        ),
        auto(
            "x86-pv-info.pair",
            replaced(pv64(), T::X86_PV_INFO, X86PvInfo::encode(8, 3)),
        ),
        auto(
            "x86-pv-p2m-frames.range",
            replaced(
                pv64(),
                T::X86_PV_P2M_FRAMES,
                X86PvP2mFrames::encode(600, 511, &[0x2000]),
            ),
        ),
        auto(
            "x86-pv-p2m-frames.length",
            replaced(
                pv64(),
                T::X86_PV_P2M_FRAMES,
                X86PvP2mFrames::encode(0, 511, &[0x2000, 0x2001, 0x2002]),
            ),
        ),
        auto(
            "x86-pv-p2m-frames.before-page-data",
            encode(&insert_after(
                remove(pv64(), T::X86_PV_P2M_FRAMES),
                T::PAGE_DATA,
                rec(
                    T::X86_PV_P2M_FRAMES,
                    X86PvP2mFrames::encode(0, 511, &[0x2000]),
                ),
            )),
        ),
        auto(
            "page-data.pfn-beyond-p2m",
            replaced(pv64(), T::PAGE_DATA, page_data(&[(512, PageType::NOTAB)])),
        ),
        auto(
            "page-data.duplicate-pfn",
            replaced(
                hvm3(),
                T::PAGE_DATA,
                page_data(&[
                    (0x10, PageType::NOTAB),
                    (0x11, PageType::NOTAB),
                    (0x10, PageType::XALLOC),
                ]),
            ),
        ),
    ]
    .into_iter()
    .chain(vcpu_checks())
    .collect()
}

/// What upstream misses about the PV vcpu records: their sizes, order and
/// vcpu 0's basic state.
fn vcpu_checks() -> Vec<Case> {
    let basic = |vcpu: u32, width: u8| Vcpu::encode(vcpu, &vec![0x22; pv_basic_size(width)]);
    vec![
        auto(
            "vcpu.basic-size",
            replaced(pv64(), T::X86_PV_VCPU_BASIC, basic(0, 4)),
        ),
        auto(
            "vcpu.extended-size",
            replaced(
                pv64(),
                T::X86_PV_VCPU_EXTENDED,
                Vcpu::encode(0, &[0x33; 136]),
            ),
        ),
        auto(
            "vcpu.xsave-size",
            replaced(pv64(), T::X86_PV_VCPU_XSAVE, Vcpu::encode(0, &[0x44; 8])),
        ),
        auto(
            "vcpu.msrs-size",
            replaced(pv64(), T::X86_PV_VCPU_MSRS, Vcpu::encode(0, &[0x55; 24])),
        ),
        auto(
            "vcpu.before-page-data",
            encode(&insert_before(
                remove(pv64(), T::X86_PV_VCPU_BASIC),
                T::PAGE_DATA,
                rec(T::X86_PV_VCPU_BASIC, basic(0, 8)),
            )),
        ),
        auto(
            "vcpu.vcpu0-basic",
            replaced(pv64(), T::X86_PV_VCPU_BASIC, basic(1, 8)),
        ),
    ]
}

/// What upstream misses about HVM state: HVM_PARAMS entries, the HVM_CONTEXT
/// save records, and CHECKPOINT in a stream that is not checkpointed.
pub(super) fn hvm_state_checks() -> Vec<Case> {
    let good_header = HvmSaveHeader::new(0x0004_0011, 0, 0);
    // A header and a CPU record, without the END record.
    let unended = hvm_context_with(&[
        (HvmSaveCode::HEADER, 0, good_header.as_bytes()),
        (HvmSaveCode::CPU, 0, &[0; 16]),
    ]);
    vec![
        auto(
            "hvm-params.duplicate",
            replaced(
                hvm3(),
                T::HVM_PARAMS,
                HvmParams::encode(&[(HvmParam::STORE_PFN, 1), (HvmParam::STORE_PFN, 2)]),
            ),
        ),
        auto(
            "hvm-params.unknown",
            replaced(
                hvm3(),
                T::HVM_PARAMS,
                HvmParams::encode(&[(HvmParam(2), 1)]),
            ),
        ),
        auto(
            "hvm-context.header",
            replaced(hvm3(), T::HVM_CONTEXT, patched(hvm_context(), 8, &[0x87])),
        ),
        auto(
            "hvm-context.descriptor",
            replaced(
                hvm3(),
                T::HVM_CONTEXT,
                patched(unended.clone(), 36, &le32s(&[17])),
            ),
        ),
        auto("hvm-context.end", replaced(hvm3(), T::HVM_CONTEXT, unended)),
        auto(
            "checkpoint.not-checkpointed",
            inserted(hvm3(), T::END, rec(T::CHECKPOINT, vec![])),
        ),
    ]
}

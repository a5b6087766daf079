//! Payload views: encode → parse round trips, and no panic on any bytes.

use migration_stream::PayloadError;
use migration_stream::payload::{
    CheckpointState, CpuidPolicy, DirtyPfnList, EmulatorRecord, HvmContext, HvmParams, MsrPolicy,
    PageData, Vcpu, X86PvInfo, X86PvP2mFrames, X86TscInfo, XenstorePairs,
};
use migration_stream::types::{
    CheckpointControlId, EmulatorId, HvmParam, HvmSaveCode, PAGE_SIZE, PageType, PfnEntry,
};
use migration_stream::wire::{CpuidPolicyLeaf, HvmSaveHeader, MsrPolicyEntry, VcpuMsrEntry};
use proptest::prelude::*;
use zerocopy::IntoBytes;

fn page_type() -> impl Strategy<Value = PageType> {
    (0u8..16).prop_map(PageType)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn page_data_round_trips(entries in proptest::collection::vec((0u64..(1 << 52), page_type()), 1..6)) {
        let entries: Vec<PfnEntry> = entries.into_iter().map(|(pfn, t)| PfnEntry::new(pfn, t)).collect();
        let data_pages = entries.iter().filter(|e| e.page_type.has_data()).count();
        let data: Vec<u8> = (0..data_pages * PAGE_SIZE).map(|i| (i / PAGE_SIZE) as u8).collect();
        let body = PageData::encode(&entries, &data);
        let parsed = PageData::parse(&body).unwrap();
        prop_assert_eq!(parsed.entries().collect::<Vec<_>>(), entries.clone());
        prop_assert_eq!(parsed.data_page_count(), data_pages);
        prop_assert_eq!(parsed.expected_len(), body.len() as u64);
        let mut page_index = 0u8;
        for (entry, page) in parsed.pages() {
            prop_assert_eq!(page.is_some(), entry.page_type.has_data());
            if let Some(page) = page {
                prop_assert!(page.iter().all(|&b| b == page_index));
                page_index += 1;
            }
        }
    }

    #[test]
    fn pfn_entries_round_trip(raw: u64) {
        prop_assert_eq!(PfnEntry::from_raw(raw).to_raw(), raw);
    }

    #[test]
    fn hvm_params_round_trip(params in proptest::collection::vec((any::<u64>(), any::<u64>()), 0..20)) {
        let params: Vec<(HvmParam, u64)> = params.into_iter().map(|(i, v)| (HvmParam(i), v)).collect();
        let body = HvmParams::encode(&params);
        prop_assert_eq!(HvmParams::parse(&body).unwrap().iter().collect::<Vec<_>>(), params);
    }

    #[test]
    fn fixed_records_round_trip(width: u8, levels: u8, mode: u32, khz: u32, nsec: u64, inc: u32, control: u32) {
        let info = X86PvInfo::parse(&X86PvInfo::encode(width, levels)).unwrap();
        prop_assert_eq!((info.guest_width, info.pt_levels, info.reserved1, info.reserved2), (width, levels, 0, 0));
        let tsc = X86TscInfo { mode, khz, nsec, incarnation: inc, reserved: 0 };
        prop_assert_eq!(X86TscInfo::parse(&tsc.encode()).unwrap(), tsc);
        let state = CheckpointState { control_id: CheckpointControlId(control) };
        prop_assert_eq!(CheckpointState::parse(&state.encode()).unwrap(), state);
    }

    #[test]
    fn variable_records_round_trip(
        start: u32, end: u32,
        frames in proptest::collection::vec(any::<u64>(), 0..8),
        vcpu: u32,
        context in proptest::collection::vec(any::<u8>(), 0..64),
        leaves in proptest::collection::vec((any::<u32>(), any::<u32>(), any::<[u32; 4]>()), 0..6),
        msrs in proptest::collection::vec((any::<u32>(), any::<u64>()), 0..6),
        emulator: u32, index: u32,
    ) {
        let f = X86PvP2mFrames::encode(start, end, &frames);
        let parsed = X86PvP2mFrames::parse(&f).unwrap();
        prop_assert_eq!((parsed.start_pfn, parsed.end_pfn), (start, end));
        prop_assert_eq!(parsed.frames().collect::<Vec<_>>(), frames);

        let v = Vcpu::encode(vcpu, &context);
        prop_assert_eq!(Vcpu::parse(&v).unwrap(), Vcpu { vcpu_id: vcpu, reserved: 0, context: &context });

        let leaves: Vec<CpuidPolicyLeaf> = leaves.into_iter().map(|(l, s, r)| CpuidPolicyLeaf::new(l, s, r)).collect();
        let body = CpuidPolicy::encode(&leaves);
        prop_assert_eq!(CpuidPolicy::parse(&body).unwrap().leaves(), &leaves[..]);

        let msrs: Vec<MsrPolicyEntry> = msrs.into_iter().map(|(i, v)| MsrPolicyEntry::new(i, v)).collect();
        let body = MsrPolicy::encode(&msrs);
        prop_assert_eq!(MsrPolicy::parse(&body).unwrap().entries(), &msrs[..]);

        let e = EmulatorRecord::encode(EmulatorId(emulator), index, &context);
        prop_assert_eq!(EmulatorRecord::parse(&e).unwrap(), EmulatorRecord { id: EmulatorId(emulator), index, data: &context });
    }

    #[test]
    fn xenstore_pairs_round_trip(pairs in proptest::collection::vec(("[a-z0-9/_@-]{0,12}", "[ -~]{0,12}"), 0..6)) {
        let pairs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
        let data = XenstorePairs::encode(&pairs);
        let parsed = XenstorePairs::parse(&data).unwrap();
        prop_assert_eq!(parsed.len(), pairs.len());
        prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), pairs);
    }

    #[test]
    fn hvm_context_round_trips(entries in proptest::collection::vec((0u16..25, any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..6)) {
        let header = HvmSaveHeader::new(1, 2, 3);
        let mut all: Vec<(HvmSaveCode, u16, &[u8])> = vec![(HvmSaveCode::HEADER, 0, header.as_bytes())];
        // END stops iteration, so keep it out of the middle.
        all.extend(entries.iter().filter(|(c, _, _)| *c != 0).map(|(c, i, d)| (HvmSaveCode(*c), *i, &d[..])));
        all.push((HvmSaveCode::END, 0, &[]));
        let body = HvmContext::encode(&all);
        let ctx = HvmContext::parse(&body).unwrap();
        let got: Vec<(HvmSaveCode, u16, &[u8])> = ctx.iter().map(|e| e.map(|e| (e.code, e.instance, e.data))).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&got, &all);
        prop_assert_eq!(ctx.trailing_after_end(), Some(0));
        let first = ctx.iter().next().unwrap().unwrap();
        prop_assert_eq!(first.save_header(), Some(&header));
    }

    /// No parser panics on any bytes, and iterating whatever parses stays in bounds.
    #[test]
    fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = PageData::parse(&body) {
            prop_assert!(p.entries().count() == p.count() as usize);
            let _ = p.pages().count();
            let _ = p.expected_len();
        }
        if let Ok(p) = HvmParams::parse(&body) { prop_assert_eq!(p.iter().count(), p.count() as usize); }
        let _ = X86PvInfo::parse(&body);
        if let Ok(p) = X86PvP2mFrames::parse(&body) { let _ = p.frames().count(); }
        let _ = Vcpu::parse(&body);
        let _ = X86TscInfo::parse(&body);
        if let Ok(p) = CpuidPolicy::parse(&body) { prop_assert_eq!(p.leaves().len() * 24, body.len()); }
        if let Ok(p) = MsrPolicy::parse(&body) { prop_assert_eq!(p.entries().len() * 16, body.len()); }
        if let Ok(p) = DirtyPfnList::parse(&body) { let _ = p.iter().count(); }
        if let Ok(e) = EmulatorRecord::parse(&body) && let Ok(pairs) = e.xenstore_pairs() {
            prop_assert_eq!(pairs.iter().count(), pairs.len());
        }
        if let Ok(pairs) = XenstorePairs::parse(&body) { prop_assert_eq!(pairs.iter().count(), pairs.len()); }
        let _ = CheckpointState::parse(&body);
        let ctx = HvmContext::parse(&body).unwrap();
        let mut covered = 0usize;
        for entry in ctx.iter() {
            match entry {
                Ok(e) => { prop_assert_eq!(e.offset, covered); covered += 8 + e.data.len(); }
                Err(err) => { prop_assert_eq!(err.offset(), covered); break; }
            }
        }
        prop_assert!(covered <= body.len());
        let _ = ctx.trailing_after_end();
    }
}

#[test]
fn length_errors_say_expected_and_found() {
    let err = PageData::parse(&[2, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]).unwrap_err();
    assert_eq!(
        err,
        PayloadError::LengthMismatch {
            what: "PAGE_DATA pfn array",
            expected: 24,
            found: 11
        }
    );
    assert_eq!(
        X86TscInfo::parse(&[0; 23]).unwrap_err().to_string(),
        "X86_TSC_INFO: too short: expected at least 24 bytes, found 23"
    );
    assert_eq!(
        CpuidPolicy::parse(&[0; 25]).unwrap_err().to_string(),
        "X86_CPUID_POLICY: length 25 is not a multiple of 24"
    );
    assert_eq!(
        XenstorePairs::parse(b"key\0value").unwrap_err().to_string(),
        "EMULATOR_XENSTORE_DATA: data not NUL terminated"
    );
    assert_eq!(
        XenstorePairs::parse(b"key\0value\0odd\0")
            .unwrap_err()
            .to_string(),
        "EMULATOR_XENSTORE_DATA: expected an even number of strings, found 3"
    );
    let overrun = HvmContext::encode(&[(HvmSaveCode::HEADER, 0, &[0; 24])]);
    let cut = &overrun[..20];
    let err = HvmContext::parse(cut)
        .unwrap()
        .iter()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "HVM context entry at body offset 0: entry needs 32 bytes, 20 remain"
    );
}

#[test]
fn page_types_with_data_follow_the_spec_table() {
    let with_data: Vec<u8> = (0u8..16).filter(|&t| PageType(t).has_data()).collect();
    assert_eq!(with_data, [0, 1, 2, 3, 4, 9, 10, 11, 12]);
    let valid: Vec<u8> = (0u8..16).filter(|&t| PageType(t).is_valid()).collect();
    assert_eq!(valid, [0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15]);
    let reserved = PfnEntry::from_raw(0x0010_0000_0000_0001);
    assert_eq!((reserved.reserved, reserved.pfn), (1, 1));
}

#[test]
fn vcpu_msrs_view_the_context_as_entries() {
    let msrs = [
        VcpuMsrEntry::new(0xc000_0080, 0xd01),
        VcpuMsrEntry::new(0x1d9, 0),
    ];
    let body = Vcpu::encode(3, msrs.as_bytes());
    let vcpu = Vcpu::parse(&body).unwrap();
    assert_eq!(vcpu.msrs().unwrap(), msrs);
    // Borrowed from the body, not copied.
    assert_eq!(vcpu.msrs().unwrap().as_bytes().as_ptr(), body[8..].as_ptr());
    // An empty (Xen 4.6-4.8) record has no entries.
    assert_eq!(Vcpu::parse(&body[..8]).unwrap().msrs().unwrap(), []);
    assert_eq!(
        Vcpu::parse(&body[..20]).unwrap().msrs().unwrap_err(),
        PayloadError::NotMultiple {
            what: "X86_PV_VCPU_MSRS",
            unit: 16,
            found: 12
        }
    );
}

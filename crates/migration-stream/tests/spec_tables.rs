//! The crate's definitions against the specification's tables, written out
//! independently here: every wire structure's field order, widths and byte
//! order (the compile-time checks pin only the total size), and every named
//! number with its name.

use migration_stream::types::{
    DomainType, EmulatorId, HVM_FILE_MAGIC, HVM_FILE_VERSION, HvmParam, HvmSaveCode, IMAGE_ID,
    IMAGE_MARKER, LIBXL_IDENT, LibxlRecordType, REC_LENGTH_MAX, RecordType, XL_MAGIC,
    XlMandatoryFlags,
};
use migration_stream::wire::{
    Be16, Be32, Be64, CpuidPolicyLeaf, DomainHeader, EmulatorHeader, HvmParamsEntry,
    HvmParamsHeader, HvmSaveDescriptor, HvmSaveHeader, ImageHeader, Le16, Le32, Le64, LibxlHeader,
    MsrPolicyEntry, PageDataHeader, RecordHeader, VcpuHeader, VcpuMsrEntry, X86PvInfo,
    X86PvP2mFramesHeader, X86TscInfo, XlHeader,
};
use zerocopy::IntoBytes;

/// Concatenates the fields as the specification lays them out.
fn concat(fields: &[&[u8]]) -> Vec<u8> {
    fields.concat()
}

#[test]
fn headers_have_the_specified_field_order_and_byte_order() {
    let image = ImageHeader {
        marker: Be64::new(IMAGE_MARKER),
        id: Be32::new(IMAGE_ID),
        version: Be32::new(3),
        options: Be16::new(0x0001),
        reserved1: Be16::new(0x0203),
        reserved2: Be32::new(0x0405_0607),
    };
    assert_eq!(
        image.as_bytes(),
        concat(&[
            &[0xff; 8],
            b"XENF",
            &[0, 0, 0, 3],
            &[0, 1],
            &[2, 3],
            &[4, 5, 6, 7]
        ])
    );

    let domain = DomainHeader {
        domain_type: Le32::new(2),
        page_shift: Le16::new(12),
        reserved: Le16::new(0x0a0b),
        xen_major: Le32::new(4),
        xen_minor: Le32::new(19),
    };
    assert_eq!(
        domain.as_bytes(),
        concat(&[
            &2u32.to_le_bytes(),
            &12u16.to_le_bytes(),
            &0x0a0bu16.to_le_bytes(),
            &4u32.to_le_bytes(),
            &19u32.to_le_bytes()
        ])
    );

    let record = RecordHeader {
        record_type: Le32::new(0x8000_0011),
        length: Le32::new(0x1234),
    };
    assert_eq!(
        record.as_bytes(),
        concat(&[&0x8000_0011u32.to_le_bytes(), &0x1234u32.to_le_bytes()])
    );

    let libxl = LibxlHeader {
        ident: Be64::new(LIBXL_IDENT),
        version: Be32::new(2),
        options: Be32::new(0x0000_0003),
    };
    assert_eq!(
        libxl.as_bytes(),
        concat(&[b"LibxlFmt", &[0, 0, 0, 2], &[0, 0, 0, 3]])
    );

    let xl = XlHeader {
        magic: *XL_MAGIC,
        byteorder: 0x0102_0304u32.to_le_bytes(),
        mandatory_flags: [1, 0, 0, 0],
        optional_flags: [2, 0, 0, 0],
        optional_data_len: [3, 0, 0, 0],
    };
    assert_eq!(
        xl.as_bytes(),
        concat(&[
            b"Xen saved domain, xl format\n \0 \r",
            &[4, 3, 2, 1],
            &[1, 0, 0, 0],
            &[2, 0, 0, 0],
            &[3, 0, 0, 0]
        ])
    );
}

#[test]
fn record_bodies_have_the_specified_field_order() {
    let page_data = PageDataHeader {
        count: Le32::new(5),
        reserved: Le32::new(6),
    };
    assert_eq!(
        page_data.as_bytes(),
        concat(&[&5u32.to_le_bytes(), &6u32.to_le_bytes()])
    );

    let pv_info = X86PvInfo {
        guest_width: 8,
        pt_levels: 4,
        reserved1: Le16::new(0x0102),
        reserved2: Le32::new(0x0304_0506),
    };
    assert_eq!(
        pv_info.as_bytes(),
        concat(&[
            &[8, 4],
            &0x0102u16.to_le_bytes(),
            &0x0304_0506u32.to_le_bytes()
        ])
    );

    let p2m = X86PvP2mFramesHeader {
        p2m_start_pfn: Le32::new(1),
        p2m_end_pfn: Le32::new(0x3ff),
    };
    assert_eq!(
        p2m.as_bytes(),
        concat(&[&1u32.to_le_bytes(), &0x3ffu32.to_le_bytes()])
    );

    let vcpu = VcpuHeader {
        vcpu_id: Le32::new(7),
        reserved: Le32::new(9),
    };
    assert_eq!(
        vcpu.as_bytes(),
        concat(&[&7u32.to_le_bytes(), &9u32.to_le_bytes()])
    );

    let tsc = X86TscInfo {
        mode: Le32::new(1),
        khz: Le32::new(2_000_000),
        nsec: Le64::new(0x0102_0304_0506_0708),
        incarnation: Le32::new(3),
        reserved: Le32::new(4),
    };
    assert_eq!(
        tsc.as_bytes(),
        concat(&[
            &1u32.to_le_bytes(),
            &2_000_000u32.to_le_bytes(),
            &0x0102_0304_0506_0708u64.to_le_bytes(),
            &3u32.to_le_bytes(),
            &4u32.to_le_bytes()
        ])
    );

    let params = HvmParamsHeader {
        count: Le32::new(2),
        reserved: Le32::new(1),
    };
    assert_eq!(
        params.as_bytes(),
        concat(&[&2u32.to_le_bytes(), &1u32.to_le_bytes()])
    );
    let param = HvmParamsEntry {
        index: Le64::new(38),
        value: Le64::new(u64::MAX - 1),
    };
    assert_eq!(
        param.as_bytes(),
        concat(&[&38u64.to_le_bytes(), &(u64::MAX - 1).to_le_bytes()])
    );

    let leaf = CpuidPolicyLeaf::new(7, 0xffff_ffff, [1, 2, 3, 4]);
    let expected: Vec<u8> = [7u32, 0xffff_ffff, 1, 2, 3, 4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(leaf.as_bytes(), expected);

    let msr = MsrPolicyEntry {
        idx: Le32::new(0xce),
        flags: Le32::new(5),
        val: Le64::new(0x8000_0000_0000_0001),
    };
    assert_eq!(
        msr.as_bytes(),
        concat(&[
            &0xceu32.to_le_bytes(),
            &5u32.to_le_bytes(),
            &0x8000_0000_0000_0001u64.to_le_bytes()
        ])
    );

    let vcpu_msr = VcpuMsrEntry {
        index: Le32::new(0xc000_0080),
        reserved: Le32::new(1),
        value: Le64::new(0xd01),
    };
    assert_eq!(
        vcpu_msr.as_bytes(),
        concat(&[
            &0xc000_0080u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            &0xd01u64.to_le_bytes()
        ])
    );

    let emulator = EmulatorHeader {
        id: Le32::new(2),
        index: Le32::new(1),
    };
    assert_eq!(
        emulator.as_bytes(),
        concat(&[&2u32.to_le_bytes(), &1u32.to_le_bytes()])
    );

    let descriptor = HvmSaveDescriptor {
        typecode: Le16::new(1),
        instance: Le16::new(3),
        length: Le32::new(24),
    };
    assert_eq!(
        descriptor.as_bytes(),
        concat(&[
            &1u16.to_le_bytes(),
            &3u16.to_le_bytes(),
            &24u32.to_le_bytes()
        ])
    );

    let save_header = HvmSaveHeader::new(0x0004_0013, 0x000a_06a4, 2_000_000);
    assert_eq!(
        save_header.as_bytes(),
        concat(&[
            &HVM_FILE_MAGIC.to_le_bytes(),
            &HVM_FILE_VERSION.to_le_bytes(),
            &0x0004_0013u64.to_le_bytes(),
            &0x000a_06a4u32.to_le_bytes(),
            &2_000_000u32.to_le_bytes()
        ])
    );
    assert_eq!((HVM_FILE_MAGIC, HVM_FILE_VERSION), (0x5438_1286, 1));
}

#[test]
fn constants_match_the_specification() {
    assert_eq!(REC_LENGTH_MAX, 128 * 1024 * 1024);
    assert_eq!(IMAGE_MARKER.to_be_bytes(), [0xff; 8]);
    assert_eq!(&IMAGE_ID.to_be_bytes(), b"XENF");
    assert_eq!(&LIBXL_IDENT.to_be_bytes(), b"LibxlFmt");
    assert_eq!(XL_MAGIC.len(), 32);
}

#[test]
fn libxc_record_types_have_their_upstream_names() {
    let table: [(u32, &str, &str); 19] = [
        (0x00, "END", "End"),
        (0x01, "PAGE_DATA", "Page data"),
        (0x02, "X86_PV_INFO", "x86 PV info"),
        (0x03, "X86_PV_P2M_FRAMES", "x86 PV P2M frames"),
        (0x04, "X86_PV_VCPU_BASIC", "x86 PV vcpu basic"),
        (0x05, "X86_PV_VCPU_EXTENDED", "x86 PV vcpu extended"),
        (0x06, "X86_PV_VCPU_XSAVE", "x86 PV vcpu xsave"),
        (0x07, "SHARED_INFO", "Shared info"),
        (0x08, "X86_TSC_INFO", "TSC info"),
        (0x09, "HVM_CONTEXT", "HVM context"),
        (0x0A, "HVM_PARAMS", "HVM params"),
        (0x0B, "TOOLSTACK", "Toolstack"),
        (0x0C, "X86_PV_VCPU_MSRS", "x86 PV vcpu msrs"),
        (0x0D, "VERIFY", "Verify"),
        (0x0E, "CHECKPOINT", "Checkpoint"),
        (
            0x0F,
            "CHECKPOINT_DIRTY_PFN_LIST",
            "Checkpoint dirty pfn list",
        ),
        (0x10, "STATIC_DATA_END", "Static data end"),
        (0x11, "X86_CPUID_POLICY", "x86 CPUID policy"),
        (0x12, "X86_MSR_POLICY", "x86 MSR policy"),
    ];
    for (number, name, display) in table {
        let t = RecordType(number);
        assert_eq!(
            (t.name(), t.display_name(), t.to_string()),
            (Some(name), Some(display), name.to_string())
        );
        assert!(!t.is_optional());
    }
    assert_eq!(RecordType::ALL.len(), table.len());
    // Open values: reserved numbers are kept, bit 31 marks optional records.
    for number in [0x13, 0x7fff_ffff] {
        let t = RecordType(number);
        assert_eq!(
            (t.name(), t.display_name(), t.is_optional()),
            (None, None, false)
        );
        assert_eq!(t.to_string(), format!("unknown record type {number:#010x}"));
    }
    for number in [0x8000_0000, 0x8000_0001, u32::MAX] {
        let t = RecordType(number);
        assert_eq!((t.name(), t.is_optional()), (None, true));
        assert_eq!(u32::from(t), number);
    }
}

#[test]
fn libxl_record_types_have_their_upstream_names() {
    let table: [(u32, &str, &str); 6] = [
        (0, "END", "End"),
        (1, "LIBXC_CONTEXT", "Libxc context"),
        (2, "EMULATOR_XENSTORE_DATA", "Emulator xenstore data"),
        (3, "EMULATOR_CONTEXT", "Emulator context"),
        (4, "CHECKPOINT_END", "Checkpoint end"),
        (5, "CHECKPOINT_STATE", "Checkpoint state"),
    ];
    for (number, name, display) in table {
        let t = LibxlRecordType(number);
        assert_eq!((t.name(), t.display_name()), (Some(name), Some(display)));
    }
    assert_eq!(LibxlRecordType::ALL.len(), table.len());
    assert_eq!(LibxlRecordType(6).name(), None);
    assert!(LibxlRecordType(0x8000_0000).is_optional());
    assert!(!LibxlRecordType(6).is_optional());
}

#[test]
fn hvm_params_cover_every_index_that_occurs_in_streams() {
    let table: [(u64, &str); 18] = [
        (1, "STORE_PFN"),
        (4, "PAE_ENABLED"),
        (5, "IOREQ_PFN"),
        (6, "BUFIOREQ_PFN"),
        (9, "VIRIDIAN"),
        (12, "IDENT_PT"),
        (15, "VM86_TSS"),
        (17, "CONSOLE_PFN"),
        (19, "ACPI_IOPORTS_LOCATION"),
        (27, "PAGING_RING_PFN"),
        (28, "MONITOR_RING_PFN"),
        (29, "SHARING_RING_PFN"),
        (32, "IOREQ_SERVER_PFN"),
        (33, "NR_IOREQ_SERVER_PAGES"),
        (34, "VM_GENERATION_ID_ADDR"),
        (36, "X87_FIP_WIDTH"),
        (37, "VM86_TSS_SIZED"),
        (38, "MCA_CAP"),
    ];
    for (index, name) in table {
        assert_eq!(HvmParam(index).name(), Some(name), "index {index}");
        assert!(HvmParam(index).display_name().is_some());
    }
    assert_eq!(HvmParam::ALL.len(), table.len());
    assert_eq!(HvmParam(2).to_string(), "unknown HVM param 2");
}

#[test]
fn emulator_ids_domain_types_and_xl_flags() {
    for (id, name, display) in [
        (0, "UNKNOWN", "Unknown"),
        (1, "QEMU_TRADITIONAL", "Qemu Traditional"),
        (2, "QEMU_UPSTREAM", "Qemu Upstream"),
    ] {
        assert_eq!(
            (EmulatorId(id).name(), EmulatorId(id).display_name()),
            (Some(name), Some(display))
        );
    }
    assert_eq!(EmulatorId(3).name(), None);

    assert_eq!(DomainType::X86_PV.0, 1);
    assert_eq!(DomainType::X86_HVM.0, 2);
    for reserved in [0, 3, 4, u32::MAX] {
        assert_eq!(DomainType(reserved).name(), None);
    }

    assert_eq!(XlMandatoryFlags::JSON.bits(), 1);
    assert_eq!(XlMandatoryFlags::STREAM_V2.bits(), 2);
    assert_eq!(XlMandatoryFlags::all().bits(), 3);
}

#[test]
fn hvm_save_codes_run_from_end_to_cpu_msr() {
    assert_eq!(HvmSaveCode::END.0, 0);
    assert_eq!(HvmSaveCode::HEADER.0, 1);
    assert_eq!(HvmSaveCode::CPU_XSAVE.0, 16);
    assert_eq!(HvmSaveCode::CPU_MSR.0, 20);
    assert_eq!(HvmSaveCode::MAX, HvmSaveCode::CPU_MSR);
    let codes: Vec<u16> = HvmSaveCode::ALL.iter().map(|c| c.0).collect();
    assert_eq!(codes, (0..=20).collect::<Vec<_>>());
}

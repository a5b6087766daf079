//! Conversion of legacy images: record order and field values (upstream's
//! §7.4 layout), every page/vCPU/TSC/param surviving, the bugs we fix, and
//! the refusals.

mod support;

use legacy_convert::convert::{Options, OutputFormat};
use legacy_convert::format::{ChunkId, GuestType, GuestWidth, QemuSignature, Width};
use legacy_convert::reader::TscInfo;
use legacy_convert::writer::{
    BodyItem, GuestParts, ImageWriter, LegacyImage, PhysmapEntry, PvVcpu, encode_physmap,
    extended_context,
};
use legacy_convert::{ErrorKind, convert};
use migration_stream::types::{LibxlRecordType as L, RecordType as T};
use support::*;

fn libxc_types(d: &Decoded) -> Vec<T> {
    d.libxc.iter().map(|(t, _)| *t).collect()
}

fn libxl_types(d: &Decoded) -> Vec<L> {
    d.libxl.iter().map(|(t, _)| *t).collect()
}

#[test]
fn pv_record_order_and_headers_match_upstream() {
    let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x800)
        .with_body(vec![
            BodyItem::pages(&[(0, 1), (0xF, 0), (4, 2)], 9),
            BodyItem::Tsc(TscInfo {
                mode: 1,
                nsec: 5,
                khz: 7,
                incarnation: 9,
            }),
        ])
        .with_vcpus(vec![
            PvVcpu::new(0, GuestWidth::W64),
            PvVcpu::new(2, GuestWidth::W64),
        ]);
    let mut image = image;
    if let GuestParts::Pv(pv) = &mut image.guest {
        pv.extv = true;
        pv.xsave_size = Some(0x40);
        for v in &mut pv.vcpus {
            v.extended = Some(extended_context(v.id));
            v.xsave = Some((3, vec![v.id as u8; 0x40]));
        }
    }
    let bytes = image.to_bytes();
    for format in [OutputFormat::Libxc, OutputFormat::Libxl] {
        let out = convert_bytes(&bytes, &image_options(&image, format)).unwrap();
        let d = decode(&out);
        assert_eq!(d.image_version, 3);
        assert_eq!(d.domain, (1, 0, 1), "PV, converted by converter version 1");
        assert_eq!(
            libxc_types(&d),
            [
                T::X86_PV_INFO,
                T::STATIC_DATA_END,
                T::X86_PV_P2M_FRAMES,
                T::PAGE_DATA,
                T::X86_TSC_INFO,
                T::X86_PV_VCPU_BASIC,
                T::X86_PV_VCPU_EXTENDED,
                T::X86_PV_VCPU_XSAVE,
                T::X86_PV_VCPU_BASIC,
                T::X86_PV_VCPU_EXTENDED,
                T::X86_PV_VCPU_XSAVE,
                T::SHARED_INFO,
                T::END,
            ]
        );
        assert_eq!(d.libxc[0].1, [8, 4, 0, 0, 0, 0, 0, 0]);
        let frames = &d.libxc[2].1;
        assert_eq!((u32_at(frames, 0), u32_at(frames, 4)), (0, 0x7ff));
        assert_eq!(frames.len(), 8 + 8 * 4, "0x800 pfns / 512 per frame");
        let tsc = &d.libxc[4].1;
        assert_eq!(
            (
                u32_at(tsc, 0),
                u32_at(tsc, 4),
                u64_at(tsc, 8),
                u32_at(tsc, 16),
                u32_at(tsc, 20)
            ),
            (1, 7, 5, 9, 0)
        );
        assert_eq!(u32_at(&d.libxc[8].1, 0), 2, "second vCPU keeps its id");
        match format {
            OutputFormat::Libxc => {
                assert_eq!(d.libxl_options, None);
                assert!(d.libxl.is_empty());
            }
            OutputFormat::Libxl => {
                assert_eq!(d.libxl_options, Some(2), "LEGACY option");
                assert_eq!(libxl_types(&d), [L::LIBXC_CONTEXT, L::END]);
            }
        }
        assert!(d.trailing.is_empty());
    }
}

#[test]
fn hvm_record_order_params_and_qemu_trailer_match_upstream() {
    let mut image = LegacyImage::hvm(Width::W32, 0x1000).with_body(vec![
        BodyItem::pages(&[(0, 0x10)], 1),
        BodyItem::HvmParam {
            id: ChunkId::HVM_VIRIDIAN,
            value: 1,
        },
        BodyItem::HvmParam {
            id: ChunkId::HVM_IDENT_PT,
            value: 0xfeffd000,
        },
        BodyItem::Toolstack(encode_physmap(
            Width::W32,
            &[PhysmapEntry {
                phys_offset: 0xf0000000,
                start_addr: 0xfc000000,
                size: 0x800000,
                name: Some(b"vga.vram".to_vec()),
            }],
            0,
        )),
    ]);
    if let GuestParts::Hvm(hvm) = &mut image.guest {
        hvm.magic_pfns = [0xfeff0, 0xfeff1, 0xfeffc];
        hvm.qemu = Some((QemuSignature::DeviceModelRecord0002, b"qemu!".to_vec()));
    }
    let bytes = image.to_bytes();

    let out = convert_bytes(&bytes, &image_options(&image, OutputFormat::Libxc)).unwrap();
    let d = decode(&out);
    assert_eq!(d.domain, (2, 0, 1));
    assert_eq!(
        libxc_types(&d),
        [
            T::STATIC_DATA_END,
            T::PAGE_DATA,
            T::HVM_PARAMS,
            T::HVM_PARAMS,
            T::HVM_CONTEXT,
            T::END
        ]
    );
    assert_eq!(
        hvm_params(&d),
        [
            vec![(9, 1), (12, 0xfeffd000)],
            vec![(5, 0xfeff0), (6, 0xfeff1), (1, 0xfeffc)]
        ]
    );
    assert_eq!(
        d.libxc[4].1,
        legacy_convert::writer::hvm_context(0x0004_0005_0000_0000, 0x000A_0655)
    );
    let mut trailer = b"DeviceModelRecord0002".to_vec();
    trailer.extend_from_slice(&5u32.to_le_bytes());
    trailer.extend_from_slice(b"qemu!");
    assert_eq!(
        d.trailing, trailer,
        "libxc mode appends the raw qemu record after END"
    );

    let out = convert_bytes(&bytes, &image_options(&image, OutputFormat::Libxl)).unwrap();
    let d = decode(&out);
    assert_eq!(
        libxl_types(&d),
        [
            L::LIBXC_CONTEXT,
            L::EMULATOR_XENSTORE_DATA,
            L::EMULATOR_CONTEXT,
            L::END
        ]
    );
    assert_eq!(
        d.libxl[1].1,
        b"\0\0\0\0\0\0\0\0physmap/f0000000/start_addr\0fc000000\0physmap/f0000000/size\0800000\0\
          physmap/f0000000/name\0vga.vram\0"
    );
    assert_eq!(d.libxl[2].1, b"\0\0\0\0\0\0\0\0qemu!");
    assert!(d.trailing.is_empty());
}

#[test]
fn skip_qemu_is_honoured_in_both_formats() {
    let image = LegacyImage::hvm(Width::W64, 0x100);
    let bytes = image.to_bytes();
    for format in [OutputFormat::Libxc, OutputFormat::Libxl] {
        let mut options = image_options(&image, format);
        options.skip_qemu = true;
        let d = decode(&convert_bytes(&bytes, &options).unwrap());
        assert!(d.trailing.is_empty());
        assert!(!libxl_types(&d).contains(&L::EMULATOR_CONTEXT));
    }
}

#[test]
fn every_qemu_signature_converts() {
    for signature in QemuSignature::ALL {
        let mut image = LegacyImage::hvm(Width::W64, 0x100);
        if let GuestParts::Hvm(hvm) = &mut image.guest {
            hvm.qemu = Some((signature, b"device state".to_vec()));
        }
        let bytes = image.to_bytes();
        // libxc mode: the raw record after END, always in DeviceModelRecord0002 form.
        for input_len in [None, Some(bytes.len() as u64)] {
            let mut options = image_options(&image, OutputFormat::Libxc);
            options.input_len = input_len;
            let libxc = decode(&convert_bytes(&bytes, &options).unwrap());
            assert_eq!(
                libxc.trailing, b"DeviceModelRecord0002\x0c\0\0\0device state",
                "{signature:?}"
            );
        }
        // A signature without a length runs to the end: with and without the input size.
        for input_len in [None, Some(bytes.len() as u64)] {
            let mut options = image_options(&image, OutputFormat::Libxl);
            options.input_len = input_len;
            let libxl = decode(&convert_bytes(&bytes, &options).unwrap());
            let (ty, body) = &libxl.libxl[1];
            assert_eq!(*ty, L::EMULATOR_CONTEXT, "{signature:?}");
            assert_eq!(&body[8..], b"device state", "{signature:?}");
        }
    }
}

#[test]
fn x87_fip_width_chunk_becomes_param_36() {
    let image = LegacyImage::hvm(Width::W64, 0x100).with_body(vec![BodyItem::HvmParam {
        id: ChunkId::HVM_X87_FIP_WIDTH,
        value: 4,
    }]);
    let d = decode(
        &convert_bytes(
            &image.to_bytes(),
            &image_options(&image, OutputFormat::Libxc),
        )
        .unwrap(),
    );
    assert_eq!(hvm_params(&d)[0], [(36, 4)]);
}

#[test]
fn physmap_layouts_and_empty_names() {
    let entries = [
        PhysmapEntry {
            phys_offset: 0xa,
            start_addr: 0xb,
            size: 0xc,
            name: None,
        },
        PhysmapEntry {
            phys_offset: 0x1a,
            start_addr: 0x1b,
            size: 0x1c,
            name: Some(b"rom".to_vec()),
        },
    ];
    for width in [Width::W32, Width::W64] {
        let image = LegacyImage::hvm(width, 0x100).with_body(vec![BodyItem::Toolstack(
            encode_physmap(width, &entries, 0xee),
        )]);
        let d = decode(
            &convert_bytes(
                &image.to_bytes(),
                &image_options(&image, OutputFormat::Libxl),
            )
            .unwrap(),
        );
        assert_eq!(
            &d.libxl[1].1[8..],
            b"physmap/a/start_addr\0b\0physmap/a/size\0c\0physmap/1a/start_addr\x001b\0\
              physmap/1a/size\x001c\0physmap/1a/name\0rom\0",
            "{width:?}"
        );
    }
}

#[test]
fn xl_header_gets_stream_v2_and_needs_libxl() {
    let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10)
        .with_vcpus(vec![PvVcpu::new(0, GuestWidth::W64)]);
    let mut bytes = b"Xen saved domain, xl format\n \0 \r".to_vec();
    for field in [0x01020304u32, 1, 0, 8] {
        bytes.extend_from_slice(&field.to_le_bytes());
    }
    bytes.extend_from_slice(&4u32.to_le_bytes());
    bytes.extend_from_slice(b"cfg\0");
    bytes.extend_from_slice(&image.to_bytes());
    let mut options = image_options(&image, OutputFormat::Libxl);
    options.xl_header = true;
    let out = convert_bytes(&bytes, &options).unwrap();
    assert_eq!(&out[..32], &bytes[..32]);
    assert_eq!(u32_at(&out, 36), 3, "JSON kept, STREAMv2 added");
    assert_eq!(
        &out[40..56],
        &bytes[40..56],
        "optional flags, length and data copied"
    );
    let d = decode(&out);
    assert_eq!(d.xl_mandatory_flags, Some(3));
    assert_eq!(libxc_types(&d).last(), Some(&T::END));

    // A libxc stream behind an xl header is restorable by no xl: refused, nothing written.
    let mut options = image_options(&image, OutputFormat::Libxc);
    options.xl_header = true;
    let err = convert_bytes(&bytes, &options).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::XlNeedsLibxl), "{err}");
    assert!(err.is_unsupported() && !err.is_bad_input());
    let mut options = image_options(&image, OutputFormat::Libxl);
    options.xl_header = true;
    let err = convert_bytes(&image.to_bytes(), &options).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::XlHeader(migration_stream::ErrorKind::BadXlMagic { .. })
        ),
        "{err}"
    );
    assert!(err.is_bad_input());
    // Without `xl_header`, an xl file is recognised and refused as such.
    let options = image_options(&image, OutputFormat::Libxl);
    let err = convert_bytes(&bytes, &options).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnexpectedXlHeader), "{err}");
    assert_eq!(err.offset(), 0);
}

#[test]
fn bare_xtab_only_batches_write_no_page_data() {
    let image = LegacyImage::hvm(Width::W64, 0x100).with_body(vec![
        BodyItem::pages(&[(0xF, 0), (0xF, 0)], 0),
        BodyItem::pages(&[(0, 5)], 1),
    ]);
    let d = decode(
        &convert_bytes(
            &image.to_bytes(),
            &image_options(&image, OutputFormat::Libxc),
        )
        .unwrap(),
    );
    let page_records = d.libxc.iter().filter(|(t, _)| *t == T::PAGE_DATA).count();
    assert_eq!(page_records, 1);
    assert_eq!(pages(&d), expected_pages(&image));
}

#[test]
fn test_images_convert_and_probe_to_what_their_names_say() {
    for (stem, bytes) in test_images() {
        for format in [OutputFormat::Libxc, OutputFormat::Libxl] {
            let options = options_from_name(&stem, format);
            let result = convert_bytes(&bytes, &options);
            if stem.starts_with("unsupported-") {
                let err = result.unwrap_err();
                assert!(!err.is_bad_input(), "{stem}: {err}");
                assert!(err.is_unsupported(), "{stem}: {err}");
                continue;
            }
            if options.xl_header && format == OutputFormat::Libxc {
                let err = result.unwrap_err();
                assert!(
                    matches!(err.kind(), ErrorKind::XlNeedsLibxl),
                    "{stem}: {err}"
                );
                continue;
            }
            let out = result.unwrap_or_else(|e| panic!("{stem}: {e}"));
            let v2 = &out[..];
            if let Err(violation) = verify(v2) {
                panic!("{stem} {format:?}: the verifier rejects the output: {violation}");
            }
            let d = decode(v2);
            assert_eq!(libxc_types(&d).last(), Some(&T::END), "{stem}");
            let mut probed_options = options.clone();
            probed_options.width = None;
            probed_options.guest = None;
            let mut probed = Vec::new();
            let summary = convert(
                &bytes[..],
                &mut probed,
                &probed_options,
                &mut legacy_convert::convert::Quiet,
            )
            .unwrap_or_else(|e| panic!("{stem} probed: {e}"));
            assert_eq!(Some(summary.width), options.width, "{stem}");
            assert_eq!(Some(summary.guest), options.guest, "{stem}");
            assert_eq!(probed, out, "{stem}: probing changes nothing");
        }
    }
}

fn truncation_is_bad_input(stem: &str, bytes: &[u8], options: &Options, from: usize) {
    for len in from..bytes.len() {
        match convert_bytes(&bytes[..len], options) {
            Err(err) if err.is_bad_input() => {}
            Err(err) => panic!("{stem} cut at {len}: not a bad-input error: {err}"),
            Ok(_) => panic!("{stem} cut at {len} of {} converted", bytes.len()),
        }
    }
}

#[test]
fn every_truncation_point_of_every_test_image_is_bad_input() {
    for (stem, bytes) in test_images() {
        if stem.starts_with("unsupported-") {
            continue;
        }
        // libxc mode reads the same input but discards or copies other parts
        // (the toolstack blob, the qemu trailer), so both are cut everywhere.
        let options = options_from_name(&stem, OutputFormat::Libxl);
        let libxc_options = options_from_name(&stem, OutputFormat::Libxc);
        // A QemuDeviceModelRecord runs to the end of the input: any cut
        // after its signature is a shorter but valid record.
        let end = if stem.contains("qemu-to-end") {
            let sig = bytes
                .windows(21)
                .rposition(|w| w == b"QemuDeviceModelRecord")
                .unwrap();
            sig + 21
        } else {
            bytes.len()
        };
        truncation_is_bad_input(&stem, &bytes[..end], &options, 0);
        if !libxc_options.xl_header {
            truncation_is_bad_input(&stem, &bytes[..end], &libxc_options, 0);
        }
        if end == bytes.len() {
            continue;
        }
        // Past the signature every cut converts, keeping what there was.
        let cut = decode(&convert_bytes(&bytes[..end + 3], &options).unwrap());
        let context = cut
            .libxl
            .iter()
            .find(|(t, _)| *t == L::EMULATOR_CONTEXT)
            .unwrap();
        assert_eq!(&context.1[8..], &bytes[end..end + 3]);
    }
}

/// Converting `bytes` fails with bad input of a kind matching `pattern`.
macro_rules! bad {
    ($bytes:expr, $options:expr, $pattern:pat $(if $guard:expr)?) => {
        match convert_bytes($bytes, $options) {
            Err(err) => {
                assert!(err.is_bad_input(), "expected bad input, got {err}");
                assert!(
                    matches!(err.kind(), $pattern $(if $guard)?),
                    "{err:?} is not {}",
                    stringify!($pattern)
                );
            }
            Ok(_) => panic!("converted, expected {}", stringify!($pattern)),
        }
    };
}

fn hvm_with_raw_body(width: Width, raw: Vec<u8>) -> (Vec<u8>, Options) {
    let image = LegacyImage::hvm(width, 0x100).with_body(vec![BodyItem::Raw(raw)]);
    let options = image_options(&image, OutputFormat::Libxc);
    (image.to_bytes(), options)
}

#[test]
fn malformed_images_are_bad_input_with_a_message() {
    // Oversized batch.
    let (bytes, options) = hvm_with_raw_body(Width::W64, 1025i32.to_le_bytes().to_vec());
    bad!(&bytes, &options, ErrorKind::BatchTooLarge { count: 1025 });
    // Duplicate pfns in a batch.
    let image = LegacyImage::hvm(Width::W32, 0x100)
        .with_body(vec![BodyItem::pages(&[(0, 7), (0xD, 7)], 0)]);
    bad!(
        &image.to_bytes(),
        &image_options(&image, OutputFormat::Libxc),
        ErrorKind::DuplicatePfn { pfn: 7 }
    );
    // Invalid page type.
    let image = LegacyImage::hvm(Width::W32, 0x100).with_body(vec![BodyItem::pages(&[(6, 7)], 0)]);
    bad!(
        &image.to_bytes(),
        &image_options(&image, OutputFormat::Libxc),
        ErrorKind::InvalidPageType {
            index: 0,
            entry: 0x6000_0007
        }
    );
    // Unknown chunks, below −21 and any other.
    for marker in [-22i32, -1000, i32::MIN] {
        let (bytes, options) = hvm_with_raw_body(Width::W64, marker.to_le_bytes().to_vec());
        bad!(&bytes, &options, ErrorKind::UnknownChunk { marker: m } if *m == marker);
    }
    // A repeated HVM parameter chunk.
    let image = LegacyImage::hvm(Width::W64, 0x100).with_body(vec![
        BodyItem::HvmParam {
            id: ChunkId::HVM_VIRIDIAN,
            value: 1,
        },
        BodyItem::HvmParam {
            id: ChunkId::HVM_VIRIDIAN,
            value: 2,
        },
    ]);
    bad!(
        &image.to_bytes(),
        &image_options(&image, OutputFormat::Libxc),
        ErrorKind::DuplicateHvmParam {
            chunk: ChunkId::HVM_VIRIDIAN
        }
    );
    // vCPU map out of range.
    let mut raw = (-2i32).to_le_bytes().to_vec();
    raw.extend_from_slice(&4096i32.to_le_bytes());
    let (bytes, options) = hvm_with_raw_body(Width::W64, raw);
    bad!(
        &bytes,
        &options,
        ErrorKind::VcpuMaxIdOutOfRange { max_id: 4096 }
    );
    // Bad extended-info marker: an HVM image read as PV.
    let image = LegacyImage::hvm(Width::W64, 0x100);
    let options = options_for(Width::W64, GuestType::Pv, OutputFormat::Libxc);
    bad!(
        &image.to_bytes(),
        &options,
        ErrorKind::BadExtendedInfoMarker { .. }
    );
    // Unknown qemu signature.
    let mut bytes = LegacyImage::hvm(Width::W64, 0x100).to_bytes();
    let at = bytes
        .windows(21)
        .position(|w| w == b"DeviceModelRecord0002")
        .unwrap();
    bytes[at] = b'X';
    bad!(
        &bytes,
        &image_options(&image, OutputFormat::Libxc),
        ErrorKind::UnknownQemuSignature { .. }
    );
    // HVM parameters in a PV image.
    let image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10)
        .with_body(vec![BodyItem::HvmParam {
            id: ChunkId::HVM_VIRIDIAN,
            value: 1,
        }])
        .with_vcpus(vec![PvVcpu::new(0, GuestWidth::W64)]);
    bad!(
        &image.to_bytes(),
        &image_options(&image, OutputFormat::Libxc),
        ErrorKind::HvmParamInPv
    );
    // Unknown extended-info block and an overshooting length.
    let mut w = ImageWriter::new(Vec::new(), Width::W64);
    w.p2m_size(0x10).unwrap();
    w.extended_info(&[(legacy_convert::format::BlockId(*b"zzzz"), &[])])
        .unwrap();
    let options = options_for(Width::W64, GuestType::Pv, OutputFormat::Libxc);
    bad!(
        &w.into_inner(),
        &options,
        ErrorKind::UnknownExtendedBlock {
            id: legacy_convert::format::BlockId([b'z', b'z', b'z', b'z'])
        }
    );
    let mut w = ImageWriter::new(Vec::new(), Width::W64);
    w.p2m_size(0x10).unwrap();
    w.extended_info_with_length(4, &[(legacy_convert::format::BlockId::EXTV, &[])])
        .unwrap();
    bad!(
        &w.into_inner(),
        &options,
        ErrorKind::ExtendedInfoOvershoot {
            blocks: 8,
            total: 4
        }
    );
    // A vcpu block of an unknown size.
    let mut w = ImageWriter::new(Vec::new(), Width::W64);
    w.p2m_size(0x10).unwrap();
    w.extended_info(&[(legacy_convert::format::BlockId::VCPU, &[0; 16])])
        .unwrap();
    bad!(
        &w.into_inner(),
        &options,
        ErrorKind::BadVcpuBlockSize { size: 16 }
    );
    // xsave size disagreeing with the xcnt block.
    let mut image = LegacyImage::pv(Width::W64, GuestWidth::W64, 0x10);
    let mut vcpu = PvVcpu::new(0, GuestWidth::W64);
    vcpu.xsave = Some((1, vec![0; 32]));
    image = image.with_vcpus(vec![vcpu]);
    if let GuestParts::Pv(pv) = &mut image.guest {
        pv.xsave_size = Some(48);
    }
    bad!(
        &image.to_bytes(),
        &image_options(&image, OutputFormat::Libxc),
        ErrorKind::XsaveSizeMismatch {
            vcpu: 0,
            size: 32,
            xcnt: 64
        }
    );
    // Physmap problems (libxl mode).
    type Expected = fn(&ErrorKind) -> bool;
    let physmap_cases: [(&[u8], Expected); 4] = [
        (&[1, 0, 0, 0], |k| {
            matches!(k, ErrorKind::ShortToolstack { size: 4 })
        }),
        (&[2, 0, 0, 0, 0, 0, 0, 0], |k| {
            matches!(k, ErrorKind::UnknownToolstackVersion { version: 2 })
        }),
        (&[1, 0, 0, 0, 1, 0, 0, 0, 0], |k| {
            matches!(
                k,
                ErrorKind::PhysmapHeaderOverrun {
                    entry: 0,
                    count: 1,
                    left: 1
                }
            )
        }),
        (
            &[
                1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 2, 0, 0, 0, b'a', b'b',
            ],
            |k| matches!(k, ErrorKind::PhysmapNameNotTerminated { entry: 0 }),
        ),
    ];
    for (blob, expected) in physmap_cases {
        let image =
            LegacyImage::hvm(Width::W32, 0x100).with_body(vec![BodyItem::Toolstack(blob.to_vec())]);
        bad!(
            &image.to_bytes(),
            &image_options(&image, OutputFormat::Libxl),
            kind if expected(kind)
        );
        // libxc mode discards the blob unread.
        convert_bytes(
            &image.to_bytes(),
            &image_options(&image, OutputFormat::Libxc),
        )
        .unwrap();
    }
}

#[test]
fn tmem_and_compression_are_refused_naming_the_chunk() {
    for marker in [-5i32, -6, -12, -13] {
        let (bytes, options) = hvm_with_raw_body(Width::W64, marker.to_le_bytes().to_vec());
        let err = convert_bytes(&bytes, &options).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Tmem { chunk } | ErrorKind::RemusCompression { chunk }
                    if *chunk == ChunkId(marker)
            ),
            "{err}"
        );
        assert!(err.is_unsupported());
        let name = ChunkId(marker).name().unwrap();
        assert!(err.to_string().contains(name), "{err}");
    }
}

mod properties {
    use super::*;
    use proptest::collection::{btree_set, vec};
    use proptest::prelude::*;

    const DATA_TYPES: [u8; 12] = [0x0, 0x1, 0x2, 0x3, 0x4, 0x9, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF];
    /// HVM guests have no page-table pages in their images.
    const HVM_TYPES: [u8; 4] = [0x0, 0xD, 0xE, 0xF];

    fn batch(pfn_limit: u64, types: &'static [u8]) -> impl Strategy<Value = BodyItem> {
        (
            btree_set(0u64..pfn_limit, 1..6),
            vec(0usize..types.len(), 6),
            any::<u8>(),
            0usize..3,
        )
            .prop_map(move |(pfns, picks, seed, xtabs)| {
                let pages: Vec<(u8, u64)> = pfns
                    .into_iter()
                    .zip(picks)
                    .map(|(pfn, t)| (types[t], pfn))
                    .filter(|&(t, pfn)| !(t == 0xF && pfn == 0))
                    .collect();
                let mut item = BodyItem::pages(&pages, seed);
                if let BodyItem::Pages { entries, .. } = &mut item {
                    for _ in 0..xtabs {
                        entries.push(0xF000_0000);
                    }
                }
                item
            })
    }

    fn tsc() -> impl Strategy<Value = BodyItem> {
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(
            |(mode, nsec, khz, incarnation)| {
                BodyItem::Tsc(TscInfo {
                    mode,
                    nsec,
                    khz,
                    incarnation,
                })
            },
        )
    }

    fn param() -> impl Strategy<Value = BodyItem> {
        (0usize..ChunkId::HVM_PARAM_CHUNKS.len(), any::<u64>()).prop_map(|(i, value)| {
            BodyItem::HvmParam {
                id: ChunkId::HVM_PARAM_CHUNKS[i],
                value,
            }
        })
    }

    fn width() -> impl Strategy<Value = Width> {
        prop_oneof![Just(Width::W32), Just(Width::W64)]
    }

    fn pv_image() -> impl Strategy<Value = LegacyImage> {
        (1u64..0x5000).prop_flat_map(|p2m| (
            width(),
            prop_oneof![Just(GuestWidth::W32), Just(GuestWidth::W64)],
            Just(p2m),
            vec(
                prop_oneof![4 => batch(p2m, &DATA_TYPES), 1 => tsc(), 1 => Just(BodyItem::LastCheckpoint)],
                0..5,
            ),
            btree_set(1u32..300, 0..4),
            any::<bool>(),
            prop_oneof![Just(None), (2u32..64).prop_map(|n| Some(n * 8))],
            vec(any::<u32>(), 0..4),
        ))
            .prop_map(|(w, gw, p2m, body, ids, extv, xsave, unmapped)| {
                // vCPU 0 is always online (the restorer needs its state).
                let vcpus = std::iter::once(0)
                    .chain(ids)
                    .map(|id| {
                        let mut v = PvVcpu::new(id, gw);
                        if extv {
                            v.extended = Some(extended_context(id));
                        }
                        if let Some(size) = xsave {
                            v.xsave =
                                Some((u64::from(id) << 3, vec![id as u8 ^ 0x5a; size as usize]));
                        }
                        v
                    })
                    .collect();
                let mut image = LegacyImage::pv(w, gw, p2m)
                    .with_body(body)
                    .with_vcpus(vcpus);
                if let GuestParts::Pv(pv) = &mut image.guest {
                    pv.extv = extv;
                    pv.xsave_size = xsave;
                    pv.unmapped = unmapped.into_iter().map(u64::from).collect();
                }
                image
            })
    }

    fn hvm_image() -> impl Strategy<Value = LegacyImage> {
        (
            width(),
            any::<u64>(),
            vec(
                prop_oneof![4 => batch(0x0FFF_FFFF, &HVM_TYPES), 1 => tsc(), 2 => param(), 1 => Just(BodyItem::VerifyMode)],
                0..6,
            ),
            any::<[u64; 3]>(),
            (any::<u64>(), any::<u32>()),
            0usize..3,
            vec(any::<u8>(), 0..40),
        )
            .prop_map(|(w, p2m, body, magic, context, sig, qemu)| {
                // Each parameter chunk at most once, as real savers write them.
                let mut seen = Vec::new();
                let body = body
                    .into_iter()
                    .filter(|item| match item {
                        BodyItem::HvmParam { id, .. } if seen.contains(id) => false,
                        BodyItem::HvmParam { id, .. } => {
                            seen.push(*id);
                            true
                        }
                        _ => true,
                    })
                    .collect();
                let mut image = LegacyImage::hvm(w, p2m).with_body(body);
                if let GuestParts::Hvm(hvm) = &mut image.guest {
                    hvm.magic_pfns = magic;
                    hvm.context = legacy_convert::writer::hvm_context(context.0, context.1);
                    hvm.qemu = Some((QemuSignature::ALL[sig], qemu));
                }
                image
            })
    }

    fn tsc_of(body: &[u8]) -> TscInfo {
        assert_eq!(body.len(), 24);
        assert_eq!(u32_at(body, 20), 0);
        TscInfo {
            mode: u32_at(body, 0),
            khz: u32_at(body, 4),
            nsec: u64_at(body, 8),
            incarnation: u32_at(body, 16),
        }
    }

    fn check(image: &LegacyImage, format: OutputFormat) -> Result<(), TestCaseError> {
        let bytes = image.to_bytes();
        let out = convert_bytes(&bytes, &image_options(image, format))
            .map_err(|e| TestCaseError::fail(format!("conversion failed: {e}")))?;
        if let Err(violation) = verify(&out) {
            return Err(TestCaseError::fail(format!(
                "{format:?}: the verifier rejects the output: {violation}"
            )));
        }
        let d = decode(&out);
        prop_assert_eq!(pages(&d), expected_pages(image));
        let tscs: Vec<TscInfo> = d
            .libxc
            .iter()
            .filter(|(t, _)| *t == T::X86_TSC_INFO)
            .map(|(_, b)| tsc_of(b))
            .collect();
        let expected_tscs: Vec<TscInfo> = image
            .body
            .iter()
            .filter_map(|i| match i {
                BodyItem::Tsc(t) => Some(*t),
                _ => None,
            })
            .collect();
        prop_assert_eq!(tscs, expected_tscs);
        prop_assert_eq!(libxc_types(&d).last().copied(), Some(T::END));
        match &image.guest {
            GuestParts::Pv(pv) => {
                let mut expected = Vec::new();
                for v in &pv.vcpus {
                    expected.push((T::X86_PV_VCPU_BASIC, v.id, v.basic.clone()));
                    if let Some(e) = &v.extended {
                        expected.push((T::X86_PV_VCPU_EXTENDED, v.id, e.clone()));
                    }
                    if let Some((_, area)) = &v.xsave {
                        expected.push((T::X86_PV_VCPU_XSAVE, v.id, area.clone()));
                    }
                }
                let got: Vec<(T, u32, Vec<u8>)> = d
                    .libxc
                    .iter()
                    .filter(|(t, _)| {
                        matches!(
                            *t,
                            T::X86_PV_VCPU_BASIC | T::X86_PV_VCPU_EXTENDED | T::X86_PV_VCPU_XSAVE
                        )
                    })
                    .map(|(t, b)| (*t, u32_at(b, 0), b[8..].to_vec()))
                    .collect();
                prop_assert_eq!(got, expected);
                let shared = d
                    .libxc
                    .iter()
                    .find(|(t, _)| *t == T::SHARED_INFO)
                    .map(|(_, b)| b.clone());
                prop_assert_eq!(shared, Some(pv.shared_info.clone()));
                let frames = &d
                    .libxc
                    .iter()
                    .find(|(t, _)| *t == T::X86_PV_P2M_FRAMES)
                    .unwrap()
                    .1;
                let got_frames: Vec<u64> = (0..(frames.len() - 8) / 8)
                    .map(|i| u64_at(frames, 8 + 8 * i))
                    .collect();
                let expected_frames: Vec<u64> = pv
                    .frames
                    .iter()
                    .map(|&f| {
                        if image.width == Width::W32 {
                            f & 0xFFFF_FFFF
                        } else {
                            f
                        }
                    })
                    .collect();
                prop_assert_eq!(got_frames, expected_frames);
                prop_assert!(hvm_params(&d).is_empty());
            }
            GuestParts::Hvm(hvm) => {
                let params = hvm_params(&d);
                let chunk_params = expected_chunk_params(image);
                let magic = vec![
                    (5, hvm.magic_pfns[0]),
                    (6, hvm.magic_pfns[1]),
                    (1, hvm.magic_pfns[2]),
                ];
                let expected: Vec<Vec<(u64, u64)>> = if chunk_params.is_empty() {
                    vec![magic]
                } else {
                    vec![chunk_params, magic]
                };
                prop_assert_eq!(params, expected);
                let context = d
                    .libxc
                    .iter()
                    .find(|(t, _)| *t == T::HVM_CONTEXT)
                    .map(|(_, b)| b.clone());
                prop_assert_eq!(context, Some(hvm.context.clone()));
                let (sig, data) = hvm.qemu.clone().unwrap();
                match format {
                    OutputFormat::Libxc => {
                        let _ = sig;
                        let mut trailer = b"DeviceModelRecord0002".to_vec();
                        trailer.extend_from_slice(&(data.len() as u32).to_le_bytes());
                        trailer.extend_from_slice(&data);
                        prop_assert_eq!(&d.trailing, &trailer);
                    }
                    OutputFormat::Libxl => {
                        let ctx = d
                            .libxl
                            .iter()
                            .find(|(t, _)| *t == L::EMULATOR_CONTEXT)
                            .unwrap();
                        prop_assert_eq!(&ctx.1[8..], &data[..]);
                    }
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_pv_image_survives_conversion(image in pv_image()) {
            check(&image, OutputFormat::Libxc)?;
            check(&image, OutputFormat::Libxl)?;
        }

        #[test]
        fn every_hvm_image_survives_conversion(image in hvm_image()) {
            check(&image, OutputFormat::Libxc)?;
            check(&image, OutputFormat::Libxl)?;
        }

        #[test]
        fn probing_finds_what_was_written(image in prop_oneof![pv_image(), hvm_image()]) {
            // Detection relies on what real images have: p2m_size below 2^28
            // and, for HVM, a body that is not empty.
            let mut image = image;
            image.p2m_size &= 0x0FFF_FFFF;
            image.body.insert(0, BodyItem::pages(&[(0, 1)], 0));
            let bytes = image.to_bytes();
            let mut reader = legacy_convert::reader::LegacyReader::new(&bytes[..]);
            let found = reader.probe().unwrap();
            prop_assert_eq!(found.width, image.width);
            prop_assert_eq!(found.guest, image.guest_type());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..600), w in width(), pv in any::<bool>()) {
            let guest = if pv { GuestType::Pv } else { GuestType::Hvm };
            for format in [OutputFormat::Libxc, OutputFormat::Libxl] {
                let _ = convert_bytes(&bytes, &options_for(w, guest, format));
            }
            let _ = convert_bytes(&bytes, &Options::default());
        }
    }
}

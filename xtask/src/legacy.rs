//! Test images in the legacy (pre-Xen-4.6) save format, for
//! `convert-legacy-stream`: `testdata/legacy/<name>.img`.
//!
//! File names tell the tests how to convert them: `pv64-…` / `hvm32-…` give
//! the toolstack width and the guest type, `…-xl…` an xl header in front,
//! `unsupported-…` content that must be refused with exit code 2.

use legacy_convert::format::{ChunkId, GuestWidth, QemuSignature, Width};
use legacy_convert::reader::TscInfo;
use legacy_convert::writer::{
    BodyItem, GuestParts, LegacyImage, PhysmapEntry, PvVcpu, encode_physmap, extended_context,
};

use crate::GeneratedFile;

/// The xl save header magic (32 bytes).
const XL_MAGIC: &[u8; 32] = b"Xen saved domain, xl format\n \0 \r";

fn tsc() -> BodyItem {
    BodyItem::Tsc(TscInfo {
        mode: 2,
        nsec: 0x1234_5678_9abc,
        khz: 2_400_000,
        incarnation: 3,
    })
}

/// A PV image with pages of every type a saver writes, TSC info, unmapped
/// pfns and the given vCPUs.
fn pv(width: Width, guest: GuestWidth, extv: bool, xsave: Option<u32>, ids: &[u32]) -> LegacyImage {
    let vcpus = ids
        .iter()
        .map(|&id| {
            let mut vcpu = PvVcpu::new(id, guest);
            if extv {
                vcpu.extended = Some(extended_context(id));
            }
            if let Some(size) = xsave {
                let area = (0..size).map(|i| (i as u8) ^ (id as u8)).collect();
                vcpu.xsave = Some((0x7, area));
            }
            vcpu
        })
        .collect();
    let l1 = match guest {
        GuestWidth::W64 => 0x4,
        GuestWidth::W32 => 0x3,
    };
    let mut image = LegacyImage::pv(width, guest, 0x2000)
        .with_body(vec![
            BodyItem::pages(
                &[(0x0, 0x0), (0x1, 0x1), (0x9, 0x2), (0xF, 0x0), (0xE, 0x1ff)],
                1,
            ),
            BodyItem::pages(&[(l1, 0x10), (0xD, 0x11), (0x0, 0x1fff)], 2),
            tsc(),
            BodyItem::LastCheckpoint,
        ])
        .with_vcpus(vcpus);
    if let GuestParts::Pv(parts) = &mut image.guest {
        parts.extv = extv;
        parts.xsave_size = xsave;
        parts.unmapped = vec![0x1ffe, 0x1ffd];
    }
    image
}

fn physmap(width: Width, empty_name: bool) -> Vec<u8> {
    let mut entries = vec![
        PhysmapEntry {
            phys_offset: 0xf000_0000,
            start_addr: 0xfc00_0000,
            size: 0x80_0000,
            name: Some(b"vga.vram".to_vec()),
        },
        PhysmapEntry {
            phys_offset: 0xf100_0000,
            start_addr: 0xfd00_0000,
            size: 0x1_0000,
            name: Some(b"cirrus_vga.rom".to_vec()),
        },
    ];
    if empty_name {
        entries.push(PhysmapEntry {
            phys_offset: 0xf200_0000,
            start_addr: 0xfe00_0000,
            size: 0x1000,
            name: None,
        });
    }
    encode_physmap(width, &entries, 0xa5)
}

/// An HVM image with every chunk upstream converts; with `new_features`
/// also chunk −21 and a physmap entry without a name, which upstream refuses.
fn hvm(width: Width, qemu: QemuSignature, new_features: bool) -> LegacyImage {
    let mut body = vec![
        BodyItem::VerifyMode,
        BodyItem::vcpu_info(&[0, 1]),
        BodyItem::pages(&[(0x0, 0x0), (0x0, 0x1), (0xF, 0x0), (0x0, 0xfeff0)], 3),
        tsc(),
    ];
    for (i, id) in ChunkId::HVM_PARAM_CHUNKS.into_iter().enumerate() {
        if id != ChunkId::HVM_X87_FIP_WIDTH || new_features {
            body.push(BodyItem::HvmParam {
                id,
                value: 0xfeff0 + i as u64,
            });
        }
    }
    body.push(BodyItem::Toolstack(physmap(width, new_features)));
    body.push(BodyItem::Toolstack(Vec::new()));
    body.push(BodyItem::pages(&[(0xD, 0x20), (0x0, 0x21)], 4));
    body.push(BodyItem::LastCheckpoint);
    let mut image = LegacyImage::hvm(width, 0x10_0000).with_body(body);
    if let GuestParts::Hvm(parts) = &mut image.guest {
        parts.qemu = Some((qemu, b"QEVM\x00\x00\x00\x03 qemu device state".repeat(8)));
    }
    image
}

fn with_xl_header(image: &[u8], config: &[u8]) -> Vec<u8> {
    let mut out = XL_MAGIC.to_vec();
    let optional_len = 4 + config.len() as u32;
    for field in [0x0102_0304u32, 1, 0, optional_len] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.extend_from_slice(&(config.len() as u32).to_le_bytes());
    out.extend_from_slice(config);
    out.extend_from_slice(image);
    out
}

/// Every image, as (file stem, bytes).
pub fn images() -> Vec<(&'static str, Vec<u8>)> {
    let mut images = convertible();
    images.extend(unsupported());
    images
}

/// Images the converter converts: PV and HVM guests of both toolstack
/// widths, every qemu record signature, bare and inside an xl file.
fn convertible() -> Vec<(&'static str, Vec<u8>)> {
    use GuestWidth as G;
    use QemuSignature as Q;
    use Width::{W32, W64};
    let config = b"{\"c_info\": {\"name\": \"legacy\"}}\0";
    vec![
        (
            "pv64-guest64",
            pv(W64, G::W64, true, Some(0x340), &[0, 1]).to_bytes(),
        ),
        (
            "pv64-guest32",
            pv(W64, G::W32, false, None, &[0]).to_bytes(),
        ),
        (
            "pv32-guest64",
            pv(W32, G::W64, true, None, &[0, 1]).to_bytes(),
        ),
        (
            "pv32-guest32",
            pv(W32, G::W32, true, Some(0x240), &[0]).to_bytes(),
        ),
        (
            "pv64-sparse-vcpus",
            pv(W64, G::W64, false, None, &[0, 3, 64, 130]).to_bytes(),
        ),
        (
            "hvm64-upstream",
            hvm(W64, Q::DeviceModelRecord0002, false).to_bytes(),
        ),
        (
            "hvm32-upstream",
            hvm(W32, Q::DeviceModelRecord0002, false).to_bytes(),
        ),
        (
            "hvm64-all-chunks",
            hvm(W64, Q::DeviceModelRecord0002, true).to_bytes(),
        ),
        (
            "hvm32-all-chunks",
            hvm(W32, Q::DeviceModelRecord0002, true).to_bytes(),
        ),
        (
            "hvm64-remus-qemu",
            hvm(W64, Q::RemusDeviceModelState, false).to_bytes(),
        ),
        (
            "hvm32-qemu-to-end",
            hvm(W32, Q::QemuDeviceModelRecord, false).to_bytes(),
        ),
        (
            "pv64-xl",
            with_xl_header(&pv(W64, G::W64, false, None, &[0]).to_bytes(), config),
        ),
        (
            "hvm64-xl",
            with_xl_header(
                &hvm(W64, Q::DeviceModelRecord0002, false).to_bytes(),
                config,
            ),
        ),
    ]
}

/// Images whose body is one chunk the converter refuses (tmem, compression).
fn unsupported() -> Vec<(&'static str, Vec<u8>)> {
    use GuestWidth as G;
    use Width::{W32, W64};
    let with_body = |mut image: LegacyImage, chunk: Vec<u8>| {
        image.body = vec![BodyItem::Raw(chunk)];
        image.to_bytes()
    };
    let marker = |marker: i32| marker.to_le_bytes().to_vec();
    // COMPRESSED_DATA: the marker, a ulong size, that many bytes.
    let mut compressed = marker(-12);
    compressed.extend_from_slice(&8u64.to_le_bytes());
    compressed.extend_from_slice(&[0x81; 8]);
    vec![
        (
            "unsupported-hvm64-tmem",
            with_body(LegacyImage::hvm(W64, 0x100), marker(-5)),
        ),
        (
            "unsupported-pv32-compression",
            with_body(LegacyImage::pv(W32, G::W32, 0x100), marker(-13)),
        ),
        (
            "unsupported-hvm32-tmem-extra",
            with_body(LegacyImage::hvm(W32, 0x100), marker(-6)),
        ),
        (
            "unsupported-pv64-compressed-data",
            with_body(LegacyImage::pv(W64, G::W64, 0x100), compressed),
        ),
    ]
}

/// The generator registered in [`crate::generators`].
pub fn generate(_root: &std::path::Path) -> Result<Vec<GeneratedFile>, String> {
    Ok(images()
        .into_iter()
        .map(|(stem, bytes)| GeneratedFile::new(format!("testdata/legacy/{stem}.img"), bytes))
        .collect())
}

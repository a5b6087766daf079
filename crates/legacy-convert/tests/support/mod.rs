//! Reading converted streams back (with migration-stream's `StreamReader`)
//! and what a legacy image should turn into.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use legacy_convert::convert::{Options, OutputFormat, Quiet, convert};
use legacy_convert::format::{BARE_XTAB, GuestType, PAGE_SIZE, PFN_MASK, PFN_TYPE_MASK, Width};
use legacy_convert::writer::{BodyItem, GuestParts, LegacyImage};
use migration_stream::types::{LibxlRecordType, RecordType};
use migration_stream::{Event, StreamReader};

/// A converted stream, decoded.
#[derive(Debug, Default)]
pub struct Decoded {
    pub xl_mandatory_flags: Option<u32>,
    pub libxl_options: Option<u32>,
    pub image_version: u32,
    pub domain: (u32, u32, u32),
    pub libxc: Vec<(RecordType, Vec<u8>)>,
    pub libxl: Vec<(LibxlRecordType, Vec<u8>)>,
    pub trailing: Vec<u8>,
}

pub fn decode(bytes: &[u8]) -> Decoded {
    let mut stream = StreamReader::new(bytes);
    let mut out = Decoded::default();
    let mut body = Vec::new();
    loop {
        match stream.next_event().expect("converted stream reads back") {
            Event::XlHeader(h) => out.xl_mandatory_flags = Some(h.mandatory_flags.bits()),
            Event::LibxlHeader(h) => out.libxl_options = Some(h.options.get()),
            Event::ImageHeader(h) => out.image_version = h.version.get(),
            Event::DomainHeader(h) => {
                out.domain = (h.domain_type.get(), h.xen_major.get(), h.xen_minor.get())
            }
            Event::LibxcRecord(info) => {
                let b = stream.read_body(&mut body).unwrap().to_vec();
                out.libxc.push((info.libxc_type(), b));
            }
            Event::LibxlRecord(info) => {
                let b = stream.read_body(&mut body).unwrap().to_vec();
                out.libxl.push((info.libxl_type(), b));
            }
            Event::Trailing { offset } => {
                out.trailing = bytes[offset as usize..].to_vec();
                break;
            }
            Event::End => break,
            other => panic!("unexpected event {other:?}"),
        }
    }
    out
}

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Every page of the PAGE_DATA records: (pfn, type, data).
pub fn pages(decoded: &Decoded) -> Vec<(u64, u8, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for (ty, body) in &decoded.libxc {
        if *ty != RecordType::PAGE_DATA {
            continue;
        }
        let count = u32_at(body, 0) as usize;
        assert!(count > 0, "PAGE_DATA with count 0");
        assert_eq!(u32_at(body, 4), 0);
        let mut data_at = 8 + 8 * count;
        for i in 0..count {
            let raw = u64_at(body, 8 + 8 * i);
            let page_type = (raw >> 60) as u8;
            assert_eq!(raw & 0x0FF0_0000_0000_0000, 0, "reserved pfn bits");
            let data = if page_type & 7 <= 4 {
                let page = body[data_at..data_at + PAGE_SIZE].to_vec();
                data_at += PAGE_SIZE;
                Some(page)
            } else {
                None
            };
            out.push((raw & 0x000F_FFFF_FFFF_FFFF, page_type, data));
        }
        assert_eq!(data_at, body.len(), "PAGE_DATA length");
    }
    out
}

/// HVM_PARAMS records as lists of (index, value).
pub fn hvm_params(decoded: &Decoded) -> Vec<Vec<(u64, u64)>> {
    decoded
        .libxc
        .iter()
        .filter(|(ty, _)| *ty == RecordType::HVM_PARAMS)
        .map(|(_, body)| {
            let count = u32_at(body, 0) as usize;
            assert_eq!(body.len(), 8 + 16 * count);
            (0..count)
                .map(|i| (u64_at(body, 8 + 16 * i), u64_at(body, 16 + 16 * i)))
                .collect()
        })
        .collect()
}

/// Whether a legacy pfn_type entry is followed by a page: every type below
/// BROKEN (0xD), as docs/legacy-format.md says.
fn entry_has_data(entry: u64) -> bool {
    (entry & PFN_TYPE_MASK) >> 28 < 0xD
}

/// What the pages of an image should become.
pub fn expected_pages(image: &LegacyImage) -> Vec<(u64, u8, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for item in &image.body {
        if let BodyItem::Pages { entries, data } = item {
            let mut at = 0;
            for &entry in entries {
                let page = entry_has_data(entry).then(|| {
                    let p = data[at..at + PAGE_SIZE].to_vec();
                    at += PAGE_SIZE;
                    p
                });
                if entry != BARE_XTAB {
                    out.push((entry & PFN_MASK, (entry >> 28) as u8, page));
                }
            }
        }
    }
    out
}

/// The chunk-derived HVM params of an image, in chunk order.
pub fn expected_chunk_params(image: &LegacyImage) -> Vec<(u64, u64)> {
    image
        .body
        .iter()
        .filter_map(|item| match item {
            BodyItem::HvmParam { id, value } => Some((id.hvm_param().unwrap(), *value)),
            _ => None,
        })
        .collect()
}

pub fn convert_bytes(image: &[u8], options: &Options) -> Result<Vec<u8>, legacy_convert::Error> {
    let mut out = Vec::new();
    convert(image, &mut out, options, &mut Quiet)?;
    Ok(out)
}

pub fn options_for(width: Width, guest: GuestType, format: OutputFormat) -> Options {
    let mut options = Options::default();
    options.format = format;
    options.width = Some(width);
    options.guest = Some(guest);
    options
}

pub fn image_options(image: &LegacyImage, format: OutputFormat) -> Options {
    options_for(image.width, image.guest_type(), format)
}

pub fn testdata() -> PathBuf {
    xenmig_test_support::testdata("legacy")
}

/// Options from a test image's file name (`pv64-…`, `hvm32-…`, `…-xl…`).
pub fn options_from_name(stem: &str, format: OutputFormat) -> Options {
    let rest = stem.strip_prefix("unsupported-").unwrap_or(stem);
    let guest = if rest.starts_with("pv") {
        GuestType::Pv
    } else {
        GuestType::Hvm
    };
    let width = if rest
        .trim_start_matches("pv")
        .trim_start_matches("hvm")
        .starts_with("32")
    {
        Width::W32
    } else {
        Width::W64
    };
    let mut options = Options::default();
    options.format = format;
    options.width = Some(width);
    options.guest = Some(guest);
    options.xl_header = stem.contains("-xl");
    options
}

pub use xenmig_test_support::legacy_images as test_images;

pub fn is_pv(image: &LegacyImage) -> bool {
    matches!(image.guest, GuestParts::Pv(_))
}

/// Runs the verifier (`stream-verify`) over a converted stream; returns the
/// violation, if any, as text.
pub fn verify(bytes: &[u8]) -> Result<stream_verify::Report, String> {
    let report = stream_verify::verify(bytes, stream_verify::Format::Auto, None);
    match &report.error {
        Some(v) => Err(v.to_string()),
        None => Ok(report),
    }
}

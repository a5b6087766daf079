//! The checked-in example streams: their structure as the StreamReader sees
//! it, the payload views over their bodies, and every truncation of them.

use std::io::Cursor;
use std::path::PathBuf;

use migration_stream::payload::{
    CpuidPolicy, EmulatorRecord, HvmContext, HvmParams, MsrPolicy, PageData, Vcpu, X86PvInfo,
    X86PvP2mFrames, X86TscInfo,
};
use migration_stream::types::{EmulatorId, HvmSaveCode, LibxlRecordType, PageType, RecordType};
use migration_stream::{Error, ErrorKind, Event, StreamFormat, StreamReader};

fn stream_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/streams")
}

fn load(name: &str) -> Vec<u8> {
    let path = stream_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all_streams() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(stream_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 9,
        "expected the generated streams, found {names:?}"
    );
    names.into_iter().map(|n| (n.clone(), load(&n))).collect()
}

/// Walks a stream, reading every body and parsing the fixed-layout ones;
/// returns one line per event.
fn walk(bytes: &[u8]) -> Result<Vec<String>, Error> {
    let mut stream = StreamReader::new(bytes);
    let mut lines = Vec::new();
    let mut body = Vec::new();
    loop {
        let line = match stream.next_event()? {
            Event::XlHeader(h) => format!(
                "xl flags={:#x} config={}",
                h.mandatory_flags.bits(),
                h.config().len()
            ),
            Event::LibxlHeader(h) => format!("libxl options={:#x}", h.options.get()),
            Event::ImageHeader(h) => format!("image v{}", h.version.get()),
            Event::DomainHeader(h) => format!(
                "domain {} xen {}.{}",
                h.domain_type(),
                h.xen_major.get(),
                h.xen_minor.get()
            ),
            Event::LibxlRecord(info) => {
                let body = stream.read_body(&mut body)?;
                let detail = match info.libxl_type() {
                    LibxlRecordType::EMULATOR_XENSTORE_DATA => {
                        let rec =
                            EmulatorRecord::parse(body).map_err(|e| Error::payload(e, &info))?;
                        let pairs = rec.xenstore_pairs().map_err(|e| Error::payload(e, &info))?;
                        format!(" {} pairs={}", rec.id, pairs.len())
                    }
                    LibxlRecordType::EMULATOR_CONTEXT => {
                        let rec =
                            EmulatorRecord::parse(body).map_err(|e| Error::payload(e, &info))?;
                        format!(" {} data={}", rec.id, rec.data.len())
                    }
                    _ => String::new(),
                };
                format!("libxl {}{detail}", info.libxl_type())
            }
            Event::LibxcRecord(info) => {
                let body = stream.read_body(&mut body)?;
                let p = |e| Error::payload(e, &info);
                let detail = match info.libxc_type() {
                    RecordType::PAGE_DATA => {
                        let pages = PageData::parse(body).map_err(p)?;
                        assert_eq!(pages.expected_len(), body.len() as u64);
                        format!(" count={} data={}", pages.count(), pages.data_page_count())
                    }
                    RecordType::HVM_PARAMS => {
                        format!(" count={}", HvmParams::parse(body).map_err(p)?.count())
                    }
                    RecordType::HVM_CONTEXT => {
                        let ctx = HvmContext::parse(body).map_err(p)?;
                        let codes: Result<Vec<_>, _> =
                            ctx.iter().map(|e| e.map(|e| e.code.0)).collect();
                        format!(" codes={:?}", codes.map_err(p)?)
                    }
                    RecordType::X86_PV_INFO => {
                        let info = X86PvInfo::parse(body).map_err(p)?;
                        format!(" width={} levels={}", info.guest_width, info.pt_levels)
                    }
                    RecordType::X86_PV_P2M_FRAMES => {
                        let f = X86PvP2mFrames::parse(body).map_err(p)?;
                        format!(
                            " {}..={} frames={}",
                            f.start_pfn,
                            f.end_pfn,
                            f.frames().len()
                        )
                    }
                    RecordType::X86_TSC_INFO => {
                        format!(" khz={}", X86TscInfo::parse(body).map_err(p)?.khz)
                    }
                    RecordType::X86_CPUID_POLICY => format!(
                        " leaves={}",
                        CpuidPolicy::parse(body).map_err(p)?.leaves().len()
                    ),
                    RecordType::X86_MSR_POLICY => format!(
                        " msrs={}",
                        MsrPolicy::parse(body).map_err(p)?.entries().len()
                    ),
                    RecordType::X86_PV_VCPU_BASIC
                    | RecordType::X86_PV_VCPU_EXTENDED
                    | RecordType::X86_PV_VCPU_XSAVE
                    | RecordType::X86_PV_VCPU_MSRS => {
                        let v = Vcpu::parse(body).map_err(p)?;
                        format!(" vcpu{} {}", v.vcpu_id, v.context.len())
                    }
                    _ => String::new(),
                };
                format!("libxc {}{detail}", info.libxc_type())
            }
            Event::Trailing { offset } => format!("trailing at {offset}"),
            Event::End => break,
            other => format!("{other:?}"),
        };
        lines.push(line);
    }
    Ok(lines)
}

#[test]
fn hvm_v3_bare_libxc_has_the_savers_record_order() {
    let lines = walk(&load("libxc-hvm-v3.bin")).unwrap();
    assert_eq!(
        lines,
        [
            "image v3",
            "domain x86 HVM xen 4.19",
            "libxc X86_CPUID_POLICY leaves=4",
            "libxc X86_MSR_POLICY msrs=2",
            "libxc STATIC_DATA_END",
            "libxc PAGE_DATA count=3 data=2",
            "libxc PAGE_DATA count=2 data=1",
            "libxc X86_TSC_INFO khz=2893300",
            "libxc HVM_CONTEXT codes=[1, 2, 5, 0]",
            "libxc HVM_PARAMS count=6",
            "libxc END",
        ]
    );
}

#[test]
fn pv_v2_has_pv_records_and_no_static_data() {
    let lines = walk(&load("libxc-pv-v2.bin")).unwrap();
    assert_eq!(
        lines,
        [
            "image v2",
            "domain x86 PV xen 4.13",
            "libxc X86_PV_INFO width=8 levels=4",
            "libxc X86_PV_P2M_FRAMES 0..=1023 frames=2",
            "libxc PAGE_DATA count=6 data=5",
            "libxc X86_TSC_INFO khz=2893300",
            "libxc SHARED_INFO",
            "libxc X86_PV_VCPU_BASIC vcpu0 5168",
            "libxc X86_PV_VCPU_EXTENDED vcpu0 128",
            "libxc X86_PV_VCPU_XSAVE vcpu0 848",
            "libxc X86_PV_VCPU_MSRS vcpu0 32",
            "libxc END",
        ]
    );
}

#[test]
fn xl_file_nests_xl_libxl_libxc() {
    let lines = walk(&load("xl-hvm-v3.bin")).unwrap();
    assert!(lines[0].starts_with("xl flags=0x3 config="), "{lines:?}");
    assert_eq!(lines[1], "libxl options=0x0");
    assert_eq!(lines[2], "libxl LIBXC_CONTEXT");
    assert_eq!(lines[3], "image v3");
    let tail: Vec<_> = lines.iter().rev().take(4).rev().cloned().collect();
    assert_eq!(
        tail,
        [
            "libxc END",
            "libxl EMULATOR_XENSTORE_DATA Qemu Upstream pairs=3",
            "libxl EMULATOR_CONTEXT Qemu Upstream data=304",
            "libxl END",
        ]
    );
}

#[test]
fn checkpointed_stream_alternates_layers_without_new_headers() {
    let lines = walk(&load("libxl-hvm-checkpointed.bin")).unwrap();
    let layers: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("CHECKPOINT") || l.contains("END") || l.starts_with("image"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        layers,
        [
            "image v3",
            "libxc STATIC_DATA_END",
            "libxc CHECKPOINT",
            "libxl CHECKPOINT_END",
            "libxc CHECKPOINT",
            "libxl CHECKPOINT_END",
            "libxc END",
            "libxl END",
        ]
    );
    // After each CHECKPOINT_END the next record is read as libxc memory, not libxl.
    let after: Vec<&String> = lines
        .iter()
        .zip(lines.iter().skip(1))
        .filter(|(a, _)| a.as_str() == "libxl CHECKPOINT_END")
        .map(|(_, b)| b)
        .collect();
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|l| l.starts_with("libxc PAGE_DATA")),
        "{after:?}"
    );
}

#[test]
fn legacy_flagged_stream_reports_converter_values() {
    let lines = walk(&load("libxl-hvm-v3-legacy-flag.bin")).unwrap();
    assert_eq!(lines[0], "libxl options=0x2");
    assert!(lines.contains(&"domain x86 HVM xen 0.1".to_owned()));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&EmulatorId::UNKNOWN.to_string()))
    );
}

#[test]
fn every_example_stream_reads_to_the_end_and_detects_its_format() {
    for (name, bytes) in all_streams() {
        let lines = walk(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!lines.iter().any(|l| l.starts_with("trailing")), "{name}");
        let expected = match name.split('-').next() {
            Some("libxc") => StreamFormat::Libxc,
            Some("libxl") => StreamFormat::Libxl,
            Some("xl") => StreamFormat::Xl,
            _ => panic!("unexpected file {name}"),
        };
        assert_eq!(StreamFormat::detect(&bytes), Some(expected), "{name}");
    }
}

#[test]
fn pv_page_types_decode() {
    let bytes = load("libxc-pv-v3.bin");
    let mut stream = StreamReader::new(&bytes[..]);
    let mut body = Vec::new();
    let mut types = Vec::new();
    loop {
        match stream.next_event().unwrap() {
            Event::LibxcRecord(info) if info.libxc_type() == RecordType::PAGE_DATA => {
                let body = stream.read_body(&mut body).unwrap();
                let pages = PageData::parse(body).unwrap();
                for (entry, page) in pages.pages() {
                    types.push((entry.pfn, entry.page_type, page.map(<[u8]>::len)));
                }
            }
            Event::LibxcRecord(info) if info.libxc_type() == RecordType::HVM_CONTEXT => {
                let _ = HvmSaveCode::END;
            }
            Event::End => break,
            _ => {}
        }
    }
    assert_eq!(
        types,
        [
            (0x10, PageType::L4TAB_PINNED, Some(4096)),
            (0x11, PageType::L3TAB, Some(4096)),
            (0x12, PageType::L2TAB, Some(4096)),
            (0x13, PageType::L1TAB, Some(4096)),
            (0x20, PageType::NOTAB, Some(4096)),
            (0x3ff, PageType::XTAB, None),
        ]
    );
}

/// Where the input ended according to a truncation error.
fn end_of_input(err: &Error) -> u64 {
    match err.kind() {
        ErrorKind::Truncated { found, .. } => err.offset() + found,
        ErrorKind::UnexpectedEnd { .. } => err.offset(),
        other => panic!("not a truncation error: {other:?} ({err})"),
    }
}

/// Reads every body through `StreamReader`, or skips every body (seeking).
fn run_to_end(bytes: &[u8], skip_with_seek: bool) -> Result<(), Error> {
    let mut stream = if skip_with_seek {
        StreamReader::seekable(Cursor::new(bytes))
    } else {
        StreamReader::new(Cursor::new(bytes))
    };
    let mut body = Vec::new();
    loop {
        match stream.next_event()? {
            Event::LibxcRecord(_) | Event::LibxlRecord(_) if skip_with_seek => {
                stream.skip_body()?
            }
            Event::LibxcRecord(_) | Event::LibxlRecord(_) => {
                stream.read_body(&mut body)?;
            }
            Event::End => return Ok(()),
            _ => {}
        }
    }
}

#[test]
fn every_truncation_point_reports_where_the_input_ends() {
    for (name, bytes) in all_streams() {
        for len in 0..bytes.len() {
            for seek in [false, true] {
                let err = run_to_end(&bytes[..len], seek).expect_err(&format!(
                    "{name} cut at {len} (seek {seek}) read without error"
                ));
                assert_eq!(
                    end_of_input(&err),
                    len as u64,
                    "{name} cut at {len} (seek {seek}): {err}"
                );
                let message = err.to_string();
                assert!(message.contains("byte offset"), "{message}");
            }
        }
    }
}

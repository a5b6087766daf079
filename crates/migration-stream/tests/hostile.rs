//! Hostile inputs against `StreamReader`: absurd lengths, odd nesting, streams
//! that never end. Each must end in an error or a clean event sequence with
//! small buffers: no panic, no hang, no allocation sized by the input.

use std::io::{self, Cursor, Read};

use migration_stream::types::{
    DomainType, LibxlRecordType, REC_LENGTH_MAX, RecordType, XL_MAGIC, XL_OPTIONAL_DATA_MAX,
    XlMandatoryFlags,
};
use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};
use migration_stream::{Error, ErrorKind, Event, StreamReader, Writer, XlHeader};

fn libxc_headers(w: &mut Writer<Vec<u8>>) {
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
}

fn record_header(raw_type: u32, length: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&raw_type.to_le_bytes());
    out[4..].copy_from_slice(&length.to_le_bytes());
    out
}

#[derive(Clone, Copy, Debug)]
enum Body {
    Read,
    Chunks,
    Skip,
}

/// Walks the stream, handling bodies as `body` says, for at most `limit`
/// events; returns the events and how the walk ended. The body buffer's
/// capacity is checked against `max_capacity` after every read.
fn walk<R: Read>(
    mut stream: StreamReader<R>,
    body: Body,
    limit: usize,
    max_capacity: usize,
) -> (Vec<Event>, Result<(), Error>) {
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..limit {
        let event = match stream.next_event() {
            Ok(event) => event,
            Err(err) => return (events, Err(err)),
        };
        let is_record = matches!(event, Event::LibxcRecord(_) | Event::LibxlRecord(_));
        let end = event == Event::End;
        events.push(event);
        if end {
            return (events, Ok(()));
        }
        if !is_record {
            continue;
        }
        let result = match body {
            Body::Read => stream.read_body(&mut buf).map(drop),
            Body::Chunks => loop {
                match stream.read_body_chunk(&mut chunk) {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(err) => break Err(err),
                }
            },
            Body::Skip => stream.skip_body(),
        };
        assert!(
            buf.capacity() <= max_capacity,
            "body buffer grew to {} bytes",
            buf.capacity()
        );
        if let Err(err) = result {
            return (events, Err(err));
        }
    }
    panic!("no end after {limit} events");
}

/// Every record type of both layers with every length near the top of the
/// `u32` range and around the 128 MiB cap, each followed by a few real bytes:
/// always an error naming a byte offset within the input, with the body
/// buffer staying small, whether bodies are read, read in pieces or skipped
/// (by reading or by seeking).
#[test]
fn lengths_near_u32_max_are_errors_not_allocations() {
    let lengths = [
        u32::MAX,
        u32::MAX - 1,
        u32::MAX - 7,
        u32::MAX - 8,
        REC_LENGTH_MAX + 1,
        REC_LENGTH_MAX,
        REC_LENGTH_MAX - 1,
    ];
    let libxc_types = (0..=0x12).chain([0x13, 0x8000_0000, u32::MAX]);
    let libxl_types = (0..=5).chain([6, 0x8000_0000, u32::MAX]);
    let mut cases = Vec::new();
    for raw_type in libxc_types {
        for &length in &lengths {
            let mut w = Writer::new(Vec::new());
            libxc_headers(&mut w);
            w.write_raw(&record_header(raw_type, length)).unwrap();
            w.write_raw(&[0x5a; 100]).unwrap();
            cases.push((
                format!("libxc {raw_type:#x} len {length:#x}"),
                w.into_inner(),
            ));
        }
    }
    for raw_type in libxl_types {
        for &length in &lengths {
            let mut w = Writer::new(Vec::new());
            w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
            w.write_raw(&record_header(raw_type, length)).unwrap();
            w.write_raw(&[0x5a; 100]).unwrap();
            cases.push((
                format!("libxl {raw_type:#x} len {length:#x}"),
                w.into_inner(),
            ));
        }
    }
    for (name, bytes) in &cases {
        for body in [Body::Read, Body::Chunks, Body::Skip] {
            for seekable in [false, true] {
                let stream = if seekable {
                    StreamReader::seekable(Cursor::new(&bytes[..]))
                } else {
                    StreamReader::new(Cursor::new(&bytes[..]))
                };
                let (_, result) = walk(stream, body, 100, 64 * 1024);
                let err = result.expect_err(name);
                assert!(
                    err.offset() <= bytes.len() as u64,
                    "{name} {body:?} seekable {seekable}: offset {} past the input: {err}",
                    err.offset()
                );
                assert!(err.to_string().contains("byte offset"), "{err}");
                assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::Truncated { .. } | ErrorKind::RecordTooLong { .. }
                    ),
                    "{name} {body:?} seekable {seekable}: {err}"
                );
            }
        }
    }
}

/// A libxl record longer than the cap is refused by `read_body` without
/// consuming it; the record can still be skipped and the stream goes on.
#[test]
fn an_oversized_libxl_body_can_be_skipped_after_read_body_refuses_it() {
    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    w.write_record(LibxlRecordType::EMULATOR_CONTEXT.0, &[7; 5000])
        .unwrap();
    w.write_record(LibxlRecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let mut stream = StreamReader::new(&bytes[..]);
    stream.reader_mut().set_body_cap(4096);
    assert!(matches!(stream.next_event(), Ok(Event::LibxlHeader(_))));
    assert!(matches!(stream.next_event(), Ok(Event::LibxlRecord(_))));
    let mut buf = Vec::new();
    let err = stream.read_body(&mut buf).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::RecordTooLong {
                found: 5000,
                max: 4096
            }
        ),
        "{err}"
    );
    assert_eq!(err.offset(), 16);
    stream.skip_body().unwrap();
    assert!(
        matches!(stream.next_event(), Ok(Event::LibxlRecord(info)) if info.libxl_type() == LibxlRecordType::END)
    );
    assert_eq!(stream.next_event().unwrap(), Event::End);
}

/// A LIBXC_CONTEXT inside the libxc part is just libxc type 1 (PAGE_DATA);
/// a LIBXC_CONTEXT right after another one must be followed by an image
/// header, so it is reported as a bad marker where the image header belongs.
/// Several complete libxc parts in a row are framed correctly (whether that
/// is allowed is the verifier's question).
#[test]
fn nested_and_repeated_libxc_contexts() {
    // LIBXC_CONTEXT, LIBXC_CONTEXT: the second is where an image header should be.
    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
        .unwrap();
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
        .unwrap();
    w.write_raw(&[0; 16]).unwrap();
    let bytes = w.into_inner();
    let (_, result) = walk(StreamReader::new(&bytes[..]), Body::Read, 100, 4096);
    let err = result.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::BadImageMarker { .. }),
        "{err}"
    );
    assert_eq!(err.offset(), 24);

    // Inside the libxc part, type 1 is PAGE_DATA, not a nested context.
    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
        .unwrap();
    libxc_headers(&mut w);
    w.write_record(RecordType::PAGE_DATA.0, &[]).unwrap();
    w.write_record(RecordType::END.0, &[]).unwrap();
    w.write_record(LibxlRecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let (events, result) = walk(StreamReader::new(&bytes[..]), Body::Read, 100, 4096);
    result.unwrap();
    let libxc: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::LibxcRecord(info) => Some(info.libxc_type()),
            _ => None,
        })
        .collect();
    assert_eq!(libxc, [RecordType::PAGE_DATA, RecordType::END]);

    // Three complete libxc parts, one after another.
    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    for _ in 0..3 {
        w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
            .unwrap();
        libxc_headers(&mut w);
        w.write_record(RecordType::END.0, &[]).unwrap();
    }
    w.write_record(LibxlRecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let (events, result) = walk(StreamReader::new(&bytes[..]), Body::Skip, 100, 0);
    result.unwrap();
    let image_headers = events
        .iter()
        .filter(|e| matches!(e, Event::ImageHeader(_)))
        .count();
    assert_eq!(image_headers, 3);
}

/// CHECKPOINT_END without a preceding CHECKPOINT does not hand control to
/// libxc: the records after it are still read as libxl records.
#[test]
fn checkpoint_end_without_checkpoint_stays_in_libxl() {
    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    w.write_record(LibxlRecordType::CHECKPOINT_END.0, &[])
        .unwrap();
    w.write_record(LibxlRecordType::CHECKPOINT_END.0, &[])
        .unwrap();
    w.write_record(LibxlRecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let mut stream = StreamReader::new(&bytes[..]);
    let mut libxl = Vec::new();
    loop {
        match stream.next_event().unwrap() {
            Event::LibxlRecord(info) => {
                assert!(!stream.in_checkpoint());
                libxl.push(info.libxl_type());
            }
            Event::LibxcRecord(info) => panic!("libxc record {info:?}"),
            Event::End => break,
            _ => {}
        }
    }
    assert_eq!(
        libxl,
        [
            LibxlRecordType::CHECKPOINT_END,
            LibxlRecordType::CHECKPOINT_END,
            LibxlRecordType::END
        ]
    );
}

/// An xl header declaring `optional_data_len = u32::MAX` (in either byte
/// order) is refused at the length field, before anything is allocated.
#[test]
fn xl_optional_data_len_u32_max_is_refused() {
    for big_endian in [false, true] {
        let mut bytes = XL_MAGIC.to_vec();
        let flags = XlMandatoryFlags::STREAM_V2.bits();
        for v in [0x0102_0304, flags, 0, u32::MAX] {
            bytes.extend_from_slice(&if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        bytes.extend_from_slice(&[0; 64]);
        let err = StreamReader::new(&bytes[..]).next_event().unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::XlOptionalDataTooLong { found: u32::MAX, max } if *max == XL_OPTIONAL_DATA_MAX
            ),
            "{err}"
        );
        assert_eq!(err.offset(), 44);
    }
    // Within the bound but truncated: an error at the data, sized by what arrived.
    let header = XlHeader::new(XlMandatoryFlags::STREAM_V2, b"cfg");
    let mut bytes = header.to_bytes();
    bytes[44..48].copy_from_slice(&XL_OPTIONAL_DATA_MAX.to_le_bytes());
    let err = StreamReader::new(&bytes[..]).next_event().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Truncated {
                what: "xl optional data",
                found: 7,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.offset(), 48);
}

/// An endless input: a libxl stream whose libxc part repeats a record
/// forever. The reader keeps making progress in constant memory; it never
/// stalls on one record or buffers the stream.
struct Endless {
    prefix: Vec<u8>,
    record: Vec<u8>,
    at: usize,
}

impl Read for Endless {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            let source = if self.at < self.prefix.len() {
                &self.prefix[self.at..]
            } else {
                let within = (self.at - self.prefix.len()) % self.record.len();
                &self.record[within..]
            };
            let take = source.len().min(out.len() - n);
            out[n..n + take].copy_from_slice(&source[..take]);
            n += take;
            self.at += take;
        }
        Ok(n)
    }
}

#[test]
fn a_libxc_part_that_never_ends_streams_in_constant_memory() {
    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
        .unwrap();
    libxc_headers(&mut w);
    let prefix = w.into_inner();
    let mut w = Writer::new(Vec::new());
    w.write_record(RecordType::PAGE_DATA.0, &[0xa5; 4100])
        .unwrap();
    let record = w.into_inner();
    let input = Endless {
        prefix: prefix.clone(),
        record: record.clone(),
        at: 0,
    };
    let records = 20_000u64;
    let mut stream = StreamReader::new(input);
    let mut buf = Vec::new();
    let mut seen = 0u64;
    while seen < records {
        match stream.next_event().unwrap() {
            Event::LibxcRecord(info) => {
                assert_eq!(
                    info.offset,
                    prefix.len() as u64 + seen * record.len() as u64
                );
                if seen.is_multiple_of(2) {
                    stream.read_body(&mut buf).unwrap();
                }
                seen += 1;
            }
            Event::LibxlRecord(_) | Event::LibxlHeader(_) => {}
            Event::ImageHeader(_) | Event::DomainHeader(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(buf.capacity() < 16 * 1024, "capacity {}", buf.capacity());

    // The same stream cut off anywhere ends in an error naming the end, not a hang.
    let mut bytes = prefix.clone();
    for _ in 0..3 {
        bytes.extend_from_slice(&record);
    }
    let (_, result) = walk(StreamReader::new(&bytes[..]), Body::Skip, 100, 0);
    let err = result.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedEnd { .. }),
        "{err}"
    );
    assert_eq!(err.offset(), bytes.len() as u64);
}

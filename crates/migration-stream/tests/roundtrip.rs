//! Writer → Reader round trips over arbitrary record sequences.

use std::io::Cursor;

use migration_stream::types::DomainType;
use migration_stream::types::{LibxlRecordType, RecordType};
use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};
use migration_stream::{Event, Reader, StreamReader, Writer};
use proptest::prelude::*;

/// How the test reads one body back.
#[derive(Clone, Copy, Debug)]
enum Read {
    Whole,
    Chunks(usize),
    Skip,
}

fn record() -> impl Strategy<Value = (u32, Vec<u8>, Read)> {
    let raw_type = prop_oneof![0u32..0x20, any::<u32>()];
    let body = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => proptest::collection::vec(any::<u8>(), 8000..9000),
    ];
    let how = prop_oneof![
        Just(Read::Whole),
        (1usize..20000).prop_map(Read::Chunks),
        Just(Read::Skip),
    ];
    (raw_type, body, how)
}

fn write_all(records: &[(u32, Vec<u8>, Read)], streamed: bool) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new());
    for (raw_type, body, _) in records {
        if streamed {
            writer.begin_record(*raw_type, body.len() as u32).unwrap();
            let mut src = &body[..];
            let copied = writer.copy_body_from(&mut src, body.len() as u64).unwrap();
            assert_eq!(copied, body.len() as u64);
            writer.end_record().unwrap();
        } else {
            writer.write_record(*raw_type, body).unwrap();
        }
    }
    writer.into_inner()
}

fn read_back<R: std::io::Read>(
    mut reader: Reader<R>,
    records: &[(u32, Vec<u8>, Read)],
) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    let mut expected_offset = 0u64;
    for (index, (raw_type, body, how)) in records.iter().enumerate() {
        let info = reader.next_record().unwrap().expect("a record");
        prop_assert_eq!(info.raw_type, *raw_type);
        prop_assert_eq!(info.length as usize, body.len());
        prop_assert_eq!(info.index, index as u64);
        prop_assert_eq!(info.offset, expected_offset);
        match how {
            Read::Whole => prop_assert_eq!(reader.read_body(&mut buf).unwrap(), &body[..]),
            Read::Chunks(size) => {
                let mut got = Vec::new();
                let mut chunk = vec![0; *size];
                loop {
                    let n = reader.read_body_chunk(&mut chunk).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&chunk[..n]);
                }
                prop_assert_eq!(&got, body);
            }
            Read::Skip => reader.skip_body().unwrap(),
        }
        expected_offset = info.end_offset();
        prop_assert_eq!(reader.offset(), expected_offset);
        prop_assert_eq!(expected_offset % 8, 0);
    }
    prop_assert!(reader.next_record().unwrap().is_none());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn records_read_back_identically(records in proptest::collection::vec(record(), 0..12), streamed: bool) {
        let bytes = write_all(&records, streamed);
        read_back(Reader::new(&bytes[..]), &records)?;
        read_back(Reader::seekable(Cursor::new(&bytes)), &records)?;
    }

    /// Arbitrary libxc records (other than the ones that change layer) nested
    /// in a libxl stream come back as the same events.
    #[test]
    fn nested_libxc_records_come_back_as_events(
        records in proptest::collection::vec(
            (any::<u32>().prop_filter("layer changes", |t| *t != RecordType::END.0 && *t != RecordType::CHECKPOINT.0),
             proptest::collection::vec(any::<u8>(), 0..40)),
            0..10),
        version in 2u32..=3,
    ) {
        let mut w = Writer::new(Vec::new());
        w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
        w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[]).unwrap();
        w.write_image_header(&ImageHeader::new(version)).unwrap();
        w.write_domain_header(&DomainHeader::new(DomainType::X86_PV, 4, 19)).unwrap();
        for (raw_type, body) in &records {
            w.write_record(*raw_type, body).unwrap();
        }
        w.write_record(RecordType::END.0, &[]).unwrap();
        w.write_record(LibxlRecordType::END.0, &[]).unwrap();
        let bytes = w.into_inner();

        let mut stream = StreamReader::new(&bytes[..]);
        let mut buf = Vec::new();
        prop_assert!(matches!(stream.next_event().unwrap(), Event::LibxlHeader(_)));
        prop_assert!(matches!(stream.next_event().unwrap(), Event::LibxlRecord(i) if i.libxl_type() == LibxlRecordType::LIBXC_CONTEXT));
        prop_assert!(matches!(stream.next_event().unwrap(), Event::ImageHeader(h) if h.version.get() == version));
        prop_assert!(matches!(stream.next_event().unwrap(), Event::DomainHeader(_)));
        for (raw_type, body) in &records {
            match stream.next_event().unwrap() {
                Event::LibxcRecord(info) => {
                    prop_assert_eq!(info.raw_type, *raw_type);
                    prop_assert_eq!(stream.read_body(&mut buf).unwrap(), &body[..]);
                }
                other => prop_assert!(false, "expected a libxc record, got {:?}", other),
            }
        }
        prop_assert!(matches!(stream.next_event().unwrap(), Event::LibxcRecord(i) if i.libxc_type() == RecordType::END));
        prop_assert!(matches!(stream.next_event().unwrap(), Event::LibxlRecord(i) if i.libxl_type() == LibxlRecordType::END));
        prop_assert_eq!(stream.next_event().unwrap(), Event::End);
        prop_assert_eq!(stream.next_event().unwrap(), Event::End);
    }
}

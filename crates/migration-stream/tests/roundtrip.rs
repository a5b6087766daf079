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

fn byte_order() -> impl Strategy<Value = migration_stream::ByteOrder> {
    prop_oneof![
        Just(migration_stream::ByteOrder::Little),
        Just(migration_stream::ByteOrder::Big)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every header written by the Writer reads back identically, in sequence.
    #[test]
    fn headers_read_back_identically(
        order in byte_order(),
        known_flags in 0u32..4,
        optional_flags: u32,
        config in proptest::collection::vec(any::<u8>(), 0..100),
        libxl_options in 0u32..4,
        version in 2u32..=3,
        domain_type: u32,
        xen: (u32, u32),
    ) {
        use migration_stream::types::XlMandatoryFlags;
        use migration_stream::XlHeader;
        let libxl_options = libxl_options & !1; // big-endian is refused, tested elsewhere
        let mut xl = XlHeader::new(XlMandatoryFlags::from_bits_retain(known_flags), &config)
            .with_byte_order(order);
        xl.optional_flags = optional_flags;
        let libxl = LibxlHeader::new(libxl_options);
        let image = ImageHeader::new(version);
        let domain = DomainHeader::new(DomainType(domain_type), xen.0, xen.1);

        let mut w = Writer::new(Vec::new());
        w.write_xl_header(&xl).unwrap();
        w.write_libxl_header(&libxl).unwrap();
        w.write_image_header(&image).unwrap();
        w.write_domain_header(&domain).unwrap();
        let bytes = w.into_inner();
        prop_assert_eq!(bytes.len() as u64, xl.encoded_len() + 16 + 24 + 16);

        let mut r = Reader::new(&bytes[..]);
        let read = r.read_xl_header().unwrap();
        prop_assert_eq!(read.config(), &config[..]);
        prop_assert_eq!(&read, &xl);
        prop_assert_eq!(r.read_libxl_header().unwrap(), libxl);
        prop_assert_eq!(r.read_image_header().unwrap(), image);
        prop_assert_eq!(r.read_domain_header().unwrap(), domain);
        prop_assert!(r.at_eof().unwrap());
    }
}

#[test]
fn errors_can_cross_threads() {
    fn check<T: Send + Sync + 'static + std::error::Error>() {}
    check::<migration_stream::Error>();
    check::<migration_stream::PayloadError>();
}

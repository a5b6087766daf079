//! Reader, StreamReader and Writer behaviour on hand-made inputs.

use std::io::{self, Cursor, Read};

use migration_stream::types::{
    DomainType, LibxlRecordType, REC_LENGTH_MAX, RecordType, XL_OPTIONAL_DATA_MAX, XlMandatoryFlags,
};
use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};
use migration_stream::{
    ByteOrder, ErrorKind, Event, Layer, Reader, StreamFormat, StreamReader, Writer, XlHeader,
};
use zerocopy::IntoBytes;

fn libxc_headers(w: &mut Writer<Vec<u8>>) {
    w.write_image_header(&ImageHeader::new(3)).unwrap();
    w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))
        .unwrap();
}

fn events(bytes: &[u8]) -> Result<Vec<Event>, migration_stream::Error> {
    let mut stream = StreamReader::new(bytes);
    let mut out = Vec::new();
    loop {
        let event = stream.next_event()?;
        let end = event == Event::End;
        out.push(event);
        if end {
            return Ok(out);
        }
    }
}

fn xl_fixed(order: ByteOrder, flags: u32, optional_len: u32) -> Vec<u8> {
    let enc = |v: u32| match order {
        ByteOrder::Little => v.to_le_bytes(),
        ByteOrder::Big => v.to_be_bytes(),
    };
    let mut out = migration_stream::types::XL_MAGIC.to_vec();
    for v in [0x0102_0304, flags, 0, optional_len] {
        out.extend_from_slice(&enc(v));
    }
    out
}

#[test]
fn xl_header_is_read_in_either_byte_order() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let header =
            XlHeader::new(XlMandatoryFlags::STREAM_V2, b"name = \"g\"\n").with_byte_order(order);
        let bytes = header.to_bytes();
        let read = Reader::new(&bytes[..]).read_xl_header().unwrap();
        assert_eq!(read, header);
        assert_eq!(read.config(), b"name = \"g\"\n");
        assert_eq!(read.config_len(), Some(11));
    }
    // The big-endian encoding really differs from the little-endian one.
    let be = xl_fixed(ByteOrder::Big, 2, 0);
    assert_eq!(&be[32..36], &[1, 2, 3, 4]);
    let read = Reader::new(&be[..]).read_xl_header().unwrap();
    assert_eq!(
        (read.byte_order, read.is_stream_v2()),
        (ByteOrder::Big, true)
    );
}

#[test]
fn xl_header_problems_are_reported_with_offsets() {
    let mut bad_order = xl_fixed(ByteOrder::Little, 2, 0);
    bad_order[32..36].copy_from_slice(&[1, 2, 4, 3]);
    let err = Reader::new(&bad_order[..]).read_xl_header().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::BadXlByteOrder {
                found: [1, 2, 4, 3]
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("file has wrong byte order"),
        "{err}"
    );

    let mut bad_magic = xl_fixed(ByteOrder::Little, 2, 0);
    bad_magic[0] = b'y';
    let err = Reader::new(&bad_magic[..]).read_xl_header().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BadXlMagic { .. }), "{err}");

    // A huge optional data length is refused before anything is allocated.
    let huge = xl_fixed(ByteOrder::Little, 2, XL_OPTIONAL_DATA_MAX + 1);
    let err = Reader::new(&huge[..]).read_xl_header().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::XlOptionalDataTooLong { .. }),
        "{err}"
    );
    assert_eq!(err.offset(), 44);

    // config_len larger than the optional data.
    let mut short_config = xl_fixed(ByteOrder::Little, 2, 6);
    short_config.extend_from_slice(&[5, 0, 0, 0, b'a', b'b']);
    let err = Reader::new(&short_config[..]).read_xl_header().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::BadXlConfigLen { found: 5, max: 2 }),
        "{err}"
    );
    assert_eq!(err.offset(), 48);

    // Optional data too short to hold config_len at all.
    let mut tiny = xl_fixed(ByteOrder::Little, 2, 2);
    tiny.extend_from_slice(&[0, 0]);
    let err = Reader::new(&tiny[..]).read_xl_header().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::BadXlConfigLen { .. }),
        "{err}"
    );

    // Unknown mandatory flags stop the stream reader.
    let unknown = xl_fixed(ByteOrder::Little, 2 | 8, 0);
    let err = events(&unknown).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnknownXlMandatoryFlags { unknown: 8 }
        ),
        "{err}"
    );
    assert_eq!(err.offset(), 36);
}

#[test]
fn xl_without_stream_v2_takes_libxc_or_calls_it_legacy() {
    let mut libxc = xl_fixed(ByteOrder::Little, 0, 0);
    let mut w = Writer::new(Vec::new());
    libxc_headers(&mut w);
    w.write_record(RecordType::END.0, &[]).unwrap();
    libxc.extend_from_slice(&w.into_inner());
    let got = events(&libxc).unwrap();
    assert!(matches!(got[1], Event::ImageHeader(_)), "{got:?}");
    assert_eq!(got.len(), 5);

    let mut legacy = xl_fixed(ByteOrder::Little, 0, 0);
    legacy.extend_from_slice(&0x1_0000u64.to_le_bytes()); // a legacy p2m_size
    let err = events(&legacy).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::LegacyStream), "{err}");
    assert_eq!(err.offset(), 48);
    assert!(err.to_string().contains("convert-legacy-stream"));
}

#[test]
fn big_endian_streams_are_refused_clearly() {
    let mut image = ImageHeader::new(3);
    image.options.set(1);
    let err = Reader::new(image.as_bytes())
        .read_image_header()
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::BigEndian {
            layer: "libxc image",
            options: 1
        }
    ));
    assert!(
        err.to_string()
            .starts_with("unable to handle big endian streams"),
        "{err}"
    );

    let libxl = LibxlHeader::new(1);
    let err = Reader::new(libxl.as_bytes())
        .read_libxl_header()
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::BigEndian { layer: "libxl", .. }),
        "{err}"
    );
}

#[test]
fn header_identity_and_version_are_checked() {
    for (version, ok) in [(1, false), (2, true), (3, true), (4, false)] {
        let header = ImageHeader::new(version);
        let result = Reader::new(header.as_bytes()).read_image_header();
        assert_eq!(result.is_ok(), ok, "version {version}");
    }
    let mut header = ImageHeader::new(3);
    header.id.set(0x5845_4E47);
    let err = Reader::new(header.as_bytes())
        .read_image_header()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad image id: expected 0x58454e46 (\"XENF\"), found 0x58454e47 at byte offset 0"
    );
    let mut header = ImageHeader::new(3);
    header.marker.set(0xffff_ffff_0000_0000);
    let err = Reader::new(header.as_bytes())
        .read_image_header()
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::BadImageMarker {
            found: 0xffff_ffff_0000_0000
        }
    ));
    let mut libxl = LibxlHeader::new(0);
    libxl.version.set(3);
    let err = Reader::new(libxl.as_bytes())
        .read_libxl_header()
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::UnsupportedLibxlVersion { found: 3 }
    ));
    // Reserved fields are not the reader's business: they come back as they are.
    let mut header = ImageHeader::new(3);
    header.reserved2.set(9);
    assert_eq!(
        Reader::new(header.as_bytes())
            .read_image_header()
            .unwrap()
            .reserved2
            .get(),
        9
    );
}

#[test]
fn body_cap_refuses_without_consuming() {
    let mut w = Writer::new(Vec::new());
    w.write_record(RecordType::HVM_CONTEXT.0, &[7; 17]).unwrap();
    w.write_record(RecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let mut reader = Reader::new(&bytes[..]);
    reader.set_body_cap(16);
    let info = reader.next_record().unwrap().unwrap();
    let mut buf = Vec::new();
    let err = reader.read_body(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::RecordTooLong { found: 17, max: 16 }),
        "{err}"
    );
    assert_eq!(err.record().map(|r| r.index), Some(0));
    // Still readable in pieces.
    let mut piece = [0u8; 10];
    assert_eq!(reader.read_body_chunk(&mut piece).unwrap(), 10);
    assert_eq!(reader.read_body_chunk(&mut piece).unwrap(), 7);
    assert_eq!(reader.read_body_chunk(&mut piece).unwrap(), 0);
    assert_eq!(reader.offset(), info.end_offset());
    assert_eq!(
        reader.next_record().unwrap().unwrap().libxc_type(),
        RecordType::END
    );
    // The cap cannot be raised above the spec's limit.
    reader.set_body_cap(u32::MAX);
    assert_eq!(reader.body_cap(), REC_LENGTH_MAX);
}

#[test]
fn oversized_libxc_records_are_refused_at_the_header() {
    let mut w = Writer::new(Vec::new());
    libxc_headers(&mut w);
    w.write_raw(&1u32.to_le_bytes()).unwrap();
    w.write_raw(&(REC_LENGTH_MAX + 1).to_le_bytes()).unwrap();
    let err = events(&w.into_inner()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::RecordTooLong { .. }),
        "{err}"
    );
    assert_eq!(err.offset(), 40);
    assert_eq!(
        err.to_string(),
        format!(
            "record body too long: expected at most {REC_LENGTH_MAX} bytes, found {} at byte offset 40 in libxc record #0 (PAGE_DATA) at byte offset 40",
            REC_LENGTH_MAX + 1
        )
    );
}

#[test]
fn a_truncated_large_body_does_not_allocate_its_declared_length() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&(100u32 << 20).to_le_bytes());
    bytes.extend_from_slice(&[1; 1000]);
    let mut reader = Reader::new(&bytes[..]);
    reader.next_record().unwrap();
    let mut buf = Vec::new();
    let err = reader.read_body(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Truncated { what: "record body", expected, found: 1000 } if *expected == 100 << 20),
        "{err}"
    );
    assert_eq!(err.offset(), 8);
    assert!(buf.capacity() < 64 * 1024, "capacity {}", buf.capacity());
}

#[test]
fn non_zero_padding_is_reported_with_the_record() {
    let mut w = Writer::new(Vec::new());
    w.write_record(RecordType::END.0, &[]).unwrap();
    w.write_record(RecordType::HVM_CONTEXT.0, &[1, 2, 3])
        .unwrap();
    let mut bytes = w.into_inner();
    bytes[8 + 8 + 4] = 0xaa;
    let mut reader = Reader::new(&bytes[..]);
    reader.next_record().unwrap();
    reader.next_record().unwrap();
    let err = reader.skip_body().unwrap_err();
    assert_eq!(
        err.to_string(),
        "padding containing non-zero bytes: expected 5 zero bytes, found [00, aa, 00, 00, 00] at byte offset 19 in libxc record #1 (HVM_CONTEXT) at byte offset 8"
    );
    // The record was consumed: the reader is positioned after it.
    assert_eq!(reader.offset(), 24);
    assert!(reader.next_record().unwrap().is_none());
}

#[test]
fn bytes_after_the_outermost_end_are_an_event() {
    let mut w = Writer::new(Vec::new());
    libxc_headers(&mut w);
    w.write_record(RecordType::END.0, &[]).unwrap();
    w.write_raw(b"DeviceModelRecord0002").unwrap();
    let bytes = w.into_inner();
    let got = events(&bytes).unwrap();
    assert_eq!(got[got.len() - 2], Event::Trailing { offset: 48 });
    assert_eq!(got[got.len() - 1], Event::End);

    // The trailing bytes themselves can be read through the framing reader.
    let mut stream = StreamReader::new(&bytes[..]);
    while !matches!(stream.next_event().unwrap(), Event::Trailing { .. }) {}
    let mut tail = [0u8; 64];
    let n = stream.reader_mut().read_raw(&mut tail).unwrap();
    assert_eq!(&tail[..n], b"DeviceModelRecord0002");
}

#[test]
fn checkpoint_in_a_bare_libxc_stream_stays_in_libxc() {
    let mut w = Writer::new(Vec::new());
    libxc_headers(&mut w);
    w.write_record(RecordType::CHECKPOINT.0, &[]).unwrap();
    // 4 is X86_PV_VCPU_BASIC in libxc numbering, CHECKPOINT_END in libxl's.
    w.write_record(4, &[0; 8]).unwrap();
    w.write_record(RecordType::END.0, &[]).unwrap();
    let got = events(&w.into_inner()).unwrap();
    let records: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            Event::LibxcRecord(i) => Some((i.layer, i.libxc_type())),
            Event::LibxlRecord(i) => Some((i.layer, RecordType(u32::MAX))),
            _ => None,
        })
        .collect();
    assert_eq!(
        records,
        [
            (Layer::Libxc, RecordType::CHECKPOINT),
            (Layer::Libxc, RecordType::X86_PV_VCPU_BASIC),
            (Layer::Libxc, RecordType::END)
        ]
    );
}

#[test]
fn missing_end_is_an_unexpected_end_at_the_boundary() {
    let mut w = Writer::new(Vec::new());
    w.write_libxl_header(&LibxlHeader::new(0)).unwrap();
    w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])
        .unwrap();
    libxc_headers(&mut w);
    w.write_record(RecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let err = events(&bytes).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::UnexpectedEnd {
            expected: "the libxl END record"
        }
    ));
    assert_eq!(err.offset(), bytes.len() as u64);
}

#[test]
fn the_stream_reader_stops_after_an_error() {
    let mut stream = StreamReader::new(&b"not a stream at all, definitely"[..]);
    let err = stream.next_event().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unrecognised stream start: expected the libxc marker ff ff ff ff ff ff ff ff, \"LibxlFmt\" or the xl save magic, found 6e 6f 74 20 61 20 73 74 72 65 61 6d 20 61 74 20 at byte offset 0"
    );
    assert!(matches!(
        stream.next_event().unwrap_err().kind(),
        ErrorKind::Stopped
    ));
}

#[test]
fn reading_a_body_without_a_record_is_a_usage_error() {
    let mut reader = Reader::new(&[][..]);
    assert!(matches!(
        reader.read_body(&mut Vec::new()).unwrap_err().kind(),
        ErrorKind::NoPendingBody
    ));
    assert!(matches!(
        reader.skip_body().unwrap_err().kind(),
        ErrorKind::NoPendingBody
    ));
}

#[test]
fn format_detection_does_not_consume() {
    let bytes = XlHeader::new(XlMandatoryFlags::STREAM_V2, &[]).to_bytes();
    let mut reader = Reader::new(&bytes[..]);
    assert_eq!(reader.detect_format().unwrap(), StreamFormat::Xl);
    assert_eq!(reader.offset(), 0);
    assert!(reader.read_xl_header().is_ok());
    assert!(StreamFormat::is_partial_start(b"Xen saved"));
    assert!(!StreamFormat::is_partial_start(b"Xen savex"));
}

/// Counts the bytes actually read from the input.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: io::Seek> io::Seek for Counting<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn seekable_readers_skip_bodies_without_reading_them() {
    let mut w = Writer::new(Vec::new());
    libxc_headers(&mut w);
    w.write_record(RecordType::HVM_CONTEXT.0, &vec![0x55; 1 << 20])
        .unwrap();
    w.write_record(RecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();

    let mut stream = StreamReader::seekable(Counting {
        inner: Cursor::new(&bytes),
        read: 0,
    });
    let mut offsets = Vec::new();
    loop {
        match stream.next_event().unwrap() {
            Event::LibxcRecord(info) => offsets.push(info.offset),
            Event::End => break,
            _ => {}
        }
    }
    assert_eq!(offsets, [40, 40 + 8 + (1 << 20)]);
    assert_eq!(stream.offset(), bytes.len() as u64);
    let read = stream.into_inner().read;
    assert!(read < 64 * 1024, "read {read} bytes of a 1 MiB stream");

    // A body cut short is still noticed when seeking over it.
    let cut = &bytes[..bytes.len() - 4];
    let mut reader = Reader::seekable(Cursor::new(cut));
    reader.read_image_header().unwrap();
    reader.read_domain_header().unwrap();
    reader.next_record().unwrap();
    reader.skip_body().unwrap();
    let err = reader.next_record().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Truncated {
                what: "record header",
                ..
            }
        ),
        "{err}"
    );
    let mut reader = Reader::seekable(Cursor::new(&bytes[..1000]));
    reader.read_image_header().unwrap();
    reader.read_domain_header().unwrap();
    reader.next_record().unwrap();
    let err = reader.skip_body().unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Truncated {
                what: "record body",
                found: 952,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn writer_enforces_declared_lengths() {
    let mut w = Writer::new(Vec::new());
    w.begin_record(RecordType::PAGE_DATA.0, 4).unwrap();
    assert_eq!(
        w.write_body(&[0; 5]).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    w.write_body(&[0; 3]).unwrap();
    assert!(w.write_record(0, &[]).is_err(), "a record is open");
    assert!(
        w.end_record()
            .unwrap_err()
            .to_string()
            .contains("declared 4 bytes, wrote 3")
    );
    w.write_body(&[0]).unwrap();
    w.end_record().unwrap();
    assert!(w.end_record().is_err(), "no record is open");
    assert_eq!(w.offset(), 16);
    assert_eq!(w.into_inner().len(), 16);
}

/// Like a `File` on a pipe: implements `Seek`, but every seek fails.
struct SeekFails<R>(R);

impl<R: Read> Read for SeekFails<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R> io::Seek for SeekFails<R> {
    fn seek(&mut self, _: io::SeekFrom) -> io::Result<u64> {
        Err(io::Error::from_raw_os_error(29)) // ESPIPE
    }
}

#[test]
fn seekable_readers_fall_back_to_reading_when_seeking_fails() {
    let mut w = Writer::new(Vec::new());
    w.write_record(RecordType::HVM_CONTEXT.0, &[9; 100_000])
        .unwrap();
    w.write_record(RecordType::END.0, &[]).unwrap();
    let bytes = w.into_inner();
    let mut reader = Reader::seekable(SeekFails(&bytes[..]));
    reader.next_record().unwrap();
    reader.skip_body().unwrap();
    let end = reader.next_record().unwrap().unwrap();
    assert_eq!(
        (end.libxc_type(), end.offset),
        (RecordType::END, 100_000 + 8)
    );
}

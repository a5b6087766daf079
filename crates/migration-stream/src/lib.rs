//! Typed model of the Xen migration stream formats with a streaming reader and writer.
//!
//! A saved or migrating Xen domain is a byte stream of up to three nested layers:
//!
//! ```text
//! [xl save header]                    xl save files and `xl migrate`
//!   libxl header + libxl records      when the xl header sets STREAMv2
//!     LIBXC_CONTEXT record            (empty; the libxc stream follows inline)
//!       libxc image header, domain header, libxc records … END
//!     … more libxl records … libxl END
//! ```
//!
//! This crate models every on-wire structure ([`wire`]), every type code as an
//! open value ([`types`]), and typed views of record bodies ([`payload`]). It
//! reads streams in constant memory with [`Reader`] (framing: headers, record
//! headers, bodies, padding) and [`StreamReader`] (the nesting, as a sequence
//! of [`Event`]s), and writes them with [`Writer`]. Both read through
//! [`source`], the byte layer every stream reader in xenmig shares (sequential,
//! seeking and splicing sources behind one buffer). It checks framing, not
//! content: whether a stream is valid is the `stream-verify` crate's question.
//!
//! No input makes it panic or allocate without bound: libxc record bodies
//! are capped at [`types::REC_LENGTH_MAX`] (128 MiB), xl optional data at
//! [`types::XL_OPTIONAL_DATA_MAX`], and buffers grow only as data arrives.
//! Every [`Error`] carries the byte offset, the record index and type, and
//! what was expected versus found. See `docs/stream-format.md` for the formats.
//!
//! ```
//! use migration_stream::{Event, StreamReader, Writer, payload::HvmParams};
//! use migration_stream::types::{DomainType, HvmParam, LibxlRecordType, RecordType};
//! use migration_stream::wire::{DomainHeader, ImageHeader, LibxlHeader};
//!
//! // Write a tiny libxl stream around a libxc stream.
//! let mut w = Writer::new(Vec::new());
//! w.write_libxl_header(&LibxlHeader::new(0))?;
//! w.write_record(LibxlRecordType::LIBXC_CONTEXT.0, &[])?;
//! w.write_image_header(&ImageHeader::new(3))?;
//! w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 19))?;
//! w.write_record(RecordType::HVM_PARAMS.0, &HvmParams::encode(&[(HvmParam::STORE_PFN, 7)]))?;
//! w.write_record(RecordType::END.0, &[])?;
//! w.write_record(LibxlRecordType::END.0, &[])?;
//! let bytes = w.into_inner();
//!
//! // Read it back, decoding the HVM_PARAMS body.
//! let mut stream = StreamReader::new(&bytes[..]);
//! let mut body = Vec::new();
//! let mut store_pfn = None;
//! loop {
//!     match stream.next_event()? {
//!         Event::LibxcRecord(info) if info.libxc_type() == RecordType::HVM_PARAMS => {
//!             let params = HvmParams::parse(stream.read_body(&mut body)?)
//!                 .map_err(|e| migration_stream::Error::payload(e, &info))?;
//!             store_pfn = params.iter().find(|(p, _)| *p == HvmParam::STORE_PFN).map(|(_, v)| v);
//!         }
//!         Event::End => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(store_pfn, Some(7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
mod format;
pub mod payload;
mod reader;
mod record;
pub mod sink;
pub mod source;
mod stream;
pub mod types;
pub mod wire;
mod writer;
mod xl;

pub use error::{Error, ErrorKind, Layer, PayloadError, RecordContext};
pub use format::StreamFormat;
pub use reader::Reader;
pub use record::RecordInfo;
pub use stream::{Event, StreamReader};
pub use writer::Writer;
pub use xl::{ByteOrder, XlFixedHeader, XlHeader};

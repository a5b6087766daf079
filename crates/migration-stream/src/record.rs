//! What the framing layer knows about one record: its header and where it
//! is ([`RecordInfo`]), and the part of that an error carries
//! ([`RecordContext`]).

use std::fmt;

use crate::types::{LibxlRecordType, RecordType};
use crate::wire::padding_for;

/// Which numbering a record's type belongs to.
///
/// The same number means different records in the two layers: 1 is
/// libxc's PAGE_DATA but libxl's LIBXC_CONTEXT.
///
/// ```
/// use migration_stream::{Layer, Reader, Writer};
/// use migration_stream::types::{LibxlRecordType, RecordType};
///
/// let mut writer = Writer::new(Vec::new());
/// writer.write_record(1, &[])?;
/// let bytes = writer.into_inner();
/// let mut reader = Reader::new(&bytes[..]);
/// assert_eq!(reader.layer(), Layer::Libxc); // the default
/// reader.set_layer(Layer::Libxl);
/// let record = reader.next_record()?.expect("one record");
/// assert_eq!(record.layer, Layer::Libxl);
/// assert_eq!(record.libxl_type(), LibxlRecordType::LIBXC_CONTEXT);
/// assert_eq!(record.libxc_type(), RecordType::PAGE_DATA);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// libxc record types ([`RecordType`]).
    Libxc,
    /// libxl record types ([`LibxlRecordType`]).
    Libxl,
}

/// The record an error happened in.
///
/// ```
/// use migration_stream::{Layer, RecordContext};
/// use migration_stream::types::RecordType;
///
/// let context = RecordContext {
///     index: 2,
///     raw_type: RecordType::HVM_PARAMS.0,
///     layer: Layer::Libxc,
///     offset: 96,
/// };
/// assert_eq!(context.to_string(), "libxc record #2 (HVM_PARAMS)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordContext {
    /// Running index of the record in the stream (0-based, libxl and libxc records counted together).
    pub index: u64,
    /// The record's type number.
    pub raw_type: u32,
    /// Which layer's numbering `raw_type` uses.
    pub layer: Layer,
    /// Byte offset of the record header.
    pub offset: u64,
}

impl fmt::Display for RecordContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layer {
            Layer::Libxc => write!(
                f,
                "libxc record #{} ({})",
                self.index,
                RecordType(self.raw_type)
            ),
            Layer::Libxl => {
                write!(
                    f,
                    "libxl record #{} ({})",
                    self.index,
                    LibxlRecordType(self.raw_type)
                )
            }
        }
    }
}

/// A record header as read from the stream, with where it is.
///
/// ```
/// use migration_stream::{Layer, Reader, Writer};
/// use migration_stream::types::RecordType;
/// use migration_stream::wire::ImageHeader;
///
/// let mut writer = Writer::new(Vec::new());
/// writer.write_image_header(&ImageHeader::new(3))?;
/// writer.write_record(RecordType::X86_TSC_INFO.0, &[1, 2, 3])?; // 3 bytes, 5 of padding
/// let bytes = writer.into_inner();
///
/// let mut reader = Reader::new(&bytes[..]);
/// reader.read_image_header()?;
/// let info = reader.next_record()?.expect("one record");
/// assert_eq!(info.layer, Layer::Libxc);
/// assert_eq!(info.libxc_type(), RecordType::X86_TSC_INFO);
/// assert_eq!(info.libxl_type().name(), None, "8 is no libxl record type");
/// assert_eq!((info.offset, info.index, info.length), (24, 0, 3));
/// assert_eq!(info.body_offset(), 24 + 8);
/// assert_eq!(info.padding_len(), 5);
/// assert_eq!(info.end_offset(), 24 + 8 + 3 + 5);
/// assert_eq!(info.end_offset(), bytes.len() as u64);
/// let context = info.context();
/// assert_eq!((context.index, context.offset), (0, 24));
/// assert_eq!(context.to_string(), "libxc record #0 (X86_TSC_INFO)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RecordInfo {
    /// The record type number (interpret with [`RecordInfo::libxc_type`] or [`RecordInfo::libxl_type`]).
    pub raw_type: u32,
    /// Body length, without padding.
    pub length: u32,
    /// Absolute byte offset of the record header.
    pub offset: u64,
    /// Running index of the record in the stream, starting at 0; libxl and
    /// libxc records share the count.
    pub index: u64,
    /// Which layer's numbering the type uses (as set with [`Reader::set_layer`](crate::Reader::set_layer)).
    pub layer: Layer,
}

impl RecordInfo {
    /// The type as a libxc record type.
    pub fn libxc_type(&self) -> RecordType {
        RecordType(self.raw_type)
    }

    /// The type as a libxl record type.
    pub fn libxl_type(&self) -> LibxlRecordType {
        LibxlRecordType(self.raw_type)
    }

    /// Absolute byte offset of the body.
    pub fn body_offset(&self) -> u64 {
        self.offset.saturating_add(8)
    }

    /// Number of zero bytes after the body (0–7).
    pub fn padding_len(&self) -> usize {
        padding_for(u64::from(self.length))
    }

    /// Absolute byte offset just past the record's padding.
    pub fn end_offset(&self) -> u64 {
        self.body_offset()
            .saturating_add(u64::from(self.length))
            .saturating_add(self.padding_len() as u64)
    }

    /// The record position for error messages.
    pub fn context(&self) -> RecordContext {
        RecordContext {
            index: self.index,
            raw_type: self.raw_type,
            layer: self.layer,
            offset: self.offset,
        }
    }
}

//! What the framing layer knows about one record: its header and where it
//! is ([`RecordInfo`]), and the part of that an error carries
//! ([`RecordContext`]).

use std::fmt;

use crate::types::{LibxlRecordType, RecordType};
use crate::wire::padding_for;

/// Which numbering a record's type belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// libxc record types ([`RecordType`]).
    Libxc,
    /// libxl record types ([`LibxlRecordType`]).
    Libxl,
}

/// The record an error happened in.
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
/// use migration_stream::{Event, Layer, StreamReader};
/// use migration_stream::types::RecordType;
/// let bytes = std::fs::read("../../testdata/streams/libxc-pv-v3.bin")?;
/// let mut stream = StreamReader::new(&bytes[..]);
/// let first = loop {
///     if let Event::LibxcRecord(info) = stream.next_event()? {
///         break info;
///     }
/// };
/// assert_eq!(first.layer, Layer::Libxc);
/// assert_eq!(first.libxc_type(), RecordType::X86_PV_INFO); // a PV stream's first record
/// assert_eq!((first.offset, first.index), (40, 0)); // after the 24 + 16 header bytes
/// assert_eq!(first.body_offset(), first.offset + 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

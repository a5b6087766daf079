//! The xl save header, decoded and owned.

use crate::error::ErrorKind;
use crate::types::{XL_BYTEORDER, XL_MAGIC, XlMandatoryFlags};
use crate::wire;
use zerocopy::IntoBytes;

/// Byte order of the machine that wrote an xl save header.
///
/// ```
/// use migration_stream::{ByteOrder, XlHeader, types::XlMandatoryFlags};
/// let little = XlHeader::new(XlMandatoryFlags::JSON, b"{}\0");
/// assert_eq!(little.byte_order, ByteOrder::Little);
/// let big = little.clone().with_byte_order(ByteOrder::Big);
/// assert_eq!(&big.to_bytes()[32..36], [1, 2, 3, 4]); // the byte order mark as written
/// assert_eq!(&little.to_bytes()[32..36], [4, 3, 2, 1]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Little-endian (x86, ARM).
    Little,
    /// Big-endian.
    Big,
}

impl ByteOrder {
    fn decode(self, bytes: [u8; 4]) -> u32 {
        match self {
            ByteOrder::Little => u32::from_le_bytes(bytes),
            ByteOrder::Big => u32::from_be_bytes(bytes),
        }
    }

    fn encode(self, value: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => value.to_le_bytes(),
            ByteOrder::Big => value.to_be_bytes(),
        }
    }
}

/// The fixed 48 bytes of an xl save header, decoded: what a program needs
/// that passes the optional data (`optional_data_len` bytes, which follow
/// it) on without holding it, as a converter does.
///
/// ```
/// use migration_stream::{XlFixedHeader, XlHeader, types::XlMandatoryFlags};
/// use migration_stream::wire;
/// use zerocopy::FromBytes;
///
/// let bytes = XlHeader::new(XlMandatoryFlags::JSON, b"{}\0").to_bytes();
/// let raw = wire::XlHeader::read_from_prefix(&bytes).unwrap().0;
/// let mut fixed = XlFixedHeader::parse(&raw)?;
/// assert_eq!(fixed.optional_data_len, 4 + 3);
/// fixed.mandatory_flags |= XlMandatoryFlags::STREAM_V2;
/// assert_eq!(&zerocopy::IntoBytes::as_bytes(&fixed.to_wire())[36..40], &[3, 0, 0, 0]);
/// # Ok::<(), migration_stream::ErrorKind>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XlFixedHeader {
    /// Byte order of the integer fields (from the byte order mark).
    pub byte_order: ByteOrder,
    /// Mandatory flags, unknown bits retained.
    pub mandatory_flags: XlMandatoryFlags,
    /// Optional flags (none defined).
    pub optional_flags: u32,
    /// Length of the optional data that follows.
    pub optional_data_len: u32,
}

impl XlFixedHeader {
    /// Decodes the fixed header, checking the magic and the byte order mark.
    pub fn parse(fixed: &wire::XlHeader) -> Result<Self, ErrorKind> {
        if !fixed.has_magic() {
            return Err(ErrorKind::BadXlMagic {
                found: String::from_utf8_lossy(&fixed.magic).into_owned(),
            });
        }
        let byte_order = if fixed.byteorder == XL_BYTEORDER.to_le_bytes() {
            ByteOrder::Little
        } else if fixed.byteorder == XL_BYTEORDER.to_be_bytes() {
            ByteOrder::Big
        } else {
            return Err(ErrorKind::BadXlByteOrder {
                found: fixed.byteorder,
            });
        };
        Ok(XlFixedHeader {
            byte_order,
            mandatory_flags: XlMandatoryFlags::from_bits_retain(
                byte_order.decode(fixed.mandatory_flags),
            ),
            optional_flags: byte_order.decode(fixed.optional_flags),
            optional_data_len: byte_order.decode(fixed.optional_data_len),
        })
    }

    /// The 48 bytes, in [`byte_order`](Self::byte_order).
    pub fn to_wire(&self) -> wire::XlHeader {
        let order = self.byte_order;
        wire::XlHeader {
            magic: *XL_MAGIC,
            byteorder: order.encode(XL_BYTEORDER),
            mandatory_flags: order.encode(self.mandatory_flags.bits()),
            optional_flags: order.encode(self.optional_flags),
            optional_data_len: order.encode(self.optional_data_len),
        }
    }
}

/// An xl save header with its optional data (the saved config).
///
/// ```
/// use migration_stream::{XlHeader, types::XlMandatoryFlags};
///
/// let header = XlHeader::new(XlMandatoryFlags::STREAM_V2 | XlMandatoryFlags::JSON, b"{}\0");
/// assert_eq!(header.config(), b"{}\0");
/// assert_eq!(header.to_bytes().len(), 48 + 4 + 3);
/// assert_eq!((header.encoded_len(), header.config_len()), (48 + 4 + 3, Some(3)));
/// assert!(header.is_stream_v2());
/// assert_eq!(header.unknown_mandatory_flags(), 0);
///
/// let future = XlHeader::new(XlMandatoryFlags::from_bits_retain(1 << 5), b"");
/// assert_eq!(future.unknown_mandatory_flags(), 1 << 5); // a reader must stop
/// assert_eq!((future.config_len(), future.config()), (None, &[][..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XlHeader {
    /// Byte order of the integer fields (from the byte order mark).
    pub byte_order: ByteOrder,
    /// Mandatory flags, unknown bits retained.
    pub mandatory_flags: XlMandatoryFlags,
    /// Optional flags (none defined).
    pub optional_flags: u32,
    /// The optional data: `u32 config_len` then the config, or empty.
    pub optional_data: Vec<u8>,
}

impl XlHeader {
    /// A little-endian header with `config` as its optional data (none when empty).
    pub fn new(mandatory_flags: XlMandatoryFlags, config: &[u8]) -> Self {
        let mut optional_data = Vec::new();
        if !config.is_empty() {
            let len = u32::try_from(config.len()).unwrap_or(u32::MAX);
            optional_data.extend_from_slice(&len.to_le_bytes());
            optional_data.extend_from_slice(config);
        }
        XlHeader {
            byte_order: ByteOrder::Little,
            mandatory_flags,
            optional_flags: 0,
            optional_data,
        }
    }

    /// The same header as written by a machine of byte order `order` (the
    /// `config_len` inside the optional data is re-encoded too).
    ///
    /// ```
    /// use migration_stream::{ByteOrder, XlHeader, types::XlMandatoryFlags};
    /// let header = XlHeader::new(XlMandatoryFlags::STREAM_V2, b"x").with_byte_order(ByteOrder::Big);
    /// assert_eq!(header.config(), b"x");
    /// assert_eq!(&header.to_bytes()[32..36], &[1, 2, 3, 4]);
    /// ```
    pub fn with_byte_order(mut self, order: ByteOrder) -> Self {
        if let Some(len) = self.config_len()
            && let Some(field) = self.optional_data.get_mut(..4)
        {
            field.copy_from_slice(&order.encode(len));
        }
        self.byte_order = order;
        self
    }

    /// Checks that a non-empty optional data holds a `config_len` that fits.
    pub(crate) fn check_config_len(&self) -> Result<(), ErrorKind> {
        if self.optional_data.is_empty() {
            return Ok(());
        }
        let max = (self.optional_data.len() as u64).saturating_sub(4);
        match self.config_len() {
            Some(len) if u64::from(len) <= max => Ok(()),
            Some(len) => Err(ErrorKind::BadXlConfigLen {
                found: u64::from(len),
                max,
            }),
            None => Err(ErrorKind::BadXlConfigLen {
                found: self.optional_data.len() as u64,
                max: 0,
            }),
        }
    }

    /// Whether a libxl v2 stream follows (STREAMv2 set).
    pub fn is_stream_v2(&self) -> bool {
        self.mandatory_flags.contains(XlMandatoryFlags::STREAM_V2)
    }

    /// Mandatory flag bits this crate does not know (a reader must stop on them).
    pub fn unknown_mandatory_flags(&self) -> u32 {
        self.mandatory_flags.bits() & !XlMandatoryFlags::all().bits()
    }

    /// The `config_len` at the start of the optional data, if there is one.
    pub fn config_len(&self) -> Option<u32> {
        let bytes: [u8; 4] = self.optional_data.get(..4)?.try_into().ok()?;
        Some(self.byte_order.decode(bytes))
    }

    /// The saved config (JSON with a trailing NUL when [`XlMandatoryFlags::JSON`] is set,
    /// xl cfg text otherwise); empty when there is none or `config_len` does not fit.
    pub fn config(&self) -> &[u8] {
        let Some(len) = self.config_len() else {
            return &[];
        };
        let end = 4usize.saturating_add(len as usize);
        self.optional_data.get(4..end).unwrap_or_default()
    }

    /// Length of the encoded header including the optional data.
    pub fn encoded_len(&self) -> u64 {
        48 + self.optional_data.len() as u64
    }

    /// The header as written to a file: fixed part in `byte_order`, then the optional data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let fixed = XlFixedHeader {
            byte_order: self.byte_order,
            mandatory_flags: self.mandatory_flags,
            optional_flags: self.optional_flags,
            optional_data_len: u32::try_from(self.optional_data.len()).unwrap_or(u32::MAX),
        };
        let mut out = Vec::with_capacity(48 + self.optional_data.len());
        out.extend_from_slice(fixed.to_wire().as_bytes());
        out.extend_from_slice(&self.optional_data);
        out
    }
}

//! Which of the three stream layouts a stream starts with: [`StreamFormat`].
//!
//! Detection needs only the first bytes, and both the framing [`Reader`](crate::Reader)
//! and the layer-following [`StreamReader`](crate::StreamReader) use it, so it
//! lives below both.

use crate::types::{IMAGE_MARKER, LIBXL_IDENT, XL_MAGIC};

/// The outermost layer of a stream.
///
/// ```
/// use migration_stream::StreamFormat;
///
/// let format = StreamFormat::detect(b"LibxlFmt\0\0\0\x02\0\0\0\0");
/// assert_eq!(format, Some(StreamFormat::Libxl));
/// assert_eq!(StreamFormat::Xl.name(), "xl");
/// assert_eq!(StreamFormat::Libxc.to_string(), "libxc");
/// // Too short to tell, but the start of one: a truncated stream, not a foreign one.
/// assert_eq!(StreamFormat::detect(b"Libx"), None);
/// assert!(StreamFormat::is_partial_start(b"Libx"));
/// assert!(!StreamFormat::is_partial_start(b"RIFF"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamFormat {
    /// A bare libxc stream (starts with the all-ones image marker).
    Libxc,
    /// A libxl stream (starts with `"LibxlFmt"`).
    Libxl,
    /// An xl save file (starts with the xl magic).
    Xl,
}

impl StreamFormat {
    /// The format a stream starting with `prefix` has, if any. Needs 8 bytes
    /// for libxc and libxl, 32 for xl.
    ///
    /// ```
    /// use migration_stream::StreamFormat;
    /// assert_eq!(StreamFormat::detect(&[0xff; 8]), Some(StreamFormat::Libxc));
    /// assert_eq!(StreamFormat::detect(b"LibxlFmt"), Some(StreamFormat::Libxl));
    /// assert_eq!(StreamFormat::detect(&[0; 8]), None); // e.g. a legacy image
    /// ```
    pub fn detect(prefix: &[u8]) -> Option<StreamFormat> {
        let first8: [u8; 8] = prefix.get(..8)?.try_into().ok()?;
        if first8 == IMAGE_MARKER.to_be_bytes() {
            Some(StreamFormat::Libxc)
        } else if first8 == LIBXL_IDENT.to_be_bytes() {
            Some(StreamFormat::Libxl)
        } else if prefix.get(..32) == Some(&XL_MAGIC[..]) {
            Some(StreamFormat::Xl)
        } else {
            None
        }
    }

    /// Whether `prefix` is too short to decide but is the beginning of a
    /// known stream start (so the input was cut short rather than foreign).
    pub fn is_partial_start(prefix: &[u8]) -> bool {
        let starts: [&[u8]; 3] = [
            &IMAGE_MARKER.to_be_bytes(),
            &LIBXL_IDENT.to_be_bytes(),
            XL_MAGIC,
        ];
        starts
            .iter()
            .any(|start| prefix.len() < start.len() && start.starts_with(prefix))
    }

    /// Lower-case name, as used on command lines (`libxc`, `libxl`, `xl`).
    pub fn name(self) -> &'static str {
        match self {
            StreamFormat::Libxc => "libxc",
            StreamFormat::Libxl => "libxl",
            StreamFormat::Xl => "xl",
        }
    }
}

impl std::fmt::Display for StreamFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

//! What can go wrong reading or converting a legacy image.

use std::io;

/// An error from the legacy image parser or the converter.
///
/// Every variant says where it happened: the byte offset in the input (after
/// any xl header the caller skipped, counted from the start of the input) and,
/// inside the image body, the index of the chunk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input ended before an item was complete.
    #[error("stream truncated at byte offset {offset}: expected {expected}")]
    Truncated {
        /// Where the input ended.
        offset: u64,
        /// What was being read, and how many bytes were missing.
        expected: String,
    },
    /// The input is not a valid legacy image.
    #[error("{message} ({location})")]
    Invalid {
        /// Byte offset of the item at fault.
        offset: u64,
        /// Where, for people: the byte offset and the chunk index when in the body.
        location: String,
        /// What was expected and what was found.
        message: String,
    },
    /// The image is valid but holds content that cannot be converted
    /// (tmem, Remus compression).
    #[error("{message} ({location})")]
    Unsupported {
        /// Byte offset of the item at fault.
        offset: u64,
        /// Where, for people.
        location: String,
        /// What the content is and why it cannot be converted.
        message: String,
    },
    /// Reading the input failed.
    #[error("reading the input at byte offset {offset}: {source}")]
    Input {
        /// Where the read was.
        offset: u64,
        /// The operating system's error.
        source: io::Error,
    },
    /// Writing the output failed (or copying between input and output did).
    #[error("{context}: {source}")]
    Output {
        /// What was being written.
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
}

impl Error {
    /// True when the input is at fault (truncated or invalid): exit code 1.
    /// False for unsupported content and I/O errors: exit code 2.
    ///
    /// ```
    /// let err = legacy_convert::Error::Truncated { offset: 4, expected: "a marker".into() };
    /// assert!(err.is_bad_input());
    /// ```
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::Truncated { .. } | Error::Invalid { .. })
    }

    /// The I/O error behind an input or output failure, if that is what this is.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Input { source, .. } | Error::Output { source, .. } => Some(source),
            _ => None,
        }
    }

    pub(crate) fn output(context: impl Into<String>, source: io::Error) -> Error {
        Error::Output {
            context: context.into(),
            source,
        }
    }
}

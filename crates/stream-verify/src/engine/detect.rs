//! Which layer the first bytes start, and what the bytes are when a header
//! check fails (the hint of `-f libxc` on an xl file).

use super::{Engine, Step};
use crate::Format;
use crate::report::Place;
use crate::rules::{Breach, FirstBytes, Lookalike};
use migration_stream::source::{ByteSource, InputError};
use migration_stream::types::{IMAGE_MARKER, LIBXL_IDENT, XL_MAGIC};
use migration_stream::wire::{Be64, Le32};

impl<S: ByteSource> Engine<'_, S> {
    /// Tells the outer format from the first eight bytes, without consuming them.
    pub(super) fn detect(&mut self) -> Step<Format> {
        self.set_place(Place::StreamStart, None);
        let mut first = [0u8; 8];
        let peeked = self.input.peek(first.len()).map(|head| {
            first[..head.len()].copy_from_slice(head);
            head.len()
        });
        let got = peeked.map_err(|e| self.input_error(e))?;
        if got < first.len() {
            return Err(self.input_error(InputError::Truncated {
                offset: got as u64,
                wanted: (first.len() - got) as u64,
            }));
        }
        if let Some(format) = header_format(first) {
            return Ok(format);
        }
        self.broken(Breach::UnknownFormat {
            first: FirstBytes(first),
            hint: lookalike(&first, Format::Auto, true),
        })
    }

    /// What `bytes`, read where a header of `expected` should be, are instead.
    pub(super) fn lookalike(&self, bytes: &[u8], expected: Format) -> Lookalike {
        lookalike(bytes, expected, self.place.offset == 0)
    }
}

/// The layer whose header starts with these eight bytes.
fn header_format(first: [u8; 8]) -> Option<Format> {
    let word = Be64::from_bytes(first).get();
    if word == IMAGE_MARKER {
        Some(Format::Libxc)
    } else if word == LIBXL_IDENT {
        Some(Format::Libxl)
    } else if first[..] == XL_MAGIC[..first.len()] {
        Some(Format::Xl)
    } else {
        None
    }
}

/// What `bytes` (at least the first 8 of a header that failed its check for
/// `expected`) look like: another layer's header, or a legacy image (bytes
/// 4–7: the high half of a 64-bit p2m_size, or a 32-bit PV extended-info
/// marker; the spec's detection table).
fn lookalike(bytes: &[u8], expected: Format, at_start: bool) -> Lookalike {
    let Some(first) = bytes.first_chunk::<8>() else {
        return Lookalike::Unknown;
    };
    match header_format(*first) {
        Some(format) if format != expected => return Lookalike::Header { format, at_start },
        _ => {}
    }
    let [_, _, _, _, high @ ..] = *first;
    match Le32::from_bytes(high).get() {
        0 | u32::MAX => Lookalike::LegacyImage,
        _ => Lookalike::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_is_told_apart_from_the_others() {
        let libxc = [0xff; 8];
        assert_eq!(header_format(libxc), Some(Format::Libxc));
        assert_eq!(header_format(*b"LibxlFmt"), Some(Format::Libxl));
        assert_eq!(header_format(*b"Xen save"), Some(Format::Xl));
        assert_eq!(header_format(*b"garbage!"), None);
        assert_eq!(
            lookalike(b"LibxlFmt", Format::Libxc, false),
            Lookalike::Header {
                format: Format::Libxl,
                at_start: false
            }
        );
        // The expected header with a later field wrong is not "another header".
        assert_eq!(lookalike(b"Xen save", Format::Xl, true), Lookalike::Unknown);
        assert_eq!(
            lookalike(&[1, 0, 0, 0, 0, 0, 0, 0], Format::Libxc, true),
            Lookalike::LegacyImage
        );
        assert_eq!(lookalike(b"short", Format::Libxc, true), Lookalike::Unknown);
    }
}

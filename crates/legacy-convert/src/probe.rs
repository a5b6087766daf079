//! Working out the toolstack width and guest type from the first bytes of an
//! image, when the caller does not say (upstream's `-w` and `-g`).
//!
//! The v2 spec's legacy detection looks at bytes 4..8:
//!
//! | toolstack | bytes 4..8 | because |
//! |---|---|---|
//! | 64-bit | 0 | the high half of `p2m_size`, which is below 2^28 |
//! | 32-bit PV | 0xFFFFFFFF | the extended-info marker |
//! | 32-bit HVM | anything else | the first chunk marker (a batch size or a chunk id) |
//!
//! For a 64-bit toolstack, a PV image continues with the 8-byte marker of all
//! ones. A 32-bit HVM image whose first chunk is −1 (a debug stream) also shows
//! 0xFFFFFFFF at bytes 4..8, so a PV image is only recognised when the
//! extended info starts with its `"vcpu"` block, as every Xen saver wrote it.

use crate::error::ErrorKind;
use crate::format::{GuestType, Width};
use crate::wire::u32_at;

/// Bytes [`probe`] looks at.
pub const PROBE_LEN: usize = 24;

/// What [`probe`] found.
///
/// ```
/// use legacy_convert::format::{GuestType, Width};
/// use legacy_convert::reader::LegacyReader;
/// let image = std::fs::read("../../testdata/legacy/hvm32-upstream.img")?;
/// let found = LegacyReader::new(&image[..]).probe()?;
/// assert_eq!((found.width, found.guest), (Width::W32, GuestType::Hvm));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Detection {
    /// The toolstack width.
    pub width: Width,
    /// The guest type.
    pub guest: GuestType,
}

/// Detects width and guest type from the first [`PROBE_LEN`] bytes of an image.
///
/// ```
/// use legacy_convert::format::{GuestType, Width};
/// use legacy_convert::probe::probe;
///
/// // 64-bit toolstack, PV: p2m_size, ~0UL, total length, "vcpu", size.
/// let head = [&0x1000u64.to_le_bytes()[..], &u64::MAX.to_le_bytes(), &0x1448u32.to_le_bytes(), b"vcpu"].concat();
/// let found = probe(&head).unwrap();
/// assert_eq!((found.width, found.guest), (Width::W64, GuestType::Pv));
/// ```
pub fn probe(head: &[u8]) -> Result<Detection, ErrorKind> {
    let too_short = || match head.len() {
        0 => ErrorKind::Empty,
        found => ErrorKind::TooShortToDetect { found },
    };
    let word1 = u32_at(head, 4).ok_or_else(too_short)?;
    let detection = if word1 == 0 {
        // 64-bit toolstack: ~0UL at 8..16 and "vcpu" at 20..24 for PV.
        let marker_lo = u32_at(head, 8).ok_or_else(too_short)?;
        let marker_hi = u32_at(head, 12).ok_or_else(too_short)?;
        let is_pv = marker_lo == u32::MAX
            && marker_hi == u32::MAX
            && head.get(20..24).ok_or_else(too_short)? == b"vcpu";
        Detection {
            width: Width::W64,
            guest: if is_pv { GuestType::Pv } else { GuestType::Hvm },
        }
    } else if word1 == u32::MAX && head.get(12..16).ok_or_else(too_short)? == b"vcpu" {
        Detection {
            width: Width::W32,
            guest: GuestType::Pv,
        }
    } else {
        Detection {
            width: Width::W32,
            guest: GuestType::Hvm,
        }
    };
    Ok(detection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{i32_bytes, u32_bytes, u64_bytes};

    fn head(parts: &[&[u8]]) -> Vec<u8> {
        let mut out: Vec<u8> = parts.concat();
        out.resize(PROBE_LEN, 0);
        out
    }

    #[test]
    fn each_layout_is_told_apart() {
        let pv64 = head(&[
            &u64_bytes(0x100),
            &u64_bytes(u64::MAX),
            &u32_bytes(0),
            b"vcpu",
        ]);
        let hvm64 = head(&[&u64_bytes(0x100), &i32_bytes(-7)]);
        let pv32 = head(&[
            &u32_bytes(0x100),
            &u32_bytes(u32::MAX),
            &u32_bytes(0),
            b"vcpu",
        ]);
        let hvm32 = head(&[&u32_bytes(0x100), &i32_bytes(5)]);
        let hvm32_debug = head(&[&u32_bytes(0x100), &i32_bytes(-1), &i32_bytes(-2)]);
        let cases = [
            (pv64, Width::W64, GuestType::Pv),
            (hvm64, Width::W64, GuestType::Hvm),
            (pv32, Width::W32, GuestType::Pv),
            (hvm32, Width::W32, GuestType::Hvm),
            (hvm32_debug, Width::W32, GuestType::Hvm),
        ];
        for (bytes, width, guest) in cases {
            assert_eq!(
                probe(&bytes).ok(),
                Some(Detection { width, guest }),
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn short_input_is_an_error() {
        assert!(matches!(
            probe(&[0; 7]),
            Err(ErrorKind::TooShortToDetect { found: 7 })
        ));
        assert!(matches!(probe(&[]), Err(ErrorKind::Empty)));
        assert!(probe(&[0; 12]).is_err());
    }
}

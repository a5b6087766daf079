//! The xenstore data of EMULATOR_XENSTORE_DATA: `key\0value\0` pairs, read
//! in chunks with each string held to xenstore's own limit.

use super::{Engine, Step};
use crate::rules::{Breach, XENSTORE_STRING_MAX};
use migration_stream::source::ByteSource;

/// The strings seen so far and the one being read.
#[derive(Default)]
struct Scan {
    /// The string being read (at most [`XENSTORE_STRING_MAX`] bytes).
    current: Vec<u8>,
    /// The key of the pair being read, once its NUL has been seen.
    key: Vec<u8>,
    /// Strings completed.
    strings: u64,
}

impl<S: ByteSource> Engine<'_, S> {
    /// Checks the rest of the body as xenstore pairs, printing each pair.
    pub(super) fn xenstore_data(&mut self) -> Step {
        let mut chunk = [0u8; 4096];
        let mut scan = Scan::default();
        let mut last = None;
        while self.body_left > 0 {
            let take = self.body_left.min(chunk.len() as u64) as usize;
            let chunk = &mut chunk[..take];
            self.body(chunk)?;
            last = chunk.last().copied();
            for &byte in chunk.iter() {
                if byte != 0 {
                    if scan.current.len() >= XENSTORE_STRING_MAX {
                        let what = if scan.strings % 2 == 0 {
                            "key"
                        } else {
                            "value"
                        };
                        return self.broken(Breach::XenstoreTooLong { what });
                    }
                    scan.current.push(byte);
                } else {
                    self.xenstore_string(&mut scan)?;
                }
            }
        }
        match last {
            None => Ok(()),
            Some(byte) if byte != 0 => self.broken(Breach::XenstoreNul),
            Some(_) if scan.strings % 2 != 0 => self.broken(Breach::XenstorePairs {
                strings: scan.strings,
            }),
            Some(_) => Ok(()),
        }
    }

    /// A string has ended: a key is checked, a value completes its pair.
    fn xenstore_string(&mut self, scan: &mut Scan) -> Step {
        scan.strings += 1;
        if scan.strings % 2 == 1 {
            if !is_xenstore_key(&scan.current) {
                let key = String::from_utf8_lossy(&scan.current).into_owned();
                return self.broken(Breach::XenstoreKey { key });
            }
            std::mem::swap(&mut scan.key, &mut scan.current);
        } else {
            let key = String::from_utf8_lossy(&scan.key).into_owned();
            if !scan.current.iter().all(|b| (0x20..0x7f).contains(b)) {
                self.warn(format!("xenstore value of '{key}' is not printable ASCII"));
            }
            let value = String::from_utf8_lossy(&scan.current);
            self.info(|| format!("  '{key}' = '{value}'"));
            scan.key.clear();
        }
        scan.current.clear();
        Ok(())
    }
}

/// Xenstore's key charset.
fn is_xenstore_key(key: &[u8]) -> bool {
    !key.is_empty()
        && key
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'@'))
}

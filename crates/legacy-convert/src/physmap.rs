//! The libxl "toolstack" blob of chunk −18 (physmap entries, version 1),
//! turned into the xenstore key/value pairs of an EMULATOR_XENSTORE_DATA record.

use std::io::Read;

use crate::error::Error;
use crate::format::Width;
use crate::reader::LegacyReader;

/// Entry header in the blob: `u64 phys_offset, u64 start_addr, u64 size, u32 namelen`.
const ENTRY_HEADER: u64 = 28;

/// The longest name accepted: a xenstore value holds at most 4096 bytes.
const NAME_MAX: u64 = 4096;

/// Reads the toolstack payload (`size` bytes) of the current chunk from
/// `reader` and appends `key\0value\0` pairs to `pairs`, which may not grow
/// beyond `pairs_limit` bytes. `info` receives upstream's verbose lines.
///
/// Differences from upstream: entries with `namelen == 0` (which libxl 4.5
/// writes when xenstore has no name) are accepted and produce no `name` key,
/// as libxl 4.5's own restore did; names that are not UTF-8 or hold a NUL
/// before their end are refused instead of crashing or corrupting the pairs.
pub(crate) fn read_physmap<R: Read>(
    reader: &mut LegacyReader<R>,
    size: u32,
    width: Width,
    pairs: &mut Vec<u8>,
    pairs_limit: usize,
    info: &mut dyn FnMut(String),
) -> Result<(), Error> {
    let start = reader.offset();
    let invalid = |offset: u64, message: String| Error::Invalid {
        offset,
        location: format!("toolstack chunk at byte offset {start}, byte offset {offset}"),
        message,
    };
    let mut remaining = u64::from(size);
    if remaining < 8 {
        return Err(invalid(
            start,
            format!("Overly short libxl toolstack data: {size} bytes, expected at least 8"),
        ));
    }
    let mut header = [0u8; 8];
    reader.read_payload(&mut header)?;
    remaining -= 8;
    let version = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if version != 1 {
        return Err(invalid(
            start,
            format!("Cannot decode libxl toolstack version {version}: expected 1"),
        ));
    }
    info(format!("    Version {version}, count {count}"));
    let slack: u64 = if width == Width::W64 { 4 } else { 0 };
    let mut name = Vec::new();
    for index in 0..count {
        let entry_offset = reader.offset();
        if remaining < ENTRY_HEADER {
            return Err(invalid(
                entry_offset,
                format!(
                    "Remaining data too short for physmap header: entry {index} of {count} \
                     needs {ENTRY_HEADER} bytes, {remaining} left"
                ),
            ));
        }
        let mut raw = [0u8; ENTRY_HEADER as usize];
        reader.read_payload(&mut raw)?;
        remaining -= ENTRY_HEADER;
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let phys_offset = u64_at(0);
        let start_addr = u64_at(8);
        let region_size = u64_at(16);
        let namelen = u64::from(u32::from_le_bytes([raw[24], raw[25], raw[26], raw[27]]));
        if namelen > NAME_MAX {
            return Err(invalid(
                entry_offset,
                format!("physmap entry {index}: name of {namelen} bytes, at most {NAME_MAX}"),
            ));
        }
        let stored = namelen + slack;
        if remaining < stored {
            return Err(invalid(
                entry_offset,
                format!(
                    "Remaining data too short for physmap name: entry {index} needs {stored} \
                     bytes, {remaining} left"
                ),
            ));
        }
        name.clear();
        name.resize(namelen as usize, 0);
        reader.read_payload(&mut name)?;
        let mut padding = [0u8; 4];
        reader.read_payload(&mut padding[..slack as usize])?;
        remaining -= stored;
        let text = match name.split_last() {
            None => None,
            Some((0, text)) => Some(text),
            Some(_) => {
                return Err(invalid(
                    entry_offset,
                    format!("physmap name not NUL terminated (entry {index})"),
                ));
            }
        };
        let text = match text {
            Some(text) if text.contains(&0) => {
                return Err(invalid(
                    entry_offset,
                    format!("physmap entry {index}: name holds a NUL before its end"),
                ));
            }
            Some(text) => Some(std::str::from_utf8(text).map_err(|_| {
                invalid(
                    entry_offset,
                    format!("physmap entry {index}: name is not UTF-8"),
                )
            })?),
            None => None,
        };
        let root = format!("physmap/{phys_offset:x}");
        let mut kv = vec![
            (format!("{root}/start_addr"), format!("{start_addr:x}")),
            (format!("{root}/size"), format!("{region_size:x}")),
        ];
        if let Some(text) = text {
            kv.push((format!("{root}/name"), text.to_owned()));
        }
        for (key, value) in kv {
            info(format!("    '{key}' = '{value}'"));
            if pairs.len() + key.len() + value.len() + 2 > pairs_limit {
                return Err(invalid(
                    entry_offset,
                    format!("physmap entries exceed {pairs_limit} bytes of xenstore data"),
                ));
            }
            pairs.extend_from_slice(key.as_bytes());
            pairs.push(0);
            pairs.extend_from_slice(value.as_bytes());
            pairs.push(0);
        }
    }
    // Bytes after the last entry are ignored, as upstream does.
    Ok(())
}

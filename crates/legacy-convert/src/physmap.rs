//! The libxl "toolstack" blob of chunk −18 (physmap entries, version 1),
//! turned into the xenstore key/value pairs of an EMULATOR_XENSTORE_DATA record.

use std::io::Read;

use crate::error::{Error, ErrorKind, Size};
use crate::format::Width;
use crate::reader::LegacyReader;
use crate::wire::{PhysmapEntryHeader, ToolstackHeader};

/// The longest name accepted: a xenstore value holds at most 4096 bytes.
const NAME_MAX: u64 = 4096;

/// The most xenstore data (`key\0value\0` pairs) the physmap may become.
///
/// The pairs go into an EMULATOR_XENSTORE_DATA record, which the libxl
/// stream puts after the libxc stream's END while the physmap sits in the
/// middle of the image body: they have to be held until then. libxl 4.5
/// writes one entry per qemu memory region it relocated (the VGA memory,
/// option ROMs: a handful, about 100 bytes of pairs each), and xenstored's
/// default quota lets a domain hold 1,000 nodes; 1 MiB is room for thousands
/// of entries with short names, or 250 with 4 KiB ones.
pub const XENSTORE_DATA_CAP: usize = 1 << 20;

/// Reads the toolstack payload (`size` bytes) of the current chunk from
/// `reader` and appends `key\0value\0` pairs to `pairs`, which may not grow
/// beyond [`XENSTORE_DATA_CAP`] bytes. `info` receives upstream's verbose lines.
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
    info: &mut dyn FnMut(String),
) -> Result<(), Error> {
    let start = reader.offset();
    let at = |offset: u64| move |kind| Error::new(kind, offset, None);
    if size < 8 {
        return Err(at(start)(ErrorKind::ShortToolstack { size }));
    }
    let header: ToolstackHeader = reader.read_payload_item()?;
    let (version, count) = (header.version.get(), header.count.get());
    if version != 1 {
        return Err(at(start)(ErrorKind::UnknownToolstackVersion { version }));
    }
    info(format!("    Version {version}, count {count}"));
    let mut remaining = u64::from(size) - 8;
    let slack: u64 = if width == Width::W64 { 4 } else { 0 };
    let mut name = Vec::new();
    for entry in 0..count {
        let fail = at(reader.offset());
        let raw = read_entry(reader, (entry, count), &mut remaining, slack, &mut name)?;
        let text = name_text(&name, entry).map_err(&fail)?;
        let root = format!("physmap/{:x}", raw.phys_offset.get());
        let mut kv = vec![
            (
                format!("{root}/start_addr"),
                format!("{:x}", raw.start_addr.get()),
            ),
            (format!("{root}/size"), format!("{:x}", raw.size.get())),
        ];
        if let Some(text) = text {
            kv.push((format!("{root}/name"), text.to_owned()));
        }
        for (key, value) in kv {
            info(format!("    '{key}' = '{value}'"));
            push_pair(pairs, &key, &value).map_err(&fail)?;
        }
    }
    // Bytes after the last entry are ignored, as upstream does.
    Ok(())
}

/// Reads entry `entry` of `count` (its header, its `namelen`-byte name into
/// `name`, and on 64-bit toolstacks the 4 bytes of padding after it) within
/// the `remaining` bytes of the blob, which it reduces by what it read.
fn read_entry<R: Read>(
    reader: &mut LegacyReader<R>,
    (entry, count): (u32, u32),
    remaining: &mut u64,
    slack: u64,
    name: &mut Vec<u8>,
) -> Result<PhysmapEntryHeader, Error> {
    let offset = reader.offset();
    let fail = |kind| Error::new(kind, offset, None);
    let Some(left) = remaining.checked_sub(28) else {
        return Err(fail(ErrorKind::PhysmapHeaderOverrun {
            entry,
            count,
            left: *remaining,
        }));
    };
    *remaining = left;
    let raw: PhysmapEntryHeader = reader.read_payload_item()?;
    let namelen = u64::from(raw.namelen.get());
    if namelen > NAME_MAX {
        return Err(fail(ErrorKind::PhysmapNameTooLong {
            entry,
            len: namelen,
            max: NAME_MAX,
        }));
    }
    let stored = namelen + slack;
    if *remaining < stored {
        return Err(fail(ErrorKind::PhysmapNameOverrun {
            entry,
            needed: stored,
            left: *remaining,
        }));
    }
    name.clear();
    name.resize(namelen as usize, 0);
    reader.read_payload(name)?;
    let mut padding = [0u8; 4];
    reader.read_payload(&mut padding[..slack as usize])?;
    *remaining -= stored;
    Ok(raw)
}

/// Appends `key\0value\0` to `pairs`, unless that would pass
/// [`XENSTORE_DATA_CAP`].
fn push_pair(pairs: &mut Vec<u8>, key: &str, value: &str) -> Result<(), ErrorKind> {
    let needed = pairs.len() + key.len() + value.len() + 2;
    if needed > XENSTORE_DATA_CAP {
        return Err(ErrorKind::TooLarge {
            what: "the physmap's xenstore data",
            found: Size::AtLeast(needed as u64),
            cap: XENSTORE_DATA_CAP as u64,
        });
    }
    crate::reader::grow_within(pairs, needed - pairs.len(), XENSTORE_DATA_CAP);
    pairs.extend_from_slice(key.as_bytes());
    pairs.push(0);
    pairs.extend_from_slice(value.as_bytes());
    pairs.push(0);
    Ok(())
}

/// The name of entry `entry` without its NUL (`None` for no name), if it is
/// one xenstore can hold.
fn name_text(name: &[u8], entry: u32) -> Result<Option<&str>, ErrorKind> {
    let text = match name.split_last() {
        None => return Ok(None),
        Some((0, text)) => text,
        Some(_) => return Err(ErrorKind::PhysmapNameNotTerminated { entry }),
    };
    if text.contains(&0) {
        return Err(ErrorKind::PhysmapNameEmbeddedNul { entry });
    }
    std::str::from_utf8(text)
        .map(Some)
        .map_err(|_| ErrorKind::PhysmapNameNotUtf8 { entry })
}

//! The HVM_CONTEXT body: Xen's chain of HVM save records (a descriptor,
//! then its data), decoded lazily.

use zerocopy::{FromBytes, IntoBytes};

use super::PayloadError;
use crate::types::HvmSaveCode;
use crate::wire::{HvmSaveDescriptor, HvmSaveHeader};

/// One entry of an HVM context: descriptor and data.
///
/// ```
/// use migration_stream::payload::HvmContext;
/// use migration_stream::types::HvmSaveCode;
/// use migration_stream::wire::HvmSaveHeader;
/// use zerocopy::IntoBytes;
///
/// let header = HvmSaveHeader::new(0x4_0013, 0xa06a4, 2_000_000);
/// let body = HvmContext::encode(&[
///     (HvmSaveCode::HEADER, 0, header.as_bytes()),
///     (HvmSaveCode::CPU, 1, &[0; 16]),
/// ]);
/// let mut entries = HvmContext::parse(&body)?.iter();
/// let first = entries.next().expect("HEADER")?;
/// assert_eq!(first.save_header(), Some(&header));
/// let cpu = entries.next().expect("CPU")?;
/// assert_eq!((cpu.code, cpu.instance, cpu.offset, cpu.data.len()), (HvmSaveCode::CPU, 1, 8 + 24, 16));
/// assert_eq!(cpu.save_header(), None, "16 bytes are too short for a save header");
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HvmContextEntry<'a> {
    /// The save record type.
    pub code: HvmSaveCode,
    /// The instance (e.g. vCPU number).
    pub instance: u16,
    /// Offset of the descriptor within the HVM_CONTEXT body.
    pub offset: usize,
    /// The data after the descriptor.
    pub data: &'a [u8],
}

impl<'a> HvmContextEntry<'a> {
    /// The data as the HEADER entry's [`HvmSaveHeader`], if it is long enough.
    pub fn save_header(&self) -> Option<&'a HvmSaveHeader> {
        HvmSaveHeader::ref_from_prefix(self.data)
            .ok()
            .map(|(h, _)| h)
    }
}

/// An HVM_CONTEXT body: a chain of descriptors, HEADER first and END last.
///
/// ```
/// use migration_stream::payload::HvmContext;
/// use migration_stream::types::{HVM_FILE_MAGIC, HvmSaveCode};
/// use migration_stream::wire::HvmSaveHeader;
/// use zerocopy::IntoBytes;
///
/// let header = HvmSaveHeader::new(0x4_0013, 0xa06a4, 2_000_000);
/// let body = HvmContext::encode(&[
///     (HvmSaveCode::HEADER, 0, header.as_bytes()),
///     (HvmSaveCode::CPU, 0, &[0; 16]),
///     (HvmSaveCode::END, 0, &[]),
/// ]);
/// let context = HvmContext::parse(&body)?;
/// let codes: Vec<_> = context.iter().map(|e| e.map(|e| e.code)).collect::<Result<_, _>>()?;
/// assert_eq!(codes, [HvmSaveCode::HEADER, HvmSaveCode::CPU, HvmSaveCode::END]);
/// let first = context.iter().next().unwrap()?;
/// assert_eq!(first.save_header().map(|h| h.magic.get()), Some(HVM_FILE_MAGIC));
/// assert_eq!(context.trailing_after_end(), Some(0));
/// let mut longer = body.clone();
/// longer.extend_from_slice(&[0; 4]);
/// assert_eq!(HvmContext::parse(&longer)?.trailing_after_end(), Some(4));
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HvmContext<'a> {
    body: &'a [u8],
}

impl<'a> HvmContext<'a> {
    /// Wraps the body; the chain is decoded lazily by [`iter`](Self::iter).
    pub fn parse(body: &'a [u8]) -> Result<Self, PayloadError> {
        Ok(HvmContext { body })
    }

    /// The entries in order. An entry that does not fit yields one error and
    /// ends the iteration. Iteration also ends after the END entry; bytes after
    /// it are reported by [`trailing_after_end`](Self::trailing_after_end).
    pub fn iter(&self) -> HvmContextIter<'a> {
        HvmContextIter {
            body: self.body,
            at: 0,
            finished: false,
        }
    }

    /// Bytes after the END entry, or `None` when there is no well-formed END.
    pub fn trailing_after_end(&self) -> Option<usize> {
        let mut iter = self.iter();
        for entry in iter.by_ref() {
            match entry {
                Ok(e) if e.code == HvmSaveCode::END => return Some(self.body.len() - iter.at),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Encodes a chain from `(code, instance, data)` entries (add HEADER and END yourself).
    pub fn encode(entries: &[(HvmSaveCode, u16, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (code, instance, data) in entries {
            let descriptor = HvmSaveDescriptor {
                typecode: code.0.into(),
                instance: (*instance).into(),
                length: u32::try_from(data.len()).unwrap_or(u32::MAX).into(),
            };
            out.extend_from_slice(descriptor.as_bytes());
            out.extend_from_slice(data);
        }
        out
    }
}

/// Iterator over the entries of an [`HvmContext`].
///
/// ```
/// use migration_stream::payload::HvmContext;
/// use migration_stream::types::HvmSaveCode;
///
/// let mut body = HvmContext::encode(&[(HvmSaveCode::CPU, 0, &[0; 16])]);
/// body.extend_from_slice(&[2, 0, 0, 0, 99, 0, 0, 0]); // an entry claiming 99 bytes
/// let entries: Vec<_> = HvmContext::parse(&body)?.iter().collect();
/// assert_eq!(entries.len(), 2);
/// assert!(entries[0].is_ok());
/// assert_eq!(entries[1].as_ref().unwrap_err().offset(), 24); // then the iteration ends
/// # Ok::<(), migration_stream::PayloadError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HvmContextIter<'a> {
    body: &'a [u8],
    at: usize,
    finished: bool,
}

impl<'a> Iterator for HvmContextIter<'a> {
    type Item = Result<HvmContextEntry<'a>, PayloadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished || self.at >= self.body.len() {
            return None;
        }
        let rest = self.body.get(self.at..).unwrap_or_default();
        let Ok((descriptor, after)) = HvmSaveDescriptor::ref_from_prefix(rest) else {
            self.finished = true;
            return Some(Err(PayloadError::EntryOverrun {
                what: "HVM context descriptor",
                at: self.at,
                expected: 8,
                found: rest.len(),
            }));
        };
        let length = descriptor.length.get();
        let Some(data) = after.get(..length as usize) else {
            self.finished = true;
            return Some(Err(PayloadError::EntryOverrun {
                what: "HVM context entry",
                at: self.at,
                expected: 8 + u64::from(length),
                found: rest.len(),
            }));
        };
        let entry = HvmContextEntry {
            code: HvmSaveCode(descriptor.typecode.get()),
            instance: descriptor.instance.get(),
            offset: self.at,
            data,
        };
        self.at += 8 + data.len();
        if entry.code == HvmSaveCode::END {
            self.finished = true;
        }
        Some(Ok(entry))
    }
}

//! What follows the final END: nothing, or in a converted legacy HVM stream
//! the raw qemu record the converter appends.

use super::{Engine, Step};
use crate::report::LegacyQemuRecord;
use crate::report::Place;
use crate::rules::Breach;
use migration_stream::source::ByteSource;
use migration_stream::types::DomainType;
use migration_stream::wire::Le32;
use zerocopy::FromBytes;

/// What the converter appends after END of a libxc-format HVM stream.
const LEGACY_QEMU_SIGNATURE: &[u8; 21] = b"DeviceModelRecord0002";

/// The signature and the length word that precede the qemu data.
#[derive(FromBytes)]
#[repr(C)]
struct LegacyQemuHeader {
    signature: [u8; 21],
    length: Le32,
}

impl<S: ByteSource> Engine<'_, S> {
    pub(super) fn trailing_data(&mut self) -> Step {
        if self.at_end()? {
            return Ok(());
        }
        self.set_place(Place::TrailingData, None);
        let qemu_allowed = !self.libxc.in_libxl
            && self.libxc.legacy_converted
            && self.libxc.domain == Some(DomainType::X86_HVM);
        if qemu_allowed && self.legacy_qemu_record()? {
            if self.at_end()? {
                return Ok(());
            }
            self.set_place(Place::TrailingData, None);
        }
        let at = self.input.offset();
        self.broken(Breach::TrailingData { at })
    }

    /// Passes over the raw qemu record if one starts here; says whether it did.
    fn legacy_qemu_record(&mut self) -> Step<bool> {
        let offset = self.input.offset();
        let peeked = self
            .input
            .peek(size_of::<LegacyQemuHeader>())
            .map(|bytes| LegacyQemuHeader::read_from_bytes(bytes).ok());
        let header = match peeked {
            Ok(Some(header)) if header.signature == *LEGACY_QEMU_SIGNATURE => header,
            Ok(_) => return Ok(false),
            Err(err) => return Err(self.input_error(err)),
        };
        let length = header.length.get();
        self.skip(size_of::<LegacyQemuHeader>() as u64)?;
        self.place.kind = Place::LegacyQemuRecord;
        self.skip(u64::from(length))?;
        self.report.legacy_qemu_record = Some(LegacyQemuRecord {
            offset,
            signature: String::from_utf8_lossy(LEGACY_QEMU_SIGNATURE).into_owned(),
            length,
        });
        self.info(|| {
            format!("Legacy qemu record after END: DeviceModelRecord0002, {length} bytes")
        });
        Ok(true)
    }
}

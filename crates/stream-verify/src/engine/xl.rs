//! The xl save header: magic, byte order, mandatory flags and the optional
//! data holding the domain configuration.

use super::{Engine, Step};
use crate::Format;
use crate::report::{Place, XlSummary};
use crate::rules::Breach;
use migration_stream::source::ByteSource;
use migration_stream::types::{XL_BYTEORDER, XlMandatoryFlags};
use migration_stream::wire::{self, Le32};
use zerocopy::FromZeros;

impl<S: ByteSource> Engine<'_, S> {
    /// Checks the xl header; returns whether a libxl (STREAMv2) stream follows.
    pub(super) fn xl_header(&mut self) -> Step<bool> {
        self.set_place(Place::XlHeader, None);
        let mut header = wire::XlHeader::new_zeroed();
        // The magic alone first: a short file that is not an xl file says so.
        self.read_exact(&mut header.magic)?;
        if !header.has_magic() {
            let hint = self.lookalike(&header.magic, Format::Xl);
            return self.broken(Breach::XlMagic { hint });
        }
        for field in [
            &mut header.byteorder,
            &mut header.mandatory_flags,
            &mut header.optional_flags,
            &mut header.optional_data_len,
        ] {
            self.read_exact(field)?;
        }
        // The C reader takes the fields in its own byte order; x86 is little endian.
        let field = |raw: [u8; 4]| Le32::from_bytes(raw).get();
        let byte_order = field(header.byteorder);
        let mandatory = field(header.mandatory_flags);
        let optional_len = field(header.optional_data_len);
        if byte_order != XL_BYTEORDER {
            return self.broken(Breach::XlByteOrder { byte_order });
        }
        let unknown = mandatory & !XlMandatoryFlags::all().bits();
        if unknown != 0 {
            return self.broken(Breach::XlMandatoryFlags { unknown, mandatory });
        }
        let config_len = self.xl_optional_data(optional_len)?;
        self.report.xl_header = Some(XlSummary {
            mandatory_flags: mandatory,
            optional_flags: field(header.optional_flags),
            optional_data_len: optional_len,
            config_len,
        });
        self.info(|| "Processed xl header".to_owned());
        Ok(XlMandatoryFlags::from_bits_retain(mandatory).contains(XlMandatoryFlags::STREAM_V2))
    }

    /// Checks that the config length word fits the optional data, then skips
    /// it all; returns the config length (none without optional data).
    fn xl_optional_data(&mut self, optional_len: u32) -> Step<Option<u32>> {
        if optional_len == 0 {
            return Ok(None);
        }
        let word_len = size_of::<Le32>() as u32;
        if optional_len < word_len {
            return self.broken(Breach::XlConfigLengthMissing { optional_len });
        }
        let config_len = self.read_wire::<Le32>()?.get();
        if config_len > optional_len - word_len {
            return self.broken(Breach::XlConfigLength {
                config_len,
                optional_len,
            });
        }
        self.skip(u64::from(optional_len - word_len))?;
        Ok(Some(config_len))
    }
}

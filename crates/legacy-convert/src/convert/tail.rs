//! The end of an image: the PV tail (vCPU contexts, shared info), the HVM
//! tail (magic pfns, HVM context), the libxl emulator records and the qemu
//! record.

use std::io::Read;

use migration_stream::sink::CopySink;
use migration_stream::types::{EmulatorId, LibxlRecordType, REC_LENGTH_MAX, RecordType};
use migration_stream::wire::{EmulatorHeader, VcpuHeader};
use zerocopy::IntoBytes;

use super::{Converter, OutputFormat, QEMU_HELD_CAP, info};
use crate::error::{Error, ErrorKind, Size};
use crate::format::{PAGE_SIZE, QemuSignature, hvm_param, python_bytes_repr};
use crate::reader::Event;
use crate::wire::u32_bytes;

impl<R: Read, W: CopySink> Converter<'_, R, W> {
    /// A vCPU record: the 8-byte header of `id` and the current payload.
    fn vcpu_record(&mut self, raw_type: u32, id: u32, what: &'static str) -> Result<(), Error> {
        let Some(len) = self.reader.payload_remaining() else {
            return Err(self.unexpected("a vcpu payload of known length"));
        };
        let length = 8 + len;
        if length > u64::from(REC_LENGTH_MAX) {
            return Err(self.error(ErrorKind::RecordTooLong { what, length: len }));
        }
        self.begin_record(raw_type, length, what)?;
        let header = VcpuHeader {
            vcpu_id: id.into(),
            reserved: 0.into(),
        };
        self.write_body(header.as_bytes(), what)?;
        self.reader.copy_payload(&mut self.out)?;
        self.end_record(what)
    }

    pub(super) fn convert_pv_tail(&mut self) -> Result<(), Error> {
        loop {
            match self.next()? {
                Event::UnmappedPfns { count } => {
                    if count != 0 {
                        info!(self.observer, "discarding {count} bogus 'unmapped pfns'");
                    }
                }
                Event::VcpuBasic { id, size } => {
                    info!(self.observer, "Got VCPU basic (size 0x{size:x})");
                    self.vcpu_record(RecordType::X86_PV_VCPU_BASIC.0, id, "vcpu context")?;
                }
                Event::VcpuExtended { id } => {
                    info!(self.observer, "Got VCPU extd (size 0x80)");
                    let what = "extended vcpu context";
                    self.vcpu_record(RecordType::X86_PV_VCPU_EXTENDED.0, id, what)?;
                }
                Event::VcpuXsave { id, mask, size } => {
                    info!(
                        self.observer,
                        "Got VCPU xsave (mask 0x{mask:x}, size 0x{size:x})"
                    );
                    self.vcpu_record(RecordType::X86_PV_VCPU_XSAVE.0, id, "xsave area")?;
                }
                Event::SharedInfo => {
                    info!(self.observer, "Got shinfo");
                    let what = "the shared info page";
                    self.begin_record(RecordType::SHARED_INFO.0, PAGE_SIZE as u64, what)?;
                    self.reader.copy_payload(&mut self.out)?;
                    self.end_record(what)?;
                    return self.record(RecordType::END.0, &[]);
                }
                _ => return Err(self.unexpected("the PV tail")),
            }
        }
    }

    pub(super) fn convert_hvm_tail(&mut self) -> Result<(), Error> {
        let Event::MagicPfns {
            ioreq,
            bufioreq,
            store,
        } = self.next()?
        else {
            return Err(self.unexpected("the magic pfns"));
        };
        info!(
            self.observer,
            "Magic pfns: 0x{ioreq:x} 0x{bufioreq:x} 0x{store:x}"
        );
        self.write_hvm_params(&[
            (hvm_param::IOREQ_PFN, ioreq),
            (hvm_param::BUFIOREQ_PFN, bufioreq),
            (hvm_param::STORE_PFN, store),
        ])?;
        let Event::HvmContext { size } = self.next()? else {
            return Err(self.unexpected("the HVM context"));
        };
        info!(self.observer, "Got HVM Context (0x{size:x} bytes)");
        let what = "the HVM context";
        if size > REC_LENGTH_MAX {
            return Err(self.error(ErrorKind::RecordTooLong {
                what,
                length: u64::from(size),
            }));
        }
        self.begin_record(RecordType::HVM_CONTEXT.0, u64::from(size), what)?;
        self.reader.copy_payload(&mut self.out)?;
        self.end_record(what)?;
        self.record(RecordType::END.0, &[])
    }

    /// EMULATOR_XENSTORE_DATA from the physmap's pairs (emulator 0: unknown,
    /// as libxl's own legacy conversion writes it).
    pub(super) fn write_xenstore_data(&mut self) -> Result<(), Error> {
        let what = "the xenstore data";
        let pairs = std::mem::take(&mut self.xenstore);
        let header = EmulatorHeader {
            id: EmulatorId::UNKNOWN.0.into(),
            index: 0.into(),
        };
        let length = (header.as_bytes().len() + pairs.len()) as u64;
        self.begin_record(LibxlRecordType::EMULATOR_XENSTORE_DATA.0, length, what)?;
        self.write_body(header.as_bytes(), what)?;
        self.write_body(&pairs, what)?;
        self.end_record(what)
    }

    pub(super) fn convert_qemu(&mut self) -> Result<(), Error> {
        let Event::Qemu { signature, size } = self.next()? else {
            return Err(self.unexpected("the qemu record"));
        };
        info!(
            self.observer,
            "Qemu signature: {}",
            python_bytes_repr(signature.bytes())
        );
        if let (None, Some(total)) = (size, self.options.input_len) {
            let left = total.saturating_sub(self.reader.offset());
            self.reader.bound_payload(left);
        }
        let mut held = Vec::new();
        let len = match self.reader.payload_remaining() {
            Some(len) => len,
            None => {
                // Runs to the end of an input of unknown length: hold it, within the cap.
                let start = self.reader.offset();
                self.reader
                    .read_payload_capped(&mut held, QEMU_HELD_CAP)
                    .map_err(|err| match err.kind() {
                        ErrorKind::TooLarge { .. } => Error::new(
                            ErrorKind::TooLarge {
                                what: "a qemu record that runs to the end of an input of \
                                       unknown length (read from a pipe)",
                                found: Size::AtLeast(QEMU_HELD_CAP),
                                cap: QEMU_HELD_CAP,
                            },
                            start,
                            None,
                        ),
                        _ => err,
                    })?;
                held.len() as u64
            }
        };
        let what = "the qemu record";
        if len > u64::from(REC_LENGTH_MAX) - 8 {
            return Err(self.error(ErrorKind::RecordTooLong { what, length: len }));
        }
        match self.options.format {
            OutputFormat::Libxc => {
                // Upstream appends the legacy record after END as it was; it
                // only knows DeviceModelRecord0002, so the other two signatures
                // are written in that form (the form verifiers recognise).
                self.write_raw(QemuSignature::DeviceModelRecord0002.bytes(), what)?;
                self.write_raw(&u32_bytes(len as u32), what)?;
                self.write_raw(&held, what)?;
                self.reader.copy_payload_to_end(self.out.get_mut())?;
                Ok(())
            }
            OutputFormat::Libxl => {
                self.begin_record(LibxlRecordType::EMULATOR_CONTEXT.0, 8 + len, what)?;
                let header = EmulatorHeader {
                    id: EmulatorId::UNKNOWN.0.into(),
                    index: 0.into(),
                };
                self.write_body(header.as_bytes(), what)?;
                self.write_body(&held, what)?;
                self.reader.copy_payload(&mut self.out)?;
                self.end_record(what)
            }
        }
    }
}

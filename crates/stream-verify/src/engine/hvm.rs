//! The HVM records: HVM_CONTEXT's descriptor chain and HVM_PARAMS.

use super::{Engine, Step};
use crate::rules::Breach;
use migration_stream::source::ByteSource;
use migration_stream::types::{HVM_FILE_MAGIC, HVM_FILE_VERSION, HvmParam, HvmSaveCode};
use migration_stream::wire::{HvmParamsEntry, HvmParamsHeader, HvmSaveDescriptor, HvmSaveHeader};

impl<S: ByteSource> Engine<'_, S> {
    /// Walks the descriptor chain: one HEADER first, known typecodes, one
    /// END last and nothing after it. Descriptor data is skipped.
    pub(super) fn hvm_context(&mut self, length: u32) -> Step {
        if length == 0 {
            return self.broken(Breach::HvmContextEmpty);
        }
        let mut position: u64 = 0;
        let mut first = true;
        loop {
            if self.body_left == 0 {
                return self.broken(Breach::HvmContextEndMissing);
            }
            let left = self.body_left;
            if left < size_of::<HvmSaveDescriptor>() as u64 {
                return self.broken(Breach::HvmContextDescriptorCut { position, left });
            }
            let descriptor: HvmSaveDescriptor = self.body_wire()?;
            let code = HvmSaveCode(descriptor.typecode.get());
            let data_len = u64::from(descriptor.length.get());
            if data_len > self.body_left {
                return self.broken(Breach::HvmContextDescriptor {
                    code: code.0,
                    length: data_len,
                    position,
                    left: self.body_left,
                });
            }
            self.hvm_entry(code, data_len, position, first)?;
            first = false;
            *self.report.hvm_context_descriptors.entry(code).or_insert(0) += 1;
            if code == HvmSaveCode::CPU {
                // An HVM guest's vCPUs are the instances of its CPU descriptors.
                self.note_vcpu(u32::from(descriptor.instance.get()));
            }
            if code == HvmSaveCode::END {
                return Ok(());
            }
            position += size_of::<HvmSaveDescriptor>() as u64 + data_len;
        }
    }

    /// Checks (or skips) the data of one descriptor at `position` in the body.
    fn hvm_entry(&mut self, code: HvmSaveCode, data_len: u64, position: u64, first: bool) -> Step {
        if first || code == HvmSaveCode::HEADER {
            if !first
                || code != HvmSaveCode::HEADER
                || data_len != size_of::<HvmSaveHeader>() as u64
            {
                return self.broken(Breach::HvmContextHeader {
                    code: code.0,
                    length: data_len,
                    position,
                });
            }
            let header: HvmSaveHeader = self.body_wire()?;
            let (magic, version) = (header.magic.get(), header.version.get());
            if magic != HVM_FILE_MAGIC || version != HVM_FILE_VERSION {
                return self.broken(Breach::HvmContextHeaderMagic { magic, version });
            }
        } else if code == HvmSaveCode::END {
            if data_len != 0 || self.body_left != 0 {
                let after = self.body_left - data_len;
                return self.broken(Breach::HvmContextEnd {
                    position,
                    length: data_len,
                    after,
                });
            }
        } else if code > HvmSaveCode::MAX {
            return self.broken(Breach::HvmContextDescriptorCode {
                code: code.0,
                length: data_len,
                position,
            });
        } else {
            self.skip_body(data_len)?;
        }
        Ok(())
    }

    /// Checks the parameters: known indices, each at most once per record.
    pub(super) fn hvm_params(&mut self, length: u32) -> Step {
        let header_len = size_of::<HvmParamsHeader>() as u64;
        if u64::from(length) < header_len {
            return self.broken(Breach::HvmParamsShort);
        }
        let header: HvmParamsHeader = self.body_wire()?;
        let (count, reserved) = (header.count.get(), header.reserved.get());
        if reserved != 0 {
            return self.broken(Breach::HvmParamsReserved { reserved });
        }
        if count == 0 {
            self.warn("HVM_PARAMS record with zero content".to_owned());
        }
        let expected = header_len + size_of::<HvmParamsEntry>() as u64 * u64::from(count);
        if u64::from(length) != expected {
            return self.broken(Breach::HvmParamsLength { expected });
        }
        let mut seen: u64 = 0;
        for _ in 0..count {
            let entry: HvmParamsEntry = self.body_wire()?;
            let (index, value) = (entry.index.get(), entry.value.get());
            let Some(name) = HvmParam(index).name() else {
                return self.broken(Breach::HvmParamsUnknown { index });
            };
            // Every named param is below 64, so one bit each is enough.
            let bit = 1u64 << (index & 63);
            if seen & bit != 0 {
                return self.broken(Breach::HvmParamsDuplicate { name, index });
            }
            seen |= bit;
            self.report.hvm_params.insert(HvmParam(index), value);
        }
        Ok(())
    }
}

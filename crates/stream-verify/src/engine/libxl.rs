//! The libxl layer: its header, its records (the libxc stream inside
//! LIBXC_CONTEXT, emulator records, checkpoint records) and END.

use super::libxc::LibxcExit;
use super::{Engine, Step};
use crate::Format;
use crate::report::Place;
use crate::rules::Breach;
use migration_stream::source::ByteSource;
use migration_stream::types::{
    DomainType, EmulatorId, LIBXL_IDENT, LIBXL_VERSION, LibxlRecordType,
};
use migration_stream::wire::{EmulatorHeader, LIBXL_OPTIONS_RESERVED, Le32, LibxlHeader};
use zerocopy::IntoBytes;

/// What the libxl record loop does after a record.
enum Next {
    /// Read the next record.
    Record,
    /// The stream is over: `true` when it stopped at a checkpoint boundary
    /// without END (a Remus/COLO stream cut at failover).
    Done(bool),
}

impl<S: ByteSource> Engine<'_, S> {
    /// Walks a libxl stream; returns true when it ended at a checkpoint boundary
    /// without END (a Remus/COLO stream cut at failover).
    pub(super) fn libxl_stream(&mut self) -> Step<bool> {
        self.libxl_header()?;
        loop {
            let (raw, length) =
                self.record_header(|raw| Place::LibxlRecord(LibxlRecordType(raw)))?;
            let kind = LibxlRecordType(raw);
            let Some(name) = kind.display_name() else {
                return self.broken(Breach::LibxlUnknownRecord { raw });
            };
            self.info(|| format!("Libxl Record: {name}, length {length}"));
            self.tally.libxl_record(raw);
            if let Next::Done(cut) = self.libxl_record(kind, length)? {
                return Ok(cut);
            }
        }
    }

    fn libxl_header(&mut self) -> Step {
        self.set_place(Place::LibxlHeader, None);
        let header: LibxlHeader = self.read_wire()?;
        let (ident, version) = (header.ident.get(), header.version.get());
        if ident != LIBXL_IDENT {
            let hint = self.lookalike(header.ident.as_bytes(), Format::Libxl);
            return self.broken(Breach::LibxlIdent { ident, hint });
        }
        if version != LIBXL_VERSION {
            return self.broken(Breach::LibxlVersion { version });
        }
        let reserved = header.options.get() & LIBXL_OPTIONS_RESERVED;
        if reserved != 0 {
            return self.broken(Breach::LibxlOptions { reserved });
        }
        if header.is_big_endian() {
            return self.broken(Breach::LibxlEndian);
        }
        let legacy = header.is_legacy();
        self.report.libxl_version = Some(version);
        self.report.libxl_legacy = legacy;
        self.info(|| {
            if legacy {
                "Libxl Header: little endian, legacy converted".to_owned()
            } else {
                "Libxl Header: little endian".to_owned()
            }
        });
        Ok(())
    }

    /// Checks one libxl record of a known type and consumes it.
    fn libxl_record(&mut self, kind: LibxlRecordType, length: u32) -> Step<Next> {
        match kind {
            LibxlRecordType::END => {
                if length != 0 {
                    return self.broken(Breach::LibxlEndLength);
                }
                if !self.libxl.libxc_context_seen {
                    return self.broken(Breach::LibxcContextMissing);
                }
                self.finish_record(length)?;
                Ok(Next::Done(false))
            }
            LibxlRecordType::LIBXC_CONTEXT => {
                self.libxc_context(length)?;
                Ok(Next::Record)
            }
            LibxlRecordType::EMULATOR_XENSTORE_DATA => {
                let (id, instance) = self.emulator_header(length)?;
                let name = emulator_name(id);
                self.info(|| format!("Emulator Xenstore Data ({name}, idx {instance})"));
                self.xenstore_data()?;
                self.finish_record(length)?;
                Ok(Next::Record)
            }
            LibxlRecordType::EMULATOR_CONTEXT => {
                let (id, instance) = self.emulator_header(length)?;
                self.info(|| format!("  Index {instance}, type {}", emulator_name(id)));
                self.finish_record(length)?;
                Ok(Next::Record)
            }
            LibxlRecordType::CHECKPOINT_END => self.checkpoint_end(length),
            // CHECKPOINT_STATE: the only type left.
            _ => self.checkpoint_state(length),
        }
    }

    /// LIBXC_CONTEXT: the libxc stream follows inline, to its END or CHECKPOINT.
    fn libxc_context(&mut self, length: u32) -> Step {
        if length != 0 {
            return self.broken(Breach::LibxcContextLength);
        }
        if self.libxl.libxc_context_seen {
            return self.broken(Breach::LibxcContextRepeated);
        }
        self.libxl.libxc_context_seen = true;
        self.finish_record(length)?;
        self.libxc.in_libxl = true;
        if let LibxcExit::Checkpoint = self.libxc_stream()? {
            self.libxl.awaiting_checkpoint_end = true;
        }
        Ok(())
    }

    /// CHECKPOINT_END: the next round of libxc records follows (no new headers).
    fn checkpoint_end(&mut self, length: u32) -> Step<Next> {
        if length != 0 {
            return self.broken(Breach::CheckpointEndLength);
        }
        if !self.libxl.awaiting_checkpoint_end {
            return self.broken(Breach::CheckpointEndUnexpected);
        }
        self.libxl.awaiting_checkpoint_end = false;
        self.finish_record(length)?;
        match self.libxc_records(true)? {
            LibxcExit::Checkpoint => self.libxl.awaiting_checkpoint_end = true,
            LibxcExit::End => {}
            LibxcExit::CleanEof => {
                let rounds = self.report.checkpoint_rounds;
                self.set_place(Place::EndOfStream, None);
                self.warn(format!(
                    "stream ends after checkpoint round {rounds} without END (a Remus/COLO stream cut at failover)"
                ));
                return Ok(Next::Done(true));
            }
        }
        Ok(Next::Record)
    }

    /// CHECKPOINT_STATE belongs on the COLO back channel, never in a stream;
    /// its body is checked first so that the message can say more.
    fn checkpoint_state(&mut self, length: u32) -> Step<Next> {
        if length == 0 {
            return self.broken(Breach::CheckpointStateEmpty);
        }
        if length != 4 {
            return self.broken(Breach::CheckpointStateLength { length });
        }
        let id = self.body_wire::<Le32>()?.get();
        if id > 3 {
            return self.broken(Breach::CheckpointStateId { id });
        }
        self.broken(Breach::CheckpointStateUnexpected)
    }

    /// Checks an emulator sub-header; returns (id, index).
    fn emulator_header(&mut self, length: u32) -> Step<(u32, u32)> {
        if (length as usize) < size_of::<EmulatorHeader>() {
            return self.broken(Breach::EmulatorShort { length });
        }
        let header: EmulatorHeader = self.body_wire()?;
        let (id, instance) = (header.id.get(), header.index.get());
        if EmulatorId(id).display_name().is_none() {
            return self.broken(Breach::EmulatorId { id });
        }
        if self.libxc.domain == Some(DomainType::X86_PV) {
            return self.broken(Breach::EmulatorNotHvm);
        }
        if instance != 0 {
            self.warn(format!("emulator index {instance}; the writer only uses 0"));
        }
        if EmulatorId(id) == EmulatorId::QEMU_TRADITIONAL {
            self.warn(
                "emulator id 1 (qemu-traditional) is no longer written since Xen 4.21".to_owned(),
            );
        }
        if EmulatorId(id) == EmulatorId::UNKNOWN && !self.report.libxl_legacy {
            self.warn("emulator id 0 (Unknown) in a stream not marked legacy converted".to_owned());
        }
        Ok((id, instance))
    }
}

fn emulator_name(id: u32) -> &'static str {
    EmulatorId(id).display_name().unwrap_or("?")
}

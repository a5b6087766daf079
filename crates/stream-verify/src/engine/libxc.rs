//! The libxc layer: image and domain headers, the record loop (framing,
//! tallies, the domain-type and STATIC_DATA_END rules) and the records
//! small enough to check in a few lines.

use super::{Engine, Step};
use crate::Format;
use crate::report::Place;
use crate::report::XenVersion;
use crate::report::libxc_name;
use crate::rules::Breach;
use migration_stream::source::ByteSource;
use migration_stream::types::{
    DomainType, IMAGE_ID, IMAGE_MARKER, IMAGE_VERSION_MAX, IMAGE_VERSION_MIN, PAGE_SHIFT,
    REC_LENGTH_MAX, RecordType,
};
use migration_stream::wire::{DomainHeader, IMAGE_OPTIONS_RESERVED, ImageHeader, X86TscInfo};
use zerocopy::IntoBytes;

/// How a run of libxc records ended.
pub(super) enum LibxcExit {
    End,
    Checkpoint,
    /// End of input exactly where the next checkpoint round would start.
    CleanEof,
}

/// Records only a PV domain handles.
fn pv_only(kind: RecordType) -> bool {
    matches!(
        kind,
        RecordType::X86_PV_INFO
            | RecordType::X86_PV_P2M_FRAMES
            | RecordType::X86_PV_VCPU_BASIC
            | RecordType::X86_PV_VCPU_EXTENDED
            | RecordType::X86_PV_VCPU_XSAVE
            | RecordType::X86_PV_VCPU_MSRS
            | RecordType::SHARED_INFO
    )
}

/// Register and end-of-round records: not static data, so in v3 they come
/// after STATIC_DATA_END like memory does (PAGE_DATA, P2M_FRAMES and END
/// check it themselves, after upstream's own checks).
fn after_static_data(kind: RecordType) -> bool {
    matches!(
        kind,
        RecordType::X86_PV_VCPU_BASIC
            | RecordType::X86_PV_VCPU_EXTENDED
            | RecordType::X86_PV_VCPU_XSAVE
            | RecordType::X86_PV_VCPU_MSRS
            | RecordType::SHARED_INFO
            | RecordType::X86_TSC_INFO
            | RecordType::HVM_CONTEXT
            | RecordType::HVM_PARAMS
            | RecordType::VERIFY
            | RecordType::CHECKPOINT
    )
}

impl<S: ByteSource> Engine<'_, S> {
    pub(super) fn libxc_stream(&mut self) -> Step<LibxcExit> {
        self.image_header()?;
        self.domain_header()?;
        self.libxc_records(false)
    }

    fn image_header(&mut self) -> Step {
        self.set_place(Place::ImageHeader, None);
        let header: ImageHeader = self.read_wire()?;
        let (marker, id, version) = (header.marker.get(), header.id.get(), header.version.get());
        if marker != IMAGE_MARKER {
            let hint = self.lookalike(header.as_bytes(), Format::Libxc);
            return self.broken(Breach::ImageMarker { marker, hint });
        }
        if id != IMAGE_ID {
            return self.broken(Breach::ImageId { id });
        }
        if !(IMAGE_VERSION_MIN..=IMAGE_VERSION_MAX).contains(&version) {
            return self.broken(Breach::ImageVersion { version });
        }
        let reserved = header.options.get() & IMAGE_OPTIONS_RESERVED;
        if reserved != 0 {
            return self.broken(Breach::ImageOptions { reserved });
        }
        let (reserved1, reserved2) = (header.reserved1.get(), header.reserved2.get());
        if reserved1 != 0 || reserved2 != 0 {
            return self.broken(Breach::ImageReserved {
                reserved1,
                reserved2,
            });
        }
        if header.is_big_endian() {
            return self.broken(Breach::ImageEndian);
        }
        self.libxc.version = version;
        self.report.libxc_version = Some(version);
        self.info(|| format!("Libxc Image Header: Version {version}, little endian"));
        Ok(())
    }

    fn domain_header(&mut self) -> Step {
        self.set_place(Place::DomainHeader, None);
        let header: DomainHeader = self.read_wire()?;
        let kind = header.domain_type();
        let (page_shift, reserved) = (header.page_shift.get(), header.reserved.get());
        let (major, minor) = (header.xen_major.get(), header.xen_minor.get());
        let Some(name) = kind.display_name() else {
            return self.broken(Breach::DomainType {
                domain_type: kind.0,
            });
        };
        if reserved != 0 {
            return self.broken(Breach::DomainReserved { reserved });
        }
        if page_shift != PAGE_SHIFT {
            return self.broken(Breach::DomainPageShift { page_shift });
        }
        self.libxc.domain = Some(kind);
        self.report.domain_type = Some(kind);
        self.report.xen_version = Some(XenVersion { major, minor });
        self.libxc.legacy_converted = major == 0;
        if major == 0 {
            self.info(|| format!("Domain Header: legacy converted {name}"));
        } else {
            self.info(|| format!("Domain Header: {name} from Xen {major}.{minor}"));
        }
        Ok(())
    }

    /// The records up to END or CHECKPOINT; `resumed` after a CHECKPOINT_END,
    /// where the input may end cleanly instead.
    pub(super) fn libxc_records(&mut self, resumed: bool) -> Step<LibxcExit> {
        let mut may_end = resumed;
        loop {
            if may_end && self.at_end()? {
                return Ok(LibxcExit::CleanEof);
            }
            may_end = false;
            let (raw, length) = self.record_header(|raw| Place::LibxcRecord(RecordType(raw)))?;
            let kind = RecordType(raw);
            if !self.libxc_record_header(kind, length)? {
                continue;
            }
            self.check_domain_fit(kind)?;
            let exit = self.libxc_record(kind, length)?;
            self.finish_record(length)?;
            if let Some(exit) = exit {
                return Ok(exit);
            }
        }
    }

    /// Framing checks, tallies and upstream's line for a record header;
    /// returns false for an optional record, which is skipped here.
    fn libxc_record_header(&mut self, kind: RecordType, length: u32) -> Step<bool> {
        let named = kind.display_name();
        if named.is_none() && !kind.is_optional() {
            return self.broken(Breach::UnknownRecord { raw: kind.0 });
        }
        if length > REC_LENGTH_MAX {
            return self.broken(Breach::RecordTooLong { length });
        }
        self.tally.libxc_record(kind.0);
        if kind == RecordType::PAGE_DATA {
            self.libxc.squashed += 1;
            return Ok(true);
        }
        self.flush_squashed();
        let Some(name) = named else {
            self.info(|| {
                format!(
                    "Libxc Record: {}, length {length}, ignored",
                    libxc_name(kind)
                )
            });
            self.warn(format!("optional record type 0x{:08x} ignored", kind.0));
            self.finish_record(length)?;
            return Ok(false);
        };
        self.info(|| format!("Libxc Record: {name}, length {length}"));
        Ok(true)
    }

    /// Records that only one domain type handles, and PV's first-record rule.
    fn check_domain_fit(&mut self, kind: RecordType) -> Step {
        let hvm_only = matches!(kind, RecordType::HVM_CONTEXT | RecordType::HVM_PARAMS);
        let domain = self.libxc.domain.unwrap_or_default();
        if (pv_only(kind) && domain != DomainType::X86_PV)
            || (hvm_only && domain != DomainType::X86_HVM)
        {
            return self.broken(Breach::DomainRecordMismatch {
                record: kind.name().unwrap_or("?"),
                domain: domain.display_name().unwrap_or("unknown"),
            });
        }
        if domain == DomainType::X86_PV && !self.pv.first_checked {
            self.pv.first_checked = true;
            if kind != RecordType::X86_PV_INFO {
                return self.broken(Breach::PvInfoFirst {
                    found: libxc_name(kind).into_owned(),
                });
            }
        }
        Ok(())
    }

    /// v3: memory, registers and the end of a round come after STATIC_DATA_END.
    pub(super) fn require_sde(&mut self) -> Step {
        if self.libxc.version >= 3 && !self.libxc.sde_seen {
            return self.broken(Breach::SdeMissing);
        }
        Ok(())
    }

    /// Checks one libxc record of a known type; returns how the run ends
    /// when the record ends it.
    fn libxc_record(&mut self, kind: RecordType, length: u32) -> Step<Option<LibxcExit>> {
        if after_static_data(kind) {
            self.require_sde()?;
        }
        match kind {
            RecordType::END => return self.end_record(length).map(Some),
            RecordType::CHECKPOINT => return self.checkpoint(length).map(Some),
            RecordType::PAGE_DATA => self.page_data(length)?,
            RecordType::X86_PV_INFO => self.pv_info(length)?,
            RecordType::X86_PV_P2M_FRAMES => self.p2m_frames(length)?,
            RecordType::X86_PV_VCPU_BASIC => self.vcpu(length, "basic")?,
            RecordType::X86_PV_VCPU_EXTENDED => self.vcpu(length, "extended")?,
            RecordType::X86_PV_VCPU_XSAVE => self.vcpu(length, "xsave")?,
            RecordType::X86_PV_VCPU_MSRS => self.vcpu(length, "msrs")?,
            RecordType::SHARED_INFO if length != 4096 => {
                return self.broken(Breach::SharedInfoLength { length });
            }
            RecordType::X86_TSC_INFO => self.tsc_info(length)?,
            RecordType::HVM_CONTEXT => self.hvm_context(length)?,
            RecordType::HVM_PARAMS => self.hvm_params(length)?,
            RecordType::TOOLSTACK => return self.broken(Breach::Toolstack),
            RecordType::VERIFY if length != 0 => return self.broken(Breach::VerifyLength),
            RecordType::CHECKPOINT_DIRTY_PFN_LIST => return self.broken(Breach::DirtyPfnList),
            RecordType::STATIC_DATA_END => self.static_data_end(length)?,
            RecordType::X86_CPUID_POLICY => self.cpuid_policy(length)?,
            RecordType::X86_MSR_POLICY => self.msr_policy(length)?,
            // SHARED_INFO and VERIFY of the right length.
            _ => {}
        }
        Ok(None)
    }

    fn end_record(&mut self, length: u32) -> Step<LibxcExit> {
        if length != 0 {
            return self.broken(Breach::EndLength);
        }
        self.require_sde()?;
        self.require_vcpu0()?;
        Ok(LibxcExit::End)
    }

    fn checkpoint(&mut self, length: u32) -> Step<LibxcExit> {
        if length != 0 {
            return self.broken(Breach::CheckpointLength);
        }
        if !self.libxc.in_libxl {
            return self.broken(Breach::CheckpointBare);
        }
        self.require_vcpu0()?;
        self.pv.vcpu_seen_in_round = false;
        self.report.checkpoint_rounds += 1;
        Ok(LibxcExit::Checkpoint)
    }

    fn static_data_end(&mut self, length: u32) -> Step {
        if self.libxc.version < 3 {
            return self.broken(Breach::SdeInV2);
        }
        if length != 0 {
            return self.broken(Breach::SdeLength);
        }
        if self.libxc.sde_seen {
            return self.broken(Breach::SdeDuplicate);
        }
        self.libxc.sde_seen = true;
        Ok(())
    }

    fn tsc_info(&mut self, length: u32) -> Step {
        if length as usize != size_of::<X86TscInfo>() {
            return self.broken(Breach::TscLength);
        }
        let tsc: X86TscInfo = self.body_wire()?;
        let reserved = tsc.reserved.get();
        if reserved != 0 {
            return self.broken(Breach::TscReserved { reserved });
        }
        let (mode, khz, nsec, incarnation) = (
            tsc.mode.get(),
            tsc.khz.get(),
            tsc.nsec.get(),
            tsc.incarnation.get(),
        );
        self.info(|| format!("  Mode {mode}, {khz} kHz, {nsec} ns, incarnation {incarnation}"));
        Ok(())
    }
}

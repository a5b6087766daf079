//! The PV records: X86_PV_INFO, X86_PV_P2M_FRAMES and the vCPU records, and
//! the order the spec gives them.

use super::{Engine, Step};
use crate::report::MAX_VCPUS_LISTED;
use crate::rules::Breach;
use migration_stream::source::ByteSource;
use migration_stream::types::DomainType;
use migration_stream::wire::{
    PV_VCPU_CONTEXT_32, PV_VCPU_CONTEXT_64, VcpuHeader, X86PvInfo, X86PvP2mFramesHeader,
};

/// What the PV records have said so far.
#[derive(Default)]
pub(super) struct PvState {
    /// The first record of a PV stream has been checked to be X86_PV_INFO.
    pub(super) first_checked: bool,
    /// Guest width in bytes (4 or 8) once X86_PV_INFO is read.
    width: u8,
    info_seen: bool,
    /// The highest end pfn of the P2M frames so far.
    pub(super) p2m_end: Option<u64>,
    /// A PV vCPU record came in this checkpoint round (memory must precede them).
    pub(super) vcpu_seen_in_round: bool,
    vcpu0_basic: bool,
}

impl<S: ByteSource> Engine<'_, S> {
    pub(super) fn pv_info(&mut self, length: u32) -> Step {
        if length as usize != size_of::<X86PvInfo>() {
            return self.broken(Breach::PvInfoLength { length });
        }
        let info: X86PvInfo = self.body_wire()?;
        let (width, levels) = (info.guest_width, info.pt_levels);
        let (reserved1, reserved2) = (info.reserved1.get(), info.reserved2.get());
        if width != 4 && width != 8 {
            return self.broken(Breach::PvInfoWidth { width });
        }
        if levels != 3 && levels != 4 {
            return self.broken(Breach::PvInfoLevels { levels });
        }
        if reserved1 != 0 || reserved2 != 0 {
            return self.broken(Breach::PvInfoReserved {
                reserved1,
                reserved2,
            });
        }
        let bits = u32::from(width) * 8;
        self.info(|| format!("  {bits}bit guest, {levels} levels of pagetables"));
        if self.pv.info_seen {
            return self.broken(Breach::PvInfoDuplicate);
        }
        if (width, levels) != (4, 3) && (width, levels) != (8, 4) {
            return self.broken(Breach::PvInfoPair { width, levels });
        }
        self.pv.info_seen = true;
        self.pv.width = width;
        self.report.guest_width = Some(width);
        self.report.pagetable_levels = Some(levels);
        Ok(())
    }

    pub(super) fn p2m_frames(&mut self, length: u32) -> Step {
        let header_len = size_of::<X86PvP2mFramesHeader>() as u32;
        if length < header_len {
            return self.broken(Breach::P2mShort);
        }
        if !length.is_multiple_of(8) {
            return self.broken(Breach::P2mMultiple { length });
        }
        let header: X86PvP2mFramesHeader = self.body_wire()?;
        let (start, end) = (header.p2m_start_pfn.get(), header.p2m_end_pfn.get());
        self.info(|| format!("  Start pfn 0x{start:x}, End 0x{end:x}"));
        self.require_sde()?;
        if start > end {
            return self.broken(Breach::P2mRange { start, end });
        }
        // X86_PV_INFO came first (checked on the first record), so the width is known.
        let per_frame = 4096 / u64::from(self.pv.width.max(4));
        let frames = u64::from(end) / per_frame + 1 - u64::from(start) / per_frame;
        let expected = u64::from(header_len) + 8 * frames;
        if u64::from(length) != expected {
            return self.broken(Breach::P2mLength {
                length,
                expected,
                start,
                end,
            });
        }
        let end = u64::from(end);
        self.pv.p2m_end = Some(self.pv.p2m_end.map_or(end, |old| old.max(end)));
        Ok(())
    }

    /// Any X86_PV_VCPU_* record; `which` is the lower-case part of its name.
    pub(super) fn vcpu(&mut self, length: u32, which: &'static str) -> Step {
        if (length as usize) < size_of::<VcpuHeader>() {
            return self.broken(Breach::VcpuShort { which });
        }
        if length as usize == size_of::<VcpuHeader>() {
            self.warn(format!("X86_PV_VCPU_{which} record with zero content"));
        }
        let header: VcpuHeader = self.body_wire()?;
        let (vcpu, reserved) = (header.vcpu_id.get(), header.reserved.get());
        if reserved != 0 {
            return self.broken(Breach::VcpuReserved { which, reserved });
        }
        let context = self.body_left;
        self.info(|| format!("  vcpu{vcpu} {which} context, {context} bytes"));
        self.pv.vcpu_seen_in_round = true;
        self.note_vcpu(vcpu);
        if context == 0 {
            return Ok(());
        }
        match which {
            "basic" => self.vcpu_basic(vcpu, context),
            "extended" if context > 128 => self.broken(Breach::VcpuExtendedSize { context }),
            "xsave" if context < 16 => self.broken(Breach::VcpuXsaveSize { context }),
            "msrs" if !context.is_multiple_of(16) => self.broken(Breach::VcpuMsrsSize { context }),
            _ => Ok(()),
        }
    }

    fn vcpu_basic(&mut self, vcpu: u32, context: u64) -> Step {
        let expected = u64::from(if self.pv.width == 8 {
            PV_VCPU_CONTEXT_64
        } else {
            PV_VCPU_CONTEXT_32
        });
        if context != expected {
            let bits = u32::from(self.pv.width) * 8;
            return self.broken(Breach::VcpuBasicSize {
                context,
                expected,
                bits,
            });
        }
        if vcpu == 0 {
            self.pv.vcpu0_basic = true;
        }
        Ok(())
    }

    /// A PV stream's round (or stream) must have carried vCPU 0's basic state.
    pub(super) fn require_vcpu0(&mut self) -> Step {
        if self.libxc.domain == Some(DomainType::X86_PV) && !self.pv.vcpu0_basic {
            return self.broken(Breach::Vcpu0Basic);
        }
        Ok(())
    }

    /// Lists a vCPU id in the report, up to [`MAX_VCPUS_LISTED`] of them.
    pub(super) fn note_vcpu(&mut self, vcpu: u32) {
        if self.report.vcpus.len() < MAX_VCPUS_LISTED || self.report.vcpus.contains(&vcpu) {
            self.report.vcpus.insert(vcpu);
        }
    }
}

//! The CPUID and MSR policy records of a v3 stream: static data, entries
//! sorted and unique, MSR flags zero.

use super::{Engine, Step};
use crate::rules::Breach;
use migration_stream::payload::MsrPolicy;
use migration_stream::source::ByteSource;
use migration_stream::types::XEN_CPUID_NO_SUBLEAF;
use migration_stream::wire::{CpuidPolicyLeaf, MsrPolicyEntry};
use zerocopy::{FromZeros, IntoBytes};

/// Entries read at a time (about 4 KiB of each kind).
const CPUID_CHUNK: usize = 170;
const MSR_CHUNK: usize = 256;

impl<S: ByteSource> Engine<'_, S> {
    /// Policies are static data: they come before STATIC_DATA_END.
    fn policy_position(&mut self, record: &'static str) -> Step {
        if self.libxc.sde_seen {
            return self.broken(Breach::PolicyAfterSde { record });
        }
        Ok(())
    }

    pub(super) fn cpuid_policy(&mut self, length: u32) -> Step {
        if self.libxc.version < 3 {
            return self.broken(Breach::CpuidInV2);
        }
        let entry_len = size_of::<CpuidPolicyLeaf>() as u32;
        if length < entry_len || !length.is_multiple_of(entry_len) {
            return self.broken(Breach::CpuidLength { length });
        }
        self.policy_position("X86_CPUID_POLICY")?;
        let mut chunk = [CpuidPolicyLeaf::new_zeroed(); CPUID_CHUNK];
        let mut previous: Option<(u32, u32)> = None;
        while self.body_left > 0 {
            let n = (self.body_left / u64::from(entry_len)).min(CPUID_CHUNK as u64) as usize;
            self.body(chunk[..n].as_mut_bytes())?;
            for leaf in &chunk[..n] {
                let key = (leaf.leaf.get(), leaf.subleaf.get());
                if let Some(prev) = previous {
                    if key <= prev {
                        return self.broken(Breach::CpuidOrder {
                            leaf: key.0,
                            subleaf: key.1,
                            previous_leaf: prev.0,
                            previous_subleaf: prev.1,
                        });
                    }
                    if key.0 == prev.0 && key.1 == XEN_CPUID_NO_SUBLEAF {
                        return self.broken(Breach::CpuidSubleaf { leaf: key.0 });
                    }
                }
                previous = Some(key);
                self.report.cpuid_policy_leaves += 1;
            }
        }
        Ok(())
    }

    pub(super) fn msr_policy(&mut self, length: u32) -> Step {
        if self.libxc.version < 3 {
            return self.broken(Breach::MsrInV2);
        }
        let entry_len = size_of::<MsrPolicyEntry>() as u32;
        if length < entry_len || !length.is_multiple_of(entry_len) {
            return self.broken(Breach::MsrLength { length });
        }
        self.policy_position("X86_MSR_POLICY")?;
        let mut chunk = [MsrPolicyEntry::new_zeroed(); MSR_CHUNK];
        let mut previous: Option<u32> = None;
        while self.body_left > 0 {
            let n = (self.body_left / u64::from(entry_len)).min(MSR_CHUNK as u64) as usize;
            self.body(chunk[..n].as_mut_bytes())?;
            let entries = &chunk[..n];
            // An entry's flags are checked before its order.
            let flagged = MsrPolicy::parse(entries.as_bytes())
                .ok()
                .and_then(|policy| policy.first_flagged());
            let checked = flagged.map_or(n, |(at, _)| at);
            for entry in &entries[..checked] {
                let index = entry.idx.get();
                if let Some(previous) = previous
                    && index <= previous
                {
                    return self.broken(Breach::MsrOrder { index, previous });
                }
                previous = Some(index);
                self.report.msr_policy_entries += 1;
            }
            if let Some((_, entry)) = flagged {
                return self.broken(Breach::MsrFlags {
                    index: entry.idx.get(),
                    flags: entry.flags.get(),
                });
            }
        }
        Ok(())
    }
}

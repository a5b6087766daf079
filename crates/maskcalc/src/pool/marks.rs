//! The marking of the pool computation: the compared registers, and per
//! bit the action and reasons each rule of the pool module's documentation adds.

use std::collections::BTreeMap;

use cpuid_defs::{Class, Feature, FeatureId, FeatureRegister, Location};

use super::{Action, MaskedBit, Reason, RegisterMask, feature_at_register, location_of};
use crate::defs::register_value;
use crate::model::Host;

/// Every feature register every host's dump has a value for (with those
/// values, nothing masked yet), and the registers some dump lacks.
pub(super) fn compared_registers(hosts: &[Host]) -> (Vec<RegisterMask>, Vec<FeatureRegister>) {
    let mut registers = Vec::new();
    let mut unknown_registers = Vec::new();
    for &reg in cpuid_defs::feature_registers() {
        let values: Option<Vec<u32>> = hosts
            .iter()
            .map(|h| register_value(&h.cpuid, reg))
            .collect();
        match values {
            Some(values) => registers.push(RegisterMask {
                register: reg,
                values,
                clear: 0,
                set: 0,
            }),
            None => unknown_registers.push(reg),
        }
    }
    (registers, unknown_registers)
}

/// The bits decided on so far, by (index into the compared registers, bit):
/// the action and every reason, in the order found.
pub(super) struct Marks<'r> {
    registers: &'r [RegisterMask],
    pub(super) marks: BTreeMap<(usize, u8), (Action, Vec<Reason>)>,
}

impl<'r> Marks<'r> {
    pub(super) fn new(registers: &'r [RegisterMask]) -> Self {
        Marks {
            registers,
            marks: BTreeMap::new(),
        }
    }

    fn mark(&mut self, at: (usize, u8), action: Action, reason: Reason) {
        let entry = self.marks.entry(at).or_insert_with(|| (action, Vec::new()));
        // Clearing wins over forcing on: a feature whose prerequisite is gone cannot be offered.
        entry.0 = entry.0.min(action);
        if !entry.1.contains(&reason) {
            entry.1.push(reason);
        }
    }

    /// Marks the feature's bit, if its register was compared.
    pub(super) fn mark_feature(&mut self, feature: &Feature, action: Action, reason: Reason) {
        if let Some(at) = self.position(feature.location) {
            self.mark(at, action, reason);
        }
    }

    /// Where a feature's bit is among the compared registers.
    fn position(&self, location: Location) -> Option<(usize, u8)> {
        let (reg, bit) = location.register();
        self.registers
            .iter()
            .position(|r| r.register == reg)
            .map(|i| (i, bit))
    }

    fn any_host_has(&self, (i, bit): (usize, u8)) -> bool {
        self.registers
            .get(i)
            .is_some_and(|r| r.values.iter().any(|v| v & (1u32 << bit) != 0))
    }

    fn feature_at(&self, (i, bit): (usize, u8)) -> Option<&'static Feature> {
        self.registers
            .get(i)
            .and_then(|r| cpuid_defs::at(location_of(r.register, bit)))
    }

    /// Every bit the hosts differ on, by the feature's class.
    pub(super) fn differing_bits(&mut self) {
        let registers = self.registers;
        for (i, reg) in registers.iter().enumerate() {
            // A multi-bit field (a version, a count, an address width) is a
            // number, not a set of features: clearing some of its bits would
            // only make up another number, so fields are not compared here.
            let differing = reg.differing() & !cpuid_defs::field_bits(reg.register);
            for bit in (0..32u8).filter(|b| differing & (1 << b) != 0) {
                let feature = cpuid_defs::at(location_of(reg.register, bit));
                let (having, lacking): (Vec<usize>, Vec<usize>) =
                    (0..reg.values.len()).partition(|&h| reg.values[h] & (1 << bit) != 0);
                let class = feature.map(|f| f.class).unwrap_or(Class::Intersect);
                match class {
                    Class::Accumulate => {
                        self.mark((i, bit), Action::Set, Reason::ForcedOn { having })
                    }
                    Class::Host => {}
                    // Intersect, Hidden, OptIn, and a class added to cpuid-defs
                    // later until this says otherwise: cleared where hosts
                    // differ, the safe direction.
                    _ => self.mark((i, bit), Action::Clear, Reason::Differs { lacking }),
                }
            }
        }
    }

    /// VMX always, SVM when a host has it: nested HVM is not enabled.
    pub(super) fn nested_hvm_disabled(&mut self) {
        for (name, always) in [("VMX", true), ("SVM", false)] {
            if let Some(f) = cpuid_defs::lookup(name)
                && let Some(at) = self.position(f.location)
                && (always || self.any_host_has(at))
            {
                self.mark(at, Action::Clear, Reason::NestedHvmDisabled);
            }
        }
    }

    /// Unmarks the features the operator keeps, returning each with the
    /// reasons it would have been masked.
    pub(super) fn take_kept(&mut self, keep: &[FeatureId]) -> Vec<(FeatureId, Vec<Reason>)> {
        let mut kept = Vec::new();
        for &id in keep {
            if let Some(at) = self.position(cpuid_defs::feature(id).location)
                && let Some((_, reasons)) = self.marks.remove(&at)
            {
                kept.push((id, reasons));
            }
        }
        kept
    }

    /// Clears, where a host has it, every feature that depends on a cleared
    /// one (unless kept).
    pub(super) fn close_over_dependencies(&mut self, keep: &[FeatureId]) {
        let roots: Vec<&'static Feature> = self
            .marks
            .iter()
            .filter(|(_, (action, _))| *action == Action::Clear)
            .filter_map(|(&at, _)| self.feature_at(at))
            .collect();
        for root in roots {
            for dependent in root.dependents_closure().features() {
                if keep.contains(&dependent.id) {
                    continue;
                }
                if let Some(at) = self.position(dependent.location)
                    && self.any_host_has(at)
                {
                    self.mark(at, Action::Clear, Reason::DependencyOf(root.id));
                }
            }
        }
    }
}

/// Writes the marks into the registers' `clear`/`set` and lists them as
/// masked bits, by register and ascending bit.
pub(super) fn apply_marks(
    marks: BTreeMap<(usize, u8), (Action, Vec<Reason>)>,
    registers: &mut [RegisterMask],
) -> Vec<MaskedBit> {
    let mut bits = Vec::with_capacity(marks.len());
    for ((i, bit), (action, reasons)) in marks {
        let Some(reg) = registers.get_mut(i) else {
            continue;
        };
        match action {
            Action::Clear => reg.clear |= 1 << bit,
            Action::Set => reg.set |= 1 << bit,
        }
        bits.push(MaskedBit {
            register: reg.register,
            bit,
            feature: feature_at_register(reg.register, bit),
            action,
            reasons,
        });
    }
    bits
}

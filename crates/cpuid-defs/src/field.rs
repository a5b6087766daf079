//! Multi-bit CPUID fields ([`Field`]): family, maximum leaves, sizes, topology.

use crate::{LeafKey, Register};

/// A multi-bit value in a CPUID register (family, maximum leaf, address
/// size, XSAVE area size, APIC id...).
///
/// ```
/// use cpuid_defs::{LeafKey, Register, field};
/// let max = field("max_basic_leaf").unwrap();
/// assert_eq!((max.key, max.register), (LeafKey::new(0, None), Register::Eax));
/// assert_eq!(max.extract(0x0000_0020), 0x20);
/// assert!(!max.per_cpu && field("apic_id").unwrap().per_cpu);
/// ```
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// Our name, lower case with `_` (`max_basic_leaf`, `apic_id`).
    pub name: &'static str,
    /// libxl's numeric `cpuid=` key for it, if any (`maxleaf`, `localapicid`).
    pub libxl_name: Option<&'static str>,
    /// Leaf and subleaf.
    pub key: LeafKey,
    /// Output register.
    pub register: Register,
    /// Lowest bit of the field.
    pub shift: u8,
    /// Width in bits (1..=32).
    pub width: u8,
    /// True when the value differs between the CPUs of one host (APIC ids,
    /// topology), so comparing hosts must ignore it.
    pub per_cpu: bool,
    /// One line saying what it is.
    pub description: &'static str,
}

impl Field {
    /// The field's value in a register value.
    ///
    /// ```
    /// use cpuid_defs::field;
    /// let apic = field("apic_id").unwrap();
    /// assert_eq!(apic.extract(0x0e80_0800), 0x0e);
    /// ```
    pub const fn extract(&self, value: u32) -> u32 {
        (value >> (self.shift & 31)) & self.mask_low()
    }

    /// The mask of the field in place within the register.
    ///
    /// ```
    /// use cpuid_defs::field;
    /// assert_eq!(field("apic_id").unwrap().mask(), 0xff00_0000); // 1.EBX[31:24]
    /// ```
    pub const fn mask(&self) -> u32 {
        self.mask_low() << (self.shift & 31)
    }

    const fn mask_low(&self) -> u32 {
        if self.width >= 32 {
            u32::MAX
        } else {
            (1u32 << self.width) - 1
        }
    }
}

/// Family, model and stepping as software should display them, from leaf 1
/// EAX: the extended family is added only when the base family is 0xF, the
/// extended model is prefixed only when the base family is 0x6 or 0xF.
///
/// ```
/// use cpuid_defs::display_family_model_stepping;
/// assert_eq!(display_family_model_stepping(0x000606a6), (0x6, 0x6a, 0x6)); // Ice Lake-SP
/// assert_eq!(display_family_model_stepping(0x00a10f11), (0x19, 0x11, 0x1)); // Genoa
/// ```
pub const fn display_family_model_stepping(leaf1_eax: u32) -> (u32, u32, u32) {
    let stepping = leaf1_eax & 0xf;
    let base_model = (leaf1_eax >> 4) & 0xf;
    let base_family = (leaf1_eax >> 8) & 0xf;
    let ext_model = (leaf1_eax >> 16) & 0xf;
    let ext_family = (leaf1_eax >> 20) & 0xff;
    let family = if base_family == 0xf {
        base_family + ext_family
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        (ext_model << 4) | base_model
    } else {
        base_model
    };
    (family, model, stepping)
}

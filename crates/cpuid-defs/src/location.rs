//! Where feature bits live: registers, leaves, MSR halves and bit locations.

use core::fmt;
use core::str::FromStr;

/// One of the four general-purpose registers CPUID returns.
///
/// ```
/// use cpuid_defs::Register;
/// assert_eq!("EDX".parse::<Register>(), Ok(Register::Edx));
/// assert_eq!(Register::Ecx.to_string(), "ecx");
/// assert!("r8".parse::<Register>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Register {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

impl Register {
    /// All four registers, in the order CPUID dumps print them.
    pub const ALL: [Register; 4] = [Register::Eax, Register::Ebx, Register::Ecx, Register::Edx];

    /// The lower-case name: `"eax"` ... `"edx"`.
    ///
    /// ```
    /// use cpuid_defs::Register;
    /// assert_eq!(Register::ALL.map(Register::as_str), ["eax", "ebx", "ecx", "edx"]);
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Register::Eax => "eax",
            Register::Ebx => "ebx",
            Register::Ecx => "ecx",
            Register::Edx => "edx",
        }
    }
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no register; see [`Register::from_str`].
///
/// ```
/// use cpuid_defs::{ParseRegisterError, Register};
/// assert_eq!("rax".parse::<Register>(), Err(ParseRegisterError));
/// assert_eq!(ParseRegisterError.to_string(), "expected a register name: eax, ebx, ecx or edx");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseRegisterError;

impl fmt::Display for ParseRegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a register name: eax, ebx, ecx or edx")
    }
}

impl FromStr for Register {
    type Err = ParseRegisterError;

    /// Parses `eax`...`edx`, in any case.
    ///
    /// ```
    /// use cpuid_defs::Register;
    /// assert_eq!("EBX".parse::<Register>(), Ok(Register::Ebx));
    /// assert!("esi".parse::<Register>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Register::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or(ParseRegisterError)
    }
}

/// A CPUID leaf and subleaf; `subleaf` is `None` for leaves without subleaves.
///
/// ```
/// use cpuid_defs::LeafKey;
/// assert_eq!(LeafKey::new(7, Some(1)).to_string(), "0x7.1");
/// assert_eq!(LeafKey::new(0x8000_0001, None).to_string(), "0x80000001");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafKey {
    /// The value of EAX given to CPUID.
    pub leaf: u32,
    /// The value of ECX given to CPUID, for leaves that read it.
    pub subleaf: Option<u32>,
}

impl LeafKey {
    /// A leaf and optional subleaf.
    pub const fn new(leaf: u32, subleaf: Option<u32>) -> Self {
        LeafKey { leaf, subleaf }
    }
}

impl fmt::Display for LeafKey {
    /// `0x7.0` style: hex leaf, then `.subleaf` when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subleaf {
            Some(sub) => write!(f, "{:#x}.{sub}", self.leaf),
            None => write!(f, "{:#x}", self.leaf),
        }
    }
}

/// Which 32-bit half of a 64-bit MSR a [`FeatureRegister`] covers.
///
/// ```
/// use cpuid_defs::MsrHalf;
/// let value: u64 = 0x0000_0001_0000_0002;
/// assert_eq!((MsrHalf::Low.of(value), MsrHalf::High.of(value)), (2, 1));
/// assert_eq!(MsrHalf::High.place(1) | MsrHalf::Low.place(2), value);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MsrHalf {
    /// Bits 31:0 (what RDMSR returns in EAX).
    Low,
    /// Bits 63:32 (what RDMSR returns in EDX).
    High,
}

impl MsrHalf {
    /// Both halves, low first.
    pub const BOTH: [MsrHalf; 2] = [MsrHalf::Low, MsrHalf::High];

    /// The position of this half's bit 0 in the 64-bit value (0 or 32).
    ///
    /// ```
    /// use cpuid_defs::MsrHalf;
    /// assert_eq!(MsrHalf::BOTH.map(MsrHalf::shift), [0, 32]);
    /// ```
    pub const fn shift(self) -> u32 {
        match self {
            MsrHalf::Low => 0,
            MsrHalf::High => 32,
        }
    }

    /// This half of a 64-bit MSR value.
    ///
    /// ```
    /// use cpuid_defs::MsrHalf;
    /// assert_eq!(MsrHalf::High.of(0x1234_5678_9abc_def0), 0x1234_5678);
    /// assert_eq!(MsrHalf::Low.of(0x1234_5678_9abc_def0), 0x9abc_def0);
    /// ```
    pub const fn of(self, value: u64) -> u32 {
        (value >> self.shift()) as u32
    }

    /// A 32-bit half value in its place within the 64-bit MSR value: the
    /// inverse of [`MsrHalf::of`] (OR the two halves together).
    ///
    /// ```
    /// use cpuid_defs::MsrHalf;
    /// let v = 0x1234_5678_9abc_def0u64;
    /// assert_eq!(MsrHalf::Low.place(MsrHalf::Low.of(v)) | MsrHalf::High.place(MsrHalf::High.of(v)), v);
    /// ```
    pub const fn place(self, half: u32) -> u64 {
        (half as u64) << self.shift()
    }
}

/// IA32_ARCH_CAPABILITIES, the MSR whose bits the table names.
pub const MSR_ARCH_CAPABILITIES: u32 = 0x10a;

/// One 32-bit register that carries feature bits: a CPUID output register of
/// one leaf/subleaf, or one half of an MSR. Xen's featureset words are all
/// of this kind, and so are the extra registers this crate names.
///
/// ```
/// use cpuid_defs::{FeatureRegister, MSR_ARCH_CAPABILITIES, MsrHalf, Register};
/// let ebx7 = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
/// assert_eq!(ebx7.to_string(), "0x7.0.ebx");
/// assert_eq!(ebx7.xen_word(), Some(5)); // cpufeatureset.h word 5
/// let arch = FeatureRegister::Msr { index: MSR_ARCH_CAPABILITIES, half: MsrHalf::Low };
/// assert_eq!(arch.to_string(), "msr 0x10a[31:0]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FeatureRegister {
    /// A CPUID output register.
    Cpuid {
        /// Leaf and subleaf.
        key: LeafKey,
        /// Output register.
        register: Register,
    },
    /// Half of a model-specific register.
    Msr {
        /// The MSR index (`0x10a` for IA32_ARCH_CAPABILITIES).
        index: u32,
        /// Which half.
        half: MsrHalf,
    },
}

impl FeatureRegister {
    /// A CPUID register.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// let r = FeatureRegister::cpuid(0x8000_0001, None, Register::Ecx);
    /// assert_eq!(r.to_string(), "0x80000001.ecx");
    /// ```
    pub const fn cpuid(leaf: u32, subleaf: Option<u32>, register: Register) -> Self {
        FeatureRegister::Cpuid {
            key: LeafKey { leaf, subleaf },
            register,
        }
    }

    /// Xen's featureset word number for this register (`0` for 1.EDX ...
    /// `16`/`17` for the halves of MSR_ARCH_CAPS), or `None` when Xen has no
    /// word for it.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// assert_eq!(FeatureRegister::cpuid(7, Some(0), Register::Ebx).xen_word(), Some(5));
    /// assert_eq!(FeatureRegister::cpuid(6, None, Register::Eax).xen_word(), None);
    /// ```
    pub fn xen_word(self) -> Option<u8> {
        XEN_WORDS
            .iter()
            .position(|w| *w == self)
            .and_then(|i| u8::try_from(i).ok())
    }

    /// The same register in a hypervisor leaf block that starts at `base`
    /// instead of 0x40000000. The table places KVM's and Xen's leaves at
    /// 0x40000000 + n; Xen moves its block to 0x40000100 when Viridian
    /// (Hyper-V) leaves take the first slot. Other registers are returned
    /// unchanged.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// let table = FeatureRegister::cpuid(0x4000_0004, None, Register::Eax);
    /// let viridian = table.at_hypervisor_base(0x4000_0100);
    /// assert_eq!(viridian, FeatureRegister::cpuid(0x4000_0104, None, Register::Eax));
    /// assert_eq!(viridian.at_hypervisor_base(0x4000_0000), table);
    /// ```
    pub const fn at_hypervisor_base(self, base: u32) -> Self {
        match self {
            FeatureRegister::Cpuid { key, register } if key.leaf >> 16 == 0x4000 => {
                FeatureRegister::Cpuid {
                    key: LeafKey {
                        leaf: (base & 0xffff_ff00) | (key.leaf & 0xff),
                        subleaf: key.subleaf,
                    },
                    register,
                }
            }
            other => other,
        }
    }

    /// The register of Xen featureset word `word`, if Xen defines it.
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Register};
    /// assert_eq!(FeatureRegister::from_xen_word(0), Some(FeatureRegister::cpuid(1, None, Register::Edx)));
    /// assert_eq!(FeatureRegister::from_xen_word(200), None);
    /// ```
    pub fn from_xen_word(word: u8) -> Option<Self> {
        XEN_WORDS.get(usize::from(word)).copied()
    }
}

/// Xen's featureset words in word order (`cpufeatureset.h`).
const XEN_WORDS: [FeatureRegister; 19] = [
    FeatureRegister::cpuid(0x1, None, Register::Edx),
    FeatureRegister::cpuid(0x1, None, Register::Ecx),
    FeatureRegister::cpuid(0x8000_0001, None, Register::Edx),
    FeatureRegister::cpuid(0x8000_0001, None, Register::Ecx),
    FeatureRegister::cpuid(0xd, Some(1), Register::Eax),
    FeatureRegister::cpuid(0x7, Some(0), Register::Ebx),
    FeatureRegister::cpuid(0x7, Some(0), Register::Ecx),
    FeatureRegister::cpuid(0x8000_0007, None, Register::Edx),
    FeatureRegister::cpuid(0x8000_0008, None, Register::Ebx),
    FeatureRegister::cpuid(0x7, Some(0), Register::Edx),
    FeatureRegister::cpuid(0x7, Some(1), Register::Eax),
    FeatureRegister::cpuid(0x8000_0021, None, Register::Eax),
    FeatureRegister::cpuid(0x7, Some(1), Register::Ebx),
    FeatureRegister::cpuid(0x7, Some(2), Register::Edx),
    FeatureRegister::cpuid(0x7, Some(1), Register::Ecx),
    FeatureRegister::cpuid(0x7, Some(1), Register::Edx),
    FeatureRegister::Msr {
        index: MSR_ARCH_CAPABILITIES,
        half: MsrHalf::Low,
    },
    FeatureRegister::Msr {
        index: MSR_ARCH_CAPABILITIES,
        half: MsrHalf::High,
    },
    FeatureRegister::cpuid(0x8000_0021, None, Register::Ecx),
];

impl fmt::Display for FeatureRegister {
    /// `0x7.0.ebx` for CPUID registers, `msr 0x10a[31:0]` for MSR halves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureRegister::Cpuid { key, register } => write!(f, "{key}.{register}"),
            FeatureRegister::Msr { index, half } => match half {
                MsrHalf::Low => write!(f, "msr {index:#x}[31:0]"),
                MsrHalf::High => write!(f, "msr {index:#x}[63:32]"),
            },
        }
    }
}

/// Where one feature bit lives.
///
/// ```
/// use cpuid_defs::{FeatureRegister, Location, Register, lookup};
/// let avx2 = lookup("AVX2").unwrap().location;
/// assert_eq!(avx2, Location::cpuid(7, Some(0), Register::Ebx, 5));
/// assert_eq!(avx2.register(), (FeatureRegister::cpuid(7, Some(0), Register::Ebx), 5));
/// let rdcl_no = lookup("RDCL_NO").unwrap().location;
/// assert_eq!(rdcl_no.to_string(), "msr 0x10a[0]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// A bit of a CPUID output register.
    Cpuid {
        /// Leaf and subleaf.
        key: LeafKey,
        /// Output register.
        register: Register,
        /// Bit number, 0..=31.
        bit: u8,
    },
    /// A bit of a 64-bit MSR.
    Msr {
        /// The MSR index.
        index: u32,
        /// Bit number, 0..=63.
        bit: u8,
    },
}

impl Location {
    /// A CPUID bit.
    pub const fn cpuid(leaf: u32, subleaf: Option<u32>, register: Register, bit: u8) -> Self {
        Location::Cpuid {
            key: LeafKey { leaf, subleaf },
            register,
            bit,
        }
    }

    /// The 32-bit register holding this bit, and the bit's position in it (0..=31).
    ///
    /// ```
    /// use cpuid_defs::{FeatureRegister, Location, MsrHalf};
    /// let (reg, bit) = Location::Msr { index: 0x10a, bit: 62 }.register();
    /// assert_eq!(reg, FeatureRegister::Msr { index: 0x10a, half: MsrHalf::High });
    /// assert_eq!(bit, 30);
    /// ```
    pub const fn register(self) -> (FeatureRegister, u8) {
        match self {
            Location::Cpuid { key, register, bit } => {
                (FeatureRegister::Cpuid { key, register }, bit)
            }
            Location::Msr { index, bit } => {
                if bit >= 32 {
                    (
                        FeatureRegister::Msr {
                            index,
                            half: MsrHalf::High,
                        },
                        bit - 32,
                    )
                } else {
                    (
                        FeatureRegister::Msr {
                            index,
                            half: MsrHalf::Low,
                        },
                        bit,
                    )
                }
            }
        }
    }
}

impl fmt::Display for Location {
    /// `0x7.0.ebx[5]` or `msr 0x10a[19]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Cpuid { key, register, bit } => write!(f, "{key}.{register}[{bit}]"),
            Location::Msr { index, bit } => write!(f, "msr {index:#x}[{bit}]"),
        }
    }
}

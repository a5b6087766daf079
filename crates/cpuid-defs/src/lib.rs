//! The x86 CPUID feature knowledge base: bit positions, names across ecosystems, migration policy and dependencies.
//!
//! Every named feature bit that matters for migrating guests between unlike
//! hosts is one [`Feature`]: where it lives ([`Location`]: a CPUID leaf,
//! subleaf, register and bit, or a bit of IA32_ARCH_CAPABILITIES), what every
//! ecosystem calls it (Xen's featureset name, Linux `/proc/cpuinfo`, QEMU and
//! libvirt, libxl's legacy spellings), which vendors implement it, how a pool
//! of hosts should combine it ([`Class`]), and what it needs ([`Feature::depends`]).
//! Multi-bit values (family, maximum leaves, address sizes, topology) are
//! [`Field`]s.
//!
//! The table is generated from `data/features.tsv` and `data/fields.tsv` by
//! `cargo xtask codegen`; those files are the one place to change it.
//!
//! The crate is `#![no_std]`, allocates nothing and contains no `unsafe`, so a
//! toolstack or hypervisor can embed it.
//!
//! ```
//! use cpuid_defs::{Class, FeatureRegister, Register, lookup, decode};
//!
//! // Any name, any ecosystem, any case, '-' or '_'.
//! let lahf = lookup("lahfsahf").unwrap();
//! assert_eq!(lahf.name, "LAHF_LM");
//! assert_eq!(lahf.xen_name, Some("lahf-lm"));
//!
//! // Which features does a register value carry?
//! let reg = FeatureRegister::cpuid(7, Some(0), Register::Ebx);
//! let names: Vec<_> = decode(reg, 0x0000_0029).map(|f| f.name).collect();
//! assert_eq!(names, ["FSGSBASE", "BMI1", "AVX2"]);
//!
//! // Migration policy and prerequisites.
//! let avx512f = lookup("avx512f").unwrap();
//! assert_eq!(avx512f.class, Class::Intersect);
//! assert!(avx512f.depends_closure().contains(lookup("XSAVE").unwrap().id));
//! ```
#![no_std]

mod class;
mod deps;
mod feature;
mod field;
#[rustfmt::skip]
mod generated;
mod location;
mod names;
mod registers;
mod set;
mod table;
mod vendor;

pub use class::{Class, ParseClassError};
pub use deps::{dependents_closure, depends_closure};
pub use feature::{DependencySources, Feature, FeatureId};
pub use field::{Field, display_family_model_stepping};
pub use location::{
    FeatureRegister, LeafKey, Location, MSR_ARCH_CAPABILITIES, MsrHalf, ParseRegisterError,
    Register,
};
pub use registers::{
    at, decode, encode, feature_registers, features_in, named_bits, resolve_register,
    uncovered_bits, unnamed_bits,
};
pub use set::{FeatureSet, FeatureSetIter};
pub use table::{
    FEATURE_COUNT, feature, features, field, field_bits, fields, fields_in, lookup, suggest,
};
pub use vendor::{Vendor, Vendors};

//! CPUID masks for migrating guests across a pool of unlike hosts, and the
//! pieces CPU profiles reuse.
//!
//! The library is a pipeline with one home per step:
//!
//! 1. [`dump`]: parse each host's CPUID dump (`cpuid -1r`/`-r`, `xen-cpuid -p`,
//!    AIDA64, libvirt XML, xenmig JSON) into a [`model::HostCpuid`];
//! 2. [`pool`]: compute [`pool::PoolMasks`]: per feature register the bits to
//!    clear or force on, per bit the reasons (differs, dependency, nested HVM,
//!    hidden by request, forced on);
//! 3. [`render`]: print that result for xl (xend and libxl syntax), libvirt,
//!    QEMU, Firecracker or as JSON, explain it, or show the differences.
//!
//! [`local`] builds a [`model::HostCpuid`] from any CPUID function, such as
//! the CPUID instruction of the machine the tool runs on.
//!
//! ```
//! use maskcalc::{dump, pool, render};
//! let a = "CPU:\n   0x00000000 0x00: eax=0x00000001 ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   \
//!          0x00000001 0x00: eax=0x000306f2 ebx=0x00000800 ecx=0x7ffefbff edx=0xbfebfbff\n   \
//!          0x80000000 0x00: eax=0x80000000 ebx=0x00000000 ecx=0x00000000 edx=0x00000000\n";
//! let b = a.replace("0x7ffefbff", "0x1fbee3ff");
//! let hosts = vec![
//!     maskcalc::model::Host { name: "node1".into(), cpuid: dump::parse("node1", a.as_bytes(), None).unwrap() },
//!     maskcalc::model::Host { name: "node2".into(), cpuid: dump::parse("node2", b.as_bytes(), None).unwrap() },
//! ];
//! let masks = pool::compute(&hosts, &pool::PoolOptions::default()).unwrap();
//! let text = render::xend(&masks);
//! assert!(text.starts_with("cpuid = [\n    \"0x00000001:ecx=x00xxxxxx0xxxxxxxxx00xxxxx0xxxxx\",\n"));
//! ```

pub mod consumer;
pub mod defs;
pub mod dump;
pub mod local;
pub mod model;
pub mod plan;
pub mod pool;
pub mod render;

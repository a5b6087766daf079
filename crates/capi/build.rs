//! Gives `libxenmig.so` its SONAME, `libxenmig.so.0`: the name programs
//! linked against it record and the dynamic loader looks for, so that a
//! later libxenmig that breaks the C ABI (`libxenmig.so.1`) can be installed
//! beside this one. The number is the C ABI's major version, not the crate's:
//! it goes up only when a function of `include/xenmig.h` changes or goes
//! away (adding one is compatible). `cargo xtask dist` installs the library
//! under the name it reads from the built file (docs/packaging.md).

// A build script talks to cargo on standard output.
#![allow(clippy::print_stdout)]

/// The C ABI's major version.
const ABI_MAJOR: u32 = 0;

fn main() {
    println!("cargo::rustc-cdylib-link-arg=-Wl,-soname,libxenmig.so.{ABI_MAJOR}");
    println!("cargo::rerun-if-changed=build.rs");
}

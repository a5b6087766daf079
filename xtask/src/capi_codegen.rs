//! Generator of libxenmig's C header, `crates/capi/include/xenmig.h` (from
//! the crate's source, by cbindgen), and of its pkg-config file,
//! `crates/capi/xenmig.pc` (which carries the workspace's version).
//!
//! cbindgen runs here as a library, not from a build script of the crate:
//! the header is a checked-in file that C programs and packagers read
//! without building anything, a build script would parse the source on
//! every build of libxenmig (and pull syn into every embedder's build),
//! and the staleness test of `cargo xtask codegen` covers it like every
//! other generated file.

use crate::GeneratedFile;
use std::path::Path;

const SOURCE: &str = "crates/capi/src/lib.rs";
const OUTPUT: &str = "crates/capi/include/xenmig.h";
const PKG_CONFIG: &str = "crates/capi/xenmig.pc";

/// What a program linking `libxenmig.a` needs besides it: the C libraries
/// Rust's standard library uses, as `rustc --print native-static-libs`
/// lists them for Linux (the static-link test of crates/capi checks that
/// they are enough).
const NATIVE_STATIC_LIBS: &str = "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc";

/// Produces the header from the exported functions of `crates/capi/src/lib.rs`,
/// and the pkg-config file.
pub fn generate(root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let config = cbindgen::Config {
        language: cbindgen::Language::C,
        header: Some(
            "/* libxenmig: the xenmig tools as a C library (docs/embedding.md).\n \
             * Generated from crates/capi/src/lib.rs by `cargo xtask codegen`: do not edit. */"
                .to_owned(),
        ),
        include_guard: Some("XENMIG_H".to_owned()),
        cpp_compat: true,
        usize_is_size_t: true,
        no_includes: true,
        sys_includes: vec!["stddef.h".to_owned()],
        documentation: true,
        documentation_style: cbindgen::DocumentationStyle::Doxy,
        style: cbindgen::Style::Both,
        ..cbindgen::Config::default()
    };
    let mut header = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join(SOURCE))
        .generate()
        .map_err(|e| format!("{SOURCE}: {e}"))?
        .write(&mut header);
    Ok(vec![
        GeneratedFile::new(OUTPUT, header),
        GeneratedFile::new(PKG_CONFIG, pkg_config()),
    ])
}

/// `xenmig.pc` for an installation under `/usr/local` (packagers run
/// `sed` on `prefix=`, or pkg-config's `--define-variable=prefix=...`).
fn pkg_config() -> String {
    format!(
        "prefix=/usr/local\n\
         exec_prefix=${{prefix}}\n\
         libdir=${{exec_prefix}}/lib\n\
         includedir=${{prefix}}/include\n\
         \n\
         Name: xenmig\n\
         Description: Xen migration streams and CPUID pool masks (libxenmig)\n\
         URL: {url}\n\
         Version: {version}\n\
         Libs: -L${{libdir}} -lxenmig\n\
         Libs.private: {NATIVE_STATIC_LIBS}\n\
         Cflags: -I${{includedir}}\n",
        url = env!("CARGO_PKG_REPOSITORY"),
        version = env!("CARGO_PKG_VERSION"),
    )
}

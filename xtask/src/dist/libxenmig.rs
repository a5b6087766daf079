//! The C library's Debian packages, as Debian packages a shared library
//! (policy chapter 8): `libxenmig0`, named after the SONAME, holds only the
//! run-time library, so that programs built against libxenmig.so.0 keep
//! theirs when a libxenmig.so.1 is installed beside it; `libxenmig-dev`
//! holds what building against it takes (the `libxenmig.so` link `-lxenmig`
//! finds, the static library, the header and the pkg-config file); and
//! `libxenmig0-dbgsym` the library's debug info, by build id. Both library
//! packages install under the multiarch directory (`/usr/lib/x86_64-linux-gnu`)
//! and are `Multi-Arch: same`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    HOMEPAGE, MAINTAINER, Release, build_deb, gzip, installed_size, keep_debug_info, listing,
    make_dir, normalise, output, shlib_depends, status, write,
};

/// The SONAME `crates/capi/build.rs` gives the library.
const SONAME: &str = "libxenmig.so.0";
/// The run-time package, named after the SONAME (policy 8.1).
const RUNTIME: &str = "libxenmig0";
const DEV: &str = "libxenmig-dev";

/// What `cargo xtask dist` made of the library.
#[derive(Debug)]
pub struct LibraryDebs {
    /// `libxenmig0`: the shared library.
    pub runtime: PathBuf,
    /// `libxenmig-dev`: link, static library, header, pkg-config file.
    pub dev: PathBuf,
    /// `libxenmig0-dbgsym`: the shared library's debug info.
    pub dbgsym: PathBuf,
    /// Every path the two library packages install.
    pub files: Vec<String>,
}

/// Builds the three packages from `built` (the `dist` profile's
/// `libxenmig.so` and `libxenmig.a`) in `stage`, into `out`.
pub(super) fn build(
    root: &Path,
    built: &Path,
    stage: &Path,
    out: &Path,
    release: &Release<'_>,
) -> Result<LibraryDebs, String> {
    let layout = Layout::of(&built.join("libxenmig.so"), release.version)?;
    let runtime_tree = stage.join(RUNTIME);
    let dev_tree = stage.join(DEV);
    let dbg_tree = stage.join(format!("{RUNTIME}-dbgsym"));
    let id = install_runtime(root, built, &layout, &runtime_tree, &dbg_tree)?;
    install_dev(root, built, &layout, &dev_tree)?;
    let dbg_doc = dbg_tree.join("usr/share/doc");
    make_dir(&dbg_doc)?;
    symlink(RUNTIME, dbg_doc.join(format!("{RUNTIME}-dbgsym")))
        .map_err(|e| format!("{RUNTIME}-dbgsym doc link: {e}"))?;

    for tree in [&runtime_tree, &dev_tree, &dbg_tree] {
        normalise(tree, release.epoch)?;
    }
    let mut files = listing(&runtime_tree)?;
    files.extend(listing(&dev_tree)?);
    files.sort();
    Ok(LibraryDebs {
        runtime: runtime_deb(release, &layout, stage, &runtime_tree, out)?,
        dev: dev_deb(release, &dev_tree, out)?,
        dbgsym: dbgsym_deb(release, &dbg_tree, &id, out)?,
        files,
    })
}

/// Where the library's files go.
struct Layout {
    /// The multiarch triplet (`x86_64-linux-gnu`).
    multiarch: String,
    /// `usr/lib/` and the triplet.
    libdir: String,
    /// The SONAME, `libxenmig.so.0`.
    soname: String,
    /// The file the SONAME link names, `libxenmig.so.0.1.0`.
    real: String,
}

impl Layout {
    /// The layout of the built `shared` library of crate version `version`;
    /// fails when its SONAME is not the one the run-time package is named after.
    fn of(shared: &Path, version: &str) -> Result<Layout, String> {
        let multiarch = output(Command::new("dpkg-architecture").arg("-qDEB_HOST_MULTIARCH"))?;
        let multiarch = multiarch.trim().to_owned();
        let libdir = format!("usr/lib/{multiarch}");
        let soname = soname(shared)?;
        if soname != SONAME {
            return Err(format!(
                "{} has SONAME {soname}, and the run-time package {RUNTIME} is named \
                 after {SONAME}: a new SONAME (crates/capi/build.rs) needs a new package name",
                shared.display()
            ));
        }
        // libxenmig.so.0.1.0: the SONAME and the crate's minor and patch.
        let real = format!("{soname}.{}", version.split_once('.').map_or("0", |v| v.1));
        Ok(Layout {
            multiarch,
            libdir,
            soname,
            real,
        })
    }
}

/// libxenmig0's tree: the library, stripped, its SONAME link, its documents;
/// the debug info in `dbg_tree`. Returns the build id.
fn install_runtime(
    root: &Path,
    built: &Path,
    layout: &Layout,
    runtime_tree: &Path,
    dbg_tree: &Path,
) -> Result<String, String> {
    let shared = built.join("libxenmig.so");
    // libxenmig0: the library, stripped as dh_strip strips one, and the link
    // the loader looks up (ldconfig would make it; the package owns it).
    let id = keep_debug_info(&shared, dbg_tree)?;
    let lib = runtime_tree.join(&layout.libdir);
    make_dir(&lib)?;
    status(
        Command::new("strip")
            .args([
                "--remove-section=.comment",
                "--remove-section=.note",
                "--strip-unneeded",
                "-o",
            ])
            .arg(lib.join(&layout.real))
            .arg(&shared),
    )?;
    symlink(&layout.real, lib.join(&layout.soname))
        .map_err(|e| format!("{}: {e}", layout.soname))?;
    package_docs(root, &runtime_tree.join(format!("usr/share/doc/{RUNTIME}")))?;
    Ok(id)
}

/// libxenmig-dev's tree.
fn install_dev(root: &Path, built: &Path, layout: &Layout, dev_tree: &Path) -> Result<(), String> {
    // libxenmig-dev: what `cc ... $(pkg-config --cflags --libs xenmig)` uses.
    let dev_lib = dev_tree.join(&layout.libdir);
    make_dir(&dev_lib.join("pkgconfig"))?;
    symlink(&layout.soname, dev_lib.join("libxenmig.so"))
        .map_err(|e| format!("libxenmig.so: {e}"))?;
    status(
        Command::new("strip")
            .args([
                "--strip-debug",
                "--remove-section=.comment",
                "--remove-section=.note",
                "--enable-deterministic-archives",
                "-o",
            ])
            .arg(dev_lib.join("libxenmig.a"))
            .arg(built.join("libxenmig.a")),
    )?;
    let header = root.join("crates/capi/include/xenmig.h");
    let include = dev_tree.join("usr/include");
    make_dir(&include)?;
    fs::copy(&header, include.join("xenmig.h"))
        .map_err(|e| format!("{}: {e}", header.display()))?;
    let pc = fs::read_to_string(root.join("crates/capi/xenmig.pc"))
        .map_err(|e| format!("crates/capi/xenmig.pc: {e}"))?;
    write(
        &dev_lib.join("pkgconfig/xenmig.pc"),
        installed_pc(&pc, &layout.multiarch)?.as_bytes(),
    )?;
    // A -dev package's documents are its run-time package's (policy 12.5).
    let dev_doc = dev_tree.join("usr/share/doc");
    make_dir(&dev_doc)?;
    symlink(RUNTIME, dev_doc.join(DEV)).map_err(|e| format!("{DEV} doc link: {e}"))?;
    Ok(())
}

/// The package `libxenmig0` of `runtime_tree`.
fn runtime_deb(
    release: &Release<'_>,
    layout: &Layout,
    stage: &Path,
    runtime_tree: &Path,
    out: &Path,
) -> Result<PathBuf, String> {
    let Release { version, arch, .. } = *release;
    let lib = runtime_tree.join(&layout.libdir);
    let depends = shlib_depends(stage, RUNTIME, &[lib.join(&layout.real)])?;
    let runtime_control = format!(
        "Package: {RUNTIME}\nSource: xenmig\nVersion: {version}\nArchitecture: {arch}\n\
         Multi-Arch: same\nMaintainer: {MAINTAINER}\nInstalled-Size: {}\nDepends: {depends}\n\
         Section: libs\nPriority: optional\nHomepage: {HOMEPAGE}\n\
         Description: Xen migration streams and CPUID masks, as a C library\n \
         libxenmig gives C toolstacks (libxl, libvirt, xapi's C stubs) what the\n \
         xenmig tools do: verify a migration stream, convert a pre-Xen-4.6 save\n \
         image, compute a pool's CPUID masks, with the tools' exit codes and output.\n \
         .\n This package holds the shared library.\n",
        installed_size(runtime_tree)?
    );
    // dpkg-shlibdeps of a program linked with -lxenmig gives this dependency;
    // ldconfig refreshes the loader's cache after install and removal.
    let runtime = out.join(format!("{RUNTIME}_{version}_{arch}.deb"));
    build_deb(
        runtime_tree,
        &runtime_control,
        &[
            ("shlibs", format!("libxenmig 0 {RUNTIME} (>= {version})\n")),
            ("triggers", "activate-noawait ldconfig\n".to_owned()),
        ],
        &runtime,
        "xz",
        release.epoch,
    )?;
    Ok(runtime)
}

/// The package `libxenmig-dev` of `dev_tree`.
fn dev_deb(release: &Release<'_>, dev_tree: &Path, out: &Path) -> Result<PathBuf, String> {
    let Release { version, arch, .. } = *release;
    let dev_control = format!(
        "Package: {DEV}\nSource: xenmig\nVersion: {version}\nArchitecture: {arch}\n\
         Multi-Arch: same\nMaintainer: {MAINTAINER}\nInstalled-Size: {}\n\
         Depends: {RUNTIME} (= {version})\nSection: libdevel\nPriority: optional\n\
         Homepage: {HOMEPAGE}\n\
         Description: Xen migration streams and CPUID masks, as a C library (development)\n \
         libxenmig gives C toolstacks what the xenmig tools do, with the tools'\n \
         exit codes and output.\n \
         .\n This package holds the header xenmig.h, the static library and the\n \
         pkg-config file: cc prog.c $(pkg-config --cflags --libs xenmig).\n",
        installed_size(dev_tree)?
    );
    let dev = out.join(format!("{DEV}_{version}_{arch}.deb"));
    build_deb(dev_tree, &dev_control, &[], &dev, "xz", release.epoch)?;
    Ok(dev)
}

/// The package `libxenmig0-dbgsym` of `dbg_tree`, the library's build id `id`.
fn dbgsym_deb(
    release: &Release<'_>,
    dbg_tree: &Path,
    id: &str,
    out: &Path,
) -> Result<PathBuf, String> {
    let Release { version, arch, .. } = *release;
    let dbg_control = format!(
        "Package: {RUNTIME}-dbgsym\nSource: xenmig\nVersion: {version}\nArchitecture: {arch}\n\
         Multi-Arch: same\nMaintainer: {MAINTAINER}\nInstalled-Size: {}\n\
         Depends: {RUNTIME} (= {version})\nSection: debug\nPriority: optional\n\
         Auto-Built-Package: debug-symbols\nBuild-Ids: {id}\n\
         Description: debug symbols for {RUNTIME}\n",
        installed_size(dbg_tree)?
    );
    let dbgsym = out.join(format!("{RUNTIME}-dbgsym_{version}_{arch}.deb"));
    build_deb(dbg_tree, &dbg_control, &[], &dbgsym, "gzip", release.epoch)?;
    Ok(dbgsym)
}

/// The SONAME a shared library records (`readelf -d`).
fn soname(library: &Path) -> Result<String, String> {
    let dynamic = output(Command::new("readelf").arg("-d").arg(library))?;
    dynamic
        .lines()
        .filter(|line| line.contains("(SONAME)"))
        .find_map(|line| Some(line.split_once('[')?.1.split_once(']')?.0.to_owned()))
        .ok_or_else(|| format!("{} has no SONAME", library.display()))
}

/// The checked-in `xenmig.pc` (for `/usr/local`) as the package installs it:
/// prefix `/usr`, the library in the multiarch directory.
fn installed_pc(pc: &str, multiarch: &str) -> Result<String, String> {
    let (prefix, libdir) = ("prefix=/usr/local", "libdir=${exec_prefix}/lib");
    let lines: Vec<&str> = pc.lines().collect();
    if !lines.contains(&prefix) || !lines.contains(&libdir) {
        return Err(format!(
            "crates/capi/xenmig.pc: expected the lines prefix=/usr/local and \
             libdir=${{exec_prefix}}/lib, to install it under /usr:\n{pc}"
        ));
    }
    let libdir_installed = format!("libdir=${{exec_prefix}}/lib/{multiarch}");
    Ok(lines
        .iter()
        .map(|&line| match line {
            l if l == prefix => "prefix=/usr",
            l if l == libdir => &libdir_installed,
            other => other,
        })
        .map(|line| format!("{line}\n"))
        .collect())
}

/// `copyright` and `changelog.gz` in a library package's own document
/// directory (it does not depend on `xenmig`, so it cannot share its).
fn package_docs(root: &Path, doc: &Path) -> Result<(), String> {
    make_dir(doc)?;
    let copyright = super::copyright(root)?;
    write(&doc.join("copyright"), copyright.as_bytes())?;
    gzip(&root.join("CHANGELOG.md"), &doc.join("changelog.gz"))
}

#[cfg(test)]
mod tests {
    use super::installed_pc;

    #[test]
    fn the_installed_pkg_config_file_points_at_usr_and_the_multiarch_directory() {
        let pc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/capi/xenmig.pc"
        ))
        .unwrap();
        let installed = installed_pc(&pc, "x86_64-linux-gnu").unwrap();
        assert!(installed.starts_with("prefix=/usr\n"), "{installed}");
        assert!(
            installed.contains("\nlibdir=${exec_prefix}/lib/x86_64-linux-gnu\n"),
            "{installed}"
        );
        assert!(installed_pc("prefix=/opt\n", "x86_64-linux-gnu").is_err());
    }
}

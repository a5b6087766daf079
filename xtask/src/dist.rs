//! `cargo xtask dist`: the Debian package `xenmig`, its debug symbols in
//! `xenmig-dbgsym`, a tarball (`.tar.xz`) of the same tree, and the C
//! library's packages `libxenmig0`, `libxenmig-dev` and `libxenmig0-dbgsym`
//! (`dist/libxenmig.rs`), in `target/packages/`.
//!
//! The tree is laid out here with `dpkg-deb` rather than cargo-deb: the man
//! pages and completions come from the built binaries (`TOOL --generate`),
//! the Xen paths are links, and the debug info is split off by build id, all
//! of which cargo-deb would need the same code around it for; and
//! `cargo install cargo-deb` would cost CI minutes on every clean machine,
//! where `dpkg-deb`, `dpkg-shlibdeps` and binutils are already part of
//! `build-essential`. `docs/packaging.md` describes the layout and its
//! choices.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod libxenmig;
pub use libxenmig::LibraryDebs;

/// The five tools, as their binaries are named.
pub const TOOLS: [&str; 5] = [
    "verify-stream-v2",
    "convert-legacy-stream",
    "cpuid-features",
    "xen-maskcalc",
    "cpu-profile",
];

/// The links the package adds beside `/usr/bin`: where Xen's own programs
/// look for a tool, and the name openSUSE gives `xen_maskcalc.py`.
pub const LINKS: [(&str, &str); 4] = [
    (
        "usr/lib/xen/bin/convert-legacy-stream",
        "../../../bin/convert-legacy-stream",
    ),
    (
        "usr/lib/xen/bin/verify-stream-v2",
        "../../../bin/verify-stream-v2",
    ),
    ("usr/sbin/xen_maskcalc", "../bin/xen-maskcalc"),
    ("usr/share/man/man1/xen_maskcalc.1.gz", "xen-maskcalc.1.gz"),
];

const PACKAGE: &str = "xenmig";
const MAINTAINER: &str = "The xenmig developers <xenmig@example.invalid>";
const HOMEPAGE: &str = "https://example.invalid/xenmig";
const DOC_DIR: &str = "usr/share/doc/xenmig";
const SUMMARY: &str = "Xen migration streams and CPUID masks: verify, convert, compute";
const DESCRIPTION: &str = "\
xenmig makes live migration between unlike hosts safe. Its tools replace
Xen's Python scripts with the same flags, verbose lines and exit codes:
.
 * verify-stream-v2 checks a migration stream or save file against the spec
   (every rule upstream checks, and the ones it misses);
 * convert-legacy-stream turns pre-Xen-4.6 save images into v2 streams, and
   is linked where libxl runs it (/usr/lib/xen/bin);
 * xen-maskcalc computes the CPUID masks that let guests migrate across a
   pool, for xl, libvirt, QEMU and Firecracker (also as xen_maskcalc);
 * cpu-profile makes pool baselines and says by feature name why a host or a
   saved domain does not fit;
 * cpuid-features looks up any x86 CPUID feature by any of its names.";

/// What `cargo xtask dist` made.
#[derive(Debug)]
pub struct Artifacts {
    /// The package.
    pub deb: PathBuf,
    /// The package of split-off debug info.
    pub dbgsym: PathBuf,
    /// The tarball of the package's tree.
    pub tarball: PathBuf,
    /// Every path the package installs (`/usr/...`, links as `path -> target`).
    pub files: Vec<String>,
    /// The C library's packages.
    pub library: LibraryDebs,
}

/// Builds the release binaries (profile `dist`) and packages them.
pub fn run(root: &Path) -> Result<Artifacts, String> {
    check_tools()?;
    let version = env!("CARGO_PKG_VERSION");
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?;
    let arch = arch.trim();
    let epoch = source_date_epoch(root);
    build_release(root)?;
    let built = root.join("target/dist");

    let out = root.join("target/packages");
    let stage = out.join("stage");
    let tree = stage.join(PACKAGE);
    let dbg_tree = stage.join(format!("{PACKAGE}-dbgsym"));
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(|e| format!("{}: {e}", stage.display()))?;
    }
    let build_ids = install_programs(&built, &tree, &dbg_tree)?;
    install_man_pages_and_completions(&stage, &tree)?;
    install_docs(root, &tree)?;
    install_links(&tree, &dbg_tree)?;
    normalise(&tree, epoch)?;
    normalise(&dbg_tree, epoch)?;
    let files = listing(&tree)?;

    // The tarball is the tree before DEBIAN/ goes into it.
    let tarball = out.join(format!(
        "{PACKAGE}-{version}-{}-linux.tar.xz",
        std::env::consts::ARCH
    ));
    let tar = stage.join("tree.tar");
    make_tarball(&tree, &tar, &tarball, epoch)?;
    let release = Release {
        version,
        arch,
        epoch,
    };
    let (deb, dbgsym) = tools_debs(&release, &stage, &tree, &dbg_tree, &out, &build_ids)?;
    fs::remove_file(&tar).map_err(|e| format!("{}: {e}", tar.display()))?;
    let library = libxenmig::build(root, &built, &stage, &out, &release)?;

    Ok(Artifacts {
        deb,
        dbgsym,
        tarball,
        files,
        library,
    })
}

/// Fails, naming the Debian package to install, when a program dist runs
/// is missing.
fn check_tools() -> Result<(), String> {
    for (tool, package) in [
        ("dpkg-deb", "dpkg"),
        ("dpkg-shlibdeps", "dpkg-dev"),
        ("dpkg-architecture", "dpkg-dev"),
        ("objcopy", "binutils"),
        ("strip", "binutils"),
        ("readelf", "binutils"),
        ("gzip", "gzip"),
        ("xz", "xz-utils"),
        ("tar", "tar"),
        ("md5sum", "coreutils"),
    ] {
        if !on_path(tool) {
            return Err(format!(
                "dist needs {tool}: apt-get install {package} (all of build-essential's)"
            ));
        }
    }
    Ok(())
}

/// `cargo build --profile dist` of the tools and the C library.
fn build_release(root: &Path) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("building the release binaries and libxenmig (profile dist)...");
    status(
        Command::new(cargo)
            .args([
                "build",
                "--profile",
                "dist",
                "--locked",
                "-p",
                "xenmig-cli",
                "-p",
                "xenmig-capi",
                "--bins",
                "--lib",
            ])
            .current_dir(root),
    )?;
    Ok(())
}

/// The programs in `tree`'s /usr/bin, stripped; their debug info in
/// `dbg_tree` by build id. Returns the build ids.
fn install_programs(built: &Path, tree: &Path, dbg_tree: &Path) -> Result<Vec<String>, String> {
    let mut build_ids = Vec::new();
    for tool in TOOLS {
        let binary = built.join(tool);
        let id = keep_debug_info(&binary, dbg_tree)?;
        let shipped = tree.join("usr/bin").join(tool);
        make_dir(shipped.parent().unwrap())?;
        status(
            Command::new("strip")
                .args(["--remove-section=.comment", "--remove-section=.note", "-o"])
                .arg(&shipped)
                .arg(&binary),
        )?;
        build_ids.push(id);
    }
    Ok(build_ids)
}

/// Man pages and completions, from the installed binaries themselves.
fn install_man_pages_and_completions(stage: &Path, tree: &Path) -> Result<(), String> {
    let man_src = stage.join("man");
    make_dir(&man_src)?;
    let man_dir = tree.join("usr/share/man/man1");
    make_dir(&man_dir)?;
    for tool in TOOLS {
        let binary = tree.join("usr/bin").join(tool);
        let pages = output(
            Command::new(&binary)
                .args(["--generate", "man"])
                .arg(&man_src),
        )?;
        for page in pages.lines() {
            let page = Path::new(page);
            let name = page.file_name().unwrap().to_string_lossy();
            gzip(page, &man_dir.join(format!("{name}.gz")))?;
        }
        for (shell, path) in [
            (
                "bash",
                format!("usr/share/bash-completion/completions/{tool}"),
            ),
            ("zsh", format!("usr/share/zsh/vendor-completions/_{tool}")),
            (
                "fish",
                format!("usr/share/fish/vendor_completions.d/{tool}.fish"),
            ),
        ] {
            let script =
                output(Command::new(&binary).args(["--generate", &format!("complete-{shell}")]))?;
            write(&tree.join(path), script.as_bytes())?;
        }
    }
    fs::remove_dir_all(&man_src).map_err(|e| format!("{}: {e}", man_src.display()))
}

/// The documents the help names, the pictures they show, the README, the
/// licences, the changelog and the copyright file.
fn install_docs(root: &Path, tree: &Path) -> Result<(), String> {
    let doc = tree.join(DOC_DIR);
    make_dir(&doc)?;
    let mut documents: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .map_err(|e| format!("docs/: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    documents.extend(["LICENSE-MIT", "LICENSE-APACHE"].map(|f| root.join(f)));
    for document in documents {
        let name = document.file_name().unwrap();
        fs::copy(&document, doc.join(name)).map_err(|e| format!("{}: {e}", document.display()))?;
    }
    // The pictures the pages show (`![..](images/..)`), beside them as in docs/.
    let images = root.join("docs/images");
    if images.is_dir() {
        make_dir(&doc.join("images"))?;
        for entry in fs::read_dir(&images).map_err(|e| format!("docs/images/: {e}"))? {
            let path = entry.map_err(|e| format!("docs/images/: {e}"))?.path();
            if path.is_file() {
                let to = doc.join("images").join(path.file_name().unwrap());
                fs::copy(&path, &to).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    // The README's links into docs/ point at the same directory once installed.
    let readme =
        fs::read_to_string(root.join("README.md")).map_err(|e| format!("README.md: {e}"))?;
    write(&doc.join("README.md"), installed_readme(&readme).as_bytes())?;
    gzip(&root.join("CHANGELOG.md"), &doc.join("changelog.gz"))?;
    write(&doc.join("copyright"), copyright(root)?.as_bytes())
}

/// The [`LINKS`], and the dbgsym package's doc link to the package's.
fn install_links(tree: &Path, dbg_tree: &Path) -> Result<(), String> {
    for (link, target) in LINKS {
        let path = tree.join(link);
        make_dir(path.parent().unwrap())?;
        symlink(target, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let dbg_doc = dbg_tree.join("usr/share/doc");
    make_dir(&dbg_doc)?;
    symlink(PACKAGE, dbg_doc.join(format!("{PACKAGE}-dbgsym")))
        .map_err(|e| format!("{}: {e}", dbg_doc.display()))?;
    Ok(())
}

/// `tarball` (xz) of `tree`'s usr/, through the uncompressed `tar`.
fn make_tarball(tree: &Path, tar: &Path, tarball: &Path, epoch: u64) -> Result<(), String> {
    status(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--format=gnu",
            ])
            .arg(format!("--mtime=@{epoch}"))
            .arg("-cf")
            .arg(tar)
            .arg("-C")
            .arg(tree)
            .arg("usr"),
    )?;
    compress("xz", &["-9", "-T1"], tar, tarball)
}

/// What every package of one `dist` run is stamped with.
struct Release<'a> {
    /// The crate version, the packages' version.
    version: &'a str,
    /// The Debian architecture.
    arch: &'a str,
    /// Every mtime in the packages (`SOURCE_DATE_EPOCH`).
    epoch: u64,
}

/// The tools' package of `tree` and its dbgsym package of `dbg_tree`
/// (`build_ids` the tools'), into `out`.
fn tools_debs(
    release: &Release<'_>,
    stage: &Path,
    tree: &Path,
    dbg_tree: &Path,
    out: &Path,
    build_ids: &[String],
) -> Result<(PathBuf, PathBuf), String> {
    let Release {
        version,
        arch,
        epoch,
    } = *release;
    let programs: Vec<PathBuf> = TOOLS.iter().map(|t| tree.join("usr/bin").join(t)).collect();
    let depends = shlib_depends(stage, PACKAGE, &programs)?;
    let control = format!(
        "Package: {PACKAGE}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n\
         Installed-Size: {}\nDepends: {depends}\nSuggests: cpuid\nSection: admin\n\
         Priority: optional\nHomepage: {HOMEPAGE}\nDescription: {SUMMARY}\n{}",
        installed_size(tree)?,
        indent(DESCRIPTION)
    );
    let deb = out.join(format!("{PACKAGE}_{version}_{arch}.deb"));
    build_deb(tree, &control, &[], &deb, "xz", epoch)?;

    let dbg_control = format!(
        "Package: {PACKAGE}-dbgsym\nSource: {PACKAGE}\nVersion: {version}\nArchitecture: {arch}\n\
         Maintainer: {MAINTAINER}\nInstalled-Size: {}\nDepends: {PACKAGE} (= {version})\n\
         Section: debug\nPriority: optional\nAuto-Built-Package: debug-symbols\n\
         Build-Ids: {}\nDescription: debug symbols for {PACKAGE}\n",
        installed_size(dbg_tree)?,
        build_ids.join(" ")
    );
    let dbgsym = out.join(format!("{PACKAGE}-dbgsym_{version}_{arch}.deb"));
    build_deb(dbg_tree, &dbg_control, &[], &dbgsym, "gzip", epoch)?;
    Ok((deb, dbgsym))
}

/// Prints what [`run`] made: sizes and the installed file list.
pub fn report(artifacts: &Artifacts) {
    let library = &artifacts.library;
    for path in [
        &artifacts.deb,
        &artifacts.dbgsym,
        &artifacts.tarball,
        &library.runtime,
        &library.dev,
        &library.dbgsym,
    ] {
        let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("{} ({size} bytes)", path.display());
    }
    println!("{PACKAGE} installs {} paths:", artifacts.files.len());
    for file in &artifacts.files {
        println!("  {file}");
    }
    println!(
        "libxenmig0 and libxenmig-dev install {} paths:",
        library.files.len()
    );
    for file in &library.files {
        println!("  {file}");
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Runs `command`, failing with its standard error unless it succeeds.
fn status(command: &mut Command) -> Result<(), String> {
    output(command).map(drop)
}

/// Runs `command` and returns its standard output, failing with its standard
/// error unless it succeeds.
fn output(command: &mut Command) -> Result<String, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .stdin(Stdio::null())
        .stderr(if program.ends_with("cargo") {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{program}: output is not UTF-8: {e}"))
}

fn make_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    make_dir(path.parent().unwrap())?;
    fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// `gzip -9n`: the best compression, without the name and time that would
/// make two builds of the same tree differ.
fn gzip(from: &Path, to: &Path) -> Result<(), String> {
    compress("gzip", &["-9n"], from, to)
}

/// Writes `from` compressed by `program` (`gzip`, `xz`) with `options` to `to`.
fn compress(program: &str, options: &[&str], from: &Path, to: &Path) -> Result<(), String> {
    let input = fs::File::open(from).map_err(|e| format!("{}: {e}", from.display()))?;
    let output = fs::File::create(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let status = Command::new(program)
        .args(options)
        .arg("-c")
        .stdin(input)
        .stdout(output)
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    if !status.success() {
        return Err(format!("{program} {} failed ({status})", from.display()));
    }
    Ok(())
}

/// The README as installed beside the documents: its Markdown links into
/// `docs/` (`](docs/images/page.png)`) made relative to the document
/// directory, which holds what `docs/` holds.
fn installed_readme(readme: &str) -> String {
    readme.replace("](docs/", "](")
}

/// Saves `binary`'s debug info in `dbg_tree` under its build id, where gdb
/// and debuginfod look (`usr/lib/debug/.build-id/xx/rest.debug`, as
/// dh_strip lays it out), and returns the id.
fn keep_debug_info(binary: &Path, dbg_tree: &Path) -> Result<String, String> {
    let id = build_id(binary)?;
    let debug = dbg_tree.join(format!(
        "usr/lib/debug/.build-id/{}/{}.debug",
        &id[..2],
        &id[2..]
    ));
    make_dir(debug.parent().unwrap())?;
    status(
        Command::new("objcopy")
            .args(["--only-keep-debug", "--compress-debug-sections"])
            .arg(binary)
            .arg(&debug),
    )?;
    Ok(id)
}

/// The GNU build id of an ELF file, as hex (`readelf -n`).
fn build_id(binary: &Path) -> Result<String, String> {
    let notes = output(Command::new("readelf").arg("-n").arg(binary))?;
    notes
        .lines()
        .find_map(|line| line.trim().strip_prefix("Build ID: "))
        .map(str::to_owned)
        .filter(|id| id.len() > 2 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            format!(
                "{} has no build id (the linker needs --build-id) to file its debug info under",
                binary.display()
            )
        })
}

/// The commit time of HEAD (or `SOURCE_DATE_EPOCH`): the time stamp of every
/// file of the package, so that the same commit gives the same archives.
fn source_date_epoch(root: &Path) -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|e| e.parse().ok())
    {
        return epoch;
    }
    output(
        Command::new("git")
            .args(["log", "-1", "--format=%ct"])
            .current_dir(root),
    )
    .ok()
    .and_then(|t| t.trim().parse().ok())
    .unwrap_or(0)
}

/// Modes 0755 for directories and programs, 0644 for the rest, and every
/// time stamp `epoch`.
fn normalise(dir: &Path, epoch: u64) -> Result<(), String> {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let program = path.parent().is_some_and(|p| p.ends_with("usr/bin"));
        let mode = if meta.is_dir() || program {
            0o755
        } else {
            0o644
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            normalise(&path, epoch)?;
        }
        let file = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.set_modified(time)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Every path under `tree` (directories excepted) as it is installed:
/// `/usr/...`, a link as `path -> target`.
fn listing(tree: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    walk(tree, &mut |path, meta| {
        let installed = format!("/{}", path.strip_prefix(tree).unwrap().display());
        if meta.file_type().is_symlink() {
            let target = fs::read_link(path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push(format!("{installed} -> {}", target.display()));
        } else if !meta.is_dir() {
            files.push(installed);
        }
        Ok(())
    })?;
    files.sort();
    Ok(files)
}

fn walk(
    dir: &Path,
    visit: &mut dyn FnMut(&Path, &fs::Metadata) -> Result<(), String>,
) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        visit(&path, &meta)?;
        if meta.is_dir() {
            walk(&path, visit)?;
        }
    }
    Ok(())
}

/// Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up,
/// one per directory and link.
fn installed_size(tree: &Path) -> Result<u64, String> {
    let mut kib = 0;
    walk(tree, &mut |path, meta| {
        if !path.starts_with(tree.join("DEBIAN")) {
            kib += if meta.is_file() {
                meta.len().div_ceil(1024)
            } else {
                1
            };
        }
        Ok(())
    })?;
    Ok(kib)
}

/// The shared libraries the ELF files of `package` need, as Depends
/// (`dpkg-shlibdeps`, which wants a debian/control to run beside).
fn shlib_depends(stage: &Path, package: &str, files: &[PathBuf]) -> Result<String, String> {
    let dir = stage.join("shlibdeps");
    write(
        &dir.join("debian/control"),
        format!("Source: {PACKAGE}\n\nPackage: {package}\nArchitecture: any\n").as_bytes(),
    )?;
    let mut command = Command::new("dpkg-shlibdeps");
    command.arg("-O").current_dir(&dir);
    for file in files {
        command.arg(format!("-e{}", file.display()));
    }
    let substvars = output(&mut command)?;
    fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    substvars
        .lines()
        .find_map(|line| line.strip_prefix("shlibs:Depends="))
        .map(str::to_owned)
        .ok_or_else(|| format!("dpkg-shlibdeps gave no shlibs:Depends: {substvars}"))
}

/// A control file's long description: every line indented by one space,
/// blank lines as ` .` (the description above already writes its `.`).
fn indent(text: &str) -> String {
    text.lines().map(|line| format!(" {line}\n")).collect()
}

/// Writes DEBIAN/control, DEBIAN/md5sums and the other `control_files`
/// (`shlibs`, `triggers`) into `tree` and builds `deb`, its data compressed
/// with `compression` (`xz`, or `gzip` for debug info that is compressed
/// already: xz would take 20 times as long to save 1%).
fn build_deb(
    tree: &Path,
    control: &str,
    control_files: &[(&str, String)],
    deb: &Path,
    compression: &str,
    epoch: u64,
) -> Result<(), String> {
    let mut regular = Vec::new();
    walk(tree, &mut |path, meta| {
        if meta.is_file() {
            regular.push(path.strip_prefix(tree).unwrap().display().to_string());
        }
        Ok(())
    })?;
    let sums = output(Command::new("md5sum").args(&regular).current_dir(tree))?;
    let debian = tree.join("DEBIAN");
    write(&debian.join("control"), control.as_bytes())?;
    write(&debian.join("md5sums"), sums.as_bytes())?;
    for (name, text) in control_files {
        write(&debian.join(name), text.as_bytes())?;
    }
    normalise(&debian, epoch)?;
    status(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", &format!("-Z{compression}"), "--build"])
            .arg(tree)
            .arg(deb)
            .env("SOURCE_DATE_EPOCH", epoch.to_string()),
    )
}

/// `/usr/share/doc/xenmig/copyright` in Debian's machine-readable format:
/// the licence, and the crates the programs are linked with (from
/// `cargo metadata`, each with the licence its Cargo.toml declares).
fn copyright(root: &Path) -> Result<String, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let host = output(Command::new(rustc).arg("-vV"))?
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or("rustc -vV names no host")?;
    // Only the crates built for this machine (not Windows' or wasm's).
    let metadata = output(
        Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--filter-platform",
            ])
            .arg(&host)
            .current_dir(root),
    )?;
    let crates = linked_crates(&metadata)?;
    let mit =
        fs::read_to_string(root.join("LICENSE-MIT")).map_err(|e| format!("LICENSE-MIT: {e}"))?;
    let mit_body: String = mit
        .lines()
        .skip_while(|line| !line.starts_with("Permission"))
        .map(|line| {
            if line.is_empty() {
                " .\n".to_owned()
            } else {
                format!(" {line}\n")
            }
        })
        .collect();
    let mut text = format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {PACKAGE}\nSource: {HOMEPAGE}\n\
         Comment: The programs are statically linked with these Rust crates, each\n \
         under the licence its Cargo.toml declares:\n"
    );
    for (name, version, license) in &crates {
        text.push_str(&format!(" {name} {version}: {license}\n"));
    }
    text.push_str(&format!(
        "\nFiles: *\nCopyright: The xenmig developers\nLicense: MIT or Apache-2.0\n\n\
         License: MIT\n{mit_body}\n\
         License: Apache-2.0\n On Debian systems, the full text of the Apache License, Version 2.0\n \
         is in /usr/share/common-licenses/Apache-2.0, and in\n /{DOC_DIR}/LICENSE-APACHE.\n"
    ));
    Ok(text)
}

/// The crates `xenmig-cli` depends on (transitively, build and proc-macro
/// crates included), as (name, version, licence), sorted by name.
fn linked_crates(metadata: &str) -> Result<Vec<(String, String, String)>, String> {
    let json: serde_json::Value =
        serde_json::from_str(metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = json["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    let nodes = json["resolve"]["nodes"]
        .as_array()
        .ok_or("cargo metadata: no resolve")?;
    let id_of = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["id"].as_str())
            .map(str::to_owned)
    };
    let start = id_of("xenmig-cli").ok_or("cargo metadata: no xenmig-cli")?;
    let mut seen = std::collections::BTreeSet::new();
    let mut queue = vec![start.clone()];
    while let Some(id) = queue.pop() {
        let Some(node) = nodes.iter().find(|n| n["id"] == id.as_str()) else {
            continue;
        };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let linked = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|kind| kind["kind"].is_null() || kind["kind"] == "build");
            if let Some(dep_id) = dep["pkg"].as_str()
                && linked
                && seen.insert(dep_id.to_owned())
            {
                queue.push(dep_id.to_owned());
            }
        }
    }
    let mut crates: Vec<(String, String, String)> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| seen.contains(id)))
        .filter(|p| p["source"].is_string())
        .map(|p| {
            let field = |key: &str| p[key].as_str().unwrap_or("unknown").to_owned();
            (field("name"), field("version"), field("license"))
        })
        .collect();
    crates.sort();
    Ok(crates)
}

#[cfg(test)]
mod tests {
    use super::installed_readme;

    #[test]
    fn the_installed_readme_links_beside_itself() {
        let readme = "See `docs/output.md`.\n![page](docs/images/page.png) [rules](docs/verify-rules.md#ids)\n";
        assert_eq!(
            installed_readme(readme),
            "See `docs/output.md`.\n![page](images/page.png) [rules](verify-rules.md#ids)\n"
        );
    }
}

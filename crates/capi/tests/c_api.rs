//! libxenmig from C: `c_api.c` is compiled with `cc` against the installed
//! layout that `xenmig.pc` describes (header in `include/`, library in
//! `lib/`), linked once against `libxenmig.so` and once against
//! `libxenmig.a`, and run; the shared build also runs under valgrind, which
//! fails the test on any memory error or leak. The shared library is
//! installed as a distribution does, under its SONAME's chain of names
//! (`libxenmig.so` → `libxenmig.so.0` → `libxenmig.so.0.1.0`), and readelf
//! checks that the program records `libxenmig.so.0`. Without valgrind,
//! pkg-config or readelf the test says so and skips that part, unless
//! `XENMIG_REQUIRE_VALGRIND` is set (as `.ci/run` does), when their absence
//! fails it.

use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The SONAME `build.rs` gives the shared library (the C ABI's major version).
const SONAME: &str = "libxenmig.so.0";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

use xenmig_test_support::repo_root;

/// Where cargo put the libxenmig.so and libxenmig.a of this build: beside
/// this test, in `deps/` (`cargo build` also copies them one level up, but
/// `cargo test` does not, so a copy there may be stale).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn required() -> bool {
    std::env::var_os("XENMIG_REQUIRE_VALGRIND").is_some()
}

/// Why a part is skipped; when the tools are required, fails instead.
fn missing(tool: &str, what: &str) -> String {
    assert!(
        !required(),
        "{tool} is not installed, and XENMIG_REQUIRE_VALGRIND asks for {what}"
    );
    format!("skipped: {what} ({tool} is not installed)")
}

/// An installation prefix holding the header and one of the libraries.
fn install(prefix: &Path, library: &str) {
    std::fs::create_dir_all(prefix.join("include")).unwrap();
    std::fs::create_dir_all(prefix.join("lib")).unwrap();
    std::fs::copy(
        crate_dir().join("include/xenmig.h"),
        prefix.join("include/xenmig.h"),
    )
    .unwrap();
    let built = library_dir().join(library);
    assert!(
        built.exists(),
        "{} was not built alongside this test",
        built.display()
    );
    let lib = prefix.join("lib");
    if library == "libxenmig.so" {
        // The file under its full version, the SONAME the loader looks for,
        // and the name `-lxenmig` finds (a -dev package's link).
        let real = format!("{SONAME}.{}", VERSION.split_once('.').unwrap().1);
        std::fs::copy(&built, lib.join(&real)).unwrap();
        std::os::unix::fs::symlink(&real, lib.join(SONAME)).unwrap();
        std::os::unix::fs::symlink(SONAME, lib.join(library)).unwrap();
    } else {
        std::fs::copy(&built, lib.join(library)).unwrap();
    }
}

/// The `(NAME)` entries of one kind (`SONAME`, `NEEDED`) in `readelf -d`.
fn dynamic_entries(file: &Path, kind: &str) -> Vec<String> {
    let output = Command::new("readelf")
        .arg("-d")
        .arg(file)
        .output()
        .unwrap();
    assert!(output.status.success(), "readelf -d {}", file.display());
    let tag = format!("({kind})");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(&tag))
        .filter_map(|line| Some(line.split_once('[')?.1.split_once(']')?.0.to_owned()))
        .collect()
}

/// `pkg-config --cflags --libs xenmig` for an installation at `prefix`.
fn pkg_config(prefix: &Path, statically: bool) -> Vec<String> {
    let mut command = Command::new("pkg-config");
    command
        .env("PKG_CONFIG_PATH", crate_dir())
        .arg(format!("--define-variable=prefix={}", prefix.display()))
        .args(["--cflags", "--libs"]);
    if statically {
        command.arg("--static");
    }
    let output = command.arg("xenmig").output().unwrap();
    assert!(
        output.status.success(),
        "pkg-config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The flags pkg-config would give, written out, for a machine without it.
fn flags_without_pkg_config(prefix: &Path, statically: bool) -> Vec<String> {
    let mut flags = vec![
        format!("-I{}", prefix.join("include").display()),
        format!("-L{}", prefix.join("lib").display()),
        "-lxenmig".to_owned(),
    ];
    if statically {
        let pc = std::fs::read_to_string(crate_dir().join("xenmig.pc")).unwrap();
        let private = pc
            .lines()
            .find_map(|l| l.strip_prefix("Libs.private:"))
            .unwrap();
        flags.extend(private.split_whitespace().map(str::to_owned));
    }
    flags
}

fn compile(prefix: &Path, flags: &[String], exe: &Path) {
    let output = Command::new("cc")
        .args(["-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror"])
        .arg(crate_dir().join("tests/c_api.c"))
        .arg("-o")
        .arg(exe)
        .args(flags)
        .current_dir(prefix)
        .output()
        .expect("cc runs");
    assert!(
        output.status.success(),
        "cc {flags:?}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn run(mut command: Command, what: &str) {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what}: {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status
    );
    assert_eq!(stdout, "all checks passed\n", "{what}\n{stderr}");
}

fn c_test(prefix: &Path, exe: &Path) -> Command {
    let mut command = Command::new(exe);
    command
        .args([repo_root().to_str().unwrap(), VERSION])
        .env("LD_LIBRARY_PATH", prefix.join("lib"));
    command
}

#[test]
fn c_program_against_the_shared_and_the_static_library() {
    let scratch = tempfile::tempdir().unwrap();
    let with_pkg_config = have("pkg-config");
    if !with_pkg_config {
        eprintln!("{}", missing("pkg-config", "the check of xenmig.pc"));
    }
    for (library, statically) in [("libxenmig.so", false), ("libxenmig.a", true)] {
        let prefix = scratch.path().join(library);
        install(&prefix, library);
        let flags = if with_pkg_config {
            pkg_config(&prefix, statically)
        } else {
            flags_without_pkg_config(&prefix, statically)
        };
        let exe = prefix.join("c_api");
        compile(&prefix, &flags, &exe);
        run(c_test(&prefix, &exe), library);
        if statically {
            continue;
        }
        if have("readelf") {
            let shared = prefix.join("lib").join(SONAME);
            assert_eq!(dynamic_entries(&shared, "SONAME"), [SONAME]);
            let needed = dynamic_entries(&exe, "NEEDED");
            assert!(needed.iter().any(|n| n == SONAME), "{needed:?}");
        } else {
            eprintln!("{}", missing("readelf", "the check of the SONAME"));
        }
        if !have("valgrind") {
            eprintln!("{}", missing("valgrind", "the C test under valgrind"));
            continue;
        }
        let mut valgrind = Command::new("valgrind");
        valgrind
            .args([
                "--quiet",
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
                "--show-leak-kinds=definite,indirect",
            ])
            .arg(&exe)
            .args([repo_root().to_str().unwrap(), VERSION])
            .env("LD_LIBRARY_PATH", prefix.join("lib"));
        run(valgrind, "under valgrind");
    }
}

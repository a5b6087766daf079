//! Every pool output fed to the real consumer it is written for (issue 10):
//! nine pools of the real dumps in `testdata/cpuid/`, each written with no
//! version flag (so for the consumers installed here, as `-v` reports), and
//! given to
//!
//! * libxenlight's own parser (`xl`'s `cpuid=` handling, through
//!   `tests/consumers/xl_cpuid.c`, compiled against the installed
//!   libxenlight and libxlutil): the xend list (the default output) and
//!   `--format xl`;
//! * QEMU: `qemu-system-x86_64 -accel tcg -M q35 -S -nodefaults -display
//!   none -cpu STRING` with `quit` on the monitor, for the named model and
//!   for the passthrough form (`host` needs KVM, so TCG gets `max`, which
//!   takes the same feature properties);
//! * libvirt: every feature and model name against the installed cpu_map,
//!   `virt-xml-validate` of a domain holding the `<cpu>`, `virsh -c
//!   test:///default define`; and the model compared with libvirt's own
//!   `virsh cpu-baseline` of the same hosts, each described as libvirt
//!   describes a host (consumers/libvirt_host.rs);
//! * Firecracker and Cloud Hypervisor: deserialized through mirror types of
//!   their own (`CustomCpuTemplate`, `CpuidProfileData`), field for field.
//!
//! A consumer that is not installed skips its checks with a printed reason,
//! unless `XENMIG_REQUIRE_CONSUMERS` is set (as `.ci/run` does): then it fails.
//! The acceptance matrix is printed (`cargo test --test real_consumers --
//! --nocapture`).

#[path = "consumers/libvirt_host.rs"]
mod libvirt_host;
mod support;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use support::{code, outcome, repo_root, run, stderr, stdout};

const MASKCALC: &str = env!("CARGO_BIN_EXE_xen-maskcalc");
const PROFILE: &str = env!("CARGO_BIN_EXE_cpu-profile");

/// The pools: old, mid and new Intel servers; a hybrid client with a server;
/// old, Zen 3/4 and new AMD; pools spanning generations. (The dumps hold no
/// Atom; Raptor Lake's E-cores are the nearest.)
const POOLS: [(&str, &[&str]); 9] = [
    (
        "intel-old",
        &[
            "intel-ivybridge-ep-xeon-e5-2697-v2.txt",
            "intel-haswell-ep-xeon-e5-2699-v3.txt",
            "intel-broadwell-ep-xeon-e5-2620-v4.txt",
        ],
    ),
    (
        "intel-mid",
        &[
            "intel-skylake-sp-xeon-platinum-8180.txt",
            "intel-cascadelake-sp-xeon-platinum-8280.txt",
            "intel-icelake-sp-xeon-gold-6330.txt",
        ],
    ),
    (
        "intel-new",
        &[
            "intel-sapphirerapids-xeon-w9-3475x.txt",
            "intel-emeraldrapids-xeon-platinum-8570.txt",
            "intel-graniterapids-xeon-658x.txt",
        ],
    ),
    (
        "intel-client",
        &[
            "intel-raptorlake-core-i9-13900k.txt",
            "intel-sapphirerapids-xeon-w9-3475x.txt",
        ],
    ),
    (
        "intel-span",
        &[
            "intel-ivybridge-ep-xeon-e5-2697-v2.txt",
            "intel-skylake-sp-xeon-platinum-8180.txt",
            "intel-icelake-sp-xeon-gold-6330.txt",
            "intel-graniterapids-xeon-658x.txt",
        ],
    ),
    (
        "amd-old",
        &["amd-naples-epyc-7551p.txt", "amd-rome-epyc-7742.txt"],
    ),
    (
        "amd-zen",
        &[
            "amd-rome-epyc-7742.txt",
            "amd-milan-epyc-7763.txt",
            "amd-genoa-epyc-9654.txt",
        ],
    ),
    (
        "amd-new",
        &[
            "amd-genoa-epyc-9654.txt",
            "amd-turin-epyc-9655.txt",
            "amd-raphael-ryzen-9-7950x.txt",
        ],
    ),
    (
        "amd-span",
        &[
            "amd-naples-epyc-7551p.txt",
            "amd-milan-epyc-7763.txt",
            "amd-turin-epyc-9655.txt",
            "amd-zen5-kvm-guest.txt",
        ],
    ),
];

fn dumps(files: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|f| format!("testdata/cpuid/{f}"))
        .collect()
}

/// `xen-maskcalc FLAGS POOL…`: (stdout, stderr), exit 0 required.
fn maskcalc(flags: &[&str], files: &[&str]) -> (String, String) {
    let dumps = dumps(files);
    let mut args: Vec<&str> = flags.to_vec();
    args.extend(dumps.iter().map(String::as_str));
    outcome(MASKCALC, &args, 0)
}

/// Either the consumer is here, or the test says why it skips (and fails
/// when `XENMIG_REQUIRE_CONSUMERS` is set).
// A test helper's report, as the tests' own prints are (clippy allows those only in #[test] functions).
#[allow(clippy::print_stderr)]
fn available(what: &str, present: bool, why: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("XENMIG_REQUIRE_CONSUMERS").is_none(),
            "{what} is required (XENMIG_REQUIRE_CONSUMERS) but {why}"
        );
        eprintln!("skipped: {what}: {why}");
    }
    present
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Runs `program args` with `input` on standard input: (exit code, stdout, stderr).
fn pipe(program: &Path, args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    // A consumer that exits early closes its end: that is its answer, not ours.
    let _ = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes());
    let out = child.wait_with_output().unwrap();
    (code(&out), stdout(&out), stderr(&out))
}

/// The xl harness, compiled against the installed libxenlight into a
/// directory that goes away with it.
struct XlHarness {
    _dir: tempfile::TempDir,
    exe: PathBuf,
}

impl XlHarness {
    fn build() -> Option<XlHarness> {
        if !Path::new("/usr/include/libxl.h").exists() || !on_path("cc") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("xenmig-xl-harness-")
            .tempdir()
            .unwrap();
        let exe = dir.path().join("xl_cpuid");
        let source = repo_root().join("crates/cli/tests/consumers/xl_cpuid.c");
        let out = Command::new("cc")
            .args(["-std=gnu99", "-Wall", "-Werror", "-O1", "-o"])
            .arg(&exe)
            .arg(&source)
            .args(["-lxenlight", "-lxlutil"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the xl harness does not build against libxenlight: {}",
            stderr(&out)
        );
        Some(XlHarness { _dir: dir, exe })
    }

    /// What libxenlight says of an xl.cfg `cpuid` setting: Ok, or its refusal.
    fn accepts(&self, config: &str) -> Result<(), String> {
        match pipe(&self.exe, &[], config) {
            (0, _, _) => Ok(()),
            (_, _, err) => Err(err),
        }
    }
}

/// The harness, or None after saying why the test skips.
fn xl_harness() -> Option<XlHarness> {
    let harness = XlHarness::build();
    available(
        "libxenlight",
        harness.is_some(),
        "libxen-dev (libxl.h) or a C compiler is not installed",
    )
    .then_some(harness)
    .flatten()
}

/// What QEMU says of a `-cpu` argument (the output's text, `-cpu ARG\n`).
fn qemu_accepts(output: &str) -> Result<(), String> {
    let arg = output
        .trim_end()
        .strip_prefix("-cpu ")
        .unwrap_or_else(|| panic!("not a -cpu argument: {output}"));
    // `host` needs KVM; TCG's `max` takes the same feature properties.
    let arg = match arg.strip_prefix("host") {
        Some(rest) => format!("max{rest}"),
        None => arg.to_owned(),
    };
    let qemu = Path::new("/usr/bin/qemu-system-x86_64");
    let args = [
        "-accel",
        "tcg",
        "-M",
        "q35",
        "-S",
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "stdio",
        "-cpu",
        &arg,
    ];
    let (status, _, err) = pipe(qemu, &args, "quit\n");
    // TCG warns about features it cannot emulate; that is not a refusal.
    let refusal: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("warning: TCG doesn't support requested feature"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    if status == 0 && refusal.is_empty() {
        Ok(())
    } else {
        Err(format!("exit {status}: {}", refusal.join("\n")))
    }
}

/// libvirt's installed cpu_map: x86 feature names and model names.
fn cpu_map() -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    let map = libvirt_map();
    (
        map.features.iter().map(|f| f.name.as_str()).collect(),
        map.models.iter().map(|m| m.name.as_str()).collect(),
    )
}

/// The `name='…'` values of `<element …>` in a `<cpu>` element we wrote.
fn attribute_values(xml: &str, element: &str) -> Vec<String> {
    xml.lines()
        .filter(|l| l.trim_start().starts_with(&format!("<{element} ")))
        .filter_map(|l| {
            let at = l.find("name='")? + "name='".len();
            let end = l[at..].find('\'')?;
            Some(l[at..at + end].to_owned())
        })
        .collect()
}

fn model_of(cpu: &str) -> Option<String> {
    let start = cpu.find("<model")?;
    let open = cpu[start..].find('>')? + start + 1;
    let close = cpu[open..].find("</model>")? + open;
    Some(cpu[open..close].to_owned())
}

/// What libvirt says of a `<cpu>` element: every name in its cpu_map, a
/// domain holding it valid against its schema, and defined by the test driver.
fn libvirt_accepts(cpu: &str, dir: &Path, tag: &str) -> Result<(), String> {
    let (features, models) = cpu_map();
    let unknown: Vec<String> = attribute_values(cpu, "feature")
        .into_iter()
        .filter(|f| !features.contains(f.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(format!("unknown CPU feature {}", unknown.join(", ")));
    }
    if let Some(model) = model_of(cpu).filter(|m| !models.contains(m.as_str())) {
        return Err(format!("unknown CPU model {model}"));
    }
    let domain = format!(
        "<domain type='test'>\n  <name>xenmig-{tag}</name>\n  <memory unit='MiB'>128</memory>\n  \
         <os><type arch='x86_64'>hvm</type></os>\n{cpu}</domain>\n"
    );
    let path = dir.join(format!("{tag}.xml"));
    std::fs::write(&path, domain).unwrap();
    let path = path.to_str().unwrap();
    let validate = Command::new("virt-xml-validate")
        .args([path, "domain"])
        .output()
        .unwrap();
    if !validate.status.success() {
        return Err(format!(
            "virt-xml-validate: {}{}",
            stdout(&validate),
            stderr(&validate)
        ));
    }
    let define = Command::new("virsh")
        .args(["-c", "test:///default", "define", path])
        .output()
        .unwrap();
    if !define.status.success() {
        return Err(format!("virsh define: {}", stderr(&define)));
    }
    Ok(())
}

/// The installed cpu_map, read as libvirt reads it.
fn libvirt_map() -> &'static libvirt_host::CpuMap {
    static MAP: OnceLock<libvirt_host::CpuMap> = OnceLock::new();
    MAP.get_or_init(|| libvirt_host::CpuMap::installed(Path::new("/usr/share/libvirt/cpu_map")))
}

/// libvirt's own answer for a pool: `virsh cpu-baseline` of its hosts, each
/// described as `virsh capabilities` describes a host (libvirt_host.rs).
fn libvirt_baseline(hosts: &[libvirt_host::Host], dir: &Path, tag: &str) -> Result<String, String> {
    let xml: String = hosts.iter().map(|h| h.cpu_xml(libvirt_map())).collect();
    let path = dir.join(format!("{tag}-hosts.xml"));
    std::fs::write(&path, xml).unwrap();
    let out = Command::new("virsh")
        .args(["-c", "test:///default", "cpu-baseline"])
        .arg(&path)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(stdout(&out))
    } else {
        Err(stderr(&out))
    }
}

/// One row of the matrix.
struct Row {
    pool: &'static str,
    output: &'static str,
    consumer: String,
    verdict: Result<(), String>,
}

// The acceptance matrix a test run shows (clippy allows prints only in #[test] functions).
#[allow(clippy::print_stderr)]
fn print_matrix(rows: &[Row]) {
    eprintln!("{:<13} {:<28} {:<34} verdict", "pool", "output", "consumer");
    for row in rows {
        eprintln!(
            "{:<13} {:<28} {:<34} {}",
            row.pool,
            row.output,
            row.consumer,
            match &row.verdict {
                Ok(()) => "accepted".to_owned(),
                Err(e) => format!("REFUSED: {}", e.lines().next().unwrap_or("")),
            }
        );
    }
}

fn assert_all_accepted(rows: &[Row]) {
    print_matrix(rows);
    let refused: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.verdict
                .as_ref()
                .err()
                .map(|e| format!("{} {} ({}): {e}", r.pool, r.output, r.consumer))
        })
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {} refused:\n{}",
        refused.len(),
        rows.len(),
        refused.join("\n")
    );
}

/// The release `-v` names for a consumer: `writing for QEMU 7.2 (…)`.
fn chosen(flags: &[&str], files: &[&str], consumer: &str) -> String {
    let mut verbose = vec!["-v"];
    verbose.extend_from_slice(flags);
    let (_, err) = maskcalc(&verbose, files);
    err.lines()
        .find_map(|l| l.strip_prefix("xen-maskcalc: writing for "))
        .filter(|l| l.starts_with(consumer))
        .map(|l| l.split(" (").next().unwrap_or(l).to_owned())
        .unwrap_or_else(|| panic!("-v names no {consumer} release: {err}"))
}

#[test]
fn libxenlight_parses_every_pools_xend_list_and_xl_string() {
    let Some(harness) = xl_harness() else {
        return;
    };
    let mut rows = Vec::new();
    for (pool, files) in POOLS {
        let xen = chosen(&["--format", "xl"], files, "Xen");
        let (xend, _) = maskcalc(&[], files);
        assert!(xend.starts_with("cpuid = [\n"), "{xend}");
        rows.push(Row {
            pool,
            output: "xend list (default)",
            consumer: format!("libxenlight of {xen}"),
            verdict: harness.accepts(&xend),
        });
        let (xl, _) = maskcalc(&["--format", "xl"], files);
        rows.push(Row {
            pool,
            output: "--format xl",
            consumer: format!("libxenlight of {xen}"),
            verdict: harness.accepts(&xl),
        });
    }
    assert_all_accepted(&rows);
}

#[test]
fn the_xl_harness_refuses_what_libxenlight_refuses() {
    let Some(harness) = xl_harness() else {
        return;
    };
    assert_eq!(harness.accepts("cpuid = \"host,avx=0,aes=1\"\n"), Ok(()));
    let err = harness
        .accepts("cpuid = \"host,avx=0,no-such-feature=0\"\n")
        .unwrap_err();
    assert!(err.contains("no-such-feature=0"), "{err}");
    assert!(
        harness
            .accepts("cpuid = [ \"0x00000001:ecx=x00x\" ]\n")
            .is_err()
    );
    // A name newer than the installed libxl, as the issue saw refused.
    if chosen(&["--format", "xl"], POOLS[0].1, "Xen") == "Xen 4.17" {
        assert!(harness.accepts("cpuid = \"host,bld=0\"\n").is_err());
    }
}

#[test]
fn qemu_accepts_every_pools_model_and_passthrough_cpu() {
    if !available(
        "QEMU",
        Path::new("/usr/bin/qemu-system-x86_64").exists(),
        "qemu-system-x86 is not installed",
    ) {
        return;
    }
    let mut rows = Vec::new();
    for (pool, files) in POOLS {
        let qemu = chosen(&["--format", "qemu"], files, "QEMU");
        for (output, flags) in [
            ("--format qemu (model)", &["--format", "qemu"][..]),
            (
                "--format qemu passthrough",
                &["--format", "qemu", "--cpu-mode", "passthrough"][..],
            ),
        ] {
            let (text, _) = maskcalc(flags, files);
            rows.push(Row {
                pool,
                output,
                consumer: qemu.clone(),
                verdict: qemu_accepts(&text),
            });
        }
    }
    assert_all_accepted(&rows);
}

#[test]
fn the_qemu_probe_refuses_what_qemu_refuses() {
    if !available(
        "QEMU",
        Path::new("/usr/bin/qemu-system-x86_64").exists(),
        "qemu-system-x86 is not installed",
    ) {
        return;
    }
    assert_eq!(qemu_accepts("-cpu Haswell-noTSX,-avx2\n"), Ok(()));
    let err = qemu_accepts("-cpu host,-no-such-feature\n").unwrap_err();
    assert!(err.contains("not found"), "{err}");
    assert!(qemu_accepts("-cpu No-Such-Model\n").is_err());
}

#[test]
fn libvirt_accepts_every_pools_cpu() {
    if !available(
        "libvirt",
        on_path("virsh")
            && on_path("virt-xml-validate")
            && on_path("xmllint")
            && Path::new("/usr/share/libvirt/cpu_map/x86_features.xml").exists(),
        "libvirt-clients (virsh, virt-xml-validate, cpu_map) or libxml2-utils is not installed",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (pool, files) in POOLS {
        let libvirt = chosen(&["--format", "libvirt"], files, "libvirt");
        for (output, flags, tag) in [
            (
                "--format libvirt (model)",
                &["--format", "libvirt"][..],
                "model",
            ),
            (
                "--format libvirt passthrough",
                &["--format", "libvirt", "--cpu-mode", "passthrough"][..],
                "passthrough",
            ),
        ] {
            let (cpu, _) = maskcalc(flags, files);
            rows.push(Row {
                pool,
                output,
                consumer: libvirt.clone(),
                verdict: libvirt_accepts(&cpu, dir.path(), &format!("{pool}-{tag}")),
            });
        }
    }
    assert_all_accepted(&rows);
}

/// The installed cpu_map, when `virsh cpu-baseline` can run here (else
/// None, after saying why the test skips).
fn libvirt_baseline_here() -> Option<&'static libvirt_host::CpuMap> {
    available(
        "libvirt",
        on_path("virsh") && Path::new("/usr/share/libvirt/cpu_map/index.xml").exists(),
        "libvirt-clients (virsh, cpu_map) is not installed",
    )
    .then(libvirt_map)
}

#[test]
fn every_host_is_described_to_libvirt_as_libvirt_describes_it() {
    let Some(map) = libvirt_baseline_here() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files: BTreeSet<&str> = POOLS.iter().flat_map(|(_, f)| f.iter().copied()).collect();
    for file in files {
        let host =
            libvirt_host::Host::from_dump(map, &repo_root().join("testdata/cpuid").join(file));
        let model = host.model(map);
        // One host names one model, so libvirt answers with it, and lists
        // what it has beyond the model: the model must expand in libvirt
        // as it does here, and need nothing disabled.
        let xml = libvirt_baseline(std::slice::from_ref(&host), dir.path(), "host")
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let theirs = libvirt_host::GuestCpu::parse(&xml).unwrap();
        assert_eq!(theirs.model, model.name, "{file}");
        assert!(xml.contains("fallback='forbid'"), "{file}: {xml}");
        assert!(theirs.disabled.is_empty(), "{file}: {xml}");
        let listed: BTreeSet<String> = host.features.difference(&model.features).cloned().collect();
        assert_eq!(theirs.required, listed, "{file}");
    }
    // libvirt's own rules at work: a model whose signature matches wins
    // (Skylake-SP, family 6 model 85 stepping 4, is Skylake-Server's), and a
    // Haswell-EP below stepping 4 loses TSX, so it is a noTSX model.
    let decoded = |file: &str| {
        libvirt_host::Host::from_dump(map, &repo_root().join("testdata/cpuid").join(file))
            .model(map)
            .name
            .clone()
    };
    assert_eq!(
        decoded("intel-skylake-sp-xeon-platinum-8180.txt"),
        "Skylake-Server"
    );
    assert!(decoded("intel-haswell-ep-xeon-e5-2699-v3.txt").contains("noTSX"));
}

/// Our model against libvirt's for one pool: `Ok(how)` when ours is
/// libvirt's, or richer: its cpu_map features strictly contain those of
/// libvirt's model, and every one of them is on every host unless our
/// `<cpu>` disables it. And either way the guest we describe sees no
/// feature that libvirt's answer withholds: not even an `accumulate` one
/// that some host lacks (Xen offers those; a KVM guest must not see them).
fn compare_models(
    map: &libvirt_host::CpuMap,
    hosts: &[libvirt_host::Host],
    ours: &libvirt_host::GuestCpu,
    theirs: &libvirt_host::GuestCpu,
) -> Result<&'static str, String> {
    let common = hosts
        .iter()
        .map(|h| h.features.clone())
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .expect("a pool has hosts");
    let model = |name: &str| {
        map.model(name)
            .ok_or_else(|| format!("{name} is not a model of the installed cpu_map"))
    };
    let (our_model, their_model) = (model(&ours.model)?, model(&theirs.model)?);
    let verdict = if ours.model == theirs.model {
        "same model"
    } else if our_model.features.is_superset(&their_model.features)
        && our_model.features.len() > their_model.features.len()
    {
        let unsupported: Vec<&String> = our_model
            .features
            .iter()
            .filter(|f| !common.contains(*f) && !ours.disabled.contains(*f))
            .collect();
        if !unsupported.is_empty() {
            return Err(format!(
                "{} is richer than {} but not every host has {unsupported:?}, which it keeps",
                ours.model, theirs.model
            ));
        }
        "richer model"
    } else {
        return Err(format!(
            "{} is neither libvirt's {} nor a model with all its features",
            ours.model, theirs.model
        ));
    };
    let beyond: Vec<String> = ours
        .features(map)
        .difference(&theirs.features(map))
        .cloned()
        .collect();
    if !beyond.is_empty() {
        return Err(format!(
            "the guest sees {beyond:?}, which libvirt's baseline withholds"
        ));
    }
    Ok(verdict)
}

#[test]
// The comparison table a test run shows (clippy allows prints only in #[test] functions).
#[allow(clippy::print_stderr)]
fn our_libvirt_model_is_libvirts_own_baseline_or_richer() {
    let Some(map) = libvirt_baseline_here() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut refused = Vec::new();
    eprintln!(
        "{:<13} {:<56} {:<28} {:<36} verdict",
        "pool",
        "hosts (libvirt's host models)",
        "virsh cpu-baseline",
        "xen-maskcalc --format libvirt"
    );
    for (pool, files) in POOLS {
        let hosts: Vec<libvirt_host::Host> = files
            .iter()
            .map(|f| {
                libvirt_host::Host::from_dump(map, &repo_root().join("testdata/cpuid").join(f))
            })
            .collect();
        let theirs = libvirt_baseline(&hosts, dir.path(), pool)
            .map(|xml| libvirt_host::GuestCpu::parse(&xml).unwrap_or_else(|| panic!("{xml}")))
            .unwrap_or_else(|e| panic!("{pool}: virsh cpu-baseline: {e}"));
        let (cpu, _) = maskcalc(&["--format", "libvirt"], files);
        let ours = libvirt_host::GuestCpu::parse(&cpu).unwrap_or_else(|| panic!("{cpu}"));
        let verdict = compare_models(map, &hosts, &ours, &theirs);
        let host_models: Vec<&str> = hosts.iter().map(|h| h.model(map).name.as_str()).collect();
        eprintln!(
            "{pool:<13} {:<56} {:<28} {:<36} {}",
            host_models.join(", "),
            theirs.summary(),
            ours.summary(),
            match &verdict {
                Ok(how) => (*how).to_owned(),
                Err(e) => format!("WRONG: {e}"),
            }
        );
        if let Err(e) = verdict {
            refused.push(format!("{pool}: {e}"));
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

/// Firecracker's x86 `CustomCpuTemplate`, field for field, with its own
/// parsing rules: numbers are strings with a `0x` or `0b` prefix, bitmaps
/// `0b` then at most 32 (64 for MSRs) of `0`, `1`, `x`, `_`; unknown fields
/// are refused.
// Mirror types: every field is parsed (that is the check), not every one read.
#[allow(dead_code, unreachable_pub)]
mod firecracker {
    use serde::{Deserialize, Deserializer, de::Error as _};

    fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = if let Some(bits) = text.strip_prefix("0b") {
            u32::from_str_radix(bits, 2)
        } else if let Some(hex) = text.strip_prefix("0x") {
            u32::from_str_radix(hex, 16)
        } else {
            return Err(D::Error::custom(format!("{text}: no 0x or 0b prefix")));
        };
        parsed.map_err(|e| D::Error::custom(format!("{text}: {e}")))
    }

    /// (filter, value) of a bitmap of `width` bits.
    fn bitmap<'de, D: Deserializer<'de>>(d: D, width: u32) -> Result<(u64, u64), D::Error> {
        let text = String::deserialize(d)?;
        let bits = text.strip_prefix("0b").unwrap_or(&text);
        let (mut filter, mut value, mut i) = (0u64, 0u64, 0u32);
        for c in bits.bytes().rev() {
            if c == b'_' {
                continue;
            }
            if i == width {
                return Err(D::Error::custom(format!(
                    "{text}: longer than {width} bits"
                )));
            }
            match c {
                b'x' => {}
                b'0' => filter |= 1 << i,
                b'1' => {
                    filter |= 1 << i;
                    value |= 1 << i;
                }
                other => {
                    return Err(D::Error::custom(format!(
                        "{text}: unknown character {}",
                        char::from(other)
                    )));
                }
            }
            i += 1;
        }
        Ok((filter, value))
    }

    fn bitmap32<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, u64), D::Error> {
        bitmap(d, 32)
    }

    fn bitmap64<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, u64), D::Error> {
        bitmap(d, 64)
    }

    fn register<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "eax" | "ebx" | "ecx" | "edx" => Ok(name),
            _ => Err(D::Error::custom(format!(
                "{name}: not eax, ebx, ecx or edx"
            ))),
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CustomCpuTemplate {
        #[serde(default)]
        pub kvm_capabilities: Vec<String>,
        #[serde(default)]
        pub cpuid_modifiers: Vec<CpuidLeafModifier>,
        #[serde(default)]
        pub msr_modifiers: Vec<RegisterModifier>,
    }

    #[derive(Debug, Deserialize)]
    pub struct CpuidLeafModifier {
        #[serde(deserialize_with = "number")]
        pub leaf: u32,
        #[serde(deserialize_with = "number")]
        pub subleaf: u32,
        pub flags: u32,
        pub modifiers: Vec<CpuidRegisterModifier>,
    }

    #[derive(Debug, Deserialize)]
    pub struct CpuidRegisterModifier {
        #[serde(deserialize_with = "register")]
        pub register: String,
        #[serde(deserialize_with = "bitmap32")]
        pub bitmap: (u64, u64),
    }

    #[derive(Debug, Deserialize)]
    pub struct RegisterModifier {
        #[serde(deserialize_with = "number")]
        pub addr: u32,
        #[serde(deserialize_with = "bitmap64")]
        pub bitmap: (u64, u64),
    }
}

/// Cloud Hypervisor's `CpuidProfileData` (arch/src/x86_64/cpu_profile/
/// cpuid_adjustments.rs), with its `deserialize_u32_hex` (a borrowed string,
/// `0x` required) for every number, including both ends of `sub_leaf`; and
/// the `hypervisor` and `cpu_vendor` of its profile files (`HypervisorType`,
/// `CpuVendor`: `Unknown`, `Intel`, `AMD`).
#[allow(dead_code, unreachable_pub)]
mod cloud_hypervisor {
    use serde::{Deserialize, Deserializer, de::Error as _};

    fn hex<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text: &str = <&str>::deserialize(d)?;
        u32::from_str_radix(text.strip_prefix("0x").unwrap_or(""), 16)
            .map_err(|_| D::Error::custom(format!("{text} is not a hex encoded 32 bit integer")))
    }

    #[derive(Debug, Deserialize)]
    pub enum HypervisorType {
        Kvm,
        Mshv,
    }

    // Cloud Hypervisor's own variant names: serde matches the JSON against them.
    #[allow(clippy::upper_case_acronyms)]
    #[derive(Debug, PartialEq, Eq, Deserialize)]
    pub enum CpuVendor {
        Unknown,
        Intel,
        AMD,
    }

    // Cloud Hypervisor's own variant names: serde matches the JSON against them.
    #[allow(clippy::upper_case_acronyms)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    pub enum CpuidReg {
        EAX,
        EBX,
        ECX,
        EDX,
    }

    #[derive(Debug, Deserialize)]
    pub struct Range {
        #[serde(deserialize_with = "hex")]
        pub start: u32,
        #[serde(deserialize_with = "hex")]
        pub end: u32,
    }

    #[derive(Debug, Deserialize)]
    pub struct CpuidParameters {
        #[serde(deserialize_with = "hex")]
        pub leaf: u32,
        pub sub_leaf: Range,
        pub register: CpuidReg,
    }

    #[derive(Debug, Deserialize)]
    pub struct CpuidOutputRegisterAdjustments {
        #[serde(deserialize_with = "hex")]
        pub replacements: u32,
        #[serde(deserialize_with = "hex")]
        pub mask: u32,
    }

    #[derive(Debug, Deserialize)]
    pub struct CpuProfileData {
        pub hypervisor: HypervisorType,
        pub cpu_vendor: CpuVendor,
        pub adjustments: Vec<(CpuidParameters, CpuidOutputRegisterAdjustments)>,
    }
}

/// The entries Linux KVM reports to a guest on a host (`KVM_GET_SUPPORTED_CPUID`,
/// after `get_cpuid_func` and `__do_cpuid_func` of arch/x86/kvm/cpuid.c in
/// Linux 6.16), from the host's dump: each leaf up to the host's highest
/// (basic capped at 0x24, extended at 0x80000022, and at least 0x80000021
/// on a host reaching 0x8000001d), subleaf 0; and the subleaves KVM walks
/// without an optional feature: 7.1 and 7.2 up to 7.0.EAX, 0xD.1, the cache
/// subleaves of 0x4 and 0x8000001D. Keyed by (leaf, subleaf), with the
/// entry's registers.
fn kvm_supported_cpuid(file: &str) -> std::collections::BTreeMap<(u32, u32), [u32; 4]> {
    let bytes = std::fs::read(repo_root().join("testdata/cpuid").join(file)).unwrap();
    let cpuid = maskcalc::dump::parse(file, &bytes, None).unwrap();
    let reg = |leaf: u32, subleaf: u32| {
        cpuid
            .leaves
            .get(&maskcalc::model::CpuidInput::new(leaf, subleaf))
            .copied()
            .unwrap_or_default()
    };
    let mut entries = std::collections::BTreeMap::new();
    let max_basic = reg(0, 0)[0].min(0x24);
    let host_extended = reg(0x8000_0000, 0)[0];
    let mut max_extended = host_extended.min(0x8000_0022);
    if host_extended >= 0x8000_001d {
        max_extended = max_extended.max(0x8000_0021);
    }
    for leaf in (0..=max_basic).chain(0x8000_0000..=max_extended) {
        let mut first = reg(leaf, 0);
        match leaf {
            0 => first[0] = max_basic,
            0x8000_0000 => first[0] = max_extended,
            7 => first[0] = first[0].min(2),
            _ => {}
        }
        entries.insert((leaf, 0), first);
        let subleaves: Vec<u32> = match leaf {
            7 => (1..=first[0]).collect(),
            0xd => vec![1],
            0x4 | 0x8000_001d => (1..64)
                .take_while(|&i| reg(leaf, i - 1)[0] & 0x1f != 0)
                .collect(),
            _ => Vec::new(),
        };
        for subleaf in subleaves {
            entries.insert((leaf, subleaf), reg(leaf, subleaf));
        }
    }
    entries
}

/// What Firecracker makes of a template on a host: its `apply_template`
/// finds each modifier's (leaf, subleaf) in KVM's list or refuses the
/// template (`CpuidFeatureNotSupported`), writes the modifier's `flags` over
/// the entry's, and applies each register's bitmap. Ok: the guest's leaf 0,
/// 7.0 and 0x80000000 EAX (the highest leaves it sees).
fn firecracker_applies(
    template: &firecracker::CustomCpuTemplate,
    file: &str,
) -> Result<[u32; 3], String> {
    let mut entries = kvm_supported_cpuid(file);
    for leaf in &template.cpuid_modifiers {
        let Some(entry) = entries.get_mut(&(leaf.leaf, leaf.subleaf)) else {
            return Err(format!(
                "{file}: Template changes a CPUID entry not supported by KVM: Leaf: {:x}, Subleaf: {:x}",
                leaf.leaf, leaf.subleaf
            ));
        };
        // KVM's KVM_CPUID_FLAG_SIGNIFCANT_INDEX leaves (cpuid_function_is_indexed).
        let indexed = maskcalc::consumer::kvm::indexed(leaf.leaf);
        if leaf.flags != u32::from(indexed) {
            return Err(format!(
                "{:#x}: flags {} but KVM's are {}",
                leaf.leaf,
                leaf.flags,
                u32::from(indexed)
            ));
        }
        for m in &leaf.modifiers {
            let i = ["eax", "ebx", "ecx", "edx"]
                .iter()
                .position(|r| *r == m.register)
                .unwrap();
            let (filter, value) = (m.bitmap.0 as u32, m.bitmap.1 as u32);
            entry[i] = (entry[i] & !filter) | value;
        }
    }
    Ok([
        entries[&(0, 0)][0],
        entries[&(7, 0)][0],
        entries[&(0x8000_0000, 0)][0],
    ])
}

#[test]
fn firecracker_loads_every_pools_template_on_every_host() {
    let mut rows = Vec::new();
    for (pool, files) in POOLS {
        let (text, _) = maskcalc(&["--format", "firecracker"], files);
        let verdict = serde_json::from_str::<firecracker::CustomCpuTemplate>(&text)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                // One modifier per register of a leaf, as Firecracker applies them.
                for leaf in &t.cpuid_modifiers {
                    let mut seen = BTreeSet::new();
                    for m in &leaf.modifiers {
                        if !seen.insert(&m.register) || m.bitmap.0 == 0 {
                            return Err(format!("{:#x}.{:#x}: {m:?}", leaf.leaf, leaf.subleaf));
                        }
                    }
                }
                // Applied on every host, and every guest sees the same highest leaves.
                let limits = files
                    .iter()
                    .map(|f| firecracker_applies(&t, f))
                    .collect::<Result<BTreeSet<_>, _>>()?;
                if limits.len() == 1 {
                    Ok(())
                } else {
                    Err(format!("guests see different highest leaves: {limits:x?}"))
                }
            });
        rows.push(Row {
            pool,
            output: "--format firecracker",
            consumer: "Firecracker on KVM (Linux 6.16)".to_owned(),
            verdict,
        });
    }
    assert_all_accepted(&rows);
}

#[test]
fn the_firecracker_check_refuses_what_firecracker_refuses() {
    let template = |leaf: &str, subleaf: &str, flags: u32| {
        serde_json::from_str::<firecracker::CustomCpuTemplate>(&format!(
            "{{\"cpuid_modifiers\": [{{\"leaf\": \"{leaf}\", \"subleaf\": \"{subleaf}\", \"flags\": {flags}, \
             \"modifiers\": [{{\"register\": \"edx\", \"bitmap\": \"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx0xxx\"}}]}}]}}"
        ))
        .unwrap()
    };
    let ivybridge = "intel-ivybridge-ep-xeon-e5-2697-v2.txt";
    let granite = "intel-graniterapids-xeon-658x.txt";
    assert!(firecracker_applies(&template("0x7", "0x0", 1), ivybridge).is_ok());
    // Leaf 0xF's subleaf 1 is never in KVM's list; 7.1 needs 7.0.EAX >= 1.
    let err = firecracker_applies(&template("0xf", "0x1", 1), granite).unwrap_err();
    assert!(err.contains("Leaf: f, Subleaf: 1"), "{err}");
    assert!(firecracker_applies(&template("0x7", "0x1", 1), granite).is_ok());
    assert!(firecracker_applies(&template("0x7", "0x1", 1), ivybridge).is_err());
    // A flags value other than KVM's breaks leaf 7's subleaf indexing.
    assert!(firecracker_applies(&template("0x7", "0x0", 0), ivybridge).is_err());
}

#[test]
fn cloud_hypervisor_loads_every_pools_profile() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    let hygon: &[&str] = &["hygon-dhyana-c86-3185.txt"];
    for (pool, files) in POOLS.iter().copied().chain([("hygon", hygon)]) {
        let profile = dir.path().join(format!("{pool}.json"));
        let profile = profile.to_str().unwrap();
        let dumps = dumps(files);
        let mut args = vec!["generate", "--name", pool, "-o", profile];
        args.extend(dumps.iter().map(String::as_str));
        let generated = run(PROFILE, &args);
        assert_eq!(code(&generated), 0, "{}", stderr(&generated));
        let (text, notes) = outcome(
            PROFILE,
            &["export", "--format", "cloud-hypervisor", profile],
            0,
        );
        let verdict = serde_json::from_str::<cloud_hypervisor::CpuProfileData>(&text)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                let vendor = if pool.starts_with("intel") {
                    cloud_hypervisor::CpuVendor::Intel
                } else if pool.starts_with("amd") {
                    cloud_hypervisor::CpuVendor::AMD
                } else {
                    // Cloud Hypervisor sees a Hygon host as Unknown; the note says so.
                    assert!(notes.contains("cpu_vendor is Unknown"), "{notes}");
                    cloud_hypervisor::CpuVendor::Unknown
                };
                if p.cpu_vendor != vendor {
                    return Err(format!("cpu_vendor {:?}", p.cpu_vendor));
                }
                match p
                    .adjustments
                    .iter()
                    .find(|(k, _)| k.sub_leaf.start > k.sub_leaf.end)
                {
                    Some((k, _)) => Err(format!("empty sub_leaf range {k:?}")),
                    None if p.adjustments.is_empty() => Err("no adjustments".to_owned()),
                    None => Ok(()),
                }
            });
        rows.push(Row {
            pool,
            output: "export cloud-hypervisor",
            consumer: "Cloud Hypervisor CpuidProfileData".to_owned(),
            verdict,
        });
    }
    assert_all_accepted(&rows);
}

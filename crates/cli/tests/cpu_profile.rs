//! Golden-file tests of `cpu-profile`.

mod support;

use support::{assert_golden, code, outcome, run, run_with_closed_stdout, scratch};

const EXE: &str = env!("CARGO_BIN_EXE_cpu-profile");
const MASKCALC: &str = env!("CARGO_BIN_EXE_xen-maskcalc");
const HASWELL: &str = "testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt";
const SKYLAKE: &str = "testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt";
const ICELAKE: &str = "testdata/cpuid/intel-icelake-sp-xeon-gold-6330.txt";
const IVYBRIDGE: &str = "testdata/cpuid/intel-ivybridge-ep-xeon-e5-2697-v2.txt";
const CASCADELAKE: &str = "testdata/cpuid/intel-cascadelake-sp-xeon-platinum-8280.txt";
const ROME: &str = "testdata/cpuid/amd-rome-epyc-7742.txt";

/// Generates the profile of Haswell, Skylake and Ice Lake into `dir`.
fn pool_profile(dir: &std::path::Path) -> String {
    let path = dir.join("pool.json").display().to_string();
    let (stdout, stderr) = outcome(
        EXE,
        &[
            "generate", "--name", "pool", HASWELL, SKYLAKE, ICELAKE, "-o", &path,
        ],
        0,
    );
    assert_eq!(stdout, "");
    // The Skylake dump was taken by a 32-bit program (no SYSCALL, see
    // maskcalc::dump::quirks): the one thing said.
    assert_eq!(
        stderr,
        format!("cpu-profile: warning: {SKYLAKE}: {SYSCALL_REPAIRED}\n")
    );
    path
}

/// What `cpu-profile` says about a dump taken by a 32-bit program.
const SYSCALL_REPAIRED: &str = "SYSCALL (0x80000001.edx[11]) is clear with LM set, as Intel \
     CPUs report it to 32-bit programs: treated as present (take the dump with a 64-bit cpuid)";

#[test]
fn generate_writes_the_documented_profile() {
    let dir = scratch("generate");
    let path = pool_profile(&dir);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_golden("cpu-profile/pool.json", &text);
    // Nothing but the profile is left in the directory (no temporary file).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    // To standard output with `-o -`.
    let (stdout, _) = outcome(
        EXE,
        &[
            "generate", "--name", "pool", HASWELL, SKYLAKE, ICELAKE, "-o", "-",
        ],
        0,
    );
    assert_eq!(stdout, text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn show_names_every_feature() {
    let dir = scratch("show");
    let path = pool_profile(&dir);
    let (stdout, _) = outcome(EXE, &["show", &path], 0);
    assert_golden("cpu-profile/show.txt", &stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `xen-maskcalc`'s standard error as `cpu-profile export` writes it: a
/// profile does not record each host's bits, so the note on an accumulate
/// feature a KVM guest is not given cannot name the hosts that lack it.
fn profile_notes(maskcalc_stderr: &str) -> String {
    const WITHHELD: &str = " not offered to the guest: ";
    const WHY: &str = ", and KVM offers a guest";
    maskcalc_stderr
        .lines()
        .map(|line| match (line.find(WITHHELD), line.find(WHY)) {
            (Some(start), Some(end)) => format!(
                "{}not every host of the pool has it (which ones is not recorded){}\n",
                &line[..start + WITHHELD.len()],
                &line[end..]
            ),
            _ => format!("{line}\n"),
        })
        .collect()
}

#[test]
fn export_agrees_with_xen_maskcalc() {
    let dir = scratch("export");
    let path = pool_profile(&dir);
    // The same consumer releases for both, whatever this machine has.
    let versions = [
        &support::NEWEST_CONSUMERS[..],
        &["--cpu-mode", "passthrough"],
    ]
    .concat();
    for format in ["xl", "xend", "libvirt", "qemu", "firecracker"] {
        let export: Vec<&str> = [&["export", "--format", format][..], &versions, &[&path]].concat();
        let (stdout, stderr) = outcome(EXE, &export, 0);
        let args: Vec<&str> = [
            &["--format", format][..],
            &versions,
            &[HASWELL, SKYLAKE, ICELAKE],
        ]
        .concat();
        let maskcalc = run(MASKCALC, &args);
        assert_eq!(code(&maskcalc), 0);
        assert_eq!(
            stdout,
            String::from_utf8(maskcalc.stdout).unwrap(),
            "{format}"
        );
        assert_eq!(
            stderr,
            profile_notes(
                &support::without_quirks(&String::from_utf8(maskcalc.stderr).unwrap())
                    .replace("xen-maskcalc", "cpu-profile")
            ),
            "{format}"
        );
        assert_golden(&format!("cpu-profile/export-{format}.txt"), &stdout);
    }
    // Named models, from what the profile's guests see.
    for format in ["libvirt", "qemu"] {
        let args = [
            "export",
            "--format",
            format,
            "--qemu-version",
            "10.2",
            "--libvirt-version",
            "12.8",
            &path,
        ];
        let (stdout, _) = outcome(EXE, &args, 0);
        assert_golden(&format!("cpu-profile/export-{format}-model.txt"), &stdout);
    }
    let (stdout, _) = outcome(EXE, &["export", "--format", "cloud-hypervisor", &path], 0);
    assert_golden("cpu-profile/export-cloud-hypervisor.json", &stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_names_what_each_host_lacks() {
    let dir = scratch("check");
    let path = pool_profile(&dir);
    let (stdout, _) = outcome(
        EXE,
        &[
            "check",
            "--profile",
            &path,
            HASWELL,
            SKYLAKE,
            ICELAKE,
            CASCADELAKE,
        ],
        0,
    );
    assert_golden("cpu-profile/check-fits.txt", &stdout);
    let (stdout, _) = outcome(
        EXE,
        &["check", "--profile", &path, IVYBRIDGE, CASCADELAKE, ROME],
        1,
    );
    assert_golden("cpu-profile/check-profile.txt", &stdout);
    let (stdout, _) = outcome(
        EXE,
        &["check", "--json", "--profile", &path, IVYBRIDGE, ICELAKE],
        1,
    );
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["compatible"], false);
    assert_eq!(value["hosts"][1]["compatible"], true);
    assert!(
        value["hosts"][0]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["feature"] == "AVX2"
                && p["class"] == "intersect"
                && p["location"] == "0x7.0.ebx[5]")
    );
    assert_golden("cpu-profile/check-profile.json", &stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hosts_are_named_by_a_distinguishing_path_and_a_file_given_twice_is_one() {
    // hostA/cpuid.txt and hostB/cpuid.txt, as a collection script leaves
    // them; hostA's file given again by another path.
    let dir = scratch("host-names");
    for (host, dump) in [("hostA", SKYLAKE), ("hostB", CASCADELAKE)] {
        std::fs::create_dir(dir.join(host)).unwrap();
        std::fs::copy(
            support::repo_root().join(dump),
            dir.join(host).join("cpuid.txt"),
        )
        .unwrap();
    }
    let a = dir.join("hostA/cpuid.txt").display().to_string();
    let b = dir.join("hostB/cpuid.txt").display().to_string();
    let a_again = dir.join("hostB/../hostA/cpuid.txt").display().to_string();
    let (stdout, _) = outcome(EXE, &["generate", "-o", "-", &a, &b, &a_again, SKYLAKE], 0);
    let profile: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = profile["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "hostA/cpuid.txt",
            "hostB/cpuid.txt",
            "intel-skylake-sp-xeon-platinum-8180.txt"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cpu-profile check FLAGS --stream testdata/profile/STREAM HOSTS…`, which
/// must exit with `expected`: its standard output and standard error.
fn check_stream(flags: &[&str], stream: &str, hosts: &[&str], expected: i32) -> (String, String) {
    let stream = format!("testdata/profile/{stream}");
    let mut args = vec!["check"];
    args.extend_from_slice(flags);
    args.extend(["--stream", &stream]);
    args.extend_from_slice(hosts);
    outcome(EXE, &args, expected)
}

#[test]
fn check_stream_tells_whether_a_saved_guest_can_be_restored() {
    for file in ["libxc", "libxl", "xl"] {
        let stream = format!("{file}-skylake-guest.bin");
        let (stdout, _) = check_stream(&[], &stream, &[SKYLAKE], 0);
        assert!(
            stdout.contains("intel-skylake-sp-xeon-platinum-8180.txt: compatible\n"),
            "{stdout}"
        );
    }
    // A guest whose MSR policy has IA32_ARCH_CAPABILITIES: the dumps carry no
    // MSR values, so Cascade Lake is compatible with the MSR not checked, and
    // Skylake-SP lacks ARCH_CAPS itself.
    let (stdout, _) = check_stream(&[], "libxc-cascadelake-guest.bin", &[CASCADELAKE], 0);
    assert!(
        stdout.ends_with(
            "intel-cascadelake-sp-xeon-platinum-8280.txt: compatible\n  \
             not checked: msr 0xce (the dump has no value for it)\n  \
             not checked: msr 0x10a (the dump has no value for it)\n"
        ),
        "{stdout}"
    );
    let (stdout, _) = check_stream(&[], "libxc-cascadelake-guest.bin", &[SKYLAKE], 1);
    assert!(
        stdout.contains(
            "  the guest has ARCH_CAPS (0x7.0.edx[29], intersect), which the host lacks\n"
        ),
        "{stdout}"
    );
    let (stdout, _) = check_stream(
        &[],
        "xl-skylake-guest.bin",
        &[SKYLAKE, CASCADELAKE, HASWELL],
        1,
    );
    assert_golden("cpu-profile/check-stream.txt", &stdout);
    let (stdout, _) = check_stream(&["--json"], "xl-skylake-guest.bin", &[HASWELL], 1);
    assert_golden("cpu-profile/check-stream.json", &stdout);
}

#[test]
fn a_stream_without_a_policy_is_unsupported_and_a_broken_one_bad_input() {
    let (stdout, stderr) = check_stream(&[], "libxc-v2-no-policy.bin", &[SKYLAKE], 2);
    assert_eq!(stdout, "");
    assert_golden("cpu-profile/check-stream-no-policy.txt", &stderr);
    let (_, stderr) = check_stream(&[], "libxc-truncated.bin", &[SKYLAKE], 1);
    assert_golden("cpu-profile/check-stream-truncated.txt", &stderr);
}

#[test]
fn diff_by_feature_name() {
    let dir = scratch("diff");
    let path = pool_profile(&dir);
    let (stdout, _) = outcome(EXE, &["diff", &path, CASCADELAKE], 1);
    let stdout = stdout.replace(&path, "pool.json");
    assert_golden("cpu-profile/diff.txt", &stdout);
    let (stdout, _) = outcome(EXE, &["diff", "--json", SKYLAKE, CASCADELAKE], 1);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        value["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["feature"] == "AVX512_VNNI" && c["a"] == "off" && c["b"] == "on"),
        "{stdout}"
    );
    assert_golden("cpu-profile/diff-skylake-cascadelake.json", &stdout);
    let (stdout, _) = outcome(EXE, &["diff", &path, &path], 0);
    assert!(stdout.ends_with("no differences\n"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_inputs_name_the_file_and_the_field() {
    let mut text = String::new();
    for (args, expected) in [
        (
            vec!["show", "testdata/profile/bad-value-outside-mask.json"],
            1,
        ),
        (
            vec![
                "export",
                "--format",
                "xl",
                "testdata/profile/bad-register-name.json",
            ],
            1,
        ),
        (
            vec![
                "check",
                "--profile",
                "testdata/profile/bad-version.json",
                SKYLAKE,
            ],
            1,
        ),
        (
            vec![
                "check",
                "--profile",
                "testdata/profile/xl-skylake-guest.bin",
                SKYLAKE,
            ],
            1,
        ),
        (
            vec!["generate", "testdata/profile/bad-version.json", "-o", "-"],
            1,
        ),
        (vec!["generate", HASWELL, ROME, "-o", "-"], 1),
        (
            vec!["diff", "testdata/profile/bad-version.json", SKYLAKE],
            1,
        ),
        (vec!["diff", SKYLAKE, "testdata/profile/README.md"], 1),
        (
            vec![
                "check",
                "--input-format",
                "aida64",
                "--stream",
                "testdata/profile/xl-skylake-guest.bin",
                SKYLAKE,
            ],
            1,
        ),
        (vec!["show", "testdata/no-such-profile.json"], 2),
        (
            vec![
                "check",
                "--profile",
                "testdata/no-such-profile.json",
                SKYLAKE,
            ],
            2,
        ),
    ] {
        let (stdout, stderr) = outcome(EXE, &args, expected);
        assert_eq!(stdout, "");
        assert!(stderr.starts_with("cpu-profile: "), "{stderr}");
        text.push_str(&format!("$ cpu-profile {}\n{stderr}", args.join(" ")));
    }
    assert_golden("cpu-profile/errors.txt", &text);
}

#[test]
fn a_100_mib_profile_is_refused_by_its_size_without_reading_it() {
    let dir = scratch("huge");
    let path = dir.join("huge.json");
    // Sparse: 100 MiB of zeros without writing them.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let path = path.display().to_string();
    let (_, stderr) = outcome(EXE, &["check", "--profile", &path, SKYLAKE], 1);
    assert_eq!(
        stderr,
        format!(
            "cpu-profile: {path}: expected a profile of at most 4194304 bytes, found 104857600 bytes\n"
        )
    );
    // Refused before reading, as bad input (too large): exit 1 in every command.
    outcome(EXE, &["show", &path], 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2_and_help_teaches() {
    outcome(EXE, &[], 2);
    outcome(EXE, &["check", SKYLAKE], 2);
    outcome(EXE, &["check", "--profile", "p.json"], 2);
    outcome(EXE, &["export", "--format", "yaml", "p.json"], 2);
    outcome(
        EXE,
        &["diff", "--input-format", "yaml", SKYLAKE, SKYLAKE],
        2,
    );
    // The error for a dump of unknown format suggests --input-format: it exists.
    let (stdout, _) = outcome(
        EXE,
        &["diff", "--input-format", "cpuid", SKYLAKE, SKYLAKE],
        0,
    );
    assert!(stdout.ends_with("no differences\n"), "{stdout}");
    // Only the subcommands that read dumps take --input-format.
    for args in [
        &["show", "--input-format", "cpuid", "p.json"][..],
        &[
            "export",
            "--input-format",
            "cpuid",
            "--format",
            "xl",
            "p.json",
        ],
    ] {
        let (_, stderr) = outcome(EXE, args, 2);
        assert!(
            stderr.contains("unexpected argument '--input-format'"),
            "{stderr}"
        );
    }
    let (stdout, _) = outcome(EXE, &["--help"], 0);
    assert!(
        stdout.contains("Examples (from the root of a xenmig checkout):")
            && stdout.contains("check --stream"),
        "{stdout}"
    );
    let (stdout, _) = outcome(EXE, &["check", "--help"], 0);
    assert!(
        stdout.contains("Exit status: 0 every host fits"),
        "{stdout}"
    );
    let (stdout, _) = outcome(EXE, &["--version"], 0);
    assert!(stdout.starts_with("cpu-profile "), "{stdout}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn generate_local_reads_this_machine() {
    let (stdout, _) = outcome(
        EXE,
        &["generate", "--local", "--name", "here", "-o", "-"],
        0,
    );
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["name"], "here");
    assert_eq!(value["hosts"][0]["name"], "local");
    assert_eq!(value["vendor"].as_str().unwrap().len(), 12);
    // This machine fits its own profile.
    let dir = scratch("local");
    let path = dir.join("here.json").display().to_string();
    outcome(EXE, &["generate", "--local", "-o", &path], 0);
    let (stdout, _) = outcome(EXE, &["check", "--profile", &path, "--local"], 0);
    assert!(stdout.starts_with("local: compatible\n"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_standard_output_keeps_the_verdict() {
    let dir = scratch("closed-stdout");
    let profile = pool_profile(&dir);
    for (args, expected) in [
        (vec!["show", "testdata/profile/bad-version.json"], 1),
        (
            vec![
                "check",
                "--stream",
                "testdata/profile/xl-skylake-guest.bin",
                SKYLAKE,
            ],
            0,
        ),
        (
            vec![
                "check",
                "--stream",
                "testdata/profile/xl-skylake-guest.bin",
                HASWELL,
            ],
            1,
        ),
        (vec!["diff", SKYLAKE, HASWELL], 1),
        // A profile and an exported configuration are data: not delivered, not success.
        (vec!["generate", SKYLAKE, "-o", "-"], 2),
        (vec!["export", "--format", "xl", &profile], 2),
    ] {
        let out = run_with_closed_stdout(EXE, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), expected, "{args:?}: {stderr}");
        if expected == 0 {
            assert_eq!(support::without_quirks(&stderr), "", "{args:?}");
        }
        if expected == 2 {
            assert!(stderr.contains("reader went away"), "{args:?}: {stderr}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

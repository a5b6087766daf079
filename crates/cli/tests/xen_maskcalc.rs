//! Golden-file tests of `xen-maskcalc`.

mod support;

use support::{assert_golden, clean_success, failure, outcome, scratch, success};

const EXE: &str = env!("CARGO_BIN_EXE_xen-maskcalc");
const NODE1: &str = "testdata/cpuid/readme-node1.txt";
const NODE2: &str = "testdata/cpuid/readme-node2.txt";
const HASWELL: &str = "testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt";
const SKYLAKE: &str = "testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt";
const ICELAKE: &str = "testdata/cpuid/intel-icelake-sp-xeon-gold-6330.txt";
const MILAN: &str = "testdata/cpuid/amd-milan-epyc-7763.txt";
const GENOA: &str = "testdata/cpuid/amd-genoa-epyc-9654.txt";

/// The output printed in the original `xen_maskcalc.py` README (its example
/// for `node1 node2 node3` and for `-v node1 node2`), kept verbatim as the
/// compatibility target.
fn original(name: &str) -> String {
    std::fs::read_to_string(
        support::repo_root()
            .join("testdata/golden/xen-maskcalc")
            .join(name),
    )
    .unwrap()
}

#[test]
fn readme_example_default_is_byte_for_byte() {
    let out = success(EXE, &[NODE1, NODE2]);
    assert_eq!(out, original("original-default.txt"));
    assert_golden("xen-maskcalc/readme-default.txt", &out);
}

#[test]
fn readme_example_verbose_starts_with_the_original_text() {
    let out = success(EXE, &["-v", NODE1, NODE2]);
    let expected = original("original-verbose.txt");
    assert!(out.starts_with(&expected), "{out}");
    // Between the original text and our explanation come only derivation
    // blocks of registers the original tool did not know (such as leaf 0xF,
    // whose monitoring bits follow PQM), never a block for leaves 1 or 7.0.
    let rest = &out[expected.len()..];
    let extra = rest
        .split_once("== Masked features ==\n")
        .map(|(before, _)| before)
        .unwrap_or_else(|| panic!("no masked-features section: {rest}"));
    for block in extra.split_terminator("\n\n") {
        let title = block.lines().next().unwrap_or_default();
        assert!(
            title.starts_with("EAX0x") && title.ends_with(" registers:"),
            "unexpected block after the original text: {block}"
        );
    }
    assert_golden("xen-maskcalc/readme-verbose.txt", &out);
}

#[test]
fn nested_hvm_leaves_vmx_alone() {
    let out = success(EXE, &["--nested-hvm", NODE1, NODE2]);
    assert!(
        out.contains("\"0x00000001:ecx=x00xxxxxx0xxxxxxxxx00xxxxxxxxxxx\""),
        "{out}"
    );
}

#[test]
fn every_output_format() {
    let pool = [HASWELL, SKYLAKE, ICELAKE];
    for (format, mode, golden) in [
        ("xend", "model", "intel-pool.xend"),
        ("xl", "model", "intel-pool.xl"),
        ("libvirt", "model", "intel-pool.libvirt.xml"),
        (
            "libvirt",
            "passthrough",
            "intel-pool.libvirt-passthrough.xml",
        ),
        ("qemu", "model", "intel-pool.qemu"),
        ("qemu", "passthrough", "intel-pool.qemu-passthrough"),
        ("firecracker", "model", "intel-pool.firecracker.json"),
        ("json", "model", "intel-pool.json"),
    ] {
        let mut args = vec!["--format", format, "--cpu-mode", mode];
        args.extend(support::NEWEST_CONSUMERS);
        args.extend(pool);
        assert_golden(&format!("xen-maskcalc/{golden}"), &success(EXE, &args));
    }
    assert_golden(
        "xen-maskcalc/intel-pool.verbose.txt",
        &success(EXE, &[&["-v"][..], &pool[..]].concat()),
    );
}

#[test]
fn xl_output_is_one_valid_libxl_string() {
    let out = success(
        EXE,
        &["--format", "xl", "--xen-version", "4.22", HASWELL, SKYLAKE],
    );
    let line = out.strip_suffix('\n').unwrap();
    assert!(line.starts_with("cpuid = \"host,") && line.ends_with('"') && !line.contains('\n'));
    // libxl reads `clflush` as the numeric line-size field; never emit it as a flag.
    assert!(!line.contains("clflush="));
    for item in line["cpuid = \"host,".len()..line.len() - 1].split(',') {
        let (name, value) = item.split_once('=').unwrap();
        assert!(value == "0" || value == "1", "{item}");
        assert!(cpuid_defs::lookup(name).is_some(), "{name}");
    }
}

#[test]
fn amd_pool_masks_svm_and_differences() {
    let out = success(EXE, &["-v", MILAN, GENOA]);
    assert_golden("xen-maskcalc/amd-pool.verbose.txt", &out);
    assert!(out.contains("SVM "), "{out}");
}

#[test]
fn xl_warns_once_per_thing_to_act_on() {
    // Milan and Genoa differ in SVM sub-features, which libxl 4.22 names,
    // and in unnamed bits of 0x80000008.ebx and 0x8000001f.eax, which Xen
    // offers no guest (it offers nothing it has no name for): clearing them
    // changes nothing, so there is nothing to act on and no warning.
    let (out, stderr) = outcome(
        EXE,
        &["--format", "xl", "--xen-version", "4.22", MILAN, GENOA],
        0,
    );
    assert!(out.contains(",svm=0,"), "{out}");
    assert_eq!(stderr, "", "{stderr}");
    // Xen 4.17's libxl has no name for FS_GS_NS: the xend list, one note.
    let (out, stderr) = outcome(
        EXE,
        &["--format", "xl", "--xen-version", "4.17", MILAN, GENOA],
        0,
    );
    assert!(out.starts_with("cpuid = [\n"), "{out}");
    let notes: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("xen-maskcalc: note: "))
        .collect();
    assert_eq!(
        notes,
        [
            "xen-maskcalc: note: written in the xend list syntax, which every xl parses: \
          the libxl of Xen 4.17 has no name for FS_GS_NS (Xen 4.19 is the first to name it)"
        ],
        "{stderr}"
    );
}

#[test]
fn a_dump_taken_by_a_32_bit_program_keeps_syscall_and_says_so() {
    // Skylake's dump shows SYSCALL clear with LM set: Intel reports SYSCALL
    // to 64-bit code only. Haswell's was taken by a 64-bit cpuid. Written
    // for a libxl that names every feature, so the warning is all there is.
    let (out, stderr) = outcome(
        EXE,
        &["--format", "xl", "--xen-version", "4.22", HASWELL, SKYLAKE],
        0,
    );
    assert!(!out.contains("syscall"), "{out}");
    assert_eq!(
        stderr,
        format!(
            "xen-maskcalc: warning: {SKYLAKE}: SYSCALL (0x80000001.edx[11]) is clear with LM set, \
             as Intel CPUs report it to 32-bit programs: treated as present (take the dump with \
             a 64-bit cpuid)\n"
        )
    );
    // AMD reports SYSCALL in every mode: Milan and Genoa need no repair.
    let (_, stderr) = outcome(EXE, &[MILAN, GENOA], 0);
    assert!(!stderr.contains("SYSCALL"), "{stderr}");
}

#[test]
fn hide_and_keep_by_any_name() {
    let out = success(
        EXE,
        &[
            "--format",
            "xl",
            "--xen-version",
            "4.22",
            "--hide",
            "avx2,lahf_lm",
            "--keep",
            "RDRAND",
            NODE1,
            NODE2,
        ],
    );
    assert!(out.contains("avx2=0") && out.contains("lahf-lm=0"), "{out}");
    // AVX2 hidden takes its dependents (none present here) but RDRAND, kept, stays.
    assert!(!out.contains("rdrand"), "{out}");
    let verbose = success(EXE, &["-v", "--hide", "avx", HASWELL, SKYLAKE]);
    assert!(verbose.contains("dependency of AVX"), "{verbose}");
    assert!(verbose.contains("hidden by request"), "{verbose}");
}

#[test]
fn diff_table_and_json() {
    assert_golden(
        "xen-maskcalc/intel-pool.diff.txt",
        &success(EXE, &["--diff", HASWELL, SKYLAKE, ICELAKE]),
    );
    assert_golden(
        "xen-maskcalc/intel-pool.diff.json",
        &success(EXE, &["--diff", "--json", HASWELL, SKYLAKE, ICELAKE]),
    );
}

#[test]
fn the_same_cpu_in_every_input_format_gives_the_same_output() {
    let reference = success(EXE, &[NODE1, NODE2]);
    for sample in [
        "testdata/cpuid/formats/readme-node2.xen-cpuid.txt",
        "testdata/cpuid/formats/readme-node2.aida64.txt",
        "testdata/cpuid/formats/readme-node2.libvirt.xml",
        "testdata/cpuid/formats/readme-node2.json",
    ] {
        assert_eq!(success(EXE, &[NODE1, sample]), reference, "{sample}");
    }
    assert_eq!(
        success(EXE, &["--input-format", "cpuid", NODE1, NODE2]),
        reference
    );
    let err = failure(EXE, &["--input-format", "json", NODE1, NODE2], 1);
    assert!(err.contains("readme-node1.txt:1:"), "{err}");
}

#[test]
fn fewer_than_two_hosts_is_the_original_message() {
    let err = failure(EXE, &[NODE1], 1);
    assert_eq!(
        err,
        "xen-maskcalc: Need at least 2 files to do the comparison!\n"
    );
    // The same file twice is one host (the original keeps one too, but then
    // prints a mask for a pool of one; a pool of one host is refused here).
    failure(EXE, &[NODE1, NODE1], 1);
}

#[test]
fn mixed_vendors_are_refused_unless_allowed() {
    let err = failure(EXE, &[HASWELL, MILAN], 1);
    assert!(
        err.contains("GenuineIntel")
            && err.contains("AuthenticAMD")
            && err.contains("--allow-mixed-vendors"),
        "{err}"
    );
    success(EXE, &["--allow-mixed-vendors", HASWELL, MILAN]);
}

#[test]
fn unknown_feature_names_suggest_one() {
    let err = failure(EXE, &["--hide", "avx512fx", NODE1, NODE2], 2);
    assert_eq!(
        err,
        "xen-maskcalc: unknown CPUID feature `avx512fx`; did you mean AVX512F?\n"
    );
    let err = failure(EXE, &["--hide", "vmx", "--keep", "vmx", NODE1, NODE2], 2);
    assert!(err.contains("both hidden and kept"), "{err}");
}

#[test]
fn malformed_and_missing_files() {
    let dir = scratch("malformed");
    let bad = dir.join("bad");
    std::fs::write(&bad, "CPU:\n   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69\n   0x00000001 0x00: eax=0x000306f2 ebx=0x0 ecx=0x7ffefbff\n").unwrap();
    let err = failure(EXE, &[bad.to_str().unwrap(), NODE1], 1);
    assert!(
        err.ends_with(
            "bad:3: expected `edx=0x…` after `0x00000001 0x00`, found the end of the line\n"
        ),
        "{err}"
    );
    let unknown = dir.join("unknown");
    std::fs::write(&unknown, "hello\n").unwrap();
    let err = failure(EXE, &[unknown.to_str().unwrap(), NODE1], 1);
    assert!(err.contains("cannot tell the dump format"), "{err}");
    // A file that cannot be read is an I/O error (2), not bad input.
    let err = failure(EXE, &["testdata/cpuid/no-such-file", NODE1], 2);
    assert!(
        err.contains("no-such-file: cannot read a CPUID dump: No such file"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_teaches_and_version_works() {
    let help = success(EXE, &["--help"]);
    assert!(
        help.contains("cpuid -1r > node1") && help.contains("--format"),
        "{help}"
    );
    assert!(success(EXE, &["--version"]).starts_with("xen-maskcalc "));
    failure(EXE, &["--format", "nope", NODE1, NODE2], 2);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn local_cpu_is_one_more_host() {
    let out = success(
        EXE,
        &[
            "--local",
            "--allow-mixed-vendors",
            "--diff",
            "--json",
            NODE1,
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["hosts"][1], "local");
    // With --local, one file is enough for a pool of two.
    let out = success(EXE, &["--local", "--allow-mixed-vendors", NODE1]);
    assert!(out.starts_with("cpuid = [\n    \"0x00000001:ecx="), "{out}");
}

#[test]
fn verbose_with_another_format_explains_on_stderr() {
    let args = [
        "-v",
        "--format",
        "xl",
        "--xen-version",
        "4.22",
        NODE1,
        NODE2,
    ];
    let (stdout, stderr) = outcome(EXE, &args, 0);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stderr.starts_with(
            "xen-maskcalc: writing for Xen 4.22 (--xen-version)\n== Masked features ==\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("F16C"), "{stderr}");
}

#[test]
fn hostile_inputs_name_the_file() {
    let dir = scratch("hostile");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();

    // A 1 GiB sparse file is refused by its size, without reading it.
    let sparse = std::fs::File::create(path("sparse")).unwrap();
    sparse.set_len(1 << 30).unwrap();
    let err = failure(EXE, &[&path("sparse"), NODE1], 1);
    assert!(
        err.contains(
            "sparse: expected a CPUID dump of at most 8388608 bytes, found 1073741824 bytes"
        ),
        "{err}"
    );

    // A directory cannot be read (2); an empty file and binary garbage are
    // bad input (1); each message names the file.
    let err = failure(EXE, &[dir.to_str().unwrap(), NODE1], 2);
    assert!(
        err.starts_with(&format!(
            "xen-maskcalc: {}: cannot read a CPUID dump: Is a directory",
            dir.display()
        )),
        "{err}"
    );
    std::fs::write(path("empty"), b"").unwrap();
    let err = failure(EXE, &[&path("empty"), NODE1], 1);
    assert!(
        err.contains("empty: expected a CPUID dump, found an empty file"),
        "{err}"
    );
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(path("garbage"), &garbage).unwrap();
    let err = failure(EXE, &[&path("garbage"), NODE1], 1);
    assert!(err.contains("garbage: "), "{err}");

    // CRLF line endings (a dump saved on Windows) read like LF.
    let node2 = std::fs::read_to_string(support::repo_root().join(NODE2)).unwrap();
    std::fs::write(path("crlf"), node2.replace('\n', "\r\n")).unwrap();
    assert_eq!(
        success(EXE, &[NODE1, &path("crlf")]),
        success(EXE, &[NODE1, NODE2])
    );

    // A leaf twice in one CPU is refused at the second line.
    let twice = format!("{node2}{}\n", node2.lines().nth(2).unwrap());
    std::fs::write(path("twice"), twice).unwrap();
    let err = failure(EXE, &[&path("twice"), NODE1], 1);
    assert!(
        err.contains(&format!(
            "twice:{}: expected each leaf once per CPU",
            node2.lines().count() + 1
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hiding_a_feature_no_dump_carries_is_not_silent() {
    // Both CPUs enumerate IA32_ARCH_CAPABILITIES, but `cpuid -1r` dumps carry no MSRs.
    let cascadelake = "testdata/cpuid/intel-cascadelake-sp-xeon-platinum-8280.txt";
    let args = [
        "--format",
        "xl",
        "--xen-version",
        "4.22",
        "--hide",
        "rdcl-no",
        cascadelake,
        ICELAKE,
    ];
    let (out, stderr) = outcome(EXE, &args, 0);
    assert!(!out.contains("rdcl-no"), "{out}");
    assert!(
        stderr.contains(
            "warning: not in the output: RDCL_NO (--hide): msr 0x10a[31:0] is not compared"
        ),
        "{stderr}"
    );
    let verbose = success(EXE, &["-v", "--hide", "rdcl-no", cascadelake, ICELAKE]);
    assert!(
        verbose.contains("RDCL_NO hidden by request but not in any output"),
        "{verbose}"
    );
}

#[test]
fn xend_lines_for_leaves_a_host_lacks_are_warned_about() {
    // Haswell reports no leaf 7 subleaf 1 or 2 (7.0.EAX = 0); Sapphire Rapids has features there.
    let sapphire = "testdata/cpuid/intel-sapphirerapids-xeon-w9-3475x.txt";
    let (stdout, stderr) = outcome(EXE, &[HASWELL, sapphire], 0);
    assert!(stdout.contains("\"0x00000007,0x01:eax="), "{stdout}");
    let warned: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("xen-maskcalc: warning: the line for leaf "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(warned, ["0x7.1", "0x7.2"], "{stderr}");
    assert!(
        stderr.contains(&format!("0x7.1: {HASWELL} does not report it")),
        "{stderr}"
    );
    // Every host reports leaves 1 and 7.0: the README pool warns about nothing.
    clean_success(EXE, &[NODE1, NODE2]);
}

#[test]
fn xl_for_an_older_xen_falls_back_to_the_xend_list_and_says_so() {
    let sapphire = "testdata/cpuid/intel-sapphirerapids-xeon-w9-3475x.txt";
    let (new, _) = outcome(
        EXE,
        &["--format", "xl", "--xen-version", "4.22", ICELAKE, sapphire],
        0,
    );
    assert!(new.starts_with("cpuid = \"host,"), "{new}");
    let (old, stderr) = outcome(
        EXE,
        &["--format", "xl", "--xen-version", "4.17", ICELAKE, sapphire],
        0,
    );
    assert!(old.starts_with("cpuid = [\n"), "{old}");
    assert!(
        stderr.contains("note: written in the xend list syntax, which every xl parses: the libxl of Xen 4.17 has no name for"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Xen 4.18 is the first to name it"),
        "{stderr}"
    );
}

#[test]
fn consumer_versions_are_checked_and_reported() {
    let err = failure(
        EXE,
        &["--format", "qemu", "--qemu-version", "5.2", NODE1, NODE2],
        2,
    );
    assert!(
        err.contains(
            "QEMU 5.2 is older than the oldest release xenmig knows (QEMU 6.2); \
             expected --qemu-version 6.2 or later"
        ),
        "{err}"
    );
    let err = failure(
        EXE,
        &["--format", "xl", "--xen-version", "four", NODE1, NODE2],
        2,
    );
    assert!(err.contains("MAJOR.MINOR"), "{err}");
    let (_, stderr) = outcome(
        EXE,
        &[
            "-v",
            "--format",
            "qemu",
            "--qemu-version",
            "11.1",
            NODE1,
            NODE2,
        ],
        0,
    );
    assert!(
        stderr.starts_with("xen-maskcalc: writing for QEMU 11.1 (--qemu-version, names as of QEMU 10.2, the newest xenmig knows)\n"),
        "{stderr}"
    );
}

#[test]
fn qemu_names_only_what_that_release_knows() {
    // FDP_EXCP_ONLY differs (Haswell lacks it): QEMU 9.2 first names it.
    let sapphire = "testdata/cpuid/intel-sapphirerapids-xeon-w9-3475x.txt";
    let passthrough = [
        "--format",
        "qemu",
        "--cpu-mode",
        "passthrough",
        HASWELL,
        sapphire,
    ];
    let new = success(
        EXE,
        &[&passthrough[..], &["--qemu-version", "10.2"]].concat(),
    );
    assert!(new.contains(",-fdp-excptn-only"), "{new}");
    let (old, stderr) = outcome(
        EXE,
        &[&passthrough[..], &["--qemu-version", "7.2"]].concat(),
        0,
    );
    assert!(!old.contains("fdp-excptn-only"), "{old}");
    assert!(
        stderr.contains("FDP_EXCP_ONLY (0x7.0.ebx[6]): QEMU 7.2 has no name for it; QEMU 9.2 is the first to name it"),
        "{stderr}"
    );
    // A named model has no bit it does not name: nothing to warn about.
    let (model, stderr) = outcome(
        EXE,
        &[
            "--format",
            "qemu",
            "--qemu-version",
            "7.2",
            HASWELL,
            sapphire,
        ],
        0,
    );
    assert!(model.starts_with("-cpu Haswell-"), "{model}");
    assert!(!stderr.contains("FDP_EXCP_ONLY"), "{stderr}");
}

/// Peak resident memory (KiB) of `xen-maskcalc args`, from GNU time, with
/// its exit code; `None` (the test skips, saying why) without `/usr/bin/time`.
fn peak_rss_kib(args: &[&str]) -> Option<(u64, i32)> {
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let out = std::process::Command::new(time)
        .args(["-f", "peak-rss-kib=%M"])
        .arg(EXE)
        .args(args)
        .current_dir(support::repo_root())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {stderr}"));
    Some((kib, out.status.code().unwrap_or(-1)))
}

#[test]
fn memory_is_bounded_by_the_dump_cap_whatever_the_input() {
    // The whole dump is held while it parses, so memory is bounded by
    // maskcalc::dump::MAX_DUMP_BYTES (8 MiB) plus the process itself; it was
    // 35 MiB for /dev/zero and for 31 MiB dumps when the cap was 32 MiB.
    let dir = scratch("memory");
    let node = std::fs::read_to_string(support::repo_root().join(NODE1)).unwrap();
    let block = node.replacen("CPU:\n", "", 1);
    let mut many = String::new();
    let mut cpu = 0;
    while many.len() + block.len() + 16 < maskcalc::dump::MAX_DUMP_BYTES {
        many.push_str(&format!("CPU {cpu}:\n{block}"));
        cpu += 1;
    }
    let many_path = dir.join("many-cpus.txt");
    std::fs::write(&many_path, &many).unwrap();
    let garbage: Vec<u8> = (0..maskcalc::dump::MAX_DUMP_BYTES as u32 - 1)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let garbage_path = dir.join("garbage");
    std::fs::write(&garbage_path, garbage).unwrap();
    let huge = dir.join("huge.txt");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(31 << 20)
        .unwrap();
    let bound_kib = (maskcalc::dump::MAX_DUMP_BYTES / 1024) as u64 + 8 * 1024;
    for (input, expected) in [
        ("/dev/zero", 1),
        (garbage_path.to_str().unwrap(), 1),
        (huge.to_str().unwrap(), 1),
        (many_path.to_str().unwrap(), 0),
    ] {
        let Some((kib, code)) = peak_rss_kib(&[input, NODE1]) else {
            eprintln!("skipped: no /usr/bin/time to measure the peak RSS");
            return;
        };
        assert_eq!(code, expected, "{input}");
        assert!(
            kib <= bound_kib,
            "{input}: peak RSS {kib} KiB > {bound_kib} KiB"
        );
    }
    let err = failure(EXE, &["/dev/zero", NODE1], 1);
    assert!(
        err.contains(
            "/dev/zero: expected a CPUID dump of at most 8388608 bytes, found a larger one"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

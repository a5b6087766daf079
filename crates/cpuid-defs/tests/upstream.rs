//! The table against the upstream facts in `testdata/upstream/` (extracted
//! by `cargo xtask upstream`): every bit Xen, Linux, QEMU and libvirt name is
//! at its position, records each ecosystem's spelling, and every one of
//! those names resolves to it; every upstream dependency edge is in the
//! table with its source, or listed below as not taken, with the reason.

mod common;

use cpuid_defs::{
    DependencySources, Feature, FeatureRegister, Location, MSR_ARCH_CAPABILITIES, Register, at,
    features, lookup, resolve_register,
};
use std::collections::{BTreeMap, BTreeSet};

/// One row of an upstream TSV.
#[derive(Debug)]
struct Row {
    /// Where upstream puts the bit (its own subleaf convention).
    location: Location,
    name: String,
    extra: String,
    depends: Vec<String>,
    line: usize,
}

fn parse_hex(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn upstream(source: &str) -> Vec<Row> {
    let path = common::testdata(&format!("upstream/{source}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#'));
    let (_, header) = lines.next().expect("header");
    assert_eq!(header, "leaf\tsubleaf\treg\tbit\tname\textra\tdepends");
    lines
        .map(|(n, l)| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 7, "{source}.tsv:{}", n + 1);
            let bit: u8 = c[3].parse().unwrap();
            let location = match c[0].strip_prefix("msr:") {
                Some(index) => Location::Msr {
                    index: parse_hex(index),
                    bit,
                },
                None => Location::cpuid(
                    parse_hex(c[0]),
                    (c[1] != "-").then(|| c[1].parse().unwrap()),
                    c[2].parse::<Register>().unwrap(),
                    bit,
                ),
            };
            Row {
                location,
                name: c[4].to_owned(),
                extra: c[5].to_owned(),
                depends: if c[6] == "-" {
                    Vec::new()
                } else {
                    c[6].split(' ').map(str::to_owned).collect()
                },
                line: n + 1,
            }
        })
        .collect()
}

/// Bits upstream names that the table leaves out on purpose: MSRs other
/// than IA32_ARCH_CAPABILITIES. IA32_CORE_CAPABILITIES (0xcf), the PMU's
/// IA32_PERF_CAPABILITIES (0x345) and the nested-VMX capability MSRs
/// (0x480-0x491) describe the host's virtualisation and PMU plumbing, which
/// Xen keeps out of its featureset and no pool compares.
fn excluded(location: Location) -> Option<&'static str> {
    match location {
        Location::Msr { index, .. } if index != MSR_ARCH_CAPABILITIES => {
            Some("MSR outside the table (only IA32_ARCH_CAPABILITIES is a feature MSR)")
        }
        _ => None,
    }
}

/// The table's feature at an upstream position, reading the subleaf the
/// way CPUID does (Linux's scattered bits say subleaf 0 for every leaf).
fn feature_at(location: Location) -> Option<&'static Feature> {
    match location {
        Location::Cpuid { key, register, bit } => {
            let reg = resolve_register(FeatureRegister::Cpuid { key, register });
            let FeatureRegister::Cpuid { key, register } = reg else {
                return None;
            };
            at(Location::Cpuid { key, register, bit })
        }
        msr => at(msr),
    }
}

fn fold(s: &str) -> String {
    s.to_ascii_lowercase().replace('-', "_")
}

/// True when `name` is `f`'s canonical or Xen name: those win every
/// collision with another ecosystem's spelling (docs/cpuid-features.md).
fn is_precedent(f: &Feature, name: &str) -> bool {
    fold(f.name) == fold(name) || f.xen_name.is_some_and(|x| fold(x) == fold(name))
}

/// What one source covers, for the report in the table.
#[derive(Debug, Default)]
struct Coverage {
    named: usize,
    excluded: usize,
    at_bit: usize,
    resolving: usize,
    edges: usize,
    edges_direct: usize,
    edges_not_taken: usize,
}

/// Checks that `name`, upstream's spelling for the bit of `f`, resolves to
/// `f`, or to another feature whose canonical or Xen name it is (a
/// documented collision), or to another bit upstream gives the same name
/// (`kvmclock`, Linux's `MBA`).
fn resolves(name: &str, f: &Feature, same_name: &BTreeSet<&str>) -> Result<(), String> {
    let hit = lookup(name).ok_or_else(|| format!("{name} does not resolve"))?;
    if hit.id == f.id || is_precedent(hit, name) || same_name.contains(hit.name) {
        Ok(())
    } else {
        Err(format!("{name} resolves to {}, not {}", hit.name, f.name))
    }
}

/// Upstream edges (source, feature, prerequisite) the table does not take.
const NOT_TAKEN: [(&str, &str, &str, &str); 3] = [
    (
        "linux",
        "CMOV",
        "FXSR",
        "CMOV is an integer instruction that needs no FXSAVE state; Linux groups them to disable old x87-era features together",
    ),
    (
        "linux",
        "MMX",
        "FXSR",
        "MMX predates FXSAVE (the Pentium MMX has no FXSR); Xen derives MMX from FPU",
    ),
    (
        "linux",
        "PER_THREAD_MBA",
        "MBE",
        "Linux's MBA flag stands for Intel's leaf 0x10 MBA and AMD's MBE; per-thread MBA is Intel's leaf 0x10.3 and needs only Intel's",
    ),
];

/// Checks one source: positions, names, dependencies. `spelling` says which
/// column records upstream's name (and extra), or why it differs.
fn check(
    source: &str,
    flag: Option<DependencySources>,
    spelling: impl Fn(&Feature, &Row) -> Result<(), String>,
) -> Coverage {
    let rows = upstream(source);
    let mut cov = Coverage::default();
    let mut errors = Vec::new();
    // Upstream name -> every feature it names (for dependencies and for
    // names upstream gives more than one bit).
    let mut by_name: BTreeMap<&str, Vec<&'static Feature>> = BTreeMap::new();
    for r in &rows {
        if excluded(r.location).is_some() {
            continue;
        }
        if let Some(f) = feature_at(r.location) {
            by_name.entry(r.name.as_str()).or_default().push(f);
        }
    }
    for r in &rows {
        cov.named += 1;
        if excluded(r.location).is_some() {
            cov.excluded += 1;
            continue;
        }
        let Some(f) = feature_at(r.location) else {
            errors.push(format!(
                "{source}.tsv:{}: {} at {} is not in the table",
                r.line, r.name, r.location
            ));
            continue;
        };
        cov.at_bit += 1;
        let same: BTreeSet<&str> = by_name[r.name.as_str()].iter().map(|f| f.name).collect();
        // A name upstream gives to several bits (QEMU's `kvmclock`) can
        // resolve to one of them only; that one records the spelling.
        let recorded = spelling(f, r).or_else(|e| match lookup(&r.name) {
            Some(hit) if same.len() > 1 && same.contains(hit.name) => spelling(hit, r),
            _ => Err(e),
        });
        match resolves(&r.name, f, &same).and(recorded) {
            Ok(()) => cov.resolving += 1,
            Err(e) => errors.push(format!("{source}.tsv:{}: {e}", r.line)),
        }
        for dep in &r.depends {
            let Some(prereqs) = by_name.get(dep.as_str()) else {
                errors.push(format!(
                    "{source}.tsv:{}: prerequisite {dep} of {} names no bit",
                    r.line, r.name
                ));
                continue;
            };
            for p in prereqs {
                cov.edges += 1;
                if NOT_TAKEN
                    .iter()
                    .any(|(s, a, b, _)| *s == source && *a == f.name && *b == p.name)
                {
                    cov.edges_not_taken += 1;
                    continue;
                }
                match f.dependencies().find(|(d, _)| d.id == p.id) {
                    Some((_, sources)) if flag.is_some_and(|fl| sources.contains(fl)) => {
                        cov.edges_direct += 1
                    }
                    Some((_, sources)) => errors.push(format!(
                        "{source}.tsv:{}: {} -> {} is in the table but credited to {sources}, not {source}",
                        r.line, f.name, p.name
                    )),
                    None => errors.push(format!(
                        "{source}.tsv:{}: {} needs {} upstream; the table lacks the edge",
                        r.line, f.name, p.name
                    )),
                }
            }
        }
    }
    // The converse: an edge credited to this source is one it has.
    for f in features().iter().filter(|_| flag.is_some()) {
        for (p, sources) in f.dependencies() {
            if !flag.is_some_and(|fl| sources.contains(fl)) {
                continue;
            }
            let stated = rows.iter().any(|r| {
                feature_at(r.location).is_some_and(|g| g.id == f.id)
                    && r.depends.iter().any(|d| {
                        by_name
                            .get(d.as_str())
                            .is_some_and(|ps| ps.iter().any(|q| q.id == p.id))
                    })
            });
            if !stated {
                errors.push(format!(
                    "{} -> {} is credited to {source}, which has no such edge",
                    f.name, p.name
                ));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{source}: {} problems:\n{}",
        errors.len(),
        errors.join("\n")
    );
    cov
}

#[test]
fn xen_is_fully_covered() {
    let cov = check("xen", Some(DependencySources::XEN), |f, r| {
        let attrs = if r.extra == "." { "" } else { r.extra.as_str() };
        if f.name != r.name || f.xen_attrs != Some(attrs) {
            return Err(format!(
                "{} / {:?}: the table has {} / {:?}",
                r.name, attrs, f.name, f.xen_attrs
            ));
        }
        let xl = r.name.to_ascii_lowercase().replace('_', "-");
        if f.xen_name != Some(xl.as_str()) {
            return Err(format!("xl name {xl}: the table has {:?}", f.xen_name));
        }
        Ok(())
    });
    // The numbers docs/cpuid-features.md reports.
    assert_eq!((cov.named, cov.at_bit, cov.resolving), (287, 287, 287));
    assert_eq!((cov.edges, cov.edges_direct), (109, 109));
}

#[test]
fn linux_is_fully_covered() {
    let cov = check("linux", Some(DependencySources::LINUX), |f, r| {
        if f.linux_macro != Some(r.name.as_str()) {
            return Err(format!(
                "macro {}: the table has {:?} for {}",
                r.name, f.linux_macro, f.name
            ));
        }
        let proc_name = (r.extra != "-").then_some(r.extra.as_str());
        if f.linux_name != proc_name {
            return Err(format!(
                "/proc name {proc_name:?}: the table has {:?} for {}",
                f.linux_name, f.name
            ));
        }
        if let Some(p) = proc_name {
            resolves(p, f, &BTreeSet::from([f.name]))?;
        }
        Ok(())
    });
    assert_eq!((cov.named, cov.at_bit, cov.resolving), (337, 337, 337));
    assert_eq!(
        (cov.edges, cov.edges_direct, cov.edges_not_taken),
        (72, 69, 3)
    );
}

#[test]
fn qemu_is_fully_covered() {
    let cov = check("qemu", Some(DependencySources::QEMU), |f, r| {
        // QEMU renamed a few properties over time; the table records the
        // current spelling and keeps the older one as an alias.
        if f.qemu_name == Some(r.name.as_str()) || f.other_aliases.contains(&r.name.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "QEMU name {}: the table has {:?} for {}",
                r.name, f.qemu_name, f.name
            ))
        }
    });
    assert_eq!(cov.at_bit + cov.excluded, cov.named);
    // The numbers docs/cpuid-features.md reports (QEMU master of late 2025:
    // the two excluded bits are IA32_CORE_CAPABILITIES' split-lock-detect
    // and IA32_PERF_CAPABILITIES' full-width-write).
    assert_eq!(
        (cov.named, cov.excluded, cov.at_bit, cov.resolving),
        (312, 2, 310, 310)
    );
    assert_eq!((cov.edges, cov.edges_direct), (55, 55));
}

#[test]
fn libvirt_is_fully_covered() {
    let cov = check("libvirt", None, |f, r| {
        if f.libvirt_name != Some(r.name.as_str()) {
            return Err(format!(
                "libvirt name {}: the table has {:?} for {}",
                r.name, f.libvirt_name, f.name
            ));
        }
        for alias in r.extra.split(',').filter(|a| *a != "-") {
            let (name, _source) = alias.split_once('/').unwrap_or((alias, ""));
            resolves(name, f, &BTreeSet::from([f.name]))?;
        }
        Ok(())
    });
    assert_eq!(
        (cov.named, cov.excluded, cov.at_bit, cov.resolving),
        (400, 100, 300, 300)
    );
}

/// Each upstream TSV records where its facts came from.
#[test]
fn every_tsv_names_its_upstream_commit() {
    for source in ["xen", "linux", "qemu", "libvirt"] {
        let text =
            std::fs::read_to_string(common::testdata(&format!("upstream/{source}.tsv"))).unwrap();
        let origins: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("# upstream: "))
            .collect();
        assert!(!origins.is_empty(), "{source}");
        for o in origins {
            let parts: Vec<&str> = o["# upstream: ".len()..].split(' ').collect();
            assert_eq!(parts.len(), 3, "{source}: {o}");
            assert!(
                parts[0].contains('/') && !parts[2].is_empty(),
                "{source}: {o}"
            );
        }
    }
}

/// QEMU's names for bits of MSRs the table leaves out (see `excluded`):
/// the nested-VMX capability MSRs, IA32_CORE_CAPABILITIES and
/// IA32_PERF_CAPABILITIES.
fn qemu_msr_outside_the_table(name: &str) -> bool {
    name.starts_with("vmx-") || ["split-lock-detect", "full-width-write"].contains(&name)
}

/// The installed QEMU (Debian's 7.2) is the real thing: every CPUID flag
/// its `-cpu help` lists resolves, and to a feature that records the
/// spelling as QEMU's name or one of its aliases.
#[test]
fn installed_qemu_flags_resolve() {
    let output = match std::process::Command::new("qemu-system-x86_64")
        .args(["-cpu", "help"])
        .output()
    {
        Ok(o) if o.status.success() => o,
        other => {
            assert!(
                std::env::var_os("XENMIG_REQUIRE_UPSTREAM_PACKAGES").is_none(),
                "qemu-system-x86_64 -cpu help: {other:?}, and XENMIG_REQUIRE_UPSTREAM_PACKAGES asks for it"
            );
            eprintln!("skipped: qemu-system-x86_64 is not installed (qemu-system-x86)");
            return;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let flags: Vec<&str> = text
        .split_once("Recognized CPUID flags:")
        .expect("QEMU lists its CPUID flags")
        .1
        .split_whitespace()
        .collect();
    assert!(flags.len() > 200, "{} flags", flags.len());
    let mut errors = Vec::new();
    for flag in flags.iter().filter(|f| !qemu_msr_outside_the_table(f)) {
        // A documented collision (`ssb-no`): the canonical or Xen name wins
        // the lookup, and the bit QEMU means records the spelling.
        let recorded_elsewhere = || features().iter().any(|g| g.qemu_name == Some(*flag));
        match lookup(flag) {
            None => errors.push(format!("{flag} does not resolve")),
            Some(f) if f.qemu_name == Some(*flag) || f.aliases().any(|a| a == *flag) => {}
            Some(f) if is_precedent(f, flag) && recorded_elsewhere() => {}
            Some(f) => errors.push(format!(
                "{flag} resolves to {}, which does not record it",
                f.name
            )),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

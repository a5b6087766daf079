//! The table against the reference data: Xen's 287 features, libxl's legacy
//! names, QEMU's names; uniqueness of bits and names; the dependency graph.

mod common;

use common::reference_tsv;
use cpuid_defs::{
    Class, Feature, FeatureRegister, Location, MsrHalf, Register, at, dependents_closure,
    depends_closure, feature, feature_registers, features, features_in, field, fields, lookup,
};
use std::collections::{BTreeMap, BTreeSet};

fn parse_hex(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn register(s: &str) -> Register {
    s.parse().unwrap()
}

/// The location a row of xen-features.tsv describes.
fn xen_location(row: &[String]) -> Location {
    let bit: u8 = row[3].parse().unwrap();
    if let Some(rest) = row[6].strip_prefix("msr:") {
        let (index, half) = rest.split_once(':').unwrap();
        let bit = if half == "hi" { bit + 32 } else { bit };
        Location::Msr {
            index: parse_hex(index),
            bit,
        }
    } else {
        let subleaf = (row[5] != "-").then(|| row[5].parse().unwrap());
        Location::cpuid(parse_hex(&row[4]), subleaf, register(&row[6]), bit)
    }
}

#[test]
fn all_287_xen_features_resolve_at_xens_position() {
    let rows = reference_tsv("xen-features.tsv");
    assert_eq!(rows.len(), 287);
    for row in &rows {
        let (name, xl_name, attrs) = (&row[0], &row[1], &row[7]);
        let by_name = lookup(name).unwrap_or_else(|| panic!("{name} does not resolve"));
        let by_xl = lookup(xl_name).unwrap_or_else(|| panic!("{xl_name} does not resolve"));
        assert_eq!(by_name.id, by_xl.id, "{name} and {xl_name} differ");
        assert_eq!(by_name.name, name.as_str());
        assert_eq!(by_name.xen_name, Some(xl_name.as_str()));
        assert_eq!(by_name.xen_attrs, Some(attrs.as_str()), "{name} attributes");
        assert_eq!(by_name.location, xen_location(row), "{name} position");
        // Xen's word number agrees with the register's.
        let word: u8 = row[2].parse().unwrap();
        assert_eq!(
            by_name.location.register().0.xen_word(),
            Some(word),
            "{name} word"
        );
    }
    let ours = features().iter().filter(|f| f.xen_name.is_some()).count();
    assert_eq!(ours, 287, "the table has Xen names that Xen does not");
}

#[test]
fn every_xen_word_is_a_feature_register() {
    for word in 0..19u8 {
        let reg = FeatureRegister::from_xen_word(word).unwrap();
        assert!(
            feature_registers().contains(&reg),
            "word {word} ({reg}) missing"
        );
    }
    assert_eq!(FeatureRegister::from_xen_word(19), None);
}

#[test]
fn xen_dependencies_are_all_present() {
    for row in reference_tsv("xen-feature-deps.tsv") {
        let key = lookup(&row[0]).unwrap();
        for dependent in row[1].split_whitespace() {
            let f = lookup(dependent).unwrap();
            assert!(
                f.depends.contains(&key.id),
                "{dependent} should depend on {}",
                row[0]
            );
        }
    }
}

#[test]
fn xen_deep_deps_examples() {
    let avx512f = lookup("AVX512F").unwrap();
    let needs: BTreeSet<&str> = avx512f
        .depends_closure()
        .features()
        .map(|f| f.name)
        .collect();
    // Xen's chain AVX512F -> AVX2 -> AVX -> XSAVE, and Linux's XSAVE -> FXSR -> FPU.
    assert_eq!(
        needs,
        BTreeSet::from(["AVX2", "AVX", "XSAVE", "FXSR", "FPU"])
    );
    // Hiding XSAVE hides everything AVX, AVX-512 and AMX.
    let lost = dependents_closure(lookup("XSAVE").unwrap().id);
    for name in [
        "AVX",
        "AVX2",
        "AVX512F",
        "AVX512_VBMI2",
        "AVX512_BF16",
        "AMX_INT8",
        "XSAVES",
        "PKU",
    ] {
        assert!(lost.contains(lookup(name).unwrap().id), "{name}");
    }
    assert!(!lost.contains(lookup("SSE2").unwrap().id));
    // ARCH_CAPS reaches every bit of the MSR.
    let arch = dependents_closure(lookup("ARCH_CAPS").unwrap().id);
    let msr_bits = features()
        .iter()
        .filter(|f| matches!(f.location, Location::Msr { .. }));
    for f in msr_bits {
        assert!(arch.contains(f.id), "{}", f.name);
    }
}

#[test]
fn all_libxl_legacy_names_resolve() {
    let rows = reference_tsv("libxl-cpuid-names.tsv");
    assert_eq!(rows.len(), 45);
    for row in rows {
        let (name, leaf, sub, reg, bit, length) =
            (&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]);
        let leaf = parse_hex(leaf);
        let subleaf = (sub != "-").then(|| sub.parse::<u32>().unwrap());
        let bit: u8 = bit.parse().unwrap();
        if length == "1" {
            let f = lookup(name).unwrap_or_else(|| panic!("libxl {name} does not resolve"));
            assert_eq!(
                f.location,
                Location::cpuid(leaf, subleaf, register(reg), bit),
                "{name}"
            );
            assert!(f.libxl_legacy_names.contains(&name.as_str()) || f.xen_name.is_some());
        } else {
            let f = field(name).unwrap_or_else(|| panic!("libxl field {name} does not resolve"));
            assert_eq!(f.libxl_name, Some(name.as_str()));
            assert_eq!(
                (f.key.leaf, f.key.subleaf, f.register),
                (leaf, subleaf, register(reg)),
                "{name}"
            );
            assert_eq!(f.shift, bit, "{name}");
            // libxl writes `model` and `family` with the extended-field rules
            // (cpuid.md §2.2), so its span covers more than the base field;
            // `maxhvleaf` writes only the low 8 bits of the 32-bit maximum.
            if !["model", "family", "maxhvleaf"].contains(&name.as_str()) {
                assert_eq!(u32::from(f.width), length.parse::<u32>().unwrap(), "{name}");
            }
        }
    }
    // The legacy table is searched first, so `clflush` is the line-size field,
    // while the feature answers to `clflush` and `clfsh` as a flag name.
    assert_eq!(field("clflush").unwrap().name, "clflush_size");
    assert_eq!(lookup("clfsh").unwrap().name, "CLFLUSH");
}

#[test]
fn qemu_names_resolve() {
    let pairs = [
        ("pni", "SSE3"),
        ("pclmulqdq", "PCLMULQDQ"),
        ("ds-cpl", "DSCPL"),
        ("sse4.1", "SSE4_1"),
        ("sse4.2", "SSE4_2"),
        ("tsc-deadline", "TSC_DEADLINE"),
        ("fxsr-opt", "FFXSR"),
        ("pdpe1gb", "PAGE1GB"),
        ("cr8legacy", "CR8_LEGACY"),
        ("invtsc", "ITSC"),
        ("xsaveerptr", "RSTR_FP_ERR_PTRS"),
        ("amd-no-ssb", "SSB_NO"),
        ("sha-ni", "SHA"),
        ("intel-pt", "PROC_TRACE"),
        ("spec-ctrl", "IBRSB"),
        ("ibrs-all", "EIBRS"),
        ("skip-l1dfl-vmentry", "SKIP_L1DFL"),
        ("pschange-mc-no", "IF_PSCHANGE_MC_NO"),
        ("rdctl-no", "RDCL_NO"),
        ("fdp-excptn-only", "FDP_EXCP_ONLY"),
        ("zero-fcs-fds", "NO_FPU_SEL"),
        ("lfence-always-serializing", "LFENCE_DISPATCH"),
        ("null-sel-clr-base", "NSCB"),
        ("kvm-pv-eoi", "KVM_PV_EOI"),
        ("kvmclock", "KVM_CLOCKSOURCE"),
        ("kvm-hint-dedicated", "KVM_HINTS_REALTIME"),
        ("nrip-save", "NRIPS"),
        ("avx10-512", "AVX10_VL512"),
        ("pcommit", "PCOMMIT"),
        ("amx-int8-alias", "AMX_INT8_MIRROR"),
        ("amx-fp8", "AMX_FP8"),
        ("amx-movrs", "AMX_MOVRS"),
    ];
    for (qemu, ours) in pairs {
        let f = lookup(qemu).unwrap_or_else(|| panic!("{qemu}"));
        assert_eq!(f.name, ours, "{qemu}");
        assert_eq!(f.qemu_name, Some(qemu), "{qemu}");
    }
    // Every recorded QEMU name resolves to its feature, unless it is shadowed.
    for f in features() {
        if let Some(q) = f.qemu_name {
            let hit = lookup(q).unwrap();
            assert!(
                hit.id == f.id || is_precedent(hit, q),
                "{q} of {} gives {}",
                f.name,
                hit.name
            );
        }
    }
}

/// True when `name` is `f`'s canonical or Xen name (which beat other
/// ecosystems' names when they collide).
fn is_precedent(f: &Feature, name: &str) -> bool {
    let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    fold(f.name) == fold(name) || f.xen_name.is_some_and(|x| fold(x) == fold(name))
}

#[test]
fn no_two_features_share_a_bit() {
    let mut seen = BTreeMap::new();
    for f in features() {
        if let Some(other) = seen.insert(f.location, f.name) {
            panic!("{} and {other} share {}", f.name, f.location);
        }
        let (_, bit) = f.location.register();
        assert!(bit < 32);
        assert_eq!(at(f.location).unwrap().id, f.id);
    }
}

#[test]
fn ids_and_order_are_consistent() {
    for (i, f) in features().iter().enumerate() {
        assert_eq!(f.id.index(), i);
        assert_eq!(feature(f.id).name, f.name);
    }
    let regs = feature_registers();
    assert!(
        regs.windows(2).all(|w| w[0] < w[1]),
        "registers sorted and unique"
    );
    let mut total = 0;
    for &reg in regs {
        let bits: Vec<u8> = features_in(reg)
            .map(|f| {
                assert_eq!(f.location.register().0, reg);
                f.location.register().1
            })
            .collect();
        assert!(!bits.is_empty());
        assert!(bits.windows(2).all(|w| w[0] < w[1]), "{reg} bits ascending");
        total += bits.len();
    }
    assert_eq!(total, features().len());
    let msr_low = FeatureRegister::Msr {
        index: 0x10a,
        half: MsrHalf::Low,
    };
    assert_eq!(features_in(msr_low).count(), 30);
}

/// The names `lookup` must refuse to give to their own feature because the
/// same spelling is another feature's canonical or Xen name. Listed here so
/// that a new collision is a deliberate, reviewed change
/// (docs/cpuid-features.md explains each).
const SHADOWED: [(&str, &str, &str); 5] = [
    ("MBA", "MBE", "MBA"),
    ("PREFETCHI", "AMD_PREFETCHI", "PREFETCHI"),
    ("mba", "MBE", "MBA"),
    ("prefetchi", "AMD_PREFETCHI", "PREFETCHI"),
    ("ssb-no", "INTEL_SSB_NO", "SSB_NO"),
];

#[test]
fn every_name_resolves_to_exactly_one_feature() {
    let mut owners: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut shadowed = Vec::new();
    for f in features() {
        for n in f.all_names() {
            let hit = lookup(n).unwrap_or_else(|| panic!("{n} of {} does not resolve", f.name));
            if hit.id != f.id {
                assert!(
                    is_precedent(hit, n),
                    "{n} of {} resolves to {}",
                    f.name,
                    hit.name
                );
                shadowed.push((n, f.name, hit.name));
            }
            owners
                .entry(n.to_ascii_lowercase().replace('-', "_"))
                .or_default()
                .insert(hit.name);
            // Case and '-'/'_' do not matter.
            assert_eq!(lookup(&n.to_ascii_uppercase()).unwrap().id, hit.id);
            assert_eq!(lookup(&n.replace('_', "-")).unwrap().id, hit.id);
        }
    }
    for (name, set) in owners {
        assert_eq!(set.len(), 1, "{name} resolves to {set:?}");
    }
    shadowed.sort();
    shadowed.dedup();
    assert_eq!(shadowed, SHADOWED);
}

#[test]
fn dependency_graph_is_acyclic() {
    for f in features() {
        assert!(
            !f.depends_closure().contains(f.id),
            "{} depends on itself",
            f.name
        );
        for d in f.depends {
            assert_ne!(*d, f.id);
        }
    }
}

#[test]
fn closures_are_inverse_of_each_other() {
    let deps: Vec<_> = features().iter().map(|f| depends_closure(f.id)).collect();
    for f in features() {
        let dependents = dependents_closure(f.id);
        for g in features() {
            assert_eq!(
                deps[g.id.index()].contains(f.id),
                dependents.contains(g.id),
                "{} / {}",
                f.name,
                g.name
            );
        }
    }
}

/// How available a class makes a feature to a migratable guest.
fn availability(class: Class) -> Option<u8> {
    match class {
        Class::Hidden => Some(0),
        Class::OptIn => Some(1),
        Class::Intersect | Class::Accumulate => Some(2),
        Class::Host => None,
        other => panic!("class {other} has no availability rank in this test"),
    }
}

/// The consistency rule between classes and the closure
/// (docs/cpuid-features.md): a feature is never more available than
/// anything it needs, since hiding a prerequisite hides the feature.
/// `host` features are synthesised by the virtualisation layer and are
/// exempt on both sides.
#[test]
fn closure_is_consistent_with_classes() {
    for f in features() {
        let Some(mine) = availability(f.class) else {
            continue;
        };
        for p in f.depends_closure().features() {
            if let Some(theirs) = availability(p.class) {
                assert!(
                    mine <= theirs,
                    "{} ({}) needs {} ({})",
                    f.name,
                    f.class,
                    p.name,
                    p.class
                );
            }
        }
    }
}

#[test]
fn classes_follow_xen_attributes() {
    for f in features() {
        let Some(attrs) = f.xen_attrs else { continue };
        if attrs.contains('|') {
            assert_eq!(f.class, Class::Accumulate, "{}", f.name);
        }
        if attrs.is_empty() {
            assert_eq!(f.class, Class::Hidden, "{}", f.name);
        }
        let upper = attrs.contains(['A', 'S', 'H']);
        let lower = attrs.contains(['a', 's', 'h']);
        if lower && !upper {
            assert_eq!(f.class, Class::OptIn, "{}", f.name);
        }
    }
    for (name, class) in [
        ("MD_CLEAR", Class::Accumulate),
        ("FB_CLEAR", Class::Accumulate),
        ("RFDS_CLEAR", Class::Accumulate),
        ("VERW_CLEAR", Class::Accumulate),
        ("RSBA", Class::Accumulate),
        ("RRSBA", Class::Accumulate),
        ("OSXSAVE", Class::Host),
        ("OSPKE", Class::Host),
        ("HTT", Class::Host),
        ("HYPERVISOR", Class::Host),
        ("APIC", Class::Host),
        ("MONITOR", Class::Hidden),
        ("DS", Class::Hidden),
        ("PDCM", Class::Hidden),
        ("SGX", Class::Hidden),
        ("PROC_TRACE", Class::Hidden),
        ("WAITPKG", Class::Hidden),
        ("VMX", Class::OptIn),
        ("SVM", Class::OptIn),
        ("ITSC", Class::OptIn),
        ("AVX2", Class::Intersect),
    ] {
        assert_eq!(lookup(name).unwrap().class, class, "{name}");
    }
}

#[test]
fn every_feature_is_documented() {
    for f in features() {
        assert!(
            !f.description.is_empty() && f.description.len() < 120,
            "{} description",
            f.name
        );
        assert!(!f.reference.is_empty(), "{} reference", f.name);
        assert!(!f.vendors.is_empty(), "{} vendors", f.name);
    }
}

#[test]
fn fields_do_not_overlap_and_fit() {
    let all = fields();
    for (i, a) in all.iter().enumerate() {
        assert!(
            a.width >= 1 && u32::from(a.shift) + u32::from(a.width) <= 32,
            "{}",
            a.name
        );
        assert_eq!(field(a.name).unwrap().name, a.name);
        for b in &all[i + 1..] {
            if (a.key, a.register) == (b.key, b.register) {
                assert_eq!(a.mask() & b.mask(), 0, "{} overlaps {}", a.name, b.name);
            }
        }
    }
}

/// docs/cpuid-features.md explains every feature that is not `intersect`,
/// under the heading of its class.
#[test]
fn every_non_intersect_feature_is_explained() {
    let doc = std::fs::read_to_string(common::testdata("../docs/cpuid-features.md")).unwrap();
    let section = |class: Class| -> String {
        let heading = format!("### {}\n", class.as_str());
        let start = doc
            .find(&heading)
            .unwrap_or_else(|| panic!("no section {heading:?}"));
        let rest = &doc[start + heading.len()..];
        let end = rest
            .find("\n## ")
            .or_else(|| rest.find("\n### "))
            .unwrap_or(rest.len());
        rest[..end].to_owned()
    };
    let mut missing = Vec::new();
    for f in features().iter().filter(|f| f.class != Class::Intersect) {
        if !section(f.class).contains(&format!("`{}`", f.name)) {
            missing.push(format!("{} ({})", f.name, f.class));
        }
    }
    assert!(
        missing.is_empty(),
        "not explained in docs/cpuid-features.md: {missing:?}"
    );
}

/// The converse: a feature named under a class heading of
/// docs/cpuid-features.md has that class, so the explanations cannot drift
/// from the table. Only the two features the accumulate section names as
/// deliberately *not* accumulated are exempt.
#[test]
fn class_sections_name_only_features_of_their_class() {
    let doc = std::fs::read_to_string(common::testdata("../docs/cpuid-features.md")).unwrap();
    let exempt = [
        (Class::Accumulate, "FDP_EXCP_ONLY"),
        (Class::Accumulate, "NO_FPU_SEL"),
    ];
    let mut wrong = Vec::new();
    for class in Class::ALL.into_iter().filter(|c| *c != Class::Intersect) {
        let heading = format!("### {}\n", class.as_str());
        let start = doc.find(&heading).unwrap() + heading.len();
        let rest = &doc[start..];
        let end = rest
            .find("\n## ")
            .into_iter()
            .chain(rest.find("\n### "))
            .min()
            .unwrap_or(rest.len());
        for quoted in rest[..end].split('`').skip(1).step_by(2) {
            let Some(f) = features().iter().find(|f| f.name == quoted) else {
                continue;
            };
            if f.class != class && !exempt.contains(&(class, f.name)) {
                wrong.push(format!(
                    "{} is {} but listed under {class}",
                    f.name, f.class
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "docs/cpuid-features.md: {wrong:?}");
}

/// Edges Linux's `cpuid-deps.c` has beyond Xen's table: XFD needs XSAVES
/// and XGETBV1, AMX needs XFD, shadow stacks need XSAVES (their state is
/// supervisor XSAVE state), FRED needs LKGS, LASS needs SMAP (STAC/CLAC).
#[test]
fn linux_dependencies_beyond_xen() {
    for (feature, needs) in [
        ("XFD", "XSAVES"),
        ("XFD", "XGETBV1"),
        ("AMX_TILE", "XFD"),
        ("CET_SS", "XSAVES"),
        ("FRED", "LKGS"),
        ("LASS", "SMAP"),
    ] {
        let f = lookup(feature).unwrap();
        assert!(
            f.depends.contains(&lookup(needs).unwrap().id),
            "{feature} should need {needs}"
        );
    }
}

/// `accumulate` is exactly Xen's `|` features plus the ARCH_CAPS "still
/// vulnerable" bits RSBA and RRSBA (issue 5). FDP_EXCP_ONLY and NO_FPU_SEL
/// stay `intersect` on purpose (docs/cpuid-features.md, "accumulate").
#[test]
fn accumulate_is_xens_or_bits_plus_rsba_rrsba() {
    let ours: BTreeSet<&str> = features()
        .iter()
        .filter(|f| f.class == Class::Accumulate)
        .map(|f| f.name)
        .collect();
    let mut expected: BTreeSet<&str> = features()
        .iter()
        .filter(|f| f.xen_attrs.is_some_and(|a| a.contains('|')))
        .map(|f| f.name)
        .collect();
    expected.extend(["RSBA", "RRSBA"]);
    assert_eq!(ours, expected);
    for name in ["FDP_EXCP_ONLY", "NO_FPU_SEL"] {
        assert_eq!(lookup(name).unwrap().class, Class::Intersect, "{name}");
    }
}

/// The QEMU column holds only names QEMU has: `bpext` and `mwaitx` are
/// Linux's /proc/cpuinfo names for DBEXT and MONITORX (QEMU names neither),
/// and `lass` is Linux's name for LASS.
#[test]
fn qemu_and_linux_columns_are_not_mixed_up() {
    for (name, linux) in [("DBEXT", "bpext"), ("MONITORX", "mwaitx"), ("LASS", "lass")] {
        let f = lookup(name).unwrap();
        assert_eq!(f.linux_name, Some(linux), "{name}");
        assert_eq!(f.qemu_name, None, "{name}");
    }
    // Linux has no X86_FEATURE_PKS (only unmerged patches), so no /proc name.
    assert_eq!(lookup("PKS").unwrap().linux_name, None);
}

/// Leaf 0x1E subleaf 1 EAX, the AMX capability bits (Intel ISE): bits 0-3
/// repeat leaf 7's AMX bits, 4-8 are the newer AMX extensions.
#[test]
fn amx_leaf_bits() {
    let reg = FeatureRegister::cpuid(0x1e, Some(1), Register::Eax);
    let names: Vec<(u8, &str)> = features_in(reg)
        .map(|f| (f.location.register().1, f.name))
        .collect();
    assert_eq!(
        names,
        [
            (0, "AMX_INT8_MIRROR"),
            (1, "AMX_BF16_MIRROR"),
            (2, "AMX_COMPLEX_MIRROR"),
            (3, "AMX_FP16_MIRROR"),
            (4, "AMX_FP8"),
            (5, "AMX_TRANSPOSE"),
            (6, "AMX_TF32"),
            (7, "AMX_AVX512"),
            (8, "AMX_MOVRS"),
        ]
    );
    // Hiding AMX_TILE hides all of them.
    let lost = dependents_closure(lookup("AMX_TILE").unwrap().id);
    assert!(features_in(reg).all(|f| lost.contains(f.id)));
}

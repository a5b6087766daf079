//! The pool plan: its leave-one-out costs agree with recomputing the pool
//! once per host, its tiers with the pool computation of each tier, and
//! neither depends on the order of the hosts; over the real dumps of
//! `testdata/cpuid/` with random feature differences and options.

use std::path::PathBuf;
use std::sync::OnceLock;

use cpuid_defs::{FeatureRegister, FeatureSet};
use maskcalc::dump;
use maskcalc::model::{CpuidInput, Host, HostCpuid};
use maskcalc::plan::{self, PlanOptions, guest_baseline, leave_one_out_by_recomputing};
use maskcalc::pool::{self, PoolOptions};
use maskcalc::render;
use proptest::prelude::*;

mod common;
use common::cpuid_registers;

fn testdata() -> PathBuf {
    xenmig_test_support::testdata("cpuid")
}

fn load(name: &str) -> HostCpuid {
    let bytes = std::fs::read(testdata().join(name)).unwrap();
    dump::parse(name, &bytes, None).unwrap()
}

fn dumps_of(prefix: &str) -> Vec<(String, HostCpuid)> {
    let mut names: Vec<String> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".txt"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), load(&n))).collect()
}

/// The real Intel dumps, parsed once, in file name order.
fn intel() -> &'static Vec<(String, HostCpuid)> {
    static DUMPS: OnceLock<Vec<(String, HostCpuid)>> = OnceLock::new();
    DUMPS.get_or_init(|| dumps_of("intel-"))
}

/// The real AMD dumps (SVM, AMD-only leaves), parsed once.
fn amd() -> &'static Vec<(String, HostCpuid)> {
    static DUMPS: OnceLock<Vec<(String, HostCpuid)>> = OnceLock::new();
    DUMPS.get_or_init(|| dumps_of("amd-"))
}

/// Features that have dependents or prerequisites, where the rule matters most.
const INTERESTING: [&str; 13] = [
    "AVX", "AVX2", "AVX512F", "XSAVE", "SSE4_2", "FMA", "RTM", "PKU", "VMX", "MD_CLEAR",
    "AVX512BW", "XSAVEC", "SVM",
];

/// A pool: real Intel dumps, some repeated, with random bits cleared or set
/// in feature registers and some [`INTERESTING`] features cleared (without
/// what depends on them, as no real CPU would); every host named after its
/// position.
fn pool_strategy() -> impl Strategy<Value = Vec<Host>> {
    let dumps = intel().len().min(amd().len());
    let registers = cpuid_registers().len();
    let host = (
        0..dumps,
        prop::collection::vec((0..registers, 0..32u32, any::<bool>()), 0..4),
        prop::collection::vec(0..INTERESTING.len(), 0..2),
    );
    (any::<bool>(), prop::collection::vec(host, 1..9)).prop_map(|(use_amd, hosts)| {
        let registers = cpuid_registers();
        let dumps = if use_amd { amd() } else { intel() };
        hosts
            .into_iter()
            .enumerate()
            .map(|(i, (index, flips, cleared))| {
                let mut cpuid = dumps[index].1.clone();
                for name in cleared.into_iter().map(|n| INTERESTING[n]) {
                    if let Some(f) = cpuid_defs::lookup(name)
                        && let cpuid_defs::Location::Cpuid { key, register, bit } = f.location
                    {
                        let input = CpuidInput::new(key.leaf, key.subleaf.unwrap_or(0));
                        if let Some(regs) = cpuid.leaves.get_mut(&input) {
                            regs[register as usize] &= !(1 << bit);
                        }
                    }
                }
                for (reg, bit, set) in flips {
                    if let FeatureRegister::Cpuid { key, register } = registers[reg] {
                        let input = CpuidInput::new(key.leaf, key.subleaf.unwrap_or(0));
                        let regs = cpuid.leaves.entry(input).or_insert([0; 4]);
                        if set {
                            regs[register as usize] |= 1 << bit;
                        } else {
                            regs[register as usize] &= !(1 << bit);
                        }
                    }
                }
                Host {
                    name: format!("host{i:02}"),
                    cpuid,
                }
            })
            .collect()
    })
}

/// Options with random nested HVM, and hide/keep drawn from features that
/// have dependents or prerequisites (where the rule matters most).
fn options_strategy() -> impl Strategy<Value = PoolOptions> {
    let names = INTERESTING;
    (
        any::<bool>(),
        prop::collection::vec(0..names.len(), 0..3),
        prop::collection::vec(0..names.len(), 0..3),
    )
        .prop_map(move |(nested_hvm, hide, keep)| {
            let id = |i: usize| cpuid_defs::lookup(names[i]).unwrap().id;
            let hide: Vec<_> = hide.into_iter().map(id).collect();
            let keep: Vec<_> = keep
                .into_iter()
                .map(id)
                .filter(|k| !hide.contains(k))
                .collect();
            let mut options = PoolOptions::default();
            options.nested_hvm = nested_hvm;
            options.hide = hide;
            options.keep = keep;
            options.allow_mixed_vendors = false;
            options
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn costs_match_recomputing_the_pool_without_each_host(
        hosts in pool_strategy(),
        options in options_strategy(),
    ) {
        let plan = plan::plan(&hosts, &options, &PlanOptions::default()).unwrap();
        let masks = pool::compute(&hosts, &options).unwrap();
        prop_assert_eq!(&plan.masks, &masks);
        prop_assert_eq!(plan.baseline, guest_baseline(&masks));
        let without = leave_one_out_by_recomputing(&hosts, &options).unwrap();
        prop_assert_eq!(plan.costs.len(), hosts.len());
        for cost in &plan.costs {
            let expected = if hosts.len() > 1 {
                without[cost.host].difference(&plan.baseline)
            } else {
                FeatureSet::new()
            };
            prop_assert_eq!(cost.gains, expected, "host {}", cost.host);
        }
        // Ranked: cost descending, then name.
        for pair in plan.costs.windows(2) {
            let key = |c: &plan::HostCost| (std::cmp::Reverse(c.gains.len()), hosts[c.host].name.clone());
            prop_assert!(key(&pair[0]) <= key(&pair[1]));
        }
    }

    #[test]
    fn tiers_partition_the_pool_and_stay_within_the_threshold(
        hosts in pool_strategy(),
        options in options_strategy(),
        threshold in 1usize..20,
    ) {
        let mut plan_options = PlanOptions::default();
        plan_options.tier_threshold = threshold;
        let plan = plan::plan(&hosts, &options, &plan_options).unwrap();
        let mut seen: Vec<usize> = plan.tiers.iter().flat_map(|t| t.hosts.iter().copied()).collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..hosts.len()).collect::<Vec<_>>());
        for tier in &plan.tiers {
            prop_assert_eq!(tier.baseline, guest_baseline(&tier.masks));
            prop_assert!(plan.baseline.is_subset(&tier.baseline));
            let first = &hosts[tier.hosts[0]];
            let alone = pool::compute(std::slice::from_ref(first), &options).unwrap();
            let lost = guest_baseline(&alone).difference(&tier.baseline).len();
            prop_assert!(lost < threshold, "tier lacks {lost} features of its first host");
        }
    }

    #[test]
    fn the_plan_does_not_depend_on_the_order_of_the_hosts(
        hosts in pool_strategy(),
        options in options_strategy(),
        seed in any::<u64>(),
    ) {
        let mut shuffled = hosts.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let a = plan::plan(&hosts, &options, &PlanOptions::default()).unwrap();
        let b = plan::plan(&shuffled, &options, &PlanOptions::default()).unwrap();
        let targets = maskcalc::consumer::Targets::newest();
        prop_assert_eq!(render::plan_text(&a, &targets), render::plan_text(&b, &targets));
        prop_assert_eq!(render::plan_json(&a, &targets), render::plan_json(&b, &targets));
    }
}

fn host(name: &str, dump: &str) -> Host {
    Host {
        name: name.to_owned(),
        cpuid: load(dump),
    }
}

#[test]
fn a_host_that_alone_removes_avx512_from_ten_others_is_its_own_tier() {
    let mut hosts: Vec<Host> = (0..10)
        .map(|i| {
            host(
                &format!("skylake{i}"),
                "intel-skylake-sp-xeon-platinum-8180.txt",
            )
        })
        .collect();
    hosts.insert(4, host("haswell", "intel-haswell-ep-xeon-e5-2699-v3.txt"));
    let plan = plan::plan(&hosts, &PoolOptions::default(), &PlanOptions::default()).unwrap();
    let worst = &plan.costs[0];
    assert_eq!(plan.masks.hosts[worst.host].name, "haswell");
    let gains: Vec<&str> = worst.gains.features().map(|f| f.name).collect();
    for name in ["AVX512F", "AVX512DQ", "AVX512CD", "AVX512BW", "AVX512VL"] {
        assert!(gains.contains(&name), "{name} not in {gains:?}");
    }
    assert!(plan.costs[1..].iter().all(|c| c.gains.is_empty()));
    let tiers: Vec<Vec<&str>> = plan
        .tiers
        .iter()
        .map(|t| {
            t.hosts
                .iter()
                .map(|&h| plan.masks.hosts[h].name.as_str())
                .collect()
        })
        .collect();
    let skylakes: Vec<String> = (0..10).map(|i| format!("skylake{i}")).collect();
    assert_eq!(tiers.len(), 2, "{tiers:?}");
    assert_eq!(
        tiers[0],
        skylakes.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(tiers[1], ["haswell"]);
    // The Skylake tier is exactly the Skylake's own baseline.
    let skylake_alone = pool::compute(&hosts[..1], &PoolOptions::default()).unwrap();
    assert_eq!(plan.tiers[0].baseline, guest_baseline(&skylake_alone));
    let haswell_alone = pool::compute(&hosts[4..5], &PoolOptions::default()).unwrap();
    assert_eq!(plan.tiers[1].baseline, guest_baseline(&haswell_alone));
}

#[test]
fn two_hosts_that_lack_the_same_feature_each_cost_nothing_for_it() {
    // Leave-one-out: with two Haswells, neither alone holds AVX-512 back.
    let hosts = [
        host("skylake", "intel-skylake-sp-xeon-platinum-8180.txt"),
        host("haswell-a", "intel-haswell-ep-xeon-e5-2699-v3.txt"),
        host("haswell-b", "intel-haswell-ep-xeon-e5-2699-v3.txt"),
    ];
    let plan = plan::plan(&hosts, &PoolOptions::default(), &PlanOptions::default()).unwrap();
    let avx512f = cpuid_defs::lookup("AVX512F").unwrap().id;
    assert!(plan.costs.iter().all(|c| !c.gains.contains(avx512f)));
    // ... but the tiers separate them.
    assert_eq!(plan.tiers.len(), 2);
    assert_eq!(plan.tiers[1].hosts, [1, 2]);
}

#[test]
fn hidden_and_opt_in_differences_are_listed_but_not_counted() {
    // Raptor Lake alone lacks DCA (hidden): not a cost.
    let hosts: Vec<Host> = intel()
        .iter()
        .map(|(n, c)| Host {
            name: n.clone(),
            cpuid: c.clone(),
        })
        .collect();
    let plan = plan::plan(&hosts, &PoolOptions::default(), &PlanOptions::default()).unwrap();
    let raptor = plan
        .costs
        .iter()
        .find(|c| plan.masks.hosts[c.host].name.contains("raptorlake"))
        .unwrap();
    assert!(raptor.gains.is_empty());
    let dca = raptor
        .uncounted
        .iter()
        .find(|u| u.feature.map(|id| cpuid_defs::feature(id).name) == Some("DCA"))
        .unwrap();
    assert_eq!(dca.why, plan::NotCounted::Class(cpuid_defs::Class::Hidden));
}

#[test]
fn nested_hvm_makes_vmx_count() {
    // A host without VMX costs VMX only when guests may see it.
    let with = host("with-vmx", "intel-haswell-ep-xeon-e5-2699-v3.txt");
    let mut without = host("without-vmx", "intel-haswell-ep-xeon-e5-2699-v3.txt");
    without
        .cpuid
        .leaves
        .get_mut(&CpuidInput::new(1, 0))
        .unwrap()[2] &= !(1 << 5);
    let vmx = cpuid_defs::lookup("VMX").unwrap().id;
    let hosts = [with, without];
    let off = plan::plan(&hosts, &PoolOptions::default(), &PlanOptions::default()).unwrap();
    assert!(off.costs.iter().all(|c| !c.gains.contains(vmx)));
    let mut nested = PoolOptions::default();
    nested.nested_hvm = true;
    let on = plan::plan(&hosts, &nested, &PlanOptions::default()).unwrap();
    assert_eq!(on.masks.hosts[on.costs[0].host].name, "without-vmx");
    assert!(on.costs[0].gains.contains(vmx));
}

//! The pool plan ([`crate::plan::Plan`]) as text for people and JSON for machines.

use std::fmt::Write as _;

use cpuid_defs::{Class, FeatureSet};

use crate::consumer::Targets;
use crate::plan::{HostCost, NotCounted, Plan, Tier, Uncounted};
use crate::pool::HostSummary;

/// The tiering rule in one sentence, with the threshold filled in.
pub(crate) fn tier_rule(threshold: usize) -> String {
    format!(
        "taking the hosts from the richest (most guest-visible features on its own) to the \
         poorest, each joins the first tier whose baseline, with it, still lacks fewer than \
         {threshold} of the features of the tier's first host, and otherwise starts a new tier"
    )
}

/// What a cost is, in one sentence.
pub(crate) const COST_RULE: &str = "a host's cost is the guest-visible features the other hosts would \
     gain if it left (class intersect, and VMX/SVM with nested HVM: hidden, opt-in, host and \
     accumulate features and unnamed bits never count); ranked by cost, then by host name";

/// Why an uncounted bit does not count, in words.
pub(crate) fn not_counted_reason(why: NotCounted) -> &'static str {
    match why {
        NotCounted::Class(Class::Hidden) => "hidden: Xen never offers it to guests",
        NotCounted::Class(Class::OptIn) => "opt-in: offered only when enabled",
        NotCounted::Class(Class::Host) => "host: set per host, never compared",
        NotCounted::Class(Class::Accumulate) => "accumulate: guests see it anyway",
        NotCounted::Class(Class::Intersect) => "intersect",
        NotCounted::Class(_) => "a class the plan does not count",
        NotCounted::Unnamed => "unnamed: Xen offers no unnamed bit",
        NotCounted::StillMasked => "still masked: a feature it needs stays masked",
    }
}

/// The name of an uncounted bit: the feature's, or its location.
pub(crate) fn uncounted_name(u: &Uncounted) -> String {
    match u.feature {
        Some(id) => cpuid_defs::feature(id).name.to_owned(),
        None => u.location.to_string(),
    }
}

/// `family 0x6 model 0x55 stepping 0x4`.
pub(crate) fn family_model_stepping(host: &HostSummary) -> String {
    let (family, model, stepping) = host.family_model_stepping;
    format!("family {family:#x} model {model:#x} stepping {stepping:#x}")
}

fn names(set: &FeatureSet) -> Vec<&'static str> {
    set.features().map(|f| f.name).collect()
}

/// Appends `words` after `lead`, wrapped at 100 columns with `indent` on continuation lines.
fn wrapped(out: &mut String, lead: &str, words: &[String], indent: usize) {
    const WIDTH: usize = 100;
    let mut line = lead.to_owned();
    let mut first = lead.is_empty();
    for word in words {
        if !first && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(indent);
            first = true;
        }
        if !first {
            line.push(' ');
        }
        line.push_str(word);
        first = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// The uncounted bits of a host grouped by why, in order of first appearance.
fn uncounted_groups(cost: &HostCost) -> Vec<(NotCounted, Vec<String>)> {
    let mut groups: Vec<(NotCounted, Vec<String>)> = Vec::new();
    for u in &cost.uncounted {
        match groups.iter_mut().find(|(why, _)| *why == u.why) {
            Some((_, list)) => list.push(uncounted_name(u)),
            None => groups.push((u.why, vec![uncounted_name(u)])),
        }
    }
    groups
}

/// The features a tier has over the whole pool.
pub(crate) fn tier_additions(plan: &Plan, tier: &Tier) -> FeatureSet {
    tier.baseline.difference(&plan.baseline)
}

/// The plan for people: the pool's baseline, each host's cost (ranked), and
/// the tiers with their baselines and xl lines.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// let text = maskcalc::render::plan_text(&plan, &maskcalc::consumer::Targets::newest());
/// assert!(text.starts_with("Pool plan: 2 hosts (GenuineIntel); guests see 2 features on every host.\n"));
/// assert!(text.contains("\n1. b  (family 0x6 model 0x55 stepping 0x4, tier 1)\n       costs 2: AVX AVX2\n"), "{text}");
/// assert!(text.ends_with("    xl:   cpuid = \"host,vmx=0,avx=0,avx2=0\"\n"), "{text}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_text(plan: &Plan, targets: &Targets<'_>) -> String {
    let masks = &plan.masks;
    let mut out = String::new();
    let vendors = plan.masks.vendor_strings();
    let _ = writeln!(
        out,
        "Pool plan: {} hosts ({}); guests see {} features on every host.",
        masks.hosts.len(),
        vendors.join(", "),
        plan.baseline.len()
    );
    out.push_str("\n== What each host costs the pool ==\n\n");
    wrapped(
        &mut out,
        "",
        &format!("{}{}.", upper_first(COST_RULE), "")
            .split(' ')
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        0,
    );
    out.push('\n');
    let rank_width = masks.hosts.len().to_string().len();
    for (rank, cost) in plan.costs.iter().enumerate() {
        cost_text(&mut out, plan, rank, rank_width, cost);
    }
    out.push_str("\n== Suggested tiers ==\n\n");
    let rule = format!("{}.", upper_first(&tier_rule(plan.tier_threshold)));
    wrapped(
        &mut out,
        "",
        &rule.split(' ').map(str::to_owned).collect::<Vec<_>>(),
        0,
    );
    if plan.tiers.len() == 1 {
        let _ = writeln!(
            out,
            "The pool is one tier: no host takes {} or more features from the richest.",
            plan.tier_threshold
        );
    }
    for (i, tier) in plan.tiers.iter().enumerate() {
        out.push('\n');
        tier_text(&mut out, plan, i, tier, targets);
    }
    out
}

/// One host's entry in the ranking: its place, name and tier, what it
/// costs, and what it alone lacks that does not count.
fn cost_text(out: &mut String, plan: &Plan, rank: usize, rank_width: usize, cost: &HostCost) {
    let host = &plan.masks.hosts[cost.host];
    let tier = plan
        .tier_of(cost.host)
        .map(|t| format!(", tier {}", t + 1))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{:>rank_width$}. {}  ({}{tier})",
        rank + 1,
        host.name,
        family_model_stepping(host)
    );
    let indent = rank_width + 2 + 4;
    let pad = " ".repeat(indent);
    if cost.gains.is_empty() {
        let _ = writeln!(out, "{pad}costs nothing");
    } else {
        let words: Vec<String> = names(&cost.gains).into_iter().map(str::to_owned).collect();
        wrapped(
            out,
            &format!("{pad}costs {}:", cost.gains.len()),
            &words,
            indent + 4,
        );
    }
    for (why, names) in uncounted_groups(cost) {
        wrapped(
            out,
            &format!(
                "{pad}lacks alone, not counted ({}):",
                not_counted_reason(why)
            ),
            &names,
            indent + 4,
        );
    }
}

/// One tier (the `index`th): its size and baseline, its hosts, what it adds
/// over the pool, and its xl line.
fn tier_text(out: &mut String, plan: &Plan, index: usize, tier: &Tier, targets: &Targets<'_>) {
    let added = tier_additions(plan, tier);
    let _ = writeln!(
        out,
        "Tier {}: {} host{}, {} guest-visible features ({} more than the whole pool)",
        index + 1,
        tier.hosts.len(),
        if tier.hosts.len() == 1 { "" } else { "s" },
        tier.baseline.len(),
        added.len()
    );
    let hosts: Vec<String> = tier
        .hosts
        .iter()
        .map(|&h| plan.masks.hosts[h].name.clone())
        .collect();
    wrapped(out, "    hosts:", &hosts, 8);
    if !added.is_empty() {
        let words: Vec<String> = names(&added).into_iter().map(str::to_owned).collect();
        wrapped(out, "    adds:", &words, 8);
    }
    let _ = writeln!(
        out,
        "    xl:   {}",
        super::xl(&tier.masks, targets).text.trim_end()
    );
}

/// `s` with its first letter in upper case (to begin a sentence).
pub(crate) fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The plan document of [`plan_json`], fields in the alphabetical order
/// version 1 was first written in.
#[derive(serde::Serialize)]
struct PlanDocument<'a> {
    costs: Ranked<CostJson<'a>>,
    format: &'static str,
    pool: PlanPool<'a>,
    tiers: Tiers<'a>,
    version: u32,
}

#[derive(serde::Serialize)]
struct PlanPool<'a> {
    baseline: Baseline,
    hidden: Vec<&'static str>,
    hosts: usize,
    nested_hvm: bool,
    vendors: Vec<&'a str>,
}

#[derive(serde::Serialize)]
struct Baseline {
    count: usize,
    features: Vec<FeatureJson>,
}

#[derive(serde::Serialize)]
struct Ranked<T> {
    list: Vec<T>,
    rule: &'static str,
}

#[derive(serde::Serialize)]
struct Tiers<'a> {
    list: Vec<TierJson<'a>>,
    rule: String,
    threshold: usize,
}

#[derive(serde::Serialize)]
struct CostJson<'a> {
    cost: usize,
    family: String,
    gains: Vec<FeatureJson>,
    host: &'a str,
    model: String,
    rank: usize,
    stepping: String,
    tier: Option<usize>,
    uncounted: Vec<UncountedJson>,
}

#[derive(serde::Serialize)]
struct UncountedJson {
    location: String,
    name: Option<&'static str>,
    why: &'static str,
}

#[derive(serde::Serialize)]
struct TierJson<'a> {
    adds: Vec<FeatureJson>,
    count: usize,
    hosts: Vec<&'a str>,
    tier: usize,
    xl: String,
}

#[derive(serde::Serialize)]
struct FeatureJson {
    class: &'static str,
    location: String,
    name: &'static str,
}

fn feature_json(set: &FeatureSet) -> Vec<FeatureJson> {
    set.features()
        .map(|f| FeatureJson {
            class: f.class.as_str(),
            location: f.location.to_string(),
            name: f.name,
        })
        .collect()
}

fn not_counted_kind(why: NotCounted) -> &'static str {
    match why {
        NotCounted::Class(class) => class.as_str(),
        NotCounted::Unnamed => "unnamed",
        NotCounted::StillMasked => "still-masked",
    }
}

/// The plan for machines (`"format": "xenmig-pool-plan"`): the pool's
/// baseline, the ranked costs, and the tiers with their baselines.
///
/// ```text
/// { "format": "xenmig-pool-plan", "version": 1,
///   "pool": { "hosts": 3, "vendors": ["GenuineIntel"], "nested_hvm": false,
///             "baseline": { "count": 52, "features": [ { "name": "FPU", "location": "0x1.edx[0]", "class": "intersect" }, … ] } },
///   "costs": [ { "rank": 1, "host": "node3", "family": "0x6", "model": "0x3f", "stepping": "0x2", "tier": 2,
///                "cost": 5, "gains": [ … ], "uncounted": [ { "name": "SGX", "location": "…", "why": "hidden" } ] }, … ],
///   "tiers": { "rule": "…", "threshold": 4,
///              "list": [ { "tier": 1, "hosts": [ … ], "count": 80, "adds": [ … ], "xl": "cpuid = \"host,…\"" } ] } }
/// ```
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     cpuid.leaves.insert(CpuidInput::new(0x8000_0000, 0), [0x8000_0000, 0, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 and XSAVE on both hosts; AVX (1.ECX[28]) and AVX2 (7.0.EBX[5]) on `a` only.
/// let hosts = [host("a", 0x1c00_0001, 0x20), host("b", 0x0c00_0001, 0)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// let text = maskcalc::render::plan_json(&plan, &maskcalc::consumer::Targets::newest());
/// let json: serde_json::Value = serde_json::from_str(&text)?;
/// assert_eq!(json["format"], "xenmig-pool-plan");
/// assert_eq!(json["pool"]["baseline"]["count"], 2);
/// let first = &json["costs"]["list"][0];
/// assert_eq!((&first["host"], &first["cost"]), (&"b".into(), &2.into()));
/// assert_eq!(json["tiers"]["list"][0]["xl"], "cpuid = \"host,vmx=0,avx=0,avx2=0\"");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_json(plan: &Plan, targets: &Targets<'_>) -> String {
    let masks = &plan.masks;
    let costs = plan
        .costs
        .iter()
        .enumerate()
        .map(|(rank, cost)| {
            let host = &masks.hosts[cost.host];
            let (family, model, stepping) = host.family_model_stepping;
            CostJson {
                cost: cost.gains.len(),
                family: format!("{family:#x}"),
                gains: feature_json(&cost.gains),
                host: &host.name,
                model: format!("{model:#x}"),
                rank: rank + 1,
                stepping: format!("{stepping:#x}"),
                tier: plan.tier_of(cost.host).map(|t| t + 1),
                uncounted: cost
                    .uncounted
                    .iter()
                    .map(|u| UncountedJson {
                        location: u.location.to_string(),
                        name: u.feature.map(|id| cpuid_defs::feature(id).name),
                        why: not_counted_kind(u.why),
                    })
                    .collect(),
            }
        })
        .collect();
    let tiers = plan
        .tiers
        .iter()
        .enumerate()
        .map(|(i, tier)| TierJson {
            adds: feature_json(&tier_additions(plan, tier)),
            count: tier.baseline.len(),
            hosts: tier
                .hosts
                .iter()
                .map(|&h| masks.hosts[h].name.as_str())
                .collect(),
            tier: i + 1,
            xl: super::xl(&tier.masks, targets).text.trim_end().to_owned(),
        })
        .collect();
    super::json::pretty(&PlanDocument {
        costs: Ranked {
            list: costs,
            rule: COST_RULE,
        },
        format: "xenmig-pool-plan",
        pool: PlanPool {
            baseline: Baseline {
                count: plan.baseline.len(),
                features: feature_json(&plan.baseline),
            },
            hidden: masks
                .hidden
                .iter()
                .map(|id| cpuid_defs::feature(*id).name)
                .collect(),
            hosts: masks.hosts.len(),
            nested_hvm: masks.nested_hvm,
            vendors: masks.vendor_strings(),
        },
        tiers: Tiers {
            list: tiers,
            rule: tier_rule(plan.tier_threshold),
            threshold: plan.tier_threshold,
        },
        version: 1,
    })
}

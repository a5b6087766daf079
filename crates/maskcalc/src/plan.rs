//! Pool planning: which host holds the pool back, what the others would gain
//! without it, and a split of the pool into compatibility tiers.
//!
//! Everything here counts *guest-visible* features: the features a guest
//! sees on every host of a (sub)pool once the masks of [`crate::pool`] apply.
//! That is the [`guest_baseline`] of the pool's [`PoolMasks`]: every named
//! feature of class `intersect` (and VMX/SVM when nested HVM is enabled)
//! that all hosts have and the masks do not clear. `hidden` features (Xen
//! never offers them), `opt-in` ones (offered only when asked for), `host`
//! ones (set per host), `accumulate` ones (forced on when any host has them)
//! and unnamed bits never count.
//!
//! * The **cost** of a host is what the others would gain if it left: the
//!   guest baseline of the pool without it, minus the pool's baseline.
//!   Hosts are ranked by cost, highest first; ties by host name, then by
//!   the order given.
//! * The **tiers** are found first-fit: taking the hosts from the richest
//!   (most guest-visible features on its own) to the poorest, each host joins
//!   the first tier whose baseline would, with it, still lack fewer than
//!   [`PlanOptions::tier_threshold`] of the features of the tier's first
//!   host; otherwise it starts a new tier. Ties in richness are broken by
//!   host name, then by the order given.
//!
//! Both are independent of the order of the hosts (given distinct names).
//!
//! The leave-one-out costs are not computed by running the pool computation
//! once per host: for every register the AND and the OR over all hosts but
//! one come from prefix and suffix ANDs/ORs, and the rule that turns an AND
//! and an OR into a baseline (the same rule as [`crate::pool::compute`]:
//! clear what differs and what depends on it) runs once per host, so the
//! whole plan is O(hosts × registers). [`leave_one_out_by_recomputing`] is
//! the plain computation it must agree with.
//!
//! ```
//! use maskcalc::model::{CpuidInput, Host, HostCpuid};
//! use maskcalc::plan::{plan, PlanOptions};
//! use maskcalc::pool::PoolOptions;
//! let host = |name: &str, ebx7: u32| {
//!     let mut cpuid = HostCpuid::default();
//!     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
//!     // 1.ECX: SSE3, XSAVE, OSXSAVE, AVX
//!     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, 0x1c00_0001, 0]);
//!     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
//!     Host { name: name.into(), cpuid }
//! };
//! // AVX2 (7.0.EBX[5]) and AVX512F (bit 16): the old host lacks AVX512F.
//! let hosts = [host("new1", 0x10020), host("new2", 0x10020), host("old", 0x20)];
//! let plan = plan(&hosts, &PoolOptions::default(), &PlanOptions::default()).unwrap();
//! let worst = &plan.costs[0];
//! assert_eq!(plan.masks.hosts[worst.host].name, "old");
//! let gains: Vec<_> = worst.gains.features().map(|f| f.name).collect();
//! assert_eq!(gains, ["AVX512F"]);
//! assert_eq!(plan.tiers.len(), 1, "one feature is below the default threshold");
//! ```

use cpuid_defs::{Class, FeatureId, FeatureRegister, FeatureSet, Location};

use crate::model::Host;
use crate::pool::{self, PoolError, PoolMasks, PoolOptions, location_of};

/// The default [`PlanOptions::tier_threshold`]: a host that takes this many
/// guest-visible features or more from a tier's first host starts a tier of
/// its own. See `docs/xen-maskcalc.md` for the experiment behind the value.
pub const DEFAULT_TIER_THRESHOLD: usize = 8;

/// What the caller asks of the plan. New options are added over time:
/// start from [`PlanOptions::default()`] and set the fields you need.
///
/// ```
/// use maskcalc::plan::{DEFAULT_TIER_THRESHOLD, PlanOptions};
/// let mut options = PlanOptions::default();
/// assert_eq!(options.tier_threshold, DEFAULT_TIER_THRESHOLD);
/// options.tier_threshold = 1; // only hosts that remove nothing share a tier
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlanOptions {
    /// A host joins a tier only if the tier's baseline, with it, lacks fewer
    /// than this many of the guest-visible features of the tier's first
    /// host. 1 puts only hosts that remove nothing together; 0 counts as 1.
    pub tier_threshold: usize,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            tier_threshold: DEFAULT_TIER_THRESHOLD,
        }
    }
}

/// Why a bit that only one host lacks does not count in its cost.
///
/// ```
/// use cpuid_defs::Class;
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 everywhere; MONITOR (1.ECX[3], `hidden`: Xen never offers it) on two hosts.
/// let hosts = [host("a", 0b1001, 0), host("b", 0b1001, 0), host("c", 0b0001, 0)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// let c = plan.costs.iter().find(|c| c.host == 2).unwrap();
/// assert!(c.gains.is_empty(), "lacking a hidden feature costs nothing");
/// assert_eq!(c.uncounted[0].why, maskcalc::plan::NotCounted::Class(Class::Hidden));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotCounted {
    /// The feature's class keeps it out of the guest baseline (`hidden`,
    /// `opt-in`, `host`), or forces it on anyway (`accumulate`).
    Class(Class),
    /// No feature is named at this bit; Xen offers no unnamed bit to guests.
    Unnamed,
    /// The feature would stay masked without the host: something it needs is
    /// masked for another reason (another host lacks it, or it is hidden by
    /// request).
    StillMasked,
}

/// A bit that only one host lacks and that is not part of its cost.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // MONITOR (1.ECX[3]) on two hosts of three.
/// let hosts = [host("a", 0b1001, 0), host("b", 0b1001, 0), host("c", 0b0001, 0)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// let c = plan.costs.iter().find(|c| c.host == 2).unwrap();
/// let monitor = &c.uncounted[0];
/// assert_eq!(monitor.location.to_string(), "0x1.ecx[3]");
/// assert_eq!(monitor.feature.map(|id| cpuid_defs::feature(id).name), Some("MONITOR"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Uncounted {
    /// Where the bit lives.
    pub location: Location,
    /// The feature named there, if any.
    pub feature: Option<FeatureId>,
    /// Why it does not count.
    pub why: NotCounted,
}

/// What one host costs the pool.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // AVX2 (7.0.EBX[5]) and AVX512F (bit 16) on two hosts; the third lacks AVX512F.
/// let hosts = [host("a", 0x1c00_0001, 0x10020), host("b", 0x1c00_0001, 0x10020), host("c", 0x1c00_0001, 0x20)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// let worst = &plan.costs[0];
/// assert_eq!(worst.host, 2);
/// let gains: Vec<_> = worst.gains.features().map(|f| f.name).collect();
/// assert_eq!(gains, ["AVX512F"]);
/// assert!(worst.uncounted.is_empty());
/// assert!(plan.costs[1].gains.is_empty(), "the others cost nothing");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostCost {
    /// The host, an index into [`PoolMasks::hosts`] of [`Plan::masks`].
    pub host: usize,
    /// The guest-visible features the other hosts would gain without it.
    pub gains: FeatureSet,
    /// The bits only this host lacks that are not in [`HostCost::gains`], by location.
    pub uncounted: Vec<Uncounted>,
}

/// One compatibility tier: hosts whose common baseline is within the
/// threshold of its richest host.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// let hosts = [host("a", 0x1c00_0001, 0x10020), host("b", 0x1c00_0001, 0x10020), host("c", 0x1c00_0001, 0x20)];
/// // With a threshold of 1, a host that takes any feature away starts a tier.
/// let mut options = maskcalc::plan::PlanOptions::default();
/// options.tier_threshold = 1;
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &options)?;
/// assert_eq!(plan.tiers.len(), 2);
/// let first = &plan.tiers[0];
/// assert_eq!(first.hosts, [0, 1]);
/// assert!(first.baseline.features().any(|f| f.name == "AVX512F"));
/// // Each tier carries its own masks: nothing differs between a and b.
/// assert!(first.masks.bits.iter().all(|b| b.feature_name() != Some("AVX512F")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tier {
    /// Its hosts (indices into [`PoolMasks::hosts`] of [`Plan::masks`]), richest first.
    pub hosts: Vec<usize>,
    /// The guest-visible features on every host of the tier.
    pub baseline: FeatureSet,
    /// The masks for this tier alone (hosts in the order of [`Tier::hosts`]).
    pub masks: PoolMasks,
}

/// The result of [`plan`].
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// let hosts = [host("a", 0x1c00_0001, 0x10020), host("b", 0x1c00_0001, 0x10020), host("c", 0x1c00_0001, 0x20)];
/// let plan = maskcalc::plan::plan(&hosts, &Default::default(), &Default::default())?;
/// assert_eq!(plan.masks.hosts.len(), 3);
/// assert!(plan.baseline.features().any(|f| f.name == "AVX2"));
/// assert!(!plan.baseline.features().any(|f| f.name == "AVX512F"));
/// assert_eq!(plan.tier_threshold, maskcalc::plan::DEFAULT_TIER_THRESHOLD);
/// // One feature is below the default threshold: one tier for all.
/// assert_eq!(plan.tiers.len(), 1);
/// assert_eq!((plan.tier_of(2), plan.tier_of(3)), (Some(0), None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// The masks of the whole pool, hosts in the order given.
    pub masks: PoolMasks,
    /// The guest-visible features on every host of the pool.
    pub baseline: FeatureSet,
    /// One entry per host, ranked: highest cost first, then by host name,
    /// then in the order given.
    pub costs: Vec<HostCost>,
    /// The suggested tiers, in the order they were started (the richest first).
    pub tiers: Vec<Tier>,
    /// The threshold the tiers were built with (at least 1).
    pub tier_threshold: usize,
}

impl Plan {
    /// The tier a host belongs to (an index into [`Plan::tiers`]).
    pub fn tier_of(&self, host: usize) -> Option<usize> {
        self.tiers.iter().position(|t| t.hosts.contains(&host))
    }
}

/// True when a feature of this class counts as guest-visible.
fn counts(id: FeatureId, nested_hvm: bool) -> bool {
    let feature = cpuid_defs::feature(id);
    match feature.class {
        Class::Intersect => true,
        Class::OptIn => nested_hvm && matches!(feature.name, "VMX" | "SVM"),
        // A class added to cpuid-defs later counts only once this says so.
        Class::Accumulate | Class::Host | Class::Hidden | _ => false,
    }
}

/// The guest-visible features of a pool's masks: every countable feature
/// (class `intersect`, and VMX/SVM with nested HVM) that every host has and
/// the masks do not clear. This is the definition the plan's costs and
/// tiers use; masks without host values (a profile's) have an empty baseline.
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// use maskcalc::pool::{compute, PoolOptions};
/// let host = |name: &str, ecx: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x306f2, 0, ecx, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// // SSE3 on both, VMX (always masked without nested HVM) and AVX on one.
/// let masks = compute(&[host("a", 0x1000_0021), host("b", 1)], &PoolOptions::default()).unwrap();
/// let names: Vec<_> = maskcalc::plan::guest_baseline(&masks).features().map(|f| f.name).collect();
/// assert_eq!(names, ["SSE3"]);
/// ```
pub fn guest_baseline(masks: &PoolMasks) -> FeatureSet {
    let mut set = FeatureSet::new();
    for reg in &masks.registers {
        if reg.values.is_empty() {
            continue;
        }
        let common = reg.values.iter().fold(u32::MAX, |a, v| a & v) & !reg.clear;
        for feature in cpuid_defs::decode(reg.register, common) {
            if counts(feature.id, masks.nested_hvm) {
                set.insert(feature.id);
            }
        }
    }
    set
}

/// The plain leave-one-out computation: for each host (in the order given),
/// the guest baseline of the pool without it, by running
/// [`crate::pool::compute`] once per host. O(hosts² × registers); [`plan`]
/// gets the same sets in O(hosts × registers) (a property test checks it).
///
/// ```
/// use maskcalc::model::{CpuidInput, Host, HostCpuid};
/// let host = |name: &str, ecx1: u32, ebx7: u32| {
///     let mut cpuid = HostCpuid::default();
///     cpuid.leaves.insert(CpuidInput::new(0, 0), [7, 0x756e6547, 0x6c65746e, 0x49656e69]);
///     cpuid.leaves.insert(CpuidInput::new(1, 0), [0x50654, 0, ecx1, 0]);
///     cpuid.leaves.insert(CpuidInput::new(7, 0), [0, ebx7, 0, 0]);
///     Host { name: name.into(), cpuid }
/// };
/// use maskcalc::plan::{leave_one_out_by_recomputing, plan};
/// let hosts = [host("a", 0x1c00_0001, 0x10020), host("b", 0x1c00_0001, 0x10020), host("c", 0x1c00_0001, 0x20)];
/// let options = Default::default();
/// let plan = plan(&hosts, &options, &Default::default())?;
/// let without = leave_one_out_by_recomputing(&hosts, &options)?;
/// for cost in &plan.costs {
///     assert_eq!(without[cost.host].difference(&plan.baseline), cost.gains);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn leave_one_out_by_recomputing(
    hosts: &[Host],
    options: &PoolOptions,
) -> Result<Vec<FeatureSet>, PoolError> {
    (0..hosts.len())
        .map(|left| {
            let rest: Vec<Host> = hosts
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != left)
                .map(|(_, h)| h.clone())
                .collect();
            if rest.is_empty() {
                return Ok(FeatureSet::new());
            }
            pool::compute(&rest, options).map(|m| guest_baseline(&m))
        })
        .collect()
}

/// The feature at a bit and what it needs, within the compared registers.
#[derive(Debug)]
struct Needs {
    register: usize,
    bit: u32,
    /// Per register index, the bits of every feature it needs (directly or not).
    needs: Vec<(usize, u32)>,
}

/// The pool computation's rule, reduced to what decides a baseline: given
/// the AND and the OR of a set of hosts per compared register, which bits a
/// guest sees. Built once per pool from its options.
#[derive(Debug)]
struct Rule {
    registers: Vec<FeatureRegister>,
    ids: Vec<[Option<FeatureId>; 32]>,
    /// Bits that count as guest-visible.
    countable: Vec<u32>,
    /// Named bits that, when they differ, are cleared and take their dependents along.
    clear_when_differing: Vec<u32>,
    /// Bits cleared whatever the hosts say (hidden by request, VMX without nested HVM).
    always_cleared: Vec<u32>,
    /// SVM without nested HVM: cleared when any host has it.
    cleared_when_present: Vec<u32>,
    /// Bits kept by request: never cleared.
    kept: Vec<u32>,
    /// Countable, not kept features that need other features.
    dependents: Vec<Needs>,
}

impl Rule {
    fn new(masks: &PoolMasks, options: &PoolOptions) -> Rule {
        let registers: Vec<FeatureRegister> = masks.registers.iter().map(|r| r.register).collect();
        let n = registers.len();
        let index_of = |location: Location| {
            let (reg, bit) = location.register();
            registers
                .iter()
                .position(|r| *r == reg)
                .map(|i| (i, 1u32 << (bit & 31)))
        };
        let mut rule = Rule {
            ids: registers
                .iter()
                .map(|&reg| {
                    let mut ids = [None; 32];
                    for f in cpuid_defs::features_in(reg) {
                        ids[usize::from(f.location.register().1 & 31)] = Some(f.id);
                    }
                    ids
                })
                .collect(),
            registers: registers.clone(),
            countable: vec![0; n],
            clear_when_differing: vec![0; n],
            always_cleared: vec![0; n],
            cleared_when_present: vec![0; n],
            kept: vec![0; n],
            dependents: Vec::new(),
        };
        for &id in &options.keep {
            if let Some((r, bit)) = index_of(cpuid_defs::feature(id).location) {
                rule.kept[r] |= bit;
            }
        }
        for &id in &options.hide {
            if let Some((r, bit)) = index_of(cpuid_defs::feature(id).location) {
                rule.always_cleared[r] |= bit;
            }
        }
        if !options.nested_hvm {
            if let Some((r, bit)) = cpuid_defs::lookup("VMX").and_then(|f| index_of(f.location)) {
                rule.always_cleared[r] |= bit;
            }
            if let Some((r, bit)) = cpuid_defs::lookup("SVM").and_then(|f| index_of(f.location)) {
                rule.cleared_when_present[r] |= bit;
            }
        }
        for (r, &reg) in registers.iter().enumerate() {
            for f in cpuid_defs::features_in(reg) {
                let bit = 1u32 << (f.location.register().1 & 31);
                if !matches!(f.class, Class::Accumulate | Class::Host) {
                    rule.clear_when_differing[r] |= bit;
                }
                if !counts(f.id, options.nested_hvm) {
                    continue;
                }
                rule.countable[r] |= bit;
                if rule.kept[r] & bit != 0 {
                    continue;
                }
                let mut needs: Vec<(usize, u32)> = Vec::new();
                for dep in f.depends_closure().features() {
                    if let Some((dr, dbit)) = index_of(dep.location) {
                        match needs.iter_mut().find(|(x, _)| *x == dr) {
                            Some((_, m)) => *m |= dbit,
                            None => needs.push((dr, dbit)),
                        }
                    }
                }
                if !needs.is_empty() {
                    rule.dependents.push(Needs {
                        register: r,
                        bit,
                        needs,
                    });
                }
            }
        }
        rule
    }

    /// The bits a guest sees on a set of hosts whose registers AND to `and`
    /// and OR to `or`, into `out` (one word per compared register);
    /// `roots` is scratch space of the same length.
    fn visible_into(&self, and: &[u32], or: &[u32], roots: &mut [u32], out: &mut [u32]) {
        for r in 0..self.registers.len() {
            let differing = or[r] & !and[r];
            roots[r] = ((differing & self.clear_when_differing[r])
                | self.always_cleared[r]
                | (or[r] & self.cleared_when_present[r]))
                & !self.kept[r];
            out[r] = and[r] & self.countable[r] & !roots[r];
        }
        for d in &self.dependents {
            if out[d.register] & d.bit != 0 && d.needs.iter().any(|&(r, m)| roots[r] & m != 0) {
                out[d.register] &= !d.bit;
            }
        }
    }

    fn visible(&self, and: &[u32], or: &[u32]) -> Vec<u32> {
        let n = self.registers.len();
        let mut roots = vec![0; n];
        let mut out = vec![0; n];
        self.visible_into(and, or, &mut roots, &mut out);
        out
    }

    fn to_set(&self, bits: &[u32]) -> FeatureSet {
        let mut set = FeatureSet::new();
        for (ids, &word) in self.ids.iter().zip(bits) {
            let mut word = word;
            while word != 0 {
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                if let Some(Some(id)) = ids.get(bit) {
                    set.insert(*id);
                }
            }
        }
        set
    }
}

fn popcount_difference(a: &[u32], b: &[u32]) -> usize {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x & !y).count_ones() as usize)
        .sum()
}

/// The plan of a pool: the masks, the baseline, each host's cost (ranked)
/// and the suggested tiers. Fails as [`crate::pool::compute`] does.
///
/// ```
/// use maskcalc::model::Host;
/// use maskcalc::plan::{PlanOptions, plan};
/// use maskcalc::pool::PoolOptions;
/// let host = |file: &str| -> Result<Host, Box<dyn std::error::Error>> {
///     let bytes = std::fs::read(format!("../../testdata/cpuid/{file}"))?;
///     Ok(Host { name: file.into(), cpuid: maskcalc::dump::parse(file, &bytes, None)? })
/// };
/// let pool = [
///     host("intel-icelake-sp-xeon-gold-6330.txt")?,
///     host("intel-sapphirerapids-xeon-w9-3475x.txt")?,
///     host("intel-haswell-ep-xeon-e5-2699-v3.txt")?,
/// ];
/// let plan = plan(&pool, &PoolOptions::default(), &PlanOptions::default())?;
/// // The host that costs the pool most is ranked first: the oldest one.
/// let worst = &plan.costs[0];
/// assert_eq!(plan.masks.hosts[worst.host].name, "intel-haswell-ep-xeon-e5-2699-v3.txt");
/// assert!(!worst.gains.is_empty());
/// assert!(plan.tier_of(worst.host).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan(
    hosts: &[Host],
    options: &PoolOptions,
    plan_options: &PlanOptions,
) -> Result<Plan, PoolError> {
    let masks = pool::compute(hosts, options)?;
    let rule = Rule::new(&masks, options);
    let values = host_values(&masks);
    let pool = LeaveOneOut::new(&values, rule.registers.len());
    let pool_visible = pool.visible_all(&rule);
    let mut costs = host_costs(&rule, &values, &pool, &pool_visible);
    costs.sort_by(|a, b| {
        b.gains
            .len()
            .cmp(&a.gains.len())
            .then_with(|| masks.hosts[a.host].name.cmp(&masks.hosts[b.host].name))
            .then_with(|| a.host.cmp(&b.host))
    });

    let tiers = tiers(&rule, &values, &masks, hosts, options, plan_options)?;
    Ok(Plan {
        baseline: rule.to_set(&pool_visible),
        costs,
        tiers,
        tier_threshold: plan_options.tier_threshold.max(1),
        masks,
    })
}

/// Each host's value of each compared register: `values[host][register]`.
fn host_values(masks: &PoolMasks) -> Vec<Vec<u32>> {
    (0..masks.hosts.len())
        .map(|h| {
            masks
                .registers
                .iter()
                .map(|r| r.values.get(h).copied().unwrap_or(0))
                .collect()
        })
        .collect()
}

/// Prefix and suffix ANDs/ORs of the hosts' registers, so the AND and the
/// OR of the pool without host `h` is `prefix[h] op suffix[h + 1]`.
struct LeaveOneOut {
    prefix_and: Vec<Vec<u32>>,
    prefix_or: Vec<Vec<u32>>,
    suffix_and: Vec<Vec<u32>>,
    suffix_or: Vec<Vec<u32>>,
}

impl LeaveOneOut {
    fn new(values: &[Vec<u32>], n_regs: usize) -> LeaveOneOut {
        let n_hosts = values.len();
        let mut prefix_and = vec![vec![u32::MAX; n_regs]; n_hosts + 1];
        let mut prefix_or = vec![vec![0u32; n_regs]; n_hosts + 1];
        for h in 0..n_hosts {
            for r in 0..n_regs {
                prefix_and[h + 1][r] = prefix_and[h][r] & values[h][r];
                prefix_or[h + 1][r] = prefix_or[h][r] | values[h][r];
            }
        }
        let mut suffix_and = vec![vec![u32::MAX; n_regs]; n_hosts + 1];
        let mut suffix_or = vec![vec![0u32; n_regs]; n_hosts + 1];
        for h in (0..n_hosts).rev() {
            for r in 0..n_regs {
                suffix_and[h][r] = suffix_and[h + 1][r] & values[h][r];
                suffix_or[h][r] = suffix_or[h + 1][r] | values[h][r];
            }
        }
        LeaveOneOut {
            prefix_and,
            prefix_or,
            suffix_and,
            suffix_or,
        }
    }

    fn n_hosts(&self) -> usize {
        self.prefix_and.len() - 1
    }

    /// The bits a guest sees on every host of the pool.
    fn visible_all(&self, rule: &Rule) -> Vec<u32> {
        let n = self.n_hosts();
        rule.visible(&self.prefix_and[n], &self.prefix_or[n])
    }

    /// The AND and the OR of every host but `h`, into `and` and `or`.
    fn without(&self, h: usize, and: &mut [u32], or: &mut [u32]) {
        for r in 0..and.len() {
            and[r] = self.prefix_and[h][r] & self.suffix_and[h + 1][r];
            or[r] = self.prefix_or[h][r] | self.suffix_or[h + 1][r];
        }
    }
}

/// Each host's cost, in host order: what the others gain without it (over
/// `pool_visible`, what a guest sees on the whole pool), and the bits only
/// it lacks that do not count.
fn host_costs(
    rule: &Rule,
    values: &[Vec<u32>],
    pool: &LeaveOneOut,
    pool_visible: &[u32],
) -> Vec<HostCost> {
    let n_regs = rule.registers.len();
    let n_hosts = values.len();
    let mut and = vec![0u32; n_regs];
    let mut or = vec![0u32; n_regs];
    let mut roots = vec![0u32; n_regs];
    let mut visible = vec![0u32; n_regs];
    let mut costs = Vec::with_capacity(n_hosts);
    for (h, own) in values.iter().enumerate() {
        pool.without(h, &mut and, &mut or);
        let gained: Vec<u32> = if n_hosts > 1 {
            rule.visible_into(&and, &or, &mut roots, &mut visible);
            visible
                .iter()
                .zip(pool_visible)
                .map(|(v, p)| v & !p)
                .collect()
        } else {
            vec![0; n_regs]
        };
        let uncounted = if n_hosts < 2 {
            Vec::new()
        } else {
            uncounted(rule, &and, own, &gained)
        };
        costs.push(HostCost {
            host: h,
            gains: rule.to_set(&gained),
            uncounted,
        });
    }
    costs
}

/// The bits every other host has (`others_and`) and this one lacks that are
/// not among what the others would gain, with why each does not count.
fn uncounted(rule: &Rule, others_and: &[u32], own: &[u32], gained: &[u32]) -> Vec<Uncounted> {
    let mut uncounted = Vec::new();
    for r in 0..rule.registers.len() {
        let mut only_lacked = others_and[r] & !own[r] & !gained[r];
        while only_lacked != 0 {
            let bit = only_lacked.trailing_zeros() as u8;
            only_lacked &= only_lacked - 1;
            let feature = rule.ids[r][usize::from(bit)];
            let why = match feature {
                None => NotCounted::Unnamed,
                Some(_) if rule.countable[r] & (1 << bit) != 0 => NotCounted::StillMasked,
                Some(id) => NotCounted::Class(cpuid_defs::feature(id).class),
            };
            uncounted.push(Uncounted {
                location: location_of(rule.registers[r], bit),
                feature,
                why,
            });
        }
    }
    uncounted
}

/// First-fit tiering; see the module documentation.
fn tiers(
    rule: &Rule,
    values: &[Vec<u32>],
    masks: &PoolMasks,
    hosts: &[Host],
    options: &PoolOptions,
    plan_options: &PlanOptions,
) -> Result<Vec<Tier>, PoolError> {
    struct Building {
        hosts: Vec<usize>,
        and: Vec<u32>,
        or: Vec<u32>,
        first: Vec<u32>,
    }
    let threshold = plan_options.tier_threshold.max(1);
    let n_regs = rule.registers.len();
    let own: Vec<Vec<u32>> = values.iter().map(|v| rule.visible(v, v)).collect();
    let richness = |h: usize| own[h].iter().map(|w| w.count_ones()).sum::<u32>();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| {
        richness(b)
            .cmp(&richness(a))
            .then_with(|| masks.hosts[a].name.cmp(&masks.hosts[b].name))
            .then_with(|| a.cmp(&b))
    });
    let mut building: Vec<Building> = Vec::new();
    let mut and = vec![0u32; n_regs];
    let mut or = vec![0u32; n_regs];
    let mut roots = vec![0u32; n_regs];
    let mut visible = vec![0u32; n_regs];
    for h in order {
        let mut joined = false;
        for tier in &mut building {
            for r in 0..n_regs {
                and[r] = tier.and[r] & values[h][r];
                or[r] = tier.or[r] | values[h][r];
            }
            rule.visible_into(&and, &or, &mut roots, &mut visible);
            if popcount_difference(&tier.first, &visible) < threshold {
                tier.hosts.push(h);
                tier.and.copy_from_slice(&and);
                tier.or.copy_from_slice(&or);
                joined = true;
                break;
            }
        }
        if !joined {
            building.push(Building {
                hosts: vec![h],
                and: values[h].clone(),
                or: values[h].clone(),
                first: own[h].clone(),
            });
        }
    }
    building
        .into_iter()
        .map(|t| {
            let members: Vec<Host> = t.hosts.iter().map(|&h| hosts[h].clone()).collect();
            let tier_masks = pool::compute(&members, options)?;
            Ok(Tier {
                baseline: rule.to_set(&rule.visible(&t.and, &t.or)),
                hosts: t.hosts,
                masks: tier_masks,
            })
        })
        .collect()
}

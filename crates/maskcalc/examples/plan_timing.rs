//! Times the pool plan against the plain leave-one-out computation on the
//! dumps given as arguments, after checking that both find the same costs.
//!
//! `cargo xtask bench plan` runs it (release build) on generated pools; it
//! prints one line: `hosts=N compute_ms=… plan_ms=… recompute_ms=…`, each the
//! median of a few runs (the recomputation only once above 500 hosts, as
//! it is quadratic).
//!
//!     cargo run --release -p maskcalc --example plan_timing -- testdata/cpuid/intel-*.txt

use std::io::Write as _;
use std::time::{Duration, Instant};

use maskcalc::model::Host;
use maskcalc::plan::{PlanOptions, leave_one_out_by_recomputing, plan};
use maskcalc::pool::{PoolOptions, compute};

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), String> {
    let mut hosts = Vec::new();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        let cpuid = maskcalc::dump::parse(&path, &bytes, None).map_err(|e| e.to_string())?;
        hosts.push(Host { name: path, cpuid });
    }
    let options = PoolOptions::default();
    let plan_options = PlanOptions::default();
    let fast = plan(&hosts, &options, &plan_options).map_err(|e| e.to_string())?;
    let plain = leave_one_out_by_recomputing(&hosts, &options).map_err(|e| e.to_string())?;
    for cost in &fast.costs {
        let expected = plain[cost.host].difference(&fast.baseline);
        if cost.gains != expected {
            return Err(format!(
                "{}: the plan says {:?}, recomputing says {expected:?}",
                hosts[cost.host].name, cost.gains
            ));
        }
    }
    let runs = 7;
    let compute_time = median(runs, || {
        let _ = compute(&hosts, &options);
    });
    let plan_time = median(runs, || {
        let _ = plan(&hosts, &options, &plan_options);
    });
    let recompute_runs = if hosts.len() > 500 { 1 } else { 3 };
    let recompute_time = median(recompute_runs, || {
        let _ = leave_one_out_by_recomputing(&hosts, &options);
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // A print macro panics on a closed pipe; write, and report the error.
    writeln!(
        std::io::stdout().lock(),
        "hosts={} compute_ms={:.3} plan_ms={:.3} recompute_ms={:.3} tiers={}",
        hosts.len(),
        ms(compute_time),
        ms(plan_time),
        ms(recompute_time),
        fast.tiers.len()
    )
    .map_err(|e| format!("standard output: {e}"))
}

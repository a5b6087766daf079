//! The work of `xen-maskcalc` once its hosts are loaded: the pool's masks
//! rendered as the options ask, and what goes to standard error. Shared by
//! the binary and by libxenmig (`crates/capi`), so that both print the same
//! bytes and stop with the same exit code.

use maskcalc::consumer::{Consumer, GuestCpu};
use maskcalc::model::Host;
use maskcalc::plan;
use maskcalc::pool::{self, PoolOptions};
use maskcalc::render;

use crate::Failure;
use crate::args::xen_maskcalc::{Args, NAME as TOOL, OutputFormat};
use crate::consumers::ConsumerSetup;

/// What `xen-maskcalc` prints.
#[derive(Debug)]
pub struct Printed {
    /// Standard output: the masks, the diff or the plan.
    pub stdout: String,
    /// True for `--diff`, a report (a closed pipe is not a failure); false
    /// for masks and plans, which are data.
    pub is_report: bool,
    /// With `-v`, the consumer releases the output is written for (`writing
    /// for QEMU 7.2 (…)`), without the `xen-maskcalc: ` prefix; printed
    /// before anything else on standard error.
    pub consumers: Vec<String>,
    /// Note lines (`xl` written in the xend syntax, and why), without the
    /// `xen-maskcalc: note: ` prefix; printed before the warnings.
    pub notes: Vec<String>,
    /// Warning lines, without the `xen-maskcalc: warning: ` prefix.
    pub warnings: Vec<String>,
    /// Written to standard error as it is, after the warnings: `-v`'s
    /// explanation when standard output holds another format.
    pub explanation: Option<String>,
}

/// The pool options of the command line: `--hide` and `--keep` resolved
/// to features (an unknown name is a usage error).
pub fn pool_options(args: &Args) -> Result<PoolOptions, Failure> {
    let mut options = PoolOptions::default();
    options.nested_hvm = args.nested_hvm;
    options.hide = resolve_names(&args.hide)?;
    options.keep = resolve_names(&args.keep)?;
    options.allow_mixed_vendors = args.allow_mixed_vendors;
    Ok(options)
}

fn resolve_names(names: &[String]) -> Result<Vec<cpuid_defs::FeatureId>, Failure> {
    names
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            pool::resolve_feature(n).map_err(|e| match e.kind {
                pool::PoolErrorKind::UnknownFeature {
                    suggestion: None, ..
                } => Failure::usage_or_io(format!(
                    "unknown CPUID feature `{n}`; `cpuid-features list` shows every name"
                )),
                _ => Failure::usage_or_io(e),
            })
        })
        .collect()
}

/// Computes and renders the masks of `hosts` as `args` asks; `colour`
/// says whether `--diff` may colour its output.
pub fn compute(
    args: &Args,
    options: &PoolOptions,
    hosts: &[Host],
    colour: bool,
) -> Result<Printed, Failure> {
    if hosts.len() < 2 {
        return Err(Failure::bad_input(
            "Need at least 2 files to do the comparison!",
        ));
    }
    let format = if args.json {
        OutputFormat::Json
    } else {
        args.format
    };
    let mut plan_options = plan::PlanOptions::default();
    plan_options.tier_threshold = args.tier_threshold;
    // The plan computes the pool's masks too: with --plan, they are not computed twice.
    let planned = if args.plan && !args.diff {
        Some(plan::plan(hosts, options, &plan_options).map_err(pool_failure)?)
    } else {
        None
    };
    let computed;
    let masks = match &planned {
        Some(plan) => &plan.masks,
        None => {
            computed = pool::compute(hosts, options).map_err(pool_failure)?;
            &computed
        }
    };
    let needed = consumers_needed(args, format);
    let setup = ConsumerSetup::new(&args.consumers, needed)?;
    let consumers = if args.verbose {
        needed.iter().map(|c| setup.describe(*c)).collect()
    } else {
        Vec::new()
    };
    let targets = setup.targets();
    let mut output = Output::default();
    if args.diff {
        output.stdout = if args.json {
            render::diff_json(masks)
        } else {
            render::diff(masks, colour)
        };
    } else if let Some(plan) = &planned {
        output.stdout = if args.json {
            render::plan_json(plan, &targets)
        } else {
            render::plan_text(plan, &targets)
        };
    } else {
        let pool = Pool {
            hosts,
            options,
            plan_options: &plan_options,
            masks,
        };
        output = render_masks(&pool, format, args.verbose, &targets)?;
    }
    if !args.diff {
        for feature in masks.hidden_but_not_compared() {
            output.warnings.push(format!(
                "not in the output: {} (--hide): {} is not compared, as some dumps do not carry it",
                feature.name,
                feature.location.register().0
            ));
        }
    }
    Ok(Printed {
        stdout: output.stdout,
        is_report: args.diff,
        consumers,
        notes: output.notes,
        warnings: output.warnings,
        explanation: explanation(args, format, masks),
    })
}

/// A pool failure as the command line reports it: the library's messages
/// know no flags, so the flags are named here.
fn pool_failure(e: pool::PoolError) -> Failure {
    match e.kind {
        pool::PoolErrorKind::HiddenAndKept(name) => Failure::usage_or_io(format!(
            "{name} is both hidden and kept; expected each feature in at most one of --hide and --keep"
        )),
        pool::PoolErrorKind::MixedVendors(_) => Failure::bad_input(format!(
            "{e}; pass --allow-mixed-vendors to compute a mask anyway"
        )),
        pool::PoolErrorKind::UnknownFeature { .. } => Failure::usage_or_io(e),
        _ => Failure::bad_input(e),
    }
}

/// The consumers whose releases the output of `format` depends on.
fn consumers_needed(args: &Args, format: OutputFormat) -> &'static [Consumer] {
    match format {
        _ if args.diff => &[],
        _ if args.plan => &[Consumer::Xl],
        OutputFormat::Xl => &[Consumer::Xl],
        OutputFormat::Qemu => &[Consumer::Qemu],
        OutputFormat::Libvirt => &[Consumer::Libvirt, Consumer::Qemu],
        OutputFormat::Html => &[Consumer::Xl, Consumer::Libvirt, Consumer::Qemu],
        _ => &[],
    }
}

/// The hosts of a pool, what was asked of it, and its masks.
struct Pool<'a> {
    hosts: &'a [Host],
    options: &'a PoolOptions,
    plan_options: &'a plan::PlanOptions,
    masks: &'a pool::PoolMasks,
}

/// Standard output and the lines for standard error that come with it.
#[derive(Default)]
struct Output {
    stdout: String,
    notes: Vec<String>,
    warnings: Vec<String>,
}

/// The masks in `format` (neither `--diff` nor `--plan`), with the
/// warnings and notes of the renderer.
fn render_masks(
    pool: &Pool<'_>,
    format: OutputFormat,
    verbose: bool,
    targets: &maskcalc::consumer::Targets<'_>,
) -> Result<Output, Failure> {
    let Pool { hosts, masks, .. } = *pool;
    let mut output = Output::default();
    if format == OutputFormat::Xend {
        output.warnings = render::xend_missing_leaves(masks, hosts)
            .into_iter()
            .map(|w| format!("{w}; use --format xl"))
            .collect();
    }
    let guest = GuestCpu::from_masks(masks);
    let mut rendered = |r: render::Rendered| {
        if r.text.starts_with("cpuid = [") {
            // xl fell back to the xend list: it has xend's limits.
            output.warnings = render::xend_missing_leaves(masks, hosts);
        }
        output.warnings.extend(
            r.omitted
                .into_iter()
                .map(|line| format!("not in the output: {line}")),
        );
        output.notes = r.notes;
        r.text
    };
    let stdout = match format {
        OutputFormat::Xend if verbose => render::xend_verbose(masks),
        OutputFormat::Xend => render::xend(masks),
        OutputFormat::Xl => rendered(render::xl(masks, targets)),
        OutputFormat::Libvirt => rendered(render::libvirt(masks, &guest, targets)),
        OutputFormat::Qemu => rendered(render::qemu(masks, &guest, targets)),
        OutputFormat::Firecracker => rendered(render::firecracker(masks)),
        OutputFormat::Json => render::json(masks),
        OutputFormat::Html => {
            // The page shows the plan, whose own pool computation is the same as `masks`.
            let plan = plan::plan(hosts, pool.options, pool.plan_options).map_err(pool_failure)?;
            let generator = format!("{TOOL} {}", env!("CARGO_PKG_VERSION"));
            render::html::pool_page(&plan, hosts, &generator, targets)
        }
    };
    output.stdout = stdout;
    Ok(output)
}

/// `-v`'s explanation, when standard output holds another format than
/// xend's (whose verbose form explains itself) and is not `--diff`.
fn explanation(args: &Args, format: OutputFormat, masks: &pool::PoolMasks) -> Option<String> {
    let explain_elsewhere =
        args.verbose && (args.diff || args.json || args.format != OutputFormat::Xend);
    // A KVM output withholds the accumulate features not every host has:
    // the explanation says so, as the output does.
    let kvm = !args.plan
        && matches!(
            format,
            OutputFormat::Qemu | OutputFormat::Libvirt | OutputFormat::Firecracker
        );
    (explain_elsewhere && !args.diff).then(|| {
        if kvm {
            render::explain(&masks.for_kvm())
        } else {
            render::explain(masks)
        }
    })
}

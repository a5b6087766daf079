//! Every CPUID dump parser, detected and forced, on arbitrary bytes; what
//! parses goes through the pool computation, every renderer, the pool plan
//! and the HTML page.

#![no_main]

use libfuzzer_sys::fuzz_target;
use maskcalc::dump::{self, Format};
use maskcalc::model::Host;
use maskcalc::{pool, render};

fuzz_target!(|data: &[u8]| {
    let mut parsed = Vec::new();
    for format in [None].into_iter().chain(Format::ALL.into_iter().map(Some)) {
        match dump::parse("fuzz", data, format) {
            Ok(cpuid) => parsed.push(Host {
                name: "fuzz".into(),
                cpuid,
            }),
            Err(err) => {
                assert_eq!(err.file, "fuzz");
                let _ = err.to_string();
            }
        }
    }
    if let Some(first) = parsed.first() {
        let mut other = first.clone();
        other.name = "other".into();
        // A second host with a different feature word exercises masks and reasons.
        if let Some(regs) = other
            .cpuid
            .leaves
            .get_mut(&maskcalc::model::CpuidInput::new(7, 0))
        {
            regs[1] ^= 0x0001_0020;
        }
        let mut options = pool::PoolOptions::default();
        options.allow_mixed_vendors = true;
        let hosts = [first.clone(), other];
        if let Ok(plan) = maskcalc::plan::plan(&hosts, &options, &Default::default()) {
            let targets = maskcalc::consumer::Targets::newest();
            let _ = render::plan_text(&plan, &targets);
            let _ = render::plan_json(&plan, &targets);
            let _ = render::html::pool_page(&plan, &hosts, "fuzz", &targets);
        }
        if let Ok(masks) = pool::compute(&hosts, &options) {
            let _ = render::xend_verbose(&masks);
            let guest = maskcalc::consumer::GuestCpu::from_masks(&masks);
            let mut targets = maskcalc::consumer::Targets::newest();
            let _ = render::xl(&masks, &targets);
            let _ = render::libvirt(&masks, &guest, &targets);
            let _ = render::qemu(&masks, &guest, &targets);
            targets.cpu_mode = maskcalc::consumer::CpuMode::Passthrough;
            targets.xen = maskcalc::consumer::Release::builtin(
                maskcalc::consumer::Consumer::Xl,
                maskcalc::consumer::Version::new(4, 14),
            );
            let _ = render::xl(&masks, &targets);
            let _ = render::libvirt(&masks, &guest, &targets);
            let _ = render::qemu(&masks, &guest, &targets);
            let _ = render::firecracker(&masks);
            let _ = render::json(&masks);
            let _ = render::diff(&masks, true);
        }
    }
});

//! `check --stream`'s reader on arbitrary bytes: the policy records of a
//! stream of any layer, turned into a profile and checked against a host.

#![no_main]

use cpu_profile::check;
use cpu_profile::stream::{guest_profile, read_policy};
use libfuzzer_sys::fuzz_target;
use maskcalc::model::{CpuidInput, Host, HostCpuid};
use migration_stream::StreamReader;

fuzz_target!(|data: &[u8]| {
    let policy = match read_policy(StreamReader::new(data)) {
        Ok(policy) => policy,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    let Some(cpuid) = &policy.cpuid else { return };
    let Some(profile) = guest_profile("fuzz", cpuid) else { return };
    // The guest's own CPUID fits its profile: every defined bit is the guest's.
    let own = Host { name: "own".into(), cpuid: cpuid.clone() };
    let report = check::check(&profile, &own);
    assert!(
        report.problems.iter().all(|p| matches!(p, check::Problem::Vendor { .. })),
        "{:?}",
        report.problems
    );
    let mut other = HostCpuid::default();
    other.leaves.insert(CpuidInput::new(0, 0), [0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]);
    let _ = check::reports_json("fuzz", &[check::check(&profile, &Host { name: "other".into(), cpuid: other })]);
});

//! CPUID masks, pool baselines and compatibility checks for migrating guests across unlike hosts.

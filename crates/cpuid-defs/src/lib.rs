//! The x86 CPUID feature knowledge base: bit positions, names across ecosystems, migration policy and dependencies.
#![no_std]

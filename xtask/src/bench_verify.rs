//! `cargo xtask bench verify`: the verifier's throughput and memory against `cat`.

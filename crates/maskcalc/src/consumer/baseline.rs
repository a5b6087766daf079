//! Named-model baselines.

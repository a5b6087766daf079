//! Converts pre-Xen-4.6 (legacy) save images into v2 migration streams.

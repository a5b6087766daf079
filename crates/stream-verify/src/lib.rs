//! Checks a Xen migration stream against the libxc/libxl specifications.

//! Typed model of the Xen migration stream formats (libxc v2/v3, libxl v2, xl save header) with a streaming reader and writer.

//! Converts pre-Xen-4.6 (legacy) save images into v2 migration streams.
//!
//! * [`format`](mod@format): the numbers and shapes of the legacy format;
//! * [`reader`]: a streaming, constant-memory parser of legacy images;
//! * [`probe`]: toolstack width and guest type detection;
//! * [`convert`](mod@convert): legacy image → libxc or libxl v2 stream;
//! * [`writer`]: a legacy image writer, for tests, fuzzing and benchmarks.
//!
//! The legacy format is described in `docs/legacy-format.md`.

pub mod convert;
pub mod error;
pub mod format;
mod physmap;
pub mod probe;
pub mod reader;
pub mod writer;

pub use convert::{Observer, Options, OutputFormat, Summary, convert};
pub use error::Error;

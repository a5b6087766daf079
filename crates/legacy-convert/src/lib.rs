//! Converts pre-Xen-4.6 (legacy) save images into v2 migration streams.
//!
//! * [`format`](mod@format): the numbers and shapes of the legacy format;
//! * [`reader`]: a streaming, constant-memory parser of legacy images;
//! * [`probe`]: toolstack width and guest type detection;
//! * [`convert`](mod@convert): legacy image → libxc or libxl v2 stream;
//! * [`writer`]: a legacy image writer, for tests, fuzzing and benchmarks;
//! * [`wire`]: the legacy format's byte layouts, the one module where bytes
//!   of a legacy image become fields (v2 bytes come from `migration_stream`);
//! * [`error`]: one error shape, a kind plus where.
//!
//! The legacy format is described in `docs/legacy-format.md`.

pub mod convert;
pub mod error;
pub mod format;
pub mod physmap;
pub mod probe;
pub mod reader;
pub mod wire;
pub mod writer;

pub use convert::{Observer, Options, OutputFormat, Summary, convert, convert_source};
pub use error::{Error, ErrorKind};

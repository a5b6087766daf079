//! Checks a Xen migration stream against the libxc/libxl specifications.
//!
//! The verifier walks an xl save file, a libxl stream or a bare libxc stream
//! in one pass and in constant memory (one 128 KiB read buffer and a few small
//! fixed buffers, whatever the stream's lengths say), applying every rule
//! Xen's `verify-stream-v2` applies and the ones it misses (see [`Rule`] and
//! `docs/verify-rules.md`). It stops at the first broken rule and returns a
//! [`Report`]: a summary of the stream, warnings, and the [`Violation`].
//!
//! With a verbose sink it also produces upstream's `-v` lines (same wording,
//! same order) for the records upstream knows; the library never prints.
//!
//! ```
//! use stream_verify::{Format, verify};
//!
//! // Not a stream at all: the first bytes say neither xl, libxl nor libxc.
//! let report = verify(&b"garbage!"[..], Format::Auto, None);
//! assert!(!report.is_valid());
//! assert_eq!(report.error.unwrap().rule().id(), "stream.format");
//!
//! // A libxc stream: image header, domain header (HVM, Xen 4.17),
//! // STATIC_DATA_END, END; verbose lines go to a closure.
//! use migration_stream::Writer;
//! use migration_stream::types::{DomainType, RecordType};
//! use migration_stream::wire::{DomainHeader, ImageHeader};
//! let mut w = Writer::new(Vec::new());
//! w.write_image_header(&ImageHeader::new(3))?;
//! w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 17))?;
//! w.write_record(RecordType::STATIC_DATA_END.0, &[])?;
//! w.write_record(RecordType::END.0, &[])?;
//! let stream = w.into_inner();
//! let mut lines = Vec::new();
//! let mut sink = |line: &str| lines.push(line.to_owned());
//! let report = verify(&stream[..], Format::Auto, Some(&mut sink));
//! assert!(report.is_valid(), "{:?}", report.error);
//! use stream_verify::report::XenVersion;
//! assert_eq!(report.xen_version, Some(XenVersion { major: 4, minor: 17 }));
//! assert_eq!(lines[1], "Domain Header: x86 HVM from Xen 4.17");
//! # Ok::<(), std::io::Error>(())
//! ```

mod engine;
pub mod report;
pub mod rules;

pub use report::{Place, ReadError, Report, Violation, Warning};
pub use rules::{Breach, Rule, RuleSource};

use std::io::{Read, Seek};

use migration_stream::source::{ByteSource, Seekable, Sequential, Spliced};

/// Which layer the stream starts with.
///
/// ```
/// use stream_verify::{Format, verify};
/// let stream = std::fs::read("../../testdata/streams/xl-pv-v3.bin")?;
/// assert!(verify(&stream[..], Format::Auto, None).is_valid());
/// assert!(verify(&stream[..], Format::Xl, None).is_valid());
/// // Read as a bare libxc stream, an xl save file does not start with an image header.
/// assert!(!verify(&stream[..], Format::Libxc, None).is_valid());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Tell from the first bytes: the xl magic, `LibxlFmt`, or the libxc marker.
    #[default]
    Auto,
    /// A bare libxc stream (image header first).
    Libxc,
    /// A libxl stream (`LibxlFmt` header first).
    Libxl,
    /// An xl save file: xl header, then libxl (STREAMv2) or libxc.
    Xl,
}

/// How to verify: the outer format, and where to stop reading.
///
/// A [`Format`] converts into the default options for it, so the `verify*`
/// functions take either.
///
/// ```
/// use stream_verify::{Format, Options, verify};
///
/// // A bare libxc stream (HVM, v2, no records but END), then protocol bytes
/// // that are not part of it.
/// use migration_stream::Writer;
/// use migration_stream::types::{DomainType, RecordType};
/// use migration_stream::wire::{DomainHeader, ImageHeader};
/// let mut w = Writer::new(Vec::new());
/// w.write_image_header(&ImageHeader::new(2))?;
/// w.write_domain_header(&DomainHeader::new(DomainType::X86_HVM, 4, 17))?;
/// w.write_record(RecordType::END.0, &[])?;
/// let mut input = w.into_inner();
/// let end = input.len() as u64;
/// input.extend_from_slice(b"domain received, ready to unpause");
///
/// let to_eof = verify(&input[..], Format::Auto, None);
/// assert_eq!(to_eof.error.unwrap().rule().id(), "stream.trailing-data");
///
/// let mut options = Options::from(Format::Auto);
/// options.stop_at_end = true;
/// let at_end = verify(&input[..], options, None);
/// assert!(at_end.is_valid());
/// assert_eq!(at_end.bytes, end);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Options {
    /// Which layer the stream starts with.
    pub format: Format,
    /// Stop at the final END record, as Xen's script does, instead of reading
    /// on to the end of the input. Data after END (including the raw qemu
    /// record a converted legacy stream carries) is then neither read nor
    /// checked; this is for a descriptor whose writer keeps it open after the
    /// stream, such as a migration socket.
    pub stop_at_end: bool,
}

impl From<Format> for Options {
    fn from(format: Format) -> Options {
        Options {
            format,
            stop_at_end: false,
        }
    }
}

/// Verifies a stream read in order (a pipe, a socket, a slice): page data and
/// other opaque bodies are read and discarded.
///
/// `verbose`, when given, receives upstream's `-v` summary lines one by one.
///
/// ```
/// use stream_verify::{Format, verify};
/// let file = std::fs::File::open("../../testdata/streams/libxl-hvm-v3.bin")?;
/// let mut lines = Vec::new();
/// let report = verify(file, Format::Auto, Some(&mut |line: &str| lines.push(line.to_owned())));
/// assert!(report.is_valid(), "{:?}", report.error);
/// assert!(lines.iter().any(|l| l.starts_with("Libxl Record: ")), "{lines:?}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn verify<R: Read>(
    input: R,
    options: impl Into<Options>,
    verbose: Option<&mut dyn FnMut(&str)>,
) -> Report {
    run(Sequential::new(input), options.into(), verbose)
}

fn run<S: ByteSource>(
    source: S,
    options: Options,
    verbose: Option<&mut dyn FnMut(&str)>,
) -> Report {
    let mut engine = engine::Engine::new(source, verbose);
    engine.run(options);
    engine.report
}

/// Verifies a pipe, socket or character device: like [`verify`], but page
/// data and other skipped bodies are spliced into `/dev/null` by the kernel
/// instead of being copied through user space. Falls back to [`verify`] when
/// `/dev/null` cannot be opened.
///
/// ```
/// use std::io::Write;
/// use stream_verify::{Format, verify_pipe};
/// let stream = std::fs::read("../../testdata/streams/libxc-pv-v3.bin")?;
/// let (reader, mut writer) = std::io::pipe()?;
/// let feeder = std::thread::spawn(move || writer.write_all(&stream));
/// let input = std::fs::File::from(std::os::fd::OwnedFd::from(reader));
/// let report = verify_pipe(input, Format::Auto, None);
/// feeder.join().unwrap()?;
/// assert!(report.is_valid(), "{:?}", report.error);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn verify_pipe(
    input: std::fs::File,
    options: impl Into<Options>,
    verbose: Option<&mut dyn FnMut(&str)>,
) -> Report {
    let options = options.into();
    match Spliced::new(input) {
        Ok(source) => run(source, options, verbose),
        Err(no_null) => verify(no_null.inner, options, verbose),
    }
}

/// Verifies a regular file from its current position, seeking over page data
/// and other opaque bodies instead of reading them.
///
/// ```
/// use stream_verify::{Format, verify_seekable};
/// let report = verify_seekable(std::io::Cursor::new(vec![0u8; 3]), Format::Libxc, None);
/// assert_eq!(report.error.unwrap().rule().id(), "stream.truncated");
/// ```
pub fn verify_seekable<R: Read + Seek>(
    input: R,
    options: impl Into<Options>,
    verbose: Option<&mut dyn FnMut(&str)>,
) -> Report {
    match Seekable::new(input) {
        Ok(source) => run(source, options.into(), verbose),
        Err(unmeasured) => Report {
            io_error: Some(ReadError::unmeasured(&unmeasured.error)),
            ..Report::default()
        },
    }
}

//! The state machine that walks a stream layer by layer and applies every rule.
//!
//! One [`Engine`] holds the input, the report being built and what each layer
//! has learnt so far; its methods are spread over one module per part of the
//! stream, in the order a stream meets them:
//!
//! * [`detect`]: which layer the first bytes start, and what a header that
//!   is not the one expected looks like instead;
//! * [`xl`]: the xl save header;
//! * [`libxl`]: the libxl header and records, with the emulator records and
//!   their xenstore data ([`xenstore`]);
//! * [`libxc`]: the image and domain headers, the record loop and the small
//!   records; [`page_data`], [`pv`] (X86_PV_INFO, P2M frames, vCPUs),
//!   [`hvm`] (HVM_CONTEXT, HVM_PARAMS) and [`policy`] (CPUID and MSR
//!   policies) for the rest;
//! * [`trailing`]: what may follow the final END;
//! * [`tally`]: the per-type counters, published into the report at the end.
//!
//! Bodies are never held whole: each record is consumed in order through small
//! fixed buffers (headers, pfn arrays in chunks, policy entries in chunks,
//! xenstore strings of bounded length), and page data and opaque blobs are
//! skipped, by seeking when the input is a regular file. The bytes come
//! through `migration_stream::source` and become fields only through the
//! `migration_stream::wire` structures; every message comes from the
//! catalogue (`crate::rules::Breach`).

mod detect;
mod hvm;
mod libxc;
mod libxl;
mod page_data;
mod policy;
mod pv;
mod tally;
mod trailing;
mod xenstore;
mod xl;

use crate::report::{Place, ReadError, Report, Violation};
use crate::rules::Breach;
use crate::{Format, Options};
use migration_stream::StreamFormat;
use migration_stream::source::{ByteSource, Input, InputError};
use migration_stream::types::DomainType;
use migration_stream::wire::{RecordHeader, padding_for};
use std::io;
use zerocopy::{FromBytes, IntoBytes};

/// Why the walk stopped early.
pub(crate) enum Stop {
    /// The stream broke a rule.
    Broken(Box<Violation>),
    /// The operating system failed us.
    Io(io::Error),
}

/// The outcome of one step of the walk.
type Step<T = ()> = Result<T, Stop>;

/// Where an error is reported: the record or header being read (set for
/// every record, so it must not allocate: a [`Place`] is named only when a
/// message needs it).
struct Location {
    offset: u64,
    index: Option<u64>,
    kind: Place,
}

/// What the libxc layer has learnt so far.
#[derive(Default)]
struct LibxcState {
    /// Image version (2 or 3) once the image header is read.
    version: u32,
    domain: Option<DomainType>,
    /// The domain header says Xen version 0: made by the legacy converter.
    legacy_converted: bool,
    /// The libxc stream is inside a libxl stream (checkpoints are allowed).
    in_libxl: bool,
    sde_seen: bool,
    /// PAGE_DATA records in a row, for upstream's "Squashed" line.
    squashed: u64,
}

/// What the libxl layer has learnt so far.
#[derive(Default)]
struct LibxlState {
    libxc_context_seen: bool,
    /// A libxc CHECKPOINT handed control back: CHECKPOINT_END must come.
    awaiting_checkpoint_end: bool,
}

type Verbose<'a> = Option<&'a mut dyn FnMut(&str)>;

pub(crate) struct Engine<'a, S> {
    input: Input<S>,
    verbose: Verbose<'a>,
    pub(crate) report: Report,
    place: Location,
    next_index: u64,
    /// Bytes of the current record's body not read yet.
    body_left: u64,
    libxc: LibxcState,
    pv: pv::PvState,
    libxl: LibxlState,
    pages: page_data::Scratch,
    tally: tally::Tally,
}

impl<'a, S: ByteSource> Engine<'a, S> {
    pub(crate) fn new(source: S, verbose: Verbose<'a>) -> Self {
        Engine {
            input: Input::new(source),
            verbose,
            report: Report::default(),
            place: Location {
                offset: 0,
                index: None,
                kind: Place::Stream,
            },
            next_index: 0,
            body_left: 0,
            libxc: LibxcState::default(),
            pv: pv::PvState::default(),
            libxl: LibxlState::default(),
            pages: page_data::Scratch::default(),
            tally: tally::Tally::default(),
        }
    }

    /// Walks the whole stream; the outcome lands in `self.report`.
    pub(crate) fn run(&mut self, options: Options) {
        let outcome = self.walk(options);
        self.report.bytes = self.input.offset();
        self.tally.publish(&mut self.report);
        match outcome {
            Ok(()) => {}
            Err(Stop::Broken(violation)) => self.report.error = Some(*violation),
            Err(Stop::Io(err)) => {
                self.report.io_error = Some(ReadError::at(self.input.offset(), &err));
            }
        }
    }

    fn walk(&mut self, options: Options) -> Step {
        let format = match options.format {
            Format::Auto => self.detect()?,
            other => other,
        };
        let cut_at_checkpoint = match format {
            Format::Xl => {
                self.report.format = Some(StreamFormat::Xl);
                if self.xl_header()? {
                    self.libxl_stream()?
                } else {
                    self.libxc_stream()?;
                    false
                }
            }
            Format::Libxl => {
                self.report.format = Some(StreamFormat::Libxl);
                self.libxl_stream()?
            }
            Format::Libxc | Format::Auto => {
                self.report.format = Some(StreamFormat::Libxc);
                self.libxc_stream()?;
                false
            }
        };
        self.flush_squashed();
        if cut_at_checkpoint || options.stop_at_end {
            return Ok(());
        }
        self.trailing_data()
    }

    // ----- what the report and the verbose lines get ----------------------------------

    fn info(&mut self, line: impl FnOnce() -> String) {
        if let Some(sink) = self.verbose.as_mut() {
            sink(&line());
        }
    }

    fn warn(&mut self, message: String) {
        if let Some(sink) = self.verbose.as_mut() {
            sink(&format!("Warning: {message}"));
        }
        self.report
            .warn(self.place.offset, self.place.index, message);
    }

    /// Stops the walk: the stream broke a rule at the current place.
    fn broken<T>(&self, breach: Breach) -> Step<T> {
        Err(self.violation(breach))
    }

    fn violation(&self, breach: Breach) -> Stop {
        Stop::Broken(Box::new(Violation::new(
            breach,
            self.place.offset,
            self.place.index,
            self.place.kind,
        )))
    }

    fn input_error(&self, err: InputError) -> Stop {
        match err {
            InputError::Io(err) => Stop::Io(err),
            InputError::Truncated { offset, wanted } => {
                self.violation(Breach::Truncated { wanted, at: offset })
            }
            // A failure migration-stream learns to tell apart later is still
            // a failure to read: stop as for any other I/O error.
            other => Stop::Io(other.into()),
        }
    }

    fn set_place(&mut self, kind: Place, index: Option<u64>) {
        self.place = Location {
            offset: self.input.offset(),
            index,
            kind,
        };
    }

    // ----- reading ---------------------------------------------------------------------

    fn read_exact(&mut self, out: &mut [u8]) -> Step {
        self.input.read_exact(out).map_err(|e| self.input_error(e))
    }

    /// Reads one wire structure.
    fn read_wire<T: FromBytes + IntoBytes>(&mut self) -> Step<T> {
        let mut value = T::new_zeroed();
        self.read_exact(value.as_mut_bytes())?;
        Ok(value)
    }

    fn skip(&mut self, n: u64) -> Step {
        self.input.skip(n).map_err(|e| self.input_error(e))
    }

    fn at_end(&mut self) -> Step<bool> {
        self.input.at_end().map_err(|e| self.input_error(e))
    }

    /// Reads the next `out.len()` bytes of the current record body.
    fn body(&mut self, out: &mut [u8]) -> Step {
        debug_assert!(out.len() as u64 <= self.body_left);
        self.read_exact(out)?;
        self.body_left -= out.len() as u64;
        Ok(())
    }

    /// Reads one wire structure from the current record body.
    fn body_wire<T: FromBytes + IntoBytes>(&mut self) -> Step<T> {
        let mut value = T::new_zeroed();
        self.body(value.as_mut_bytes())?;
        Ok(value)
    }

    /// Skips `n` bytes of the current record body.
    fn skip_body(&mut self, n: u64) -> Step {
        debug_assert!(n <= self.body_left);
        self.skip(n)?;
        self.body_left -= n;
        Ok(())
    }

    /// Skips what is left of the body, then checks the padding.
    fn finish_record(&mut self, length: u32) -> Step {
        let left = std::mem::take(&mut self.body_left);
        self.skip(left)?;
        let pad_len = padding_for(u64::from(length));
        if pad_len == 0 {
            return Ok(());
        }
        let mut pad = [0u8; 8];
        let pad = &mut pad[..pad_len];
        self.read_exact(pad)?;
        if pad.iter().any(|&b| b != 0) {
            return self.broken(Breach::Padding);
        }
        Ok(())
    }

    /// Reads a record header: (type, length, record index), and makes the
    /// record the place errors are reported at.
    fn record_header(&mut self, layer: fn(u32) -> Place) -> Step<(u32, u32)> {
        self.set_place(Place::RecordHeader, None);
        let header: RecordHeader = self.read_wire()?;
        let index = self.next_index;
        self.next_index += 1;
        let (raw, length) = (header.record_type.get(), header.length.get());
        self.place.index = Some(index);
        self.place.kind = layer(raw);
        self.body_left = u64::from(length);
        Ok((raw, length))
    }

    /// Upstream's line for a run of PAGE_DATA records, once the run is over.
    fn flush_squashed(&mut self) {
        let n = std::mem::take(&mut self.libxc.squashed);
        if n > 0 {
            self.info(|| format!("Squashed {n} Page Data records together"));
        }
    }
}

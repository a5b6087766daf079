//! `verify-stream-v2`: upstream's options (`-i/--in`, `-f/--format`,
//! `-v/--verbose`, `-q/--quiet`, `--syslog`) with optparse's prefix matching,
//! plus `--json` and `--stop-at-end`.

use clap::{Parser, ValueEnum};

/// The binary's name.
pub const NAME: &str = "verify-stream-v2";

const AFTER_HELP: &str = "\
Examples (from the root of a xenmig checkout):
  $ verify-stream-v2 -v -i testdata/streams/xl-hvm-v3.bin
  # From a pipe, with a JSON report:
  $ cat testdata/streams/libxc-pv-v3.bin | verify-stream-v2 --json
  # From an inherited file descriptor, as libxl passes one:
  $ verify-stream-v2 -q -i 5 5< testdata/streams/libxl-hvm-v3.bin
  $ verify-stream-v2 -f xl --stop-at-end -i testdata/streams/xl-pv-v3.bin
  # An invalid stream (exits 1):
  $ verify-stream-v2 -i testdata/verify/page-data.duplicate-pfn.stream

Exit status: 0 a valid stream; 1 an invalid or truncated stream (the message
names the byte offset, the record and the rule); 2 usage or I/O error (an
input that cannot be opened or read), or content the verifier cannot handle.

Documentation: /usr/share/doc/xenmig/verify-stream-v2.md; every rule, its
source and its message: /usr/share/doc/xenmig/verify-rules.md.";

/// Verify a stream according to the v2 (or later) spec.
///
/// Reads an xl save file, a libxl stream or a bare libxc stream and checks every
/// rule Xen's own verify-stream-v2 checks plus the ones it misses (ordering,
/// domain type, STATIC_DATA_END, policy contents, PV sizes, HVM context, libxl
/// and xl layers, checkpoints). Works from a pipe for records of any size, and
/// seeks over page data when the input is a file.
///
/// The input is read to its end, so that data after the final END record is
/// caught (Xen's script stops at END and never sees it). On a socket or a
/// pipe the verifier therefore finishes only when the writer closes it; for
/// a descriptor that stays open after the stream (a migration socket whose
/// peer waits for a reply, an fd shared with a parent), use --stop-at-end.
#[derive(Debug, Parser)]
// optparse, which upstream's script uses, accepts any unambiguous prefix of a
// long option (`--verb`, `--form xl`); so does a drop-in.
#[command(
    name = NAME,
    version,
    verbatim_doc_comment,
    infer_long_args = true,
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Stream to verify: a file, a file descriptor given as decimal digits, or
    /// - for standard input (the default).
    #[arg(
        short = 'i',
        long = "in",
        value_name = "FD or FILE",
        default_value = "0"
    )]
    pub input: String,

    /// Format of the stream's outermost layer; auto tells them apart from the first bytes.
    #[arg(short, long, value_enum, default_value_t = StreamFormat::Auto)]
    pub format: StreamFormat,

    /// Summarise the stream contents on standard output (upstream's lines);
    /// with --json, on standard error, so that standard output is the JSON alone.
    #[arg(short, long)]
    pub verbose: bool,

    /// Suppress all output, errors included (wins over --verbose and --json).
    #[arg(short, long)]
    pub quiet: bool,

    /// Log to syslog instead of standard output (errors also go to standard error).
    #[arg(long)]
    pub syslog: bool,

    /// Print one JSON report: versions, domain type, counts, pages, vCPUs, HVM
    /// params, policies, checkpoint rounds, warnings and the first error.
    #[arg(long)]
    pub json: bool,

    /// Stop reading at the final END record, as Xen's script does, instead of
    /// reading to the end of the input: data after END (and the raw qemu record
    /// of a converted legacy stream) is then not checked.
    #[arg(long)]
    pub stop_at_end: bool,
}

/// `-f/--format`: the outermost layer of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamFormat {
    /// Detect from the first bytes.
    Auto,
    /// A bare libxc stream.
    Libxc,
    /// A libxl stream.
    Libxl,
    /// An xl save file.
    Xl,
}

impl From<StreamFormat> for stream_verify::Format {
    fn from(arg: StreamFormat) -> stream_verify::Format {
        match arg {
            StreamFormat::Auto => stream_verify::Format::Auto,
            StreamFormat::Libxc => stream_verify::Format::Libxc,
            StreamFormat::Libxl => stream_verify::Format::Libxl,
            StreamFormat::Xl => stream_verify::Format::Xl,
        }
    }
}

impl StreamFormat {
    /// The format named as `-f` takes it, for callers without a command line
    /// (libxenmig's `xenmig_verify_fd`).
    ///
    /// ```
    /// use xenmig_cli::args::verify_stream_v2::StreamFormat;
    /// assert_eq!(StreamFormat::from_name("xl"), Ok(StreamFormat::Xl));
    /// assert_eq!(
    ///     StreamFormat::from_name("xm").unwrap_err(),
    ///     "expected one of auto, libxc, libxl, xl; found \"xm\""
    /// );
    /// ```
    pub fn from_name(name: &str) -> Result<StreamFormat, String> {
        StreamFormat::from_str(name, false).map_err(|_| {
            let known: Vec<String> = StreamFormat::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_owned())
                .collect();
            format!("expected one of {}; found \"{name}\"", known.join(", "))
        })
    }
}

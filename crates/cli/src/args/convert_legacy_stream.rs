//! `convert-legacy-stream`: upstream's options (`-i/--in`, `-o/--out`,
//! `-w/--width`, `-g/--guest-type`, `-f/--format`, `-v`, `-x`, `--skip-qemu`,
//! `--syslog`) with optparse's prefix matching (libxl passes `--guest`),
//! plus `-q/--quiet`.

use clap::{Parser, ValueEnum};

/// The binary's name.
pub const NAME: &str = "convert-legacy-stream";

const AFTER_HELP: &str = "\
Examples (from the root of a xenmig checkout):
  $ convert-legacy-stream -i testdata/legacy/hvm64-upstream.img -o hvm.v2 -v
  $ convert-legacy-stream -i testdata/legacy/pv64-xl.img -o pv.xl -x -f libxl
  # As libxl runs it (descriptors in and out, libxl's option spelling):
  $ convert-legacy-stream --in 0 --out 1 --width 64 --guest pv --format libxl \\
        < testdata/legacy/pv64-guest64.img > pv.libxl
  # Content that cannot be converted (exits 2):
  $ convert-legacy-stream -i testdata/legacy/unsupported-hvm64-tmem.img -o x

Exit status: 0 converted; 1 a bad or truncated image; 2 usage or I/O error
(an input that cannot be opened or read, an output that cannot be written), or
content that cannot be converted (tmem, Remus compression).

Documentation: /usr/share/doc/xenmig/legacy-format.md; what -o does with each
kind of path, and what is durable when: /usr/share/doc/xenmig/output.md.";

/// Convert a legacy stream to a v2 (or later) stream.
///
/// Reads a save image written by Xen 4.5 or earlier (xl save, xm save, or a
/// legacy live migration) and writes the same guest as a libxc v3 stream, or
/// with `-f libxl` as the libxl v2 stream that `xl restore` reads. When `-w`
/// or `-g` is left out it is detected from the image.
///
/// When --out names a file, the stream goes to a new file in the same
/// directory, which takes the file's place only once the whole stream is
/// written and fsynced, and the directory is fsynced after: a failed or
/// interrupted conversion (Ctrl-C, SIGTERM, SIGHUP) leaves an existing file
/// as it was and nothing beside it, and once the tool exits 0 the output
/// survives a crash or power cut. A replaced file keeps its mode, owner and
/// group; a new file is created with mode 0600 (less the umask), since a
/// saved guest holds the guest's memory. A device, a FIFO, a socket,
/// /dev/stdout and /dev/fd/N are written in place, a symbolic link is
/// followed, and the input file itself is refused.
///
/// A decimal number (or -) is an inherited file descriptor, written straight
/// through (this is how libxl runs the converter). It is not fsynced: on a
/// regular file the stream is in the page cache when the tool exits 0 and
/// durable only once the descriptor's owner fsyncs it (or runs sync). A
/// reader that goes away before the end fails the conversion (exit 2).
#[derive(Parser, Debug)]
// Upstream's script parses with optparse, which accepts any unambiguous
// prefix of a long option; libxl relies on it (`--guest` for `--guest-type`).
#[command(
    name = NAME,
    version,
    verbatim_doc_comment,
    infer_long_args = true,
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Legacy input to convert (a decimal number is a file descriptor, - standard input).
    #[arg(short = 'i', long = "in", value_name = "FD or FILE")]
    pub input: String,

    /// v2 (or later) format output (a decimal number is a file descriptor, - standard output).
    #[arg(short = 'o', long = "out", value_name = "FD or FILE")]
    pub output: String,

    /// Legacy toolstack bitness (detected from the image when omitted).
    #[arg(short = 'w', long = "width", value_name = "32/64", value_parser = ["32", "64"])]
    pub width: Option<String>,

    /// Type of guest in stream (detected from the image when omitted).
    #[arg(
        short = 'g',
        long = "guest-type",
        alias = "guest",
        value_name = "pv/hvm"
    )]
    pub guest_type: Option<Guest>,

    /// Desired format of the outgoing stream.
    #[arg(
        short = 'f',
        long = "format",
        value_name = "libxc|libxl",
        default_value = "libxc"
    )]
    pub format: OutputFormat,

    /// Summarise stream contents on standard output.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// The input starts with an `xl` save header (copied with STREAMv2 set).
    #[arg(short = 'x', long = "xl")]
    pub xl: bool,

    /// Skip processing of the qemu tail (no qemu record in the output).
    #[arg(long = "skip-qemu")]
    pub skip_qemu: bool,

    /// Log to syslog instead of standard output (errors go to standard error too).
    #[arg(long = "syslog")]
    pub syslog: bool,

    /// Print nothing: no summary, no progress bar, no error message.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `-g/--guest-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Guest {
    /// A paravirtualised guest.
    Pv,
    /// A hardware-virtualised guest.
    Hvm,
}

/// `-f/--format`: the stream to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A bare libxc v3 stream.
    Libxc,
    /// A libxl v2 stream around the libxc stream, as `xl restore` reads it.
    Libxl,
}

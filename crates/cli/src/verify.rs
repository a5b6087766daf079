//! The work of `verify-stream-v2`, apart from where its lines go: shared by
//! the binary and by libxenmig (`crates/capi`), so that both give the same
//! report and the same exit code for the same stream.

use stream_verify::{Options, Report};

use crate::Failure;
use crate::exit::{BAD_INPUT, OK};
use crate::fdio::Input;
use crate::term::printable;

/// Verifies the stream on `input`, seeking over page data when it is a
/// regular file and reading it in order otherwise (a pipe, a socket).
/// `verbose` receives upstream's `-v` lines.
pub fn verify(input: Input, options: Options, verbose: Option<&mut dyn FnMut(&str)>) -> Report {
    if input.seekable {
        stream_verify::verify_seekable(input.file, options, verbose)
    } else {
        stream_verify::verify_pipe(input.file, options, verbose)
    }
}

/// The report as `--json` prints it (without the final newline).
pub fn report_json(report: &Report) -> Result<String, Failure> {
    serde_json::to_string_pretty(report)
        .map_err(|e| Failure::usage_or_io(format!("cannot encode the report: {e}")))
}

/// The tool's verdict on a report of the stream named `name`: exit code 0
/// for a valid stream, 1 (with upstream's `Stream Error` message) for an
/// invalid one, 2 when the stream could not be read.
///
/// ```
/// use xenmig_cli::fdio::Input;
/// let file = std::fs::File::open("../../testdata/streams/libxc-pv-v3.bin")?;
/// let input = Input { file, seekable: true, name: "libxc-pv-v3.bin".into() };
/// let report = xenmig_cli::verify::verify(input, Default::default(), None);
/// assert_eq!(xenmig_cli::verify::verdict(&report, "libxc-pv-v3.bin").unwrap(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn verdict(report: &Report, name: &str) -> Result<u8, Failure> {
    if let Some(err) = &report.io_error {
        return Err(Failure::usage_or_io(format!("{name}: {err}")));
    }
    match &report.error {
        None => Ok(OK),
        // The message may quote the stream (a xenstore key).
        Some(violation) => Err(Failure {
            code: BAD_INPUT,
            message: printable(&format!("Stream Error: {name}: {violation}")).into_owned(),
        }),
    }
}

//! The exit-code contract shared by every xenmig tool.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (a valid stream, a converted image, compatible hosts) |
//! | 1 | the input is bad: an invalid stream, a malformed dump, an incompatible host |
//! | 2 | usage error, I/O error, or content the tool cannot handle |
//!
//! A closed standard output is not an error for output a person reads (a
//! report, a listing: `verify-stream-v2 -v | head`): the tool stops quietly
//! with the code it would have returned ([`Failure::io`], [`write_stdout`]).
//! For data (a converted stream, a generated profile, an exported
//! configuration) it is: data that was not delivered is never success
//! ([`Failure::output`], [`write_stdout_data`]; docs/decisions.md has the
//! rule). The table per class of input and per tool is `docs/exit-codes.md`.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// Exit code for success.
pub const OK: u8 = 0;
/// Exit code for bad input (invalid stream, malformed dump, incompatible host).
pub const BAD_INPUT: u8 = 1;
/// Exit code for usage errors, I/O errors and unsupported content.
pub const USAGE_OR_IO: u8 = 2;

/// Why a tool stopped early: the message for the user and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code (see the module documentation).
    pub code: u8,
    /// What went wrong, written for the person at the terminal.
    pub message: String,
}

impl Failure {
    /// Bad input: exit code 1.
    pub fn bad_input(message: impl fmt::Display) -> Self {
        Failure {
            code: BAD_INPUT,
            message: message.to_string(),
        }
    }

    /// Usage error, I/O error or unsupported content: exit code 2.
    pub fn usage_or_io(message: impl fmt::Display) -> Self {
        Failure {
            code: USAGE_OR_IO,
            message: message.to_string(),
        }
    }

    /// An I/O error while touching `what` (a path, "standard output", ...): exit code 2,
    /// except a broken pipe, which is reported as success by [`finish`].
    pub fn io(what: impl fmt::Display, err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Failure {
                code: OK,
                message: String::new(),
            };
        }
        Failure {
            code: USAGE_OR_IO,
            message: format!("{what}: {err}"),
        }
    }
}

impl Failure {
    /// An error while delivering data to `what` (a converted stream, a
    /// profile, an exported configuration): exit code 2, a closed pipe
    /// included, since data that did not arrive is never success.
    ///
    /// ```
    /// use std::io::{Error, ErrorKind};
    /// use xenmig_cli::Failure;
    /// let failure = Failure::output("standard output", Error::from(ErrorKind::BrokenPipe));
    /// assert_eq!(failure.code, 2);
    /// assert!(failure.message.contains("reader"), "{}", failure.message);
    /// ```
    pub fn output(what: impl fmt::Display, err: io::Error) -> Self {
        let message = if err.kind() == io::ErrorKind::BrokenPipe {
            format!("{what}: the reader went away before all the data was written ({err})")
        } else {
            format!("{what}: {err}")
        };
        Failure {
            code: USAGE_OR_IO,
            message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Turns the outcome of a tool's `run()` into its exit code, printing the
/// error (prefixed with the tool's name) unless `quiet`.
///
/// ```
/// use xenmig_cli::{finish, Failure};
/// let code = finish("demo", true, Err(Failure::bad_input("bad record")));
/// assert_eq!(code, std::process::ExitCode::from(1));
/// ```
pub fn finish(tool: &str, quiet: bool, outcome: Result<u8, Failure>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !quiet && !failure.message.is_empty() {
                write_stderr(&format!("{tool}: {}\n", failure.message));
            }
            ExitCode::from(failure.code)
        }
    }
}

/// True when `err` means the reader of our output went away.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

/// Writes `text` to standard output and flushes it; a failure is
/// [`Failure::io`] of "standard output" (so a closed pipe ends the tool
/// quietly with success).
///
/// ```
/// xenmig_cli::write_stdout("").unwrap();
/// ```
pub fn write_stdout(text: &str) -> Result<(), Failure> {
    use io::Write;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::io("standard output", e))
}

/// Writes data (`text` is the product, not a report) to standard output and
/// flushes it; any failure, a closed pipe included, is [`Failure::output`].
///
/// ```
/// xenmig_cli::exit::write_stdout_data("").unwrap();
/// ```
pub fn write_stdout_data(text: &str) -> Result<(), Failure> {
    use io::Write;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::output("standard output", e))
}

/// Writes `text` to standard error as it is. A failure (a closed or full
/// standard error) is ignored: there is nowhere left to report it, and the
/// exit code still tells the caller what happened. This and [`warn`] are the
/// only ways the tools write to standard error (`eprintln!` panics on a
/// closed pipe, so clippy's `print_stderr` is denied).
///
/// ```
/// xenmig_cli::exit::write_stderr("");
/// ```
pub fn write_stderr(text: &str) {
    use io::Write;
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.flush());
}

/// Writes the line `{tool}: warning: {message}` to standard error (see
/// [`write_stderr`]).
///
/// ```
/// xenmig_cli::exit::warn("demo", "the dump has no leaf 0xd");
/// ```
pub fn warn(tool: &str, message: &str) {
    write_stderr(&format!("{tool}: warning: {message}\n"));
}

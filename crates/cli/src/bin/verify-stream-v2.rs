//! `verify-stream-v2`: checks a Xen migration stream, a drop-in for Xen's script.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use stream_verify::{Format, Options, Report};
use xenmig_cli::args::verify_stream_v2::{Args, NAME as TOOL};
use xenmig_cli::fdio::{Target, open_input};
use xenmig_cli::syslog::{Severity, Syslog};
use xenmig_cli::term::printable;
use xenmig_cli::{Failure, finish, parse_args, verify};

fn main() -> ExitCode {
    let cli = match parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let quiet = cli.quiet;
    finish(TOOL, quiet, run(cli))
}

/// Where verbose lines go: standard output (standard error with `--json`, so
/// that standard output holds one JSON document), or syslog.
struct Lines<'a> {
    syslog: Option<&'a Syslog>,
    to_stderr: bool,
    /// Still writing: false once the reader has gone or a write failed.
    open: bool,
    /// A write that failed for another reason than a closed pipe.
    failed: Option<std::io::Error>,
}

impl Lines<'_> {
    fn line(&mut self, line: &str) {
        // Lines quote the stream (xenstore keys and values): escape what a
        // terminal would act on.
        let line = printable(line);
        if let Some(log) = self.syslog {
            log.log(Severity::Info, &line);
            return;
        }
        if !self.open {
            return;
        }
        let written = if self.to_stderr {
            writeln!(std::io::stderr().lock(), "{line}")
        } else {
            writeln!(std::io::stdout().lock(), "{line}")
        };
        if let Err(err) = written {
            // A closed pipe (`-v | head`) is not an error: stop writing. Any
            // other failure (a full disk) means the lines were not delivered.
            self.open = false;
            if !xenmig_cli::exit::is_broken_pipe(&err) {
                self.failed = Some(err);
            }
        }
    }

    /// The failure of an earlier write, as the tool's error.
    fn failure(&mut self) -> Option<Failure> {
        let what = if self.to_stderr {
            "standard error"
        } else {
            "standard output"
        };
        self.failed.take().map(|err| Failure::io(what, err))
    }
}

fn run(cli: Args) -> Result<u8, Failure> {
    let syslog = cli.syslog.then(|| Syslog::open(TOOL));
    let target = Target::parse_input(&cli.input);
    if target == Target::Fd(0) && !cli.quiet && std::io::stdin().is_terminal() {
        // Instead of waiting in silence for a stream that cannot come.
        xenmig_cli::exit::write_stderr(&format!(
            "{TOOL}: reading a stream from standard input, which is a terminal \
             (give -i FILE, or pipe a stream in; Ctrl-D ends the input)\n"
        ));
    }
    let input = match open_input(&target) {
        Ok(input) => input,
        Err(err) => {
            let failure =
                Failure::usage_or_io(format!("Unable to open {}: {err}", target.describe()));
            log_error(syslog.as_ref(), cli.quiet, &failure.message);
            return Err(failure);
        }
    };
    let mut lines = Lines {
        syslog: syslog.as_ref(),
        to_stderr: cli.json,
        open: true,
        failed: None,
    };
    let mut sink = |line: &str| lines.line(line);
    let verbose: Option<&mut dyn FnMut(&str)> = if cli.verbose && !cli.quiet {
        Some(&mut sink)
    } else {
        None
    };
    let mut options = Options::from(Format::from(cli.format));
    options.stop_at_end = cli.stop_at_end;
    let name = input.name.clone();
    let report = verify::verify(input, options, verbose);
    let undelivered = lines.failure();
    if cli.json && !cli.quiet {
        print_json(&report)?;
    }
    let verdict = verify::verdict(&report, &name);
    if let Err(failure) = &verdict {
        log_error(syslog.as_ref(), cli.quiet, &failure.message);
    }
    match (undelivered, verdict) {
        (None, verdict) => verdict,
        // The lines asked for were not delivered: an I/O error (exit 2),
        // whatever the stream's verdict, which is still said.
        (Some(failure), Err(broken)) if !cli.quiet => Err(Failure {
            code: failure.code,
            message: format!("{}\n{TOOL}: {}", broken.message, failure.message),
        }),
        (Some(failure), _) => Err(failure),
    }
}

fn print_json(report: &Report) -> Result<(), Failure> {
    let text = verify::report_json(report)?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if xenmig_cli::exit::is_broken_pipe(&err) => Ok(()),
        Err(err) => Err(Failure::io("standard output", err)),
    }
}

fn log_error(syslog: Option<&Syslog>, quiet: bool, message: &str) {
    if let (Some(log), false) = (syslog, quiet) {
        log.log(Severity::Error, message);
    }
}

//! `verify-stream-v2`: checks a Xen migration stream, a drop-in for Xen's script.

use std::io::Write;
use std::process::ExitCode;
use stream_verify::{Format, Options, Report};
use xenmig_cli::args::verify_stream_v2::{Args, NAME as TOOL};
use xenmig_cli::exit::{BAD_INPUT, OK};
use xenmig_cli::fdio::{Target, open_input};
use xenmig_cli::syslog::{Severity, Syslog};
use xenmig_cli::{Failure, finish, parse_args};

fn main() -> ExitCode {
    let cli = match parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let quiet = cli.quiet;
    finish(TOOL, quiet, run(cli))
}

/// Where verbose lines go: standard output (until its reader goes away) or syslog.
struct Lines<'a> {
    syslog: Option<&'a Syslog>,
    stdout_open: bool,
}

impl Lines<'_> {
    fn line(&mut self, line: &str) {
        if let Some(log) = self.syslog {
            log.log(Severity::Info, line);
        } else if self.stdout_open {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{line}").is_err() {
                // A closed pipe (`-v | head`) is not an error; stop writing.
                self.stdout_open = false;
            }
        }
    }
}

fn run(cli: Args) -> Result<u8, Failure> {
    let syslog = cli.syslog.then(|| Syslog::open(TOOL));
    let target = Target::parse(&cli.input);
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
        stdout_open: true,
    };
    let mut sink = |line: &str| lines.line(line);
    let verbose: Option<&mut dyn FnMut(&str)> = if cli.verbose && !cli.quiet {
        Some(&mut sink)
    } else {
        None
    };
    let options = Options {
        format: Format::from(cli.format),
        stop_at_end: cli.stop_at_end,
    };
    let report = if input.seekable {
        stream_verify::verify_seekable(input.file, options, verbose)
    } else {
        stream_verify::verify_pipe(input.file, options, verbose)
    };
    if cli.json && !cli.quiet {
        print_json(&report)?;
    }
    outcome(&report, &input.name, syslog.as_ref(), cli.quiet)
}

fn print_json(report: &Report) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| Failure::usage_or_io(format!("cannot encode the report: {e}")))?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if xenmig_cli::exit::is_broken_pipe(&err) => Ok(()),
        Err(err) => Err(Failure::io("standard output", err)),
    }
}

fn outcome(
    report: &Report,
    name: &str,
    syslog: Option<&Syslog>,
    quiet: bool,
) -> Result<u8, Failure> {
    if let Some(err) = &report.io_error {
        let message = format!("{name}: {err}");
        log_error(syslog, quiet, &message);
        return Err(Failure::usage_or_io(message));
    }
    match &report.error {
        None => Ok(OK),
        Some(violation) => {
            let message = format!("Stream Error: {name}: {violation}");
            log_error(syslog, quiet, &message);
            Err(Failure {
                code: BAD_INPUT,
                message,
            })
        }
    }
}

fn log_error(syslog: Option<&Syslog>, quiet: bool, message: &str) {
    if let (Some(log), false) = (syslog, quiet) {
        log.log(Severity::Error, message);
    }
}

//! `convert-legacy-stream`: a drop-in replacement for Xen's script of the same
//! name. It turns a pre-Xen-4.6 save image into a v2 migration stream.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use legacy_convert::Observer;
use xenmig_cli::args::convert_legacy_stream::{Args, NAME as TOOL};
use xenmig_cli::fdio::{self, Target};
use xenmig_cli::syslog::{Severity, Syslog};
use xenmig_cli::{Failure, convert, exit, finish, parse_args, term};

/// Where the verbose lines and progress go.
struct Reporter<'s> {
    verbose: bool,
    syslog: Option<&'s Syslog>,
    stdout: std::io::StdoutLock<'static>,
    stdout_failed: bool,
    /// Why the summary could not be written, when that was not a closed pipe.
    stdout_error: Option<std::io::Error>,
    bar: Option<ProgressBar>,
}

impl Observer for Reporter<'_> {
    fn wants_info(&self) -> bool {
        self.verbose
    }

    fn info(&mut self, line: &str) {
        // Physmap names come from the image: never let them drive the terminal.
        let line = term::printable(line);
        if let Some(syslog) = &self.syslog {
            syslog.log(Severity::Info, &line);
        } else if !self.stdout_failed {
            // Line by line, as upstream's line-buffered stdout. The summary
            // is a report: a closed pipe stops it, not the conversion; any
            // other error (a full disk) fails the tool at the end.
            if let Err(err) = writeln!(self.stdout, "{line}").and_then(|()| self.stdout.flush()) {
                self.stdout_failed = true;
                if !exit::is_broken_pipe(&err) {
                    self.stdout_error = Some(err);
                }
            }
        }
    }

    fn progress(&mut self, input_offset: u64, pages: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(input_offset);
            bar.set_message(format!("{pages} pages"));
        }
    }
}

fn progress_bar(len: Option<u64>) -> ProgressBar {
    let bar = match len {
        Some(len) => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if len.is_some() {
        "{bar:30} {bytes}/{total_bytes} {msg} {binary_bytes_per_sec} ETA {eta}"
    } else {
        "{spinner} {bytes} {msg} {binary_bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn run(args: &Args, syslog: Option<&Syslog>) -> Result<u8, Failure> {
    let input_target = Target::parse_input(&args.input);
    let output_target = Target::parse_output(&args.output);
    let input = fdio::open_input(&input_target).map_err(|e| {
        Failure::usage_or_io(format!(
            "cannot open input {}: {e}",
            input_target.describe()
        ))
    })?;
    let output_options = fdio::OutputOptions {
        new_file_mode: fdio::PRIVATE,
        input: Some(&input),
    };
    let mut output = fdio::Output::create(&output_target, &output_options).map_err(|e| {
        Failure::usage_or_io(format!(
            "cannot open output {}: {e}",
            output_target.describe()
        ))
    })?;
    let options = convert::options(args, &input);
    let input_len = options.input_len;
    // The bar would tangle with a summary printed on the same terminal.
    let show_bar = !args.quiet
        && term::stderr_is_terminal()
        && !(args.verbose && std::io::stdout().is_terminal());
    let mut reporter = Reporter {
        verbose: args.verbose && !args.quiet,
        syslog,
        stdout: std::io::stdout().lock(),
        stdout_failed: false,
        stdout_error: None,
        bar: show_bar.then(|| progress_bar(input_len)),
    };
    let name = output.name().to_owned();
    let result = convert::convert(&input, &mut output, args, &options, &mut reporter);
    if let Some(bar) = &reporter.bar {
        bar.finish_and_clear();
    }
    result?;
    if let Some(err) = reporter.stdout_error.take() {
        // Not committed: a file output stays as it was.
        return Err(Failure::io("standard output (the -v summary)", err));
    }
    output.commit().map_err(|e| Failure::output(&name, e))?;
    Ok(exit::OK)
}

fn main() -> ExitCode {
    let args = match parse_args::<Args>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let syslog = args.syslog.then(|| Syslog::open(TOOL));
    let outcome = run(&args, syslog.as_ref());
    if let (Some(syslog), Err(failure)) = (&syslog, &outcome)
        && !failure.message.is_empty()
    {
        syslog.log(Severity::Error, &failure.message);
    }
    finish(TOOL, args.quiet, outcome)
}

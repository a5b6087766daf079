//! `convert-legacy-stream`: a drop-in replacement for Xen's script of the same
//! name. It turns a pre-Xen-4.6 save image into a v2 migration stream.

use std::io::{IsTerminal, Seek, Write};
use std::os::unix::fs::FileTypeExt;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use legacy_convert::error::{ErrorKind, Hint};
use legacy_convert::format::{GuestType, Width};
use legacy_convert::{Observer, Options, OutputFormat};
use migration_stream::sink::BlockWriter;
use migration_stream::source::Sequential;
use xenmig_cli::args::convert_legacy_stream::{self as cli, Args, NAME as TOOL};
use xenmig_cli::fdio::{self, Target};
use xenmig_cli::syslog::{Severity, Syslog};
use xenmig_cli::{Failure, exit, finish, parse_args, term};

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
    let input_len = if input.seekable {
        let mut file = &input.file;
        let position = file.stream_position().ok();
        let len = input.file.metadata().ok().map(|m| m.len());
        len.zip(position).map(|(len, pos)| len.saturating_sub(pos))
    } else {
        None
    };
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
    let options = Options {
        format: match args.format {
            cli::OutputFormat::Libxc => OutputFormat::Libxc,
            cli::OutputFormat::Libxl => OutputFormat::Libxl,
        },
        width: args
            .width
            .as_deref()
            .and_then(|w| w.parse().ok())
            .and_then(Width::from_bits),
        guest: args.guest_type.map(|g| match g {
            cli::Guest::Pv => GuestType::Pv,
            cli::Guest::Hvm => GuestType::Hvm,
        }),
        xl_header: args.xl,
        skip_qemu: args.skip_qemu,
        input_len,
    };
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
    let input_is_stream = is_stream(&input.file);
    // In place (libxl's pipe, a device): the file itself, so that page data
    // can be spliced between pipes; a file being replaced: through the
    // Output, which paces its writeback.
    let result = match output.in_place_file() {
        Some(file) => {
            let splice = input_is_stream && is_stream(file);
            convert_into(&input, file, splice, &name, args, &options, &mut reporter)
        }
        None => convert_into(
            &input,
            &mut output,
            false,
            &name,
            args,
            &options,
            &mut reporter,
        ),
    };
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

/// Converts `input` into `output` (named `name`) through a
/// [`BlockWriter`]: whole 4 MiB writes, page data read straight into the
/// block, or spliced from input to output when `splice` says the kernel's
/// copy wins (see [`is_stream`]). After an error the block is written out,
/// so a descriptor gets what was converted before it (a replaced file's
/// temporary copy is removed anyway).
fn convert_into<W: Write>(
    input: &fdio::Input,
    output: W,
    splice: bool,
    name: &str,
    args: &Args,
    options: &Options,
    reporter: &mut Reporter<'_>,
) -> Result<(), Failure> {
    let mut sink = BlockWriter::new(output);
    sink.set_passthrough(splice);
    let source = Sequential::descriptor(&input.file);
    if let Err(err) = legacy_convert::convert_source(source, &mut sink, options, reporter) {
        if !err.is_output() {
            let _ = sink.flush();
        }
        return Err(failure(&err, &input.name, name, args));
    }
    sink.flush().map_err(|e| Failure::output(name, e))
}

/// Whether `file` is a pipe or a socket. Page data goes from input to output
/// by the kernel (`splice`) only when both are: nothing is written to a page
/// cache then, and splicing measured faster than the block writer there
/// (docs/performance.md); to or from a file the block writer wins.
fn is_stream(file: &std::fs::File) -> bool {
    file.metadata().is_ok_and(|m| {
        let kind = m.file_type();
        kind.is_fifo() || kind.is_socket()
    })
}

/// The message and exit code of a failed conversion, with the option that
/// would have helped where the error says what it is.
fn failure(err: &legacy_convert::Error, input: &str, output: &str, args: &Args) -> Failure {
    if err.is_output()
        && let Some(io) = err.io_error()
    {
        // The stream is data: a reader that went away is a failure.
        if exit::is_broken_pipe(io) {
            return Failure::output(output, clone_io(io));
        }
        return Failure::usage_or_io(format!("{output}: {err}"));
    }
    let advice = match (err.kind(), err.hint()) {
        (ErrorKind::UnexpectedXlHeader, _) => {
            " (give -x/--xl to convert an xl save file)".to_owned()
        }
        (ErrorKind::TooShortToDetect { .. }, _) => " (give -w and -g)".to_owned(),
        (ErrorKind::XlNeedsLibxl, _) => " (--xl needs --format libxl)".to_owned(),
        (_, Some(Hint::Width { detected, .. })) => format!(
            " (try -w {}{})",
            detected.bits(),
            args.width
                .as_deref()
                .map(|w| format!(" instead of -w {w}"))
                .unwrap_or_default()
        ),
        (_, Some(Hint::GuestType { detected, .. })) => {
            format!(" (try -g {})", detected.to_string().to_lowercase())
        }
        _ => String::new(),
    };
    let message = format!("{input}: {err}{advice}");
    if err.is_bad_input() {
        Failure::bad_input(message)
    } else {
        Failure::usage_or_io(message)
    }
}

fn clone_io(err: &std::io::Error) -> std::io::Error {
    std::io::Error::new(err.kind(), err.to_string())
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

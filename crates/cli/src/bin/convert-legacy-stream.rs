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
            // Line by line, as upstream's line-buffered stdout; a closed
            // stdout stops the summary, not the conversion.
            if writeln!(self.stdout, "{line}")
                .and_then(|()| self.stdout.flush())
                .is_err()
            {
                self.stdout_failed = true;
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
    let input_target = Target::parse(&args.input);
    let output_target = Target::parse(&args.output);
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
    let mut output = fdio::Output::create(&output_target).map_err(|e| {
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
        bar: show_bar.then(|| progress_bar(input_len)),
    };
    let name = output.name().to_owned();
    let passthrough = kernel_copy_wins(&input.file, output.file());
    let mut sink = BlockWriter::new(output.file());
    sink.set_passthrough(passthrough);
    let source = Sequential::descriptor(&input.file);
    let result = legacy_convert::convert_source(source, &mut sink, &options, &mut reporter);
    if let Some(bar) = &reporter.bar {
        bar.finish_and_clear();
    }
    if let Err(err) = result {
        // A descriptor gets what was converted before the error, as upstream's
        // output does (a file's temporary copy is removed anyway).
        if !err.is_output() {
            let _ = sink.flush();
        }
        return Err(failure(&err, &input.name, &name, args));
    }
    sink.flush().map_err(|e| Failure::io(&name, e))?;
    drop(sink);
    output.commit().map_err(|e| Failure::io(&name, e))?;
    Ok(exit::OK)
}

/// Whether page data should go from input to output by the kernel
/// (`splice`) rather than through the block writer: only between two pipes
/// (or sockets), where nothing is written to a page cache and the kernel
/// moves pages without copying them (see docs/performance.md).
fn kernel_copy_wins(input: &std::fs::File, output: &std::fs::File) -> bool {
    let is_stream = |file: &std::fs::File| {
        file.metadata().is_ok_and(|m| {
            let kind = m.file_type();
            kind.is_fifo() || kind.is_socket()
        })
    };
    is_stream(input) && is_stream(output)
}

/// The message and exit code of a failed conversion, with the option that
/// would have helped where the error says what it is.
fn failure(err: &legacy_convert::Error, input: &str, output: &str, args: &Args) -> Failure {
    if err.is_output()
        && let Some(io) = err.io_error()
    {
        return Failure::io(format!("{output}: {err}"), clone_io(io));
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

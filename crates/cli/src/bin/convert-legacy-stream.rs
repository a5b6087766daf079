//! `convert-legacy-stream`: a drop-in replacement for Xen's script of the same
//! name. It turns a pre-Xen-4.6 save image into a v2 migration stream.

use std::io::{BufWriter, IsTerminal, Seek, Write};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use legacy_convert::format::{GuestType, Width};
use legacy_convert::{Observer, Options, OutputFormat};
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
    let mut sink = BufWriter::with_capacity(1 << 20, output.file());
    let result = legacy_convert::convert(&input.file, &mut sink, &options, &mut reporter);
    if let Some(bar) = &reporter.bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(_) => {}
        Err(err) if err.is_bad_input() => {
            return Err(Failure::bad_input(format!("{}: {err}", input.name)));
        }
        Err(err) => match err.io_error() {
            Some(io) if matches!(err, legacy_convert::Error::Output { .. }) => {
                return Err(Failure::io(format!("{name}: {err}"), clone_io(io)));
            }
            _ => return Err(Failure::usage_or_io(format!("{}: {err}", input.name))),
        },
    }
    sink.flush().map_err(|e| Failure::io(&name, e))?;
    drop(sink);
    output.commit().map_err(|e| Failure::io(&name, e))?;
    Ok(exit::OK)
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

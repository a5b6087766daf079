//! The command line of every tool: one clap definition per binary.
//!
//! Each module holds one tool's `Args` (what it accepts, its `--help` text,
//! its examples and exit status); the binary in `src/bin/` parses it with
//! [`crate::parse_args`] and does the work. Keeping the definitions in the
//! library lets [`commands`] hand every tool's [`clap::Command`] to whatever
//! generates man pages and shell completions, without running the tools.
//!
//! Every `--help` ends with examples (lines starting with `$ `) that run as
//! they are from the root of a xenmig checkout, on the files in `testdata/`;
//! a test runs each of them.

pub mod convert_legacy_stream;
pub mod cpu_profile;
pub mod cpuid_features;
pub mod verify_stream_v2;
pub mod xen_maskcalc;

mod input_format;

pub use input_format::InputFormat;

/// Parses the command line into `A`. `--help` and `--version` print to
/// standard output and give exit code 0; a usage mistake prints clap's message
/// to standard error and gives [`USAGE_OR_IO`](crate::exit::USAGE_OR_IO). The `Err` is the code `main`
/// returns. A first argument `--generate` asks for the tool's man pages or a
/// shell completion script instead (see [`crate::manual`]).
///
/// ```no_run
/// use clap::Parser;
/// use std::process::ExitCode;
///
/// /// A demo tool.
/// #[derive(Parser)]
/// struct Args {
///     /// Say more.
///     #[arg(short, long)]
///     verbose: bool,
/// }
///
/// fn main() -> ExitCode {
///     match xenmig_cli::parse_args::<Args>() {
///         Ok(args) => xenmig_cli::finish("demo", false, Ok(u8::from(args.verbose))),
///         Err(code) => code,
///     }
/// }
/// ```
pub fn parse_args<A: clap::Parser>() -> Result<A, std::process::ExitCode> {
    if let Some(code) = crate::manual::answer_generate(A::command) {
        return Err(code);
    }
    A::try_parse().map_err(|err| {
        let _ = err.print();
        std::process::ExitCode::from(if err.use_stderr() {
            crate::exit::USAGE_OR_IO
        } else {
            crate::exit::OK
        })
    })
}

/// Every tool's command line, named as its binary, in the order the README
/// presents them.
///
/// ```
/// let names: Vec<String> = xenmig_cli::args::commands()
///     .iter()
///     .map(|c| c.get_name().to_owned())
///     .collect();
/// assert_eq!(names, ["verify-stream-v2", "convert-legacy-stream", "cpuid-features", "xen-maskcalc", "cpu-profile"]);
/// ```
pub fn commands() -> Vec<clap::Command> {
    use clap::CommandFactory;
    vec![
        verify_stream_v2::Args::command(),
        convert_legacy_stream::Args::command(),
        cpuid_features::Args::command(),
        xen_maskcalc::Args::command(),
        cpu_profile::Args::command(),
    ]
}

/// A command line given as one string that did not parse: what the tool
/// would have printed instead of running, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotParsed {
    /// 0 for `--help` and `--version` (the text is the tool's standard
    /// output), [`crate::exit::USAGE_OR_IO`] for a usage error (the text is
    /// clap's message, the tool's standard error).
    pub code: u8,
    /// clap's text, without colour.
    pub text: String,
}

/// Parses `options`, a tool's options written as one string and split at
/// whitespace (no quoting: no option of the tools libxenmig runs takes a
/// value with a space), after the arguments `fixed` that the caller
/// supplies itself. This is how libxenmig (`crates/capi`) takes options
/// "as the tool takes them".
///
/// ```
/// use xenmig_cli::args::{parse_options, xen_maskcalc::{Args, NAME}};
/// let args: Args = parse_options(NAME, &[], "--format xl --hide avx512f").unwrap();
/// assert_eq!(args.hide, ["avx512f"]);
/// let unknown = parse_options::<Args>(NAME, &[], "--fromat xl").unwrap_err();
/// assert_eq!(unknown.code, 2);
/// assert!(unknown.text.starts_with("error: unexpected argument '--fromat'"), "{}", unknown.text);
/// ```
pub fn parse_options<A: clap::Parser>(
    name: &str,
    fixed: &[&str],
    options: &str,
) -> Result<A, NotParsed> {
    let words = std::iter::once(name)
        .chain(fixed.iter().copied())
        .chain(options.split_whitespace());
    A::try_parse_from(words).map_err(|err| NotParsed {
        code: if err.use_stderr() {
            crate::exit::USAGE_OR_IO
        } else {
            crate::exit::OK
        },
        text: err.render().to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_line_is_well_formed() {
        // clap checks a definition (unique names, valid defaults, ...) only
        // in debug builds and only for the subcommand being parsed; this
        // checks all of them.
        for command in super::commands() {
            command.debug_assert();
        }
    }
}

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

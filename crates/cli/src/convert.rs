//! The work of `convert-legacy-stream` between its opened input and output:
//! the converter's options from the command line, the conversion through
//! the block writer (or the kernel's splice), and the tool's message and exit
//! code for each error. Shared by the binary and by libxenmig
//! (`crates/capi`), so that both write the same bytes and stop with the same
//! exit code; the binary keeps where the `-v` lines and the progress bar go.

use std::io::{Seek, Write};
use std::os::unix::fs::FileTypeExt;

use legacy_convert::error::{ErrorKind, Hint};
use legacy_convert::format::{GuestType, Width};
use legacy_convert::{Observer, Options, OutputFormat, Summary};
use migration_stream::sink::BlockWriter;
use migration_stream::source::Sequential;

use crate::Failure;
use crate::args::convert_legacy_stream::{self as cli, Args};
use crate::exit;
use crate::fdio::{Input, Output};

/// The converter's options for `args`, with how much of `input` is left
/// when it is a regular file (so that a qemu record running to its end is
/// streamed, not held).
pub fn options(args: &Args, input: &Input) -> Options {
    let input_len = if input.seekable {
        let mut file = &input.file;
        let position = file.stream_position().ok();
        let len = input.file.metadata().ok().map(|m| m.len());
        len.zip(position).map(|(len, pos)| len.saturating_sub(pos))
    } else {
        None
    };
    let mut options = Options::default();
    options.format = match args.format {
        cli::OutputFormat::Libxc => OutputFormat::Libxc,
        cli::OutputFormat::Libxl => OutputFormat::Libxl,
    };
    options.width = args
        .width
        .as_deref()
        .and_then(|w| w.parse().ok())
        .and_then(Width::from_bits);
    options.guest = args.guest_type.map(|g| match g {
        cli::Guest::Pv => GuestType::Pv,
        cli::Guest::Hvm => GuestType::Hvm,
    });
    options.xl_header = args.xl;
    options.skip_qemu = args.skip_qemu;
    options.input_len = input_len;
    options
}

/// Converts `input` into `output`, not yet committed: in place (libxl's
/// pipe, a device, a descriptor on a file), the file itself, so that page
/// data can go by the kernel's copy (see `kernel_copies`); a file being
/// replaced, through the [`Output`], which paces its writeback and drops
/// what is on disk from the page cache, so its page cache is recycled and
/// whole 4 MiB writes cost nothing extra. `observer` gets the `-v` lines and
/// the progress.
pub fn convert(
    input: &Input,
    output: &mut Output,
    args: &Args,
    options: &Options,
    observer: &mut dyn Observer,
) -> Result<Summary, Failure> {
    let name = output.name().to_owned();
    match output.in_place_file() {
        Some(file) => {
            let to_file = file.metadata().is_ok_and(|m| m.is_file());
            let copies = kernel_copies(&input.file, file);
            convert_into(input, file, copies, to_file, &name, args, options, observer)
        }
        None => convert_into(input, output, false, false, &name, args, options, observer),
    }
}

/// What a successful conversion reports, as libxenmig's
/// `xenmig_convert_legacy_fd` gives it: the width and guest type used,
/// whether they were detected, the counts, and the `-v` lines.
pub fn report_json(summary: &Summary, verbose: &[String]) -> Result<String, Failure> {
    let report = Report {
        schema_version: CONVERT_REPORT_VERSION,
        width: summary.width,
        guest_type: summary.guest,
        detected: summary.probed,
        pages: summary.pages,
        page_records: summary.page_records,
        input_bytes: summary.input_bytes,
        verbose,
    };
    serde_json::to_string_pretty(&report)
        .map_err(|e| Failure::usage_or_io(format!("cannot encode the report: {e}")))
}

/// The version of [`report_json`]'s document (its `schema_version` key):
/// it goes up when a key is removed or changes meaning.
pub const CONVERT_REPORT_VERSION: u32 = 1;

/// [`report_json`]'s document, its keys in this order.
#[derive(serde::Serialize)]
struct Report<'a> {
    schema_version: u32,
    /// 32 or 64.
    #[serde(serialize_with = "width_bits")]
    width: Width,
    /// `pv` or `hvm`.
    #[serde(serialize_with = "guest_name")]
    guest_type: GuestType,
    detected: bool,
    pages: u64,
    page_records: u64,
    input_bytes: u64,
    verbose: &'a [String],
}

fn width_bits<S: serde::Serializer>(width: &Width, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(width.bits())
}

fn guest_name<S: serde::Serializer>(guest: &GuestType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match guest {
        GuestType::Pv => "pv",
        GuestType::Hvm => "hvm",
    })
}

/// Converts `input` into `output` (named `name`) through a
/// [`BlockWriter`]: page data read straight into a 4 MiB block, or copied
/// by the kernel from input to output when `kernel_copy` says that wins
/// (see [`kernel_copies`]). With `to_file` (a descriptor on a regular file)
/// the block goes out in [`BlockWriter::FILE_WRITE_SIZE`] writes, as `cp`
/// writes. After an error the block is written out, so a descriptor gets
/// what was converted before it (a replaced file's temporary copy is
/// removed anyway).
/// The block of a descriptor on a regular file: four of its 64 KiB writes.
const FILE_BLOCK_SIZE: usize = 128 << 10;

#[allow(clippy::too_many_arguments)] // one private call site per kind of output
fn convert_into<W: Write>(
    input: &Input,
    output: W,
    kernel_copy: bool,
    to_file: bool,
    name: &str,
    args: &Args,
    options: &Options,
    observer: &mut dyn Observer,
) -> Result<Summary, Failure> {
    let mut sink = if to_file {
        // Written 64 KiB at a time anyway, a file needs no 4 MiB block: a
        // small one is fewer pages to fault in (1,024 fewer minor faults).
        let mut sink = BlockWriter::with_block_size(output, FILE_BLOCK_SIZE);
        sink.set_max_write(BlockWriter::<W>::FILE_WRITE_SIZE);
        sink
    } else {
        BlockWriter::new(output)
    };
    sink.set_passthrough(kernel_copy);
    let source = Sequential::descriptor(&input.file);
    let summary = match legacy_convert::convert_source(source, &mut sink, options, observer) {
        Ok(summary) => summary,
        Err(err) => {
            if !err.is_output() {
                let _ = sink.flush();
            }
            return Err(failure(&err, &input.name, name, args));
        }
    };
    sink.flush().map_err(|e| Failure::output(name, e))?;
    Ok(summary)
}

/// Whether page data goes from `input` to `output` by the kernel
/// (`io::copy`'s specialisations) rather than through the block: between
/// two pipes or sockets (`splice`: nothing is written to a page cache), and
/// from a regular file to a regular file (`copy_file_range` per batch, which
/// allocates the output's page cache as `cp` does), and from a regular file
/// to a character device (`sendfile`: 1 GiB to /dev/null took 3.5× the CPU
/// through the block, docs/performance.md). Those measured faster than the
/// block; from a file to a pipe, and from a pipe to a file, the block wins.
fn kernel_copies(input: &std::fs::File, output: &std::fs::File) -> bool {
    let kind = |file: &std::fs::File| file.metadata().map(|m| m.file_type()).ok();
    let stream =
        |kind: Option<std::fs::FileType>| kind.is_some_and(|k| k.is_fifo() || k.is_socket());
    let regular = |kind: Option<std::fs::FileType>| kind.is_some_and(|k| k.is_file());
    // A character device (/dev/null, a tape) takes sendfile from a regular
    // file: the kernel copies, as it did before the block writer.
    let device = |kind: Option<std::fs::FileType>| kind.is_some_and(|k| k.is_char_device());
    let (input, output) = (kind(input), kind(output));
    (stream(input) && stream(output)) || (regular(input) && (regular(output) || device(output)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::fd::OwnedFd;

    #[test]
    fn kernel_copies_between_two_files_or_two_pipes_only() {
        let dir = std::env::temp_dir().join(format!("xenmig-kernel-copies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = || File::create(dir.join("f")).unwrap();
        let pipe = || {
            let (reader, _writer) = std::io::pipe().unwrap();
            File::from(OwnedFd::from(reader))
        };
        assert!(kernel_copies(&file(), &file()), "copy_file_range");
        assert!(kernel_copies(&pipe(), &pipe()), "splice");
        assert!(!kernel_copies(&file(), &pipe()), "file to pipe: the block");
        assert!(!kernel_copies(&pipe(), &file()), "pipe to file: the block");
        let null = || File::options().write(true).open("/dev/null").unwrap();
        assert!(
            kernel_copies(&file(), &null()),
            "sendfile to a character device"
        );
        assert!(
            !kernel_copies(&pipe(), &null()),
            "pipe to a character device: the block"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

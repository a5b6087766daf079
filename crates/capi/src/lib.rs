//! libxenmig: the xenmig tools as a C library, for toolstacks written in C
//! (libxl, libvirt, xapi's C stubs) that would otherwise run the binaries.
//!
//! Each function does what one tool does, through the same library code as
//! the tool (`xenmig_cli`), so it gives the same exit code and the same
//! output bytes: [`xenmig_verify_fd`] is `verify-stream-v2 --json`. The
//! header, `include/xenmig.h`, is generated from this file by
//! `cargo xtask codegen` (cbindgen); `docs/embedding.md` shows the C side.
//!
//! The rules every function keeps:
//!
//! * The return value is the tool's exit code: 0 success, 1 bad input, 2
//!   usage, I/O or unsupported content.
//! * No panic crosses into C: one is caught and returned as 2, with a message.
//!   Rust's panic hook still runs first, and the default one writes
//!   `thread '…' panicked at …` to the process's standard error: the hook is
//!   global to the host process, so a library must not replace it (a Rust
//!   host may have installed its own, and a C host's standard error is its
//!   own to manage).
//! * Every pointer argument is checked: NULL is a usage error (2), before any
//!   work is done. Strings are NUL-terminated UTF-8.
//! * File descriptors are borrowed: the library reads and writes through
//!   duplicates and never closes the caller's descriptor (reading and
//!   writing move its file offset, as the tool's `-i N`/`-o N` do).
//! * What the tool would write to standard error (its error message,
//!   warnings) is kept for `xenmig_last_message()`, per thread; the library
//!   prints nothing itself (the panic hook's line above is the one exception,
//!   and only a bug in xenmig makes it).
//! * Strings handed to the caller are freed with `xenmig_free()`.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use xenmig_cli::Failure;
use xenmig_cli::args::convert_legacy_stream::{self, NAME as CONVERT_LEGACY_STREAM};
use xenmig_cli::args::verify_stream_v2::{NAME as VERIFY_STREAM_V2, StreamFormat};
use xenmig_cli::args::xen_maskcalc::{self, NAME as XEN_MASKCALC};
use xenmig_cli::args::{NotParsed, parse_options};
use xenmig_cli::fdio::{Input, Output, Target};
use xenmig_cli::{convert, hosts, pool_masks};

thread_local! {
    /// What the last call on this thread would have written to standard error.
    static LAST_MESSAGE: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Why a call stopped: a bad argument to the C function itself (reported
/// under the function's name) or the tool's own failure (under the tool's).
enum Stop {
    Argument(String),
    Tool(Failure),
    /// A usage error of the options, with clap's text as the tool prints it.
    Usage(String),
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Stop {
        Stop::Tool(failure)
    }
}

/// What a call has to say besides its exit code: the lines the tool would
/// have written to standard error (warnings now, the error at the end).
#[derive(Default)]
struct Stderr(String, Quiet);

/// `-q`: the tool prints no error message.
#[derive(Default, PartialEq)]
enum Quiet {
    #[default]
    No,
    Yes,
}

impl Stderr {
    fn line(&mut self, prefix: &str, message: &str) {
        self.0.push_str(prefix);
        self.0.push_str(": ");
        self.0.push_str(message);
        self.0.push('\n');
    }
}

/// Runs one exported function's body: catches a panic, turns the outcome
/// into the exit code, and keeps what goes to standard error for
/// `xenmig_last_message()`. `function` names the C function, `tool` the
/// tool whose messages it gives.
fn call(function: &str, tool: &str, body: impl FnOnce(&mut Stderr) -> Result<u8, Stop>) -> c_int {
    let mut stderr = Stderr::default();
    let code = match catch_unwind(AssertUnwindSafe(|| body(&mut stderr))) {
        Ok(Ok(code)) => code,
        Ok(Err(Stop::Argument(message))) => {
            stderr.line(function, &message);
            xenmig_cli::exit::USAGE_OR_IO
        }
        Ok(Err(Stop::Tool(failure))) => {
            // An empty message is the tool's quiet end (a closed pipe on a report).
            if !failure.message.is_empty() && stderr.1 == Quiet::No {
                stderr.line(tool, &failure.message);
            }
            failure.code
        }
        Ok(Err(Stop::Usage(text))) => {
            stderr.0.push_str(&text);
            xenmig_cli::exit::USAGE_OR_IO
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            stderr.line(
                function,
                &format!("internal error (a bug in xenmig, please report it): {what}"),
            );
            xenmig_cli::exit::USAGE_OR_IO
        }
    };
    set_last_message(stderr.0);
    c_int::from(code)
}

fn set_last_message(text: String) {
    // Our own messages hold no NUL; one quoted from an input is cut there.
    let message = (!text.is_empty()).then(|| {
        CString::new(text).unwrap_or_else(|e| {
            let end = e.nul_position();
            let mut bytes = e.into_vec();
            bytes.truncate(end);
            CString::new(bytes).unwrap_or_default()
        })
    });
    LAST_MESSAGE.with(|last| *last.borrow_mut() = message);
}

/// Reads a string argument.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged during the call.
#[allow(unsafe_code)]
unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Stop> {
    if ptr.is_null() {
        return Err(Stop::Argument(format!("{what} is NULL")));
    }
    // SAFETY: not NULL (checked above); the caller promises the rest.
    #[allow(unsafe_code)]
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes
        .to_str()
        .map_err(|e| Stop::Argument(format!("{what} is not UTF-8: {e}")))
}

/// Checks an output argument and clears what it points to, so that the
/// caller can free it whatever the outcome.
///
/// # Safety
///
/// `ptr` is NULL or points to a writable `char *`.
#[allow(unsafe_code)]
unsafe fn out_string<'a>(ptr: *mut *mut c_char, what: &str) -> Result<&'a mut *mut c_char, Stop> {
    // SAFETY: the caller promises that a non-NULL pointer is writable.
    #[allow(unsafe_code)]
    let slot = unsafe { ptr.as_mut() };
    let slot = slot.ok_or_else(|| Stop::Argument(format!("{what} is NULL")))?;
    *slot = std::ptr::null_mut();
    Ok(slot)
}

/// Hands `text` to the caller, who frees it with `xenmig_free()`.
fn give(slot: &mut *mut c_char, text: String, what: &str) -> Result<(), Stop> {
    let text = CString::new(text).map_err(|e| {
        Stop::Argument(format!(
            "{what}: the output holds a NUL byte at offset {}, which a C string cannot carry",
            e.nul_position()
        ))
    })?;
    *slot = text.into_raw();
    Ok(())
}

/// A descriptor argument, borrowed for the call.
fn descriptor<'a>(fd: RawFd, what: &str) -> Result<BorrowedFd<'a>, Stop> {
    // SAFETY: F_GETFD reads a descriptor's flags and touches no memory; a
    // number that is not open is answered with EBADF.
    #[allow(unsafe_code)]
    let open = fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
    if !open {
        return Err(Stop::Argument(format!(
            "{what} {fd} is not an open file descriptor"
        )));
    }
    // SAFETY: the descriptor is open (checked above), and the caller keeps it
    // open during the call: it is only duplicated, never closed.
    #[allow(unsafe_code)]
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// The version of libxenmig, such as `"0.1.0"`: the version of the xenmig
/// tools it matches. The string is static: do not free it.
#[allow(unsafe_code)] // an exported symbol
#[unsafe(no_mangle)]
pub extern "C" fn xenmig_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(version) => version,
            Err(_) => panic!("the package version holds a NUL byte"),
        };
    VERSION.as_ptr()
}

/// What the last call of a libxenmig function returning an exit code, on
/// this thread, would have written to standard error as a tool: its error
/// message and warnings, each line ending in a newline (such as
/// `"verify-stream-v2: Stream Error: fd 3: ...\n"`); NULL when there was
/// nothing to say. The string belongs to the library and stays valid until
/// the next such call on this thread: do not free it.
#[allow(unsafe_code)] // an exported symbol
#[unsafe(no_mangle)]
pub extern "C" fn xenmig_last_message() -> *const c_char {
    LAST_MESSAGE.with(|last| {
        last.borrow()
            .as_ref()
            .map_or(std::ptr::null(), |message| message.as_ptr())
    })
}

/// Frees a string that a libxenmig function handed over (a report, an
/// output). NULL is ignored.
///
/// # Safety
///
/// `text` is NULL or a string from libxenmig that has not been freed yet.
#[allow(unsafe_code)] // an exported symbol
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xenmig_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: the caller gives back a string from `CString::into_raw`
        // (`give`), once.
        drop(unsafe { CString::from_raw(text) });
    }
}

/// Verifies the migration stream on `fd`, as `verify-stream-v2 --json -f
/// FORMAT -i FD` does: returns its exit code (0 a valid stream, 1 an invalid
/// or truncated one, 2 a usage or I/O error) and sets `*report_json` to the
/// JSON report it prints (NULL when there is none: a usage error). The
/// message the tool would print is in `xenmig_last_message()`.
///
/// `format` is `"auto"`, `"libxc"`, `"libxl"` or `"xl"`. The stream is read
/// to its end from the descriptor's current offset (seeking over page data
/// when it is a regular file); the descriptor is not closed.
///
/// # Safety
///
/// `format` is NULL or a NUL-terminated string; `report_json` is NULL or
/// points to a writable `char *`, which gets a string to free with
/// `xenmig_free()` or NULL.
#[allow(unsafe_code)] // an exported symbol
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xenmig_verify_fd(
    fd: c_int,
    format: *const c_char,
    report_json: *mut *mut c_char,
) -> c_int {
    call("xenmig_verify_fd", VERIFY_STREAM_V2, |_| {
        // SAFETY: the caller's promises are this function's.
        let report_json = unsafe { out_string(report_json, "report_json") }?;
        let format = unsafe { text(format, "format") }?;
        let format =
            StreamFormat::from_name(format).map_err(|e| Stop::Argument(format!("format: {e}")))?;
        let fd = descriptor(fd, "fd")?;
        let name = Target::Fd(fd.as_raw_fd()).describe();
        let input = Input::borrowed(fd, name.clone())
            .map_err(|e| Failure::usage_or_io(format!("Unable to open {name}: {e}")))?;
        let options = stream_verify::Options::from(stream_verify::Format::from(format));
        let report = xenmig_cli::verify::verify(input, options, None);
        give(
            report_json,
            xenmig_cli::verify::report_json(&report)?,
            "report_json",
        )?;
        Ok(xenmig_cli::verify::verdict(&report, &name)?)
    })
}

/// Computes the CPUID masks of a pool, as `xen-maskcalc OPTIONS DUMP...`
/// does: returns its exit code (0 masks computed; 1 bad input: a dump that
/// does not parse, fewer than two hosts, hosts of different vendors; 2 a
/// usage error) and sets `*output` to what the tool prints on standard
/// output (the masks in the `--format` asked for, `--diff`, `--plan`, or
/// `--help`), NULL after an error. Warnings and the error message are in
/// `xenmig_last_message()`.
///
/// `dumps` holds `n_dumps` dump texts, one per host, each in any format the
/// tool reads (detected per dump, or forced by `--input-format`); host
/// `i` is named `dumps[i]` in messages and outputs. `options` are the
/// tool's options as one string, split at whitespace (such as `"--format
/// xl --hide avx512f"`; `""` for none); they name no dump files.
///
/// # Safety
///
/// `dumps` is NULL or points to `n_dumps` pointers, each NULL or a
/// NUL-terminated string; `options` is NULL or a NUL-terminated string;
/// `output` is NULL or points to a writable `char *`, which gets a string
/// to free with `xenmig_free()` or NULL.
#[allow(unsafe_code)] // an exported symbol
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xenmig_pool_masks(
    dumps: *const *const c_char,
    n_dumps: usize,
    options: *const c_char,
    output: *mut *mut c_char,
) -> c_int {
    call("xenmig_pool_masks", XEN_MASKCALC, |stderr| {
        // SAFETY: the caller's promises are this function's.
        let output = unsafe { out_string(output, "output") }?;
        let options = unsafe { text(options, "options") }?;
        if dumps.is_null() {
            return Err(Stop::Argument("dumps is NULL".to_owned()));
        }
        // SAFETY: `dumps` is not NULL and points to `n_dumps` pointers.
        let pointers = unsafe { std::slice::from_raw_parts(dumps, n_dumps) };
        let mut texts = Vec::with_capacity(pointers.len());
        for (i, &ptr) in pointers.iter().enumerate() {
            if ptr.is_null() {
                return Err(Stop::Argument(format!("dumps[{i}] is NULL")));
            }
            // SAFETY: not NULL; a NUL-terminated string, the caller promises.
            // Bytes, not UTF-8: a dump may hold Latin-1 text the parser skips.
            texts.push(unsafe { CStr::from_ptr(ptr) }.to_bytes());
        }
        let args: xen_maskcalc::Args = match parse_options(XEN_MASKCALC, &[], options) {
            Ok(args) => args,
            Err(not_parsed) => return printed_instead(output, not_parsed),
        };
        if let Some(file) = args.node_files.first() {
            return Err(Stop::Argument(format!(
                "options: expected options only, found the dump file \"{}\" \
                 (the dumps are the `dumps` argument)",
                file.display()
            )));
        }
        let options = pool_masks::pool_options(&args)?;
        let format = args.input_format.format();
        let mut pool = Vec::with_capacity(texts.len() + 1);
        for (i, bytes) in texts.iter().enumerate() {
            let mut host = hosts::parse_dump(&format!("dumps[{i}]"), bytes, format)?;
            // As xen-maskcalc: a dump's quirks undone, each said.
            for warning in hosts::repair_quirks(&mut host) {
                stderr.line(XEN_MASKCALC, &format!("warning: {warning}"));
            }
            pool.push(host);
        }
        if args.local {
            pool.push(hosts::local_host()?);
        }
        let printed = pool_masks::compute(&args, &options, &pool, false)?;
        for line in &printed.consumers {
            stderr.line(XEN_MASKCALC, line);
        }
        for note in &printed.notes {
            stderr.line(XEN_MASKCALC, &format!("note: {note}"));
        }
        for warning in &printed.warnings {
            stderr.line(XEN_MASKCALC, &format!("warning: {warning}"));
        }
        if let Some(explanation) = &printed.explanation {
            stderr.0.push_str(explanation);
        }
        give(output, printed.stdout, "output")?;
        Ok(xenmig_cli::exit::OK)
    })
}

/// Converts the legacy (pre-Xen-4.6) save image on `in_fd` into a v2
/// migration stream on `out_fd`, as `convert-legacy-stream -i IN_FD -o
/// OUT_FD OPTIONS` does: writes the same bytes and returns its exit code (0
/// converted; 1 a bad or truncated image; 2 a usage or I/O error, or content
/// that cannot be converted, such as tmem or Remus compression). On success
/// `*report_json` is a JSON object: `schema_version` (1), `width` (32 or
/// 64), `guest_type` (`"pv"` or `"hvm"`), `detected` (whether either was
/// detected rather than given),
/// `pages`, `page_records`, `input_bytes`, and `verbose`, the lines `-v`
/// prints (empty without `-v`); NULL after an error, whose message is in
/// `xenmig_last_message()` (none with `-q`). `--help` and `--version` give
/// their text in `*report_json` with exit code 0.
///
/// `options` are the tool's options as one string, split at whitespace,
/// such as `"-w 64 -g hvm -f libxl"` or `""`: `-w`, `-g`, `-f`, `-x`,
/// `--skip-qemu`, `-v`, `-q`, with upstream's long names and prefixes
/// (`--guest`); not `-i`/`-o` (the descriptors are), nor `--syslog`. Both
/// descriptors are used from their current offsets and left open; data is
/// written straight through, as with `-o FD` (a non-blocking descriptor is
/// waited for). After a failure the output may hold part of a stream.
///
/// # Safety
///
/// `options` is NULL or a NUL-terminated string; `report_json` is NULL or
/// points to a writable `char *`, which gets a string to free with
/// `xenmig_free()` or NULL.
#[allow(unsafe_code)] // an exported symbol
#[unsafe(no_mangle)]
pub unsafe extern "C" fn xenmig_convert_legacy_fd(
    in_fd: c_int,
    out_fd: c_int,
    options: *const c_char,
    report_json: *mut *mut c_char,
) -> c_int {
    call(
        "xenmig_convert_legacy_fd",
        CONVERT_LEGACY_STREAM,
        |stderr| {
            // SAFETY: the caller's promises are this function's.
            let report_json = unsafe { out_string(report_json, "report_json") }?;
            let options = unsafe { text(options, "options") }?;
            let in_fd = descriptor(in_fd, "in_fd")?;
            let out_fd = descriptor(out_fd, "out_fd")?;
            // `-i`/`-o` given here, so that clap refuses them in `options`.
            let fixed = ["--in", "-", "--out", "-"];
            let args: convert_legacy_stream::Args =
                match parse_options(CONVERT_LEGACY_STREAM, &fixed, options) {
                    Ok(args) => args,
                    Err(not_parsed) => return printed_instead(report_json, not_parsed),
                };
            if args.syslog {
                return Err(Stop::Argument(
                    "options: --syslog is the tool's: the library logs nothing (the -v lines \
                 are in the report, the messages in xenmig_last_message)"
                        .to_owned(),
                ));
            }
            if args.quiet {
                stderr.1 = Quiet::Yes;
            }
            let input_name = Target::Fd(in_fd.as_raw_fd()).describe();
            let input = Input::borrowed(in_fd, input_name.clone()).map_err(|e| {
                Failure::usage_or_io(format!("cannot open input {input_name}: {e}"))
            })?;
            let output_name = Target::Fd(out_fd.as_raw_fd()).describe();
            let mut output =
                Output::borrowed(out_fd, output_name.clone(), Some(&input)).map_err(|e| {
                    Failure::usage_or_io(format!("cannot open output {output_name}: {e}"))
                })?;
            let converter_options = convert::options(&args, &input);
            let mut lines = Lines {
                wanted: args.verbose && !args.quiet,
                lines: Vec::new(),
            };
            let summary =
                convert::convert(&input, &mut output, &args, &converter_options, &mut lines)?;
            output
                .commit()
                .map_err(|e| Failure::output(&output_name, e))?;
            give(
                report_json,
                convert::report_json(&summary, &lines.lines)?,
                "report_json",
            )?;
            Ok(xenmig_cli::exit::OK)
        },
    )
}

/// The converter's `-v` lines, kept for the report.
struct Lines {
    wanted: bool,
    lines: Vec<String>,
}

impl legacy_convert::Observer for Lines {
    fn wants_info(&self) -> bool {
        self.wanted
    }

    fn info(&mut self, line: &str) {
        // As the tool prints them: physmap names come from the image.
        self.lines
            .push(xenmig_cli::term::printable(line).into_owned());
    }
}

/// What the tool prints instead of running when its options do not parse:
/// `--help` and `--version` go to `output` with exit code 0, a usage error
/// to the message.
fn printed_instead(output: &mut *mut c_char, not_parsed: NotParsed) -> Result<u8, Stop> {
    if not_parsed.code == xenmig_cli::exit::OK {
        give(output, not_parsed.text, "output")?;
        Ok(not_parsed.code)
    } else {
        Err(Stop::Usage(not_parsed.text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_message() -> Option<String> {
        let ptr = xenmig_last_message();
        // SAFETY: a string of the library, valid until the next call.
        #[allow(unsafe_code)]
        (!ptr.is_null()).then(|| {
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned()
        })
    }

    #[test]
    fn a_panic_is_exit_code_2_with_its_message() {
        let code = call("xenmig_demo", "demo", |_| panic!("boom {}", 7));
        assert_eq!(code, 2);
        let message = last_message().unwrap();
        assert!(
            message.starts_with("xenmig_demo: internal error") && message.ends_with("boom 7\n"),
            "{message}"
        );
        let code = call("xenmig_demo", "demo", |_| std::panic::panic_any(5_u32));
        assert_eq!(code, 2);
        assert!(last_message().unwrap().ends_with("no message\n"));
    }

    #[test]
    fn messages_are_prefixed_like_the_tools_and_cleared_by_the_next_call() {
        let code = call("xenmig_demo", "demo", |stderr| {
            stderr.line("demo", "warning: first");
            Err(Failure::bad_input("bad").into())
        });
        assert_eq!(code, 1);
        assert_eq!(last_message().unwrap(), "demo: warning: first\ndemo: bad\n");
        assert_eq!(call("xenmig_demo", "demo", |_| Ok(0)), 0);
        assert_eq!(last_message(), None);
    }

    #[test]
    fn a_nul_in_a_message_cuts_it_there() {
        call("xenmig_demo", "demo", |_| {
            Err(Failure::bad_input("a\0b").into())
        });
        assert_eq!(last_message().unwrap(), "demo: a");
    }
}

//! Lists the headers and records of a migration stream, one line each.
//!
//! ```text
//! cargo run -p migration-stream --example list_records -- testdata/streams/xl-hvm-v3.bin
//! ```

use std::io::Write;
use std::process::ExitCode;

use migration_stream::{Event, StreamReader};

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        return fail("usage: list_records STREAM", 2);
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) => return fail(&format!("{}: {err}", path.to_string_lossy()), 2),
    };
    // Seekable: bodies are skipped without reading them.
    let mut stream = StreamReader::seekable(file);
    let mut out = std::io::stdout().lock();
    loop {
        let event = match stream.next_event() {
            Ok(event) => event,
            Err(err) => return fail(&format!("{}: {err}", path.to_string_lossy()), 1),
        };
        let written = match event {
            Event::XlHeader(h) => writeln!(
                out,
                "xl header: flags {:?}, {} bytes of config",
                h.mandatory_flags,
                h.config().len()
            ),
            Event::LibxlHeader(h) => writeln!(out, "libxl header: options {:#x}", h.options.get()),
            Event::ImageHeader(h) => {
                writeln!(out, "libxc image header: version {}", h.version.get())
            }
            Event::DomainHeader(h) => writeln!(
                out,
                "libxc domain header: {} from Xen {}.{}",
                h.domain_type(),
                h.xen_major.get(),
                h.xen_minor.get()
            ),
            Event::LibxlRecord(info) => writeln!(
                out,
                "{:>8}  libxl #{:<3} {} ({} bytes)",
                info.offset,
                info.index,
                info.libxl_type(),
                info.length
            ),
            Event::LibxcRecord(info) => writeln!(
                out,
                "{:>8}  libxc #{:<3} {} ({} bytes)",
                info.offset,
                info.index,
                info.libxc_type(),
                info.length
            ),
            Event::Trailing { offset } => writeln!(out, "{offset:>8}  trailing bytes after END"),
            Event::End => return ExitCode::SUCCESS,
        };
        // A reader that went away (`| head`) is not an error.
        if written.is_err() {
            return ExitCode::SUCCESS;
        }
    }
}

/// Reports `message` on standard error and returns `code`. Unlike `eprintln!`,
/// a closed standard error does not panic.
fn fail(message: &str, code: u8) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{message}");
    ExitCode::from(code)
}

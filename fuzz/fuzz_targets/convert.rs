//! Fuzzes the legacy converter: any bytes, any options. It must not panic,
//! hang or allocate without bound, and whatever it writes on success must
//! read back as a well-framed stream.

#![no_main]

use legacy_convert::convert::{Options, OutputFormat, Quiet, convert};
use legacy_convert::format::{GuestType, Width};
use libfuzzer_sys::fuzz_target;
use migration_stream::{Event, StreamReader};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, image)) = data.split_first() else {
        return;
    };
    let mut options = Options::default();
    options.format = if flags & 1 != 0 {
        OutputFormat::Libxl
    } else {
        OutputFormat::Libxc
    };
    options.width = match (flags >> 1) & 3 {
        0 => None,
        1 => Some(Width::W32),
        _ => Some(Width::W64),
    };
    options.guest = match (flags >> 3) & 3 {
        0 => None,
        1 => Some(GuestType::Pv),
        _ => Some(GuestType::Hvm),
    };
    options.xl_header = flags & 0x20 != 0;
    options.skip_qemu = flags & 0x40 != 0;
    options.input_len = (flags & 0x80 != 0).then_some(image.len() as u64);
    let mut out = Vec::new();
    if convert(image, &mut out, &options, &mut Quiet).is_err() || options.xl_header {
        return;
    }
    let mut stream = StreamReader::new(&out[..]);
    loop {
        match stream.next_event() {
            Ok(Event::End | Event::Trailing { .. }) => break,
            Ok(_) => {}
            Err(err) => panic!("converted stream does not read back: {err}"),
        }
    }
});

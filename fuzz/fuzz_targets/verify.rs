//! The whole verifier over arbitrary bytes, in every format: it must never
//! panic, hang or allocate without bound, and reading the same bytes in order
//! (as from a pipe) or by seeking (as from a file) must give the same report;
//! stopping at END finds the same errors up to END and nothing after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use stream_verify::{Format, Options, verify, verify_seekable};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let format = match selector % 4 {
        0 => Format::Auto,
        1 => Format::Libxc,
        2 => Format::Libxl,
        _ => Format::Xl,
    };
    let mut lines = 0usize;
    let mut sink = |_: &str| lines += 1;
    let sequential = verify(stream, format, Some(&mut sink));
    let seeking = verify_seekable(Cursor::new(stream), format, None);
    assert_eq!(sequential, seeking);
    if sequential.is_valid() {
        assert_eq!(sequential.bytes, stream.len() as u64);
    }
    let mut options = Options::from(format);
    options.stop_at_end = true;
    let stopping = verify(stream, options, None);
    match (&stopping.error, &sequential.error) {
        (Some(early), whole) => assert_eq!(Some(early), whole.as_ref()),
        // What reading on finds lies after the END where stopping stopped.
        (None, Some(late)) => assert!(late.offset() >= stopping.bytes),
        (None, None) => {}
    }
});

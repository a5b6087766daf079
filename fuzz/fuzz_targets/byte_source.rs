//! Drives `migration_stream::source::Input` with arbitrary peek/read/skip
//! sequences over the same bytes through a slice, a short-read reader and a
//! seekable cursor, and checks each against a plain cursor model: same bytes,
//! same offsets, same truncation reports. Nothing may panic.
#![no_main]

use std::io::{self, Cursor, Read};

use libfuzzer_sys::fuzz_target;
use migration_stream::source::{ByteSource, Input, InputError, Seekable, Sequential};

/// Returns at most `step` bytes per read, like a busy pipe.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn run<S: ByteSource>(mut input: Input<S>, data: &[u8], ops: &[u8]) {
    let len = data.len() as u64;
    let mut at = 0u64;
    let mut out = vec![0u8; 4096];
    for pair in ops.chunks_exact(2) {
        let (op, arg) = (pair[0] % 6, usize::from(pair[1]) * usize::from(pair[0] / 6 + 1));
        let here = at as usize;
        let arg = arg.min(out.len());
        match op {
            0 => {
                let most = input.buffer_size();
                let bytes = input.peek(arg).expect("peek");
                let want = arg.min(most).min(data.len() - here);
                assert_eq!(bytes, &data[here..here + want]);
            }
            1 => {
                let got = input.read_some(&mut out[..arg]).expect("read_some");
                assert_eq!(got == 0, arg == 0 || at == len);
                assert_eq!(&out[..got], &data[here..here + got]);
                at += got as u64;
            }
            2 => {
                let got = input.read_up_to(&mut out[..arg]).expect("read_up_to");
                assert_eq!(got, arg.min(data.len() - here));
                assert_eq!(&out[..got], &data[here..here + got]);
                at += got as u64;
            }
            3 => match input.read_exact(&mut out[..arg]) {
                Ok(()) => {
                    assert_eq!(&out[..arg], &data[here..here + arg]);
                    at += arg as u64;
                }
                Err(InputError::Truncated { offset, wanted }) => {
                    assert_eq!((offset, wanted), (len, at + arg as u64 - len));
                    at = len;
                }
                Err(err) => panic!("{err}"),
            },
            4 => {
                let n = (arg as u64) * 37;
                match input.skip(n) {
                    Ok(()) => at += n,
                    Err(InputError::Truncated { offset, wanted }) => {
                        assert_eq!((offset, wanted), (len, at + n - len));
                        at = len;
                    }
                    Err(err) => panic!("{err}"),
                }
                assert!(at <= len);
            }
            _ => assert_eq!(input.at_end().expect("at_end"), at == len),
        }
        assert_eq!(input.offset(), at);
    }
}

fuzz_target!(|input: &[u8]| {
    // Layout: buffer size, read step, ops length, ops, then the data.
    let [buffer, step, ops_len, rest @ ..] = input else {
        return;
    };
    let (ops, data) = rest.split_at(usize::from(*ops_len).min(rest.len()));
    let buffer = usize::from(*buffer) * 16;
    let step = usize::from(*step).max(1) * 7;
    run(Input::with_buffer_size(Sequential::new(data), buffer), data, ops);
    run(
        Input::with_buffer_size(Sequential::new(Trickle { data, step }), buffer),
        data,
        ops,
    );
    let seekable = Seekable::new(Cursor::new(data)).expect("a cursor seeks");
    run(Input::with_buffer_size(seekable, buffer), data, ops);
});

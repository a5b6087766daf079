//! A buffered input that can peek a few bytes ahead (for probing) and hands
//! large payloads to `std::io::copy` on the unwrapped source, so that the
//! standard library's kernel-copy specialisations (`copy_file_range`,
//! `splice`, `sendfile`) apply when the source and sink are files or pipes.

use std::io::{self, Read};

use crate::reader::PayloadSink;

/// Buffer size for small reads (markers, pfn arrays, small payloads).
const BUFFER_SIZE: usize = 128 * 1024;

/// Payloads at least this large bypass the buffer and go through `io::copy`.
const DIRECT_COPY_THRESHOLD: u64 = 64 * 1024;

/// Buffered reader that counts the bytes it has handed out.
#[derive(Debug)]
pub(crate) struct Input<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes consumed by the caller so far.
    offset: u64,
}

/// A short read: the input ended after `got` of the wanted bytes.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    Eof { got: u64 },
    Io(io::Error),
}

impl From<io::Error> for ReadFailure {
    fn from(err: io::Error) -> Self {
        ReadFailure::Io(err)
    }
}

impl<R: Read> Input<R> {
    pub(crate) fn new(inner: R, start_offset: u64) -> Self {
        Input {
            inner,
            buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            end: 0,
            offset: start_offset,
        }
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    fn buffered(&self) -> usize {
        self.end - self.pos
    }

    /// Reads more into the buffer; returns the number of new bytes (0 at EOF).
    fn refill(&mut self) -> io::Result<usize> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Up to `n` (≤ the buffer size) upcoming bytes, without consuming them.
    /// Shorter only at the end of the input.
    pub(crate) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        let n = n.min(self.buf.len());
        while self.buffered() < n {
            if self.pos + n > self.buf.len() {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            if self.refill()? == 0 {
                break;
            }
        }
        let avail = self.buffered().min(n);
        Ok(&self.buf[self.pos..self.pos + avail])
    }

    /// Fills `out` completely.
    pub(crate) fn read_exact(&mut self, out: &mut [u8]) -> Result<(), ReadFailure> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end && self.refill()? == 0 {
                return Err(ReadFailure::Eof { got: done as u64 });
            }
            let n = (out.len() - done).min(self.buffered());
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            self.offset += n as u64;
            done += n;
        }
        Ok(())
    }

    /// Moves exactly `len` bytes to `out`. Small amounts go through the
    /// buffer; large ones through `io::copy` on the unwrapped source.
    /// Write errors are reported as `ReadFailure::Io` too: the caller cannot
    /// tell them apart through `io::copy` and treats both as I/O failures.
    pub(crate) fn copy_to<S: PayloadSink + ?Sized>(
        &mut self,
        out: &mut S,
        len: u64,
    ) -> Result<(), ReadFailure> {
        let mut done: u64 = 0;
        // First whatever is already buffered.
        while done < len {
            if self.pos == self.end {
                if len - done >= DIRECT_COPY_THRESHOLD {
                    break;
                }
                if self.refill()? == 0 {
                    return Err(ReadFailure::Eof { got: done });
                }
            }
            let n = (len - done).min(self.buffered() as u64) as usize;
            out.write_piece(&self.buf[self.pos..self.pos + n])?;
            self.pos += n;
            self.offset += n as u64;
            done += n as u64;
        }
        if done < len {
            let want = len - done;
            let copied = out.copy_from(&mut self.inner, want)?;
            self.offset += copied;
            done += copied;
            if copied < want {
                return Err(ReadFailure::Eof { got: done });
            }
        }
        Ok(())
    }

    /// Moves everything up to the end of the input to `out`; returns the count.
    pub(crate) fn copy_to_end<W: io::Write + ?Sized>(&mut self, out: &mut W) -> io::Result<u64> {
        let buffered = self.buffered();
        out.write_all(&self.buf[self.pos..self.end])?;
        self.pos = self.end;
        self.offset += buffered as u64;
        let copied = io::copy(&mut self.inner, out)?;
        self.offset += copied;
        Ok(buffered as u64 + copied)
    }

    /// Discards exactly `len` bytes.
    pub(crate) fn skip(&mut self, len: u64) -> Result<(), ReadFailure> {
        self.copy_to(&mut crate::reader::RawSink(io::sink()), len)
    }

    /// Reads everything up to the end of the input into `out`, failing with
    /// `Ok(false)` once more than `limit` bytes arrive.
    pub(crate) fn read_to_end_limited(
        &mut self,
        out: &mut Vec<u8>,
        limit: u64,
    ) -> io::Result<bool> {
        loop {
            if self.pos == self.end && self.refill()? == 0 {
                return Ok(true);
            }
            let n = self.buffered();
            if (out.len() + n) as u64 > limit {
                return Ok(false);
            }
            out.extend_from_slice(&self.buf[self.pos..self.end]);
            self.pos = self.end;
            self.offset += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::RawSink;

    /// A reader that hands out one byte per call, to exercise refills.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn peek_does_not_consume_and_reads_continue_after_it() {
        let data: Vec<u8> = (0..=255).collect();
        let mut input = Input::new(Trickle(&data), 0);
        assert_eq!(input.peek(24).unwrap(), &data[..24]);
        let mut four = [0; 4];
        input.read_exact(&mut four).unwrap();
        assert_eq!(four, [0, 1, 2, 3]);
        assert_eq!(input.offset(), 4);
        let mut out = RawSink(Vec::new());
        input.copy_to(&mut out, 100).unwrap();
        assert_eq!(out.0, &data[4..104]);
        input.skip(100).unwrap();
        assert_eq!(input.offset(), 204);
        let mut rest = Vec::new();
        assert_eq!(input.copy_to_end(&mut rest).unwrap(), 52);
        assert_eq!(rest, &data[204..]);
    }

    #[test]
    fn large_copies_bypass_the_buffer_and_report_short_input() {
        let data = vec![7u8; 300_000];
        let mut input = Input::new(&data[..], 10);
        let mut first = [0; 3];
        input.read_exact(&mut first).unwrap();
        let mut out = RawSink(Vec::new());
        input.copy_to(&mut out, 200_000).unwrap();
        assert_eq!(out.0.len(), 200_000);
        assert_eq!(input.offset(), 10 + 200_003);
        match input.copy_to(&mut out, 200_000) {
            Err(ReadFailure::Eof { got }) => assert_eq!(got, 99_997),
            other => panic!("expected a short read, got {other:?}"),
        }
    }

    #[test]
    fn peek_at_end_of_input_is_short() {
        let mut input = Input::new(&b"abc"[..], 0);
        assert_eq!(input.peek(24).unwrap(), b"abc");
        let mut four = [0; 4];
        assert!(matches!(
            input.read_exact(&mut four),
            Err(ReadFailure::Eof { got: 3 })
        ));
    }
}

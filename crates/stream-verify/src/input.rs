//! The byte source under the verifier: one fixed buffer, an absolute offset,
//! and skipping that seeks when the input is a regular file.
//!
//! Reads go straight into one 128 KiB buffer, so a pipe is drained with as few
//! system calls as `cat` makes, whatever the record sizes; nothing else is
//! buffered, whatever the stream says about its lengths.

use std::io::{self, Read, Seek, SeekFrom};

/// Size of the single read buffer: large enough that pipe reads return whole
/// pipe-buffer loads (64 KiB on Linux) and page data is skipped in big steps.
const BUFFER_SIZE: usize = 128 * 1024;

/// Where the bytes come from: a sequential reader, or a seekable file whose
/// skips are seeks.
pub(crate) trait ByteSource {
    /// Reads some bytes, like [`Read::read`].
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Moves `n` bytes forward without reading them, when possible. Returns
    /// `Ok(Some(moved))` with how many bytes actually existed (fewer at end of
    /// file), or `Ok(None)` when this source cannot seek.
    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>>;
}

/// A source that can only be read in order (a pipe, a socket, a slice).
pub(crate) struct Sequential<R>(pub(crate) R);

impl<R: Read> ByteSource for Sequential<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
    fn seek_forward(&mut self, _n: u64) -> io::Result<Option<u64>> {
        Ok(None)
    }
}

/// A pipe or socket given as a [`File`](std::fs::File): skips are spliced into
/// `/dev/null` by the kernel (std's `io::copy` uses `splice(2)` between a pipe
/// and a file), so page data never crosses into user space.
pub(crate) struct Spliced {
    inner: std::fs::File,
    null: std::fs::File,
}

impl Spliced {
    /// `null` is `/dev/null` opened for writing.
    pub(crate) fn new(inner: std::fs::File, null: std::fs::File) -> Self {
        Spliced { inner, null }
    }
}

impl ByteSource for Spliced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        let moved = io::copy(&mut (&self.inner).take(n), &mut self.null)?;
        Ok(Some(moved))
    }
}

/// A regular file: skips seek, bounded by the length measured at the start
/// (seeking past the end of a file succeeds silently, so the bound is what
/// detects truncation).
pub(crate) struct Seekable<R> {
    inner: R,
    position: u64,
    end: u64,
}

impl<R: Read + Seek> Seekable<R> {
    /// Measures the file from its current position (an inherited descriptor may
    /// already be positioned past an xl header) to its end.
    pub(crate) fn new(mut inner: R) -> io::Result<Self> {
        let position = inner.stream_position()?;
        let end = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(position))?;
        Ok(Seekable {
            inner,
            position,
            end,
        })
    }
}

impl<R: Read + Seek> ByteSource for Seekable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position = self.position.saturating_add(n as u64);
        Ok(n)
    }
    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        let available = self.end.saturating_sub(self.position);
        let moved = n.min(available);
        let target = self.position.saturating_add(moved);
        self.inner.seek(SeekFrom::Start(target))?;
        self.position = target;
        Ok(Some(moved))
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum InputError {
    /// The input ended `wanted` bytes before what the stream announced.
    Truncated {
        /// Offset at which the bytes were expected.
        offset: u64,
        /// How many bytes were still wanted.
        wanted: u64,
    },
    /// The operating system failed the read or seek.
    Io(io::Error),
}

/// The buffered input with its absolute offset.
pub(crate) struct Input<S> {
    source: S,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    /// Absolute offset of `buffer[start]` in the stream.
    offset: u64,
}

impl<S: ByteSource> Input<S> {
    pub(crate) fn new(source: S) -> Self {
        Input {
            source,
            buffer: vec![0; BUFFER_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            offset: 0,
        }
    }

    /// Absolute offset of the next unread byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Refills the (empty) buffer; returns how many bytes arrived, 0 at end of input.
    fn fill(&mut self) -> Result<usize, InputError> {
        debug_assert_eq!(self.start, self.end);
        self.start = 0;
        self.end = 0;
        loop {
            match self.source.read(&mut self.buffer) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(InputError::Io(err)),
            }
        }
    }

    /// True when no byte is left (reads ahead if the buffer is empty).
    pub(crate) fn at_end(&mut self) -> Result<bool, InputError> {
        if self.start < self.end {
            return Ok(false);
        }
        Ok(self.fill()? == 0)
    }

    /// The next `n` (at most a few dozen) bytes without consuming them; fewer at end of input.
    pub(crate) fn peek(&mut self, n: usize) -> Result<&[u8], InputError> {
        let n = n.min(self.buffer.len());
        if self.end - self.start < n {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n {
                match self.source.read(&mut self.buffer[self.end..]) {
                    Ok(0) => break,
                    Ok(got) => self.end += got,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(InputError::Io(err)),
                }
            }
        }
        let have = n.min(self.end - self.start);
        Ok(&self.buffer[self.start..self.start + have])
    }

    /// Up to `out.len()` bytes, stopping early only at end of input.
    pub(crate) fn read_up_to(&mut self, out: &mut [u8]) -> Result<usize, InputError> {
        let mut done = 0;
        while done < out.len() {
            if self.start == self.end && self.fill()? == 0 {
                break;
            }
            let take = (out.len() - done).min(self.end - self.start);
            out[done..done + take].copy_from_slice(&self.buffer[self.start..self.start + take]);
            self.start += take;
            done += take;
            self.offset += take as u64;
        }
        Ok(done)
    }

    /// Exactly `out.len()` bytes.
    pub(crate) fn read_exact(&mut self, out: &mut [u8]) -> Result<(), InputError> {
        let at = self.offset;
        let got = self.read_up_to(out)?;
        if got < out.len() {
            return Err(InputError::Truncated {
                offset: at + got as u64,
                wanted: (out.len() - got) as u64,
            });
        }
        Ok(())
    }

    /// Passes over `n` bytes: seeks on a regular file, reads and discards otherwise.
    pub(crate) fn skip(&mut self, n: u64) -> Result<(), InputError> {
        let buffered = (self.end - self.start) as u64;
        let from_buffer = n.min(buffered);
        self.start += from_buffer as usize;
        self.offset += from_buffer;
        let mut left = n - from_buffer;
        if left == 0 {
            return Ok(());
        }
        match self.source.seek_forward(left).map_err(InputError::Io)? {
            Some(moved) => {
                self.offset += moved;
                left -= moved;
            }
            None => {
                while left > 0 {
                    if self.fill()? == 0 {
                        break;
                    }
                    let take = (left.min(self.end as u64)) as usize;
                    self.start = take;
                    self.offset += take as u64;
                    left -= take as u64;
                }
            }
        }
        if left > 0 {
            return Err(InputError::Truncated {
                offset: self.offset,
                wanted: left,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A reader that returns at most `step` bytes per call, like a pipe.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn reads_and_skips_across_short_reads() {
        let bytes = data(300_000);
        let mut input = Input::new(Sequential(Trickle(&bytes, 7_001)));
        let mut head = [0u8; 10];
        input.read_exact(&mut head).unwrap();
        assert_eq!(&head, &bytes[..10]);
        input.skip(200_000).unwrap();
        assert_eq!(input.offset(), 200_010);
        let mut next = [0u8; 5];
        input.read_exact(&mut next).unwrap();
        assert_eq!(&next, &bytes[200_010..200_015]);
        assert!(!input.at_end().unwrap());
        input.skip(99_985).unwrap();
        assert!(input.at_end().unwrap());
    }

    #[test]
    fn seeking_skip_detects_truncation() {
        let bytes = data(5_000);
        let mut input = Input::new(Seekable::new(Cursor::new(&bytes)).unwrap());
        input.skip(4_000).unwrap();
        let mut one = [0u8; 1];
        input.read_exact(&mut one).unwrap();
        assert_eq!(one[0], bytes[4_000]);
        match input.skip(10_000) {
            Err(InputError::Truncated { offset, wanted }) => {
                assert_eq!(offset, 5_000);
                assert_eq!(wanted, 10_000 - 999);
            }
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    #[test]
    fn sequential_skip_detects_truncation() {
        let bytes = data(1_000);
        let mut input = Input::new(Sequential(&bytes[..]));
        assert_eq!(input.peek(4).unwrap(), &bytes[..4]);
        assert!(matches!(
            input.skip(1_001),
            Err(InputError::Truncated {
                offset: 1_000,
                wanted: 1
            })
        ));
    }
}

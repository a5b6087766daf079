//! [`Input`]: the one buffer in front of a [`ByteSource`], with the absolute
//! offset of the next unread byte (see the [module documentation](super)).

use std::io;

use super::{ByteSource, CopySink};

/// Buffer size of [`Input::new`]: large enough that pipe reads return whole
/// pipe-buffer loads (64 KiB on Linux) and sequential skips move in big steps.
pub const DEFAULT_BUFFER_SIZE: usize = 128 * 1024;

/// Smallest buffer [`Input::with_buffer_size`] uses, so that stream headers
/// (32 bytes at most) can always be peeked whole.
pub const MIN_BUFFER_SIZE: usize = 64;

/// Why [`Input`] could not deliver what was asked.
///
/// ```
/// use migration_stream::source::{Input, InputError, Sequential};
///
/// let mut input = Input::new(Sequential::new(&b"short"[..]));
/// let err = input.read_exact(&mut [0u8; 8]).unwrap_err();
/// assert!(matches!(err, InputError::Truncated { offset: 5, wanted: 3 }));
/// assert_eq!(err.to_string(), "input ended at byte offset 5 with 3 more bytes expected");
/// // Where only io::Error is reported, a truncation is an unexpected end of file.
/// let io: std::io::Error = err.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The input ended `wanted` bytes short of what was asked.
    #[error("input ended at byte offset {offset} with {wanted} more bytes expected")]
    Truncated {
        /// Where the input ended (absolute byte offset).
        offset: u64,
        /// How many more bytes were wanted.
        wanted: u64,
    },
    /// The operating system failed a read or seek (or, in
    /// [`Input::copy_to`], the sink failed a write).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// For callers that report only [`io::Error`]s: a truncation becomes
/// [`io::ErrorKind::UnexpectedEof`] with the same message.
impl From<InputError> for io::Error {
    fn from(err: InputError) -> Self {
        match err {
            InputError::Io(err) => err,
            truncated => io::Error::new(io::ErrorKind::UnexpectedEof, truncated.to_string()),
        }
    }
}

/// A [`ByteSource`] behind one fixed buffer, with the absolute offset of the
/// next unread byte (counted from where the source was when wrapped).
///
/// The buffer is allocated once; reads of at least its size with nothing
/// buffered go straight into the caller's memory, skips seek or splice when
/// the source can, and nothing else is ever allocated.
///
/// ```
/// use migration_stream::source::{Input, MIN_BUFFER_SIZE, Sequential};
///
/// let bytes: Vec<u8> = (0..=255).collect();
/// let mut input = Input::with_buffer_size(Sequential::new(&bytes[..]), 16);
/// assert_eq!(input.buffer_size(), MIN_BUFFER_SIZE, "a buffer has a floor");
/// let mut some = [0u8; 10];
/// assert_eq!(input.read_some(&mut some)?, 10); // one read from the source
/// let mut more = [0u8; 100];
/// assert_eq!(input.read_up_to(&mut more)?, 100); // as many reads as it takes
/// assert_eq!((more[0], input.offset()), (10, 110));
/// let mut rest = Vec::new();
/// assert_eq!(input.copy_to_end(&mut rest)?, 146);
/// assert!(input.at_end()?);
/// assert_eq!(input.into_source().into_inner().len(), 0);
/// # Ok::<(), migration_stream::source::InputError>(())
/// ```
pub struct Input<S> {
    source: S,
    buffer: Box<[u8]>,
    /// Buffered bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    /// Absolute offset of `buffer[start]`.
    offset: u64,
}

impl<S> Input<S> {
    /// An input with a [`DEFAULT_BUFFER_SIZE`] buffer.
    pub fn new(source: S) -> Self {
        Input::with_buffer_size(source, DEFAULT_BUFFER_SIZE)
    }

    /// An input with a buffer of `size` bytes (at least [`MIN_BUFFER_SIZE`]).
    /// The size bounds [`peek`](Input::peek) and sets the read size for
    /// small reads.
    pub fn with_buffer_size(source: S, size: usize) -> Self {
        Input {
            source,
            buffer: vec![0; size.max(MIN_BUFFER_SIZE)].into_boxed_slice(),
            start: 0,
            end: 0,
            offset: 0,
        }
    }

    /// Absolute byte offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the buffer.
    pub fn buffer_size(&self) -> usize {
        self.buffer.len()
    }

    /// The source. Bytes may be buffered in this `Input`.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Unwraps the source, dropping buffered bytes.
    pub fn into_source(self) -> S {
        self.source
    }
}

impl<S: ByteSource> Input<S> {
    /// One read from the source into `out`, retrying on interruption and,
    /// when the source can wait, after `EAGAIN`. A source claiming more
    /// bytes than it was given must not make the offset arithmetic or
    /// slicing go wrong, so the count is clamped.
    fn read_source(source: &mut S, out: &mut [u8]) -> Result<usize, InputError> {
        loop {
            match source.read(out) {
                Ok(n) => return Ok(n.min(out.len())),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err)
                    if err.kind() == io::ErrorKind::WouldBlock && source.wait_readable()? =>
                {
                    continue;
                }
                Err(err) => return Err(InputError::Io(err)),
            }
        }
    }

    /// Refills the (empty) buffer; returns how many bytes arrived, 0 at the end.
    fn fill(&mut self) -> Result<usize, InputError> {
        self.start = 0;
        self.end = Self::read_source(&mut self.source, &mut self.buffer)?;
        Ok(self.end)
    }

    /// Whether no byte is left (reads ahead when the buffer is empty).
    pub fn at_end(&mut self) -> Result<bool, InputError> {
        if self.start < self.end {
            return Ok(false);
        }
        Ok(self.fill()? == 0)
    }

    /// The next `n` bytes (at most [`buffer_size`](Input::buffer_size))
    /// without consuming them; fewer only at the end of input.
    ///
    /// ```
    /// use migration_stream::source::{Input, Sequential};
    /// let mut input = Input::new(Sequential::new(&b"LibxlFmt..."[..]));
    /// assert_eq!(input.peek(8)?, b"LibxlFmt");
    /// assert_eq!(input.offset(), 0, "nothing consumed");
    /// assert_eq!(input.peek(100)?.len(), 11, "fewer at the end of input");
    /// # Ok::<(), migration_stream::source::InputError>(())
    /// ```
    pub fn peek(&mut self, n: usize) -> Result<&[u8], InputError> {
        let n = n.min(self.buffer.len());
        if self.end - self.start < n {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n {
                let tail = self.buffer.get_mut(self.end..).unwrap_or_default();
                let got = Self::read_source(&mut self.source, tail)?;
                if got == 0 {
                    break;
                }
                self.end += got;
            }
        }
        let have = n.min(self.end - self.start);
        Ok(self
            .buffer
            .get(self.start..self.start + have)
            .unwrap_or_default())
    }

    /// Up to `out.len()` bytes with at most one read from the source; 0 only
    /// at the end of input (or for an empty `out`). With nothing buffered, a
    /// read of at least the buffer's size goes straight into `out`.
    pub fn read_some(&mut self, out: &mut [u8]) -> Result<usize, InputError> {
        if out.is_empty() {
            return Ok(0);
        }
        let n = if self.start == self.end && out.len() >= self.buffer.len() {
            Self::read_source(&mut self.source, out)?
        } else {
            if self.start == self.end && self.fill()? == 0 {
                return Ok(0);
            }
            let available = self.buffer.get(self.start..self.end).unwrap_or_default();
            let n = available.len().min(out.len());
            out[..n].copy_from_slice(&available[..n]);
            self.start += n;
            n
        };
        self.offset += n as u64;
        Ok(n)
    }

    /// Up to `out.len()` bytes, fewer only at the end of input.
    pub fn read_up_to(&mut self, out: &mut [u8]) -> Result<usize, InputError> {
        let mut done = 0;
        while done < out.len() {
            let n = self.read_some(&mut out[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// Exactly `out.len()` bytes, or [`InputError::Truncated`] saying where
    /// the input ended (the bytes that did arrive are in `out` and consumed).
    ///
    /// ```
    /// use migration_stream::source::{Input, Sequential};
    /// let mut input = Input::new(Sequential::new(&[1u8, 2, 3, 4, 5][..]));
    /// let mut head = [0u8; 4];
    /// input.read_exact(&mut head)?;
    /// assert_eq!((head, input.offset()), ([1, 2, 3, 4], 4));
    /// assert!(input.read_exact(&mut head).is_err(), "one byte left, four asked");
    /// # Ok::<(), migration_stream::source::InputError>(())
    /// ```
    #[inline]
    pub fn read_exact(&mut self, out: &mut [u8]) -> Result<(), InputError> {
        // Most reads are small (record headers) and already buffered: that
        // case is kept small enough to inline, so a fixed-size read is a copy.
        let buffered = self.buffer.get(self.start..self.end).unwrap_or_default();
        if let Some(bytes) = buffered.get(..out.len()) {
            out.copy_from_slice(bytes);
            self.start += out.len();
            self.offset += out.len() as u64;
            return Ok(());
        }
        self.read_exact_unbuffered(out)
    }

    /// [`read_exact`](Input::read_exact) when the buffer does not hold `out.len()` bytes.
    #[inline(never)]
    fn read_exact_unbuffered(&mut self, out: &mut [u8]) -> Result<(), InputError> {
        let got = self.read_up_to(out)?;
        if got < out.len() {
            return Err(InputError::Truncated {
                offset: self.offset,
                wanted: (out.len() - got) as u64,
            });
        }
        Ok(())
    }

    /// Passes over `n` bytes: from the buffer first, then by seeking or
    /// splicing when the source can, by reading into the buffer otherwise.
    /// A rest shorter than half the buffer is read into the buffer even when
    /// the source could seek or splice: the next read would fill the buffer
    /// anyway, and a seek or splice for a few bytes (a small record body
    /// across the buffer's end) would only add system calls.
    /// On [`InputError::Truncated`] everything up to the end was passed over.
    ///
    /// ```
    /// use migration_stream::source::{Input, InputError, Sequential};
    /// let bytes: Vec<u8> = (0..100).collect();
    /// let mut input = Input::new(Sequential::new(&bytes[..]));
    /// input.skip(90)?;
    /// assert_eq!(input.peek(1)?, [90]);
    /// let err = input.skip(20).unwrap_err();
    /// assert!(matches!(err, InputError::Truncated { offset: 100, wanted: 10 }));
    /// # Ok::<(), InputError>(())
    /// ```
    pub fn skip(&mut self, n: u64) -> Result<(), InputError> {
        let buffered = (self.end - self.start) as u64;
        let from_buffer = n.min(buffered);
        // from_buffer <= buffered, which fits in usize.
        self.start += from_buffer as usize;
        self.offset += from_buffer;
        let mut left = n - from_buffer;
        if left == 0 {
            return Ok(());
        }
        let moved = if left < (self.buffer.len() / 2) as u64 {
            None
        } else {
            self.source.seek_forward(left)?
        };
        match moved {
            Some(moved) => {
                let moved = moved.min(left);
                self.offset += moved;
                left -= moved;
            }
            None => {
                while left > 0 {
                    if self.fill()? == 0 {
                        break;
                    }
                    let take = left.min(self.end as u64);
                    // take <= self.end, which fits in usize.
                    self.start = take as usize;
                    self.offset += take;
                    left -= take;
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

    /// Copies exactly `n` bytes to `sink`: what is buffered first, then the
    /// rest straight from the source with [`io::copy`] (see [`CopySink`]),
    /// so that file-to-file and pipe copies happen in the kernel. A rest
    /// smaller than half the buffer is read into the buffer instead, so that
    /// small payloads cost one read for many rather than a copy call each.
    ///
    /// On [`InputError::Truncated`] everything up to the end of the input
    /// was copied. The sink's write errors are reported as
    /// [`InputError::Io`] too: [`io::copy`] does not say which end failed.
    ///
    /// ```
    /// use migration_stream::source::{Input, InputError, Sequential};
    ///
    /// let mut input = Input::new(Sequential::new(&b"len=5:hello, and then"[..]));
    /// input.skip(6)?;
    /// let mut out = Vec::new();
    /// input.copy_to(5, &mut out)?;
    /// assert_eq!((&out[..], input.offset()), (&b"hello"[..], 11));
    /// match input.copy_to(100, &mut out) {
    ///     Err(InputError::Truncated { offset, wanted }) => assert_eq!((offset, wanted), (21, 90)),
    ///     other => panic!("{other:?}"),
    /// }
    /// assert_eq!(out, b"hello, and then");
    /// # Ok::<(), InputError>(())
    /// ```
    pub fn copy_to<K: CopySink + ?Sized>(
        &mut self,
        n: u64,
        sink: &mut K,
    ) -> Result<(), InputError> {
        let copied = self.copy_up_to(n, sink)?;
        if copied < n {
            return Err(InputError::Truncated {
                offset: self.offset,
                wanted: n - copied,
            });
        }
        Ok(())
    }

    /// Copies everything up to the end of the input to `sink`, as
    /// [`copy_to`](Input::copy_to) does; returns how many bytes that was.
    pub fn copy_to_end<K: CopySink + ?Sized>(&mut self, sink: &mut K) -> Result<u64, InputError> {
        self.copy_up_to(u64::MAX, sink)
    }

    /// Copies up to `n` bytes to `sink`; fewer only at the end of input.
    fn copy_up_to<K: CopySink + ?Sized>(
        &mut self,
        n: u64,
        sink: &mut K,
    ) -> Result<u64, InputError> {
        let mut done = 0;
        loop {
            let available = self.buffer.get(self.start..self.end).unwrap_or_default();
            // take <= the buffered length, which fits in usize.
            let take = (n - done).min(available.len() as u64) as usize;
            if take > 0 {
                sink.write_piece(available.get(..take).unwrap_or_default())?;
            }
            self.start += take;
            self.offset += take as u64;
            done += take as u64;
            let left = n - done;
            if left == 0 {
                return Ok(done);
            }
            if left >= (self.buffer.len() / 2) as u64 {
                let copied = self.source.copy_to(left, sink)?.min(left);
                self.offset += copied;
                return Ok(done + copied);
            }
            if self.fill()? == 0 {
                return Ok(done);
            }
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Input<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("source", &self.source)
            .field("offset", &self.offset)
            .field("buffered", &(self.end - self.start))
            .field("buffer_size", &self.buffer.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Seekable, Sequential};
    use std::io::{Cursor, Read};
    use xenmig_test_support::Trickle;

    /// A reader that claims to have read more than it was given.
    struct Liar;

    impl Read for Liar {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Ok(buf.len() + 10)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn reads_and_skips_across_short_reads() {
        let bytes = data(300_000);
        let mut input = Input::new(Sequential::new(Trickle::new(&bytes[..], 7_001)));
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
    fn seekable_counts_from_the_starting_position_and_sees_growth() {
        let mut cursor = Cursor::new(data(1_000));
        cursor.set_position(100);
        let mut input = Input::with_buffer_size(Seekable::new(cursor).unwrap(), 64);
        input.skip(850).unwrap();
        assert_eq!(input.offset(), 850);
        assert_eq!(input.peek(1).unwrap(), [data(1_000)[950]]);
        // The file grows after it was measured: a skip past the old end sees it.
        let mut cursor = Cursor::new(data(100));
        let mut input = Input::new(Seekable::new(&mut cursor).unwrap());
        input.source.inner.get_mut().extend_from_slice(&[0; 900]);
        input.skip(1_000).unwrap();
        assert!(input.at_end().unwrap());
    }

    #[test]
    fn sequential_skip_detects_truncation() {
        let bytes = data(1_000);
        let mut input = Input::new(Sequential::new(&bytes[..]));
        assert_eq!(input.peek(4).unwrap(), &bytes[..4]);
        assert!(matches!(
            input.skip(1_001),
            Err(InputError::Truncated {
                offset: 1_000,
                wanted: 1
            })
        ));
    }

    #[test]
    fn read_exact_reports_where_the_input_ended() {
        let bytes = data(10);
        let mut input = Input::new(Sequential::new(&bytes[..]));
        let mut out = [0u8; 4];
        input.read_exact(&mut out).unwrap();
        let mut out = [0u8; 16];
        match input.read_exact(&mut out) {
            Err(InputError::Truncated { offset, wanted }) => assert_eq!((offset, wanted), (10, 10)),
            other => panic!("expected truncation, got {other:?}"),
        }
        assert_eq!(&out[..6], &bytes[4..]);
    }

    #[test]
    fn large_reads_bypass_the_buffer_and_small_ones_use_it() {
        let bytes = data(1_000);
        let mut input =
            Input::with_buffer_size(Sequential::new(Trickle::new(&bytes[..], 300)), 100);
        let mut small = [0u8; 10];
        // One source read fills the buffer (100 bytes), 10 are handed out.
        assert_eq!(input.read_some(&mut small).unwrap(), 10);
        let mut big = [0u8; 500];
        // Buffered bytes come first, without another source read.
        assert_eq!(input.read_some(&mut big).unwrap(), 90);
        // Nothing buffered and a large request: straight from the source.
        assert_eq!(input.read_some(&mut big).unwrap(), 300);
        assert_eq!(&big[..300], &bytes[100..400]);
        assert_eq!(input.offset(), 400);
    }

    #[test]
    fn a_lying_source_cannot_break_the_buffer() {
        let mut input = Input::with_buffer_size(Sequential::new(Liar), 64);
        let mut out = [0u8; 1_000];
        assert_eq!(input.read_some(&mut out).unwrap(), 1_000);
        assert_eq!(input.peek(100).unwrap().len(), 64);
        input.skip(10_000).unwrap();
        assert_eq!(input.offset(), 11_000);
    }

    #[test]
    fn buffer_size_has_a_floor() {
        let input = Input::with_buffer_size(Sequential::new(&b""[..]), 1);
        assert_eq!(input.buffer_size(), MIN_BUFFER_SIZE);
        assert_eq!(
            Input::new(Sequential::new(io::empty())).buffer_size(),
            DEFAULT_BUFFER_SIZE
        );
    }
}

//! The byte layer under every stream reader: where bytes come from
//! ([`ByteSource`]) and the one buffer they pass through ([`Input`]).
//!
//! All stream input in xenmig goes through this module, whether the bytes are
//! framed by [`Reader`](crate::Reader) or checked by the verifier. A source is
//! one of three kinds, told apart by how it passes over bytes nobody wants
//! (page data, mostly):
//!
//! - [`Sequential`]: any [`Read`]er; skipped bytes are read and dropped.
//! - [`Seekable`]: a regular file; skips are seeks, bounded by the file's
//!   length (seeking past the end succeeds silently, so the bound is what
//!   detects a truncated file).
//! - [`Spliced`]: a pipe or socket given as a [`File`]; skipped bytes are
//!   copied into `/dev/null` by [`io::copy`], which Linux turns into
//!   `splice(2)`, so they never enter user space (skips shorter than half
//!   the buffer are read into it, see [`Input::skip`]).
//!
//! [`Input`] puts one fixed buffer in front of a source and tracks the
//! absolute byte offset. It allocates that buffer once and nothing else,
//! whatever lengths the stream announces.
//!
//! No read, copy or seek fails for a reason that is not the input's: a
//! system call interrupted by a signal (`EINTR`, from `read`, `lseek`,
//! `copy_file_range` or `splice`) is repeated, and a descriptor the caller
//! set non-blocking (`O_NONBLOCK`, e.g. a socket in an event loop) is waited
//! for with `poll(2)` when it has no data yet, instead of failing with
//! `EAGAIN`. Waiting needs the descriptor: [`Sequential::descriptor`] and
//! [`Spliced::new`] have it, [`Sequential::new`] over an arbitrary reader
//! does not.
//!
//! Bytes that are wanted but need not be looked at (page data a converter
//! passes on) go to a [`CopySink`] with [`Input::copy_to`]: what is buffered
//! is written out, and the rest is handed to [`io::copy`] on the source's own
//! reader, so the standard library's kernel-copy specialisations
//! (`copy_file_range` between files, `splice` from or to a pipe, `sendfile`)
//! apply and the bytes never enter user space.
//!
//! ```
//! use migration_stream::source::{Input, InputError, Sequential};
//!
//! let mut input = Input::new(Sequential::new(&b"header and some body"[..]));
//! assert_eq!(input.peek(6)?, b"header");
//! let mut word = [0u8; 6];
//! input.read_exact(&mut word)?;
//! input.skip(5)?; // " and "
//! assert_eq!(input.offset(), 11);
//! // Asking for more than exists reports where the input ended and what is missing.
//! match input.skip(100) {
//!     Err(InputError::Truncated { offset, wanted }) => assert_eq!((offset, wanted), (20, 91)),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), InputError>(())
//! ```

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsFd;

pub use crate::sink::CopySink;

/// Buffer size of [`Input::new`]: large enough that pipe reads return whole
/// pipe-buffer loads (64 KiB on Linux) and sequential skips move in big steps.
pub const DEFAULT_BUFFER_SIZE: usize = 128 * 1024;

/// Smallest buffer [`Input::with_buffer_size`] uses, so that stream headers
/// (32 bytes at most) can always be peeked whole.
pub const MIN_BUFFER_SIZE: usize = 64;

/// Where the bytes come from, and how to pass over bytes without reading them.
pub trait ByteSource {
    /// Reads some bytes, like [`Read::read`]: 0 only at the end of input.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Moves `n` bytes forward without handing them to the caller, when this
    /// source can. Returns `Ok(Some(moved))` with how many bytes actually
    /// existed (fewer than `n` only at the end of input), or `Ok(None)` when
    /// the caller has to read and drop them itself.
    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>>;

    /// Copies up to `n` bytes to `sink`, returning how many there were
    /// (fewer than `n` only at the end of input). The sources of this module
    /// hand their own reader to [`CopySink::copy_from`], so that
    /// [`io::copy`] sees the concrete reader (a [`File`], say) and can use
    /// the kernel's copy; the default reads through [`ByteSource::read`].
    fn copy_to<K: CopySink + ?Sized>(&mut self, n: u64, sink: &mut K) -> io::Result<u64>
    where
        Self: Sized,
    {
        copy_retrying(&mut SourceReader(self), n, sink, None)
    }

    /// Waits until the source is readable again after a read failed with
    /// [`io::ErrorKind::WouldBlock`] (a non-blocking descriptor with no data
    /// yet). Returns `Ok(false)` when this source cannot wait, and the error
    /// then stands.
    fn wait_readable(&mut self) -> io::Result<bool> {
        Ok(false)
    }
}

/// A [`ByteSource`] seen as a [`Read`], for the default [`ByteSource::copy_to`].
struct SourceReader<'a, S>(&'a mut S);

impl<S: ByteSource> Read for SourceReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(err)
                    if err.kind() == io::ErrorKind::WouldBlock && self.0.wait_readable()? => {}
                other => return other,
            }
        }
    }
}

/// How a source waits for its reader to become readable (see
/// [`ByteSource::wait_readable`]).
type Wait<R> = fn(&R) -> io::Result<()>;

/// Blocks in `poll(2)` until `reader`'s descriptor has data (or has hung up,
/// which the next read reports).
fn poll_readable<R: AsFd>(reader: &R) -> io::Result<()> {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut fds = [PollFd::new(reader, PollFlags::IN)];
    loop {
        match poll(&mut fds, None) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
}

/// Copies up to `n` bytes of `reader` to `sink` (through a [`io::Take`],
/// which says how much is left whatever happens, see
/// [`CopySink::copy_from`]), repeating the copy after `EINTR` and, when
/// `wait` is given, after `EAGAIN` once the reader is readable. Returns how
/// many bytes were copied: fewer than `n` only at the end of the input.
fn copy_retrying<R: Read, K: CopySink + ?Sized>(
    reader: &mut R,
    n: u64,
    sink: &mut K,
    wait: Option<Wait<R>>,
) -> io::Result<u64> {
    let mut take = reader.take(n);
    // A copy that would block again without moving a byte after the input
    // became readable is blocked by the output, which polling the input
    // cannot help with: give up after a few rounds instead of spinning.
    let mut idle_waits = 0;
    loop {
        let before = take.limit();
        match sink.copy_from(&mut take) {
            Ok(()) => return Ok(n - take.limit()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                let Some(wait) = wait else { return Err(err) };
                idle_waits = if take.limit() == before {
                    idle_waits + 1
                } else {
                    0
                };
                if idle_waits > MAX_IDLE_WAITS {
                    return Err(err);
                }
                wait(&**take.get_ref())?;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Waits in a row, without progress, after which a copy's `EAGAIN` is
/// reported (see [`copy_retrying`]).
const MAX_IDLE_WAITS: u32 = 64;

/// Repeats `op` while it fails with `EINTR`.
fn retry_interrupted<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// A source that can only be read in order (a pipe, a socket, a slice):
/// skipped bytes are read and dropped by [`Input`].
pub struct Sequential<R> {
    inner: R,
    wait: Option<Wait<R>>,
}

impl<R> Sequential<R> {
    /// Wraps a reader. A read that fails with
    /// [`io::ErrorKind::WouldBlock`] is an error: use
    /// [`Sequential::descriptor`] for a descriptor that may be non-blocking.
    pub fn new(inner: R) -> Self {
        Sequential { inner, wait: None }
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Unwraps the reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsFd> Sequential<R> {
    /// Wraps a descriptor (a pipe, a socket, a terminal) that the caller may
    /// have set non-blocking: when it has no data yet, reads and copies wait
    /// for it with `poll(2)` instead of failing with `EAGAIN`.
    ///
    /// ```
    /// use std::io::Write;
    /// use migration_stream::source::{Input, Sequential};
    ///
    /// let (pipe, mut writer) = std::io::pipe()?;
    /// writer.write_all(b"bytes")?;
    /// drop(writer);
    /// let mut input = Input::new(Sequential::descriptor(pipe));
    /// assert_eq!(input.peek(8)?, b"bytes");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn descriptor(inner: R) -> Self {
        Sequential {
            inner,
            wait: Some(poll_readable::<R>),
        }
    }
}

impl<R: Read> ByteSource for Sequential<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }

    fn seek_forward(&mut self, _n: u64) -> io::Result<Option<u64>> {
        Ok(None)
    }

    fn copy_to<K: CopySink + ?Sized>(&mut self, n: u64, sink: &mut K) -> io::Result<u64> {
        copy_retrying(&mut self.inner, n, sink, self.wait)
    }

    fn wait_readable(&mut self) -> io::Result<bool> {
        match self.wait {
            Some(wait) => wait(&self.inner).map(|()| true),
            None => Ok(false),
        }
    }
}

impl<R> std::fmt::Debug for Sequential<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential")
            .field("waits", &self.wait.is_some())
            .finish_non_exhaustive()
    }
}

/// A source could not be set up; gives the reader back so the caller can fall
/// back to another kind of source.
pub struct SetupError<R> {
    /// Why the source could not be used.
    pub error: io::Error,
    /// The reader, as it was handed in (its position may have moved only if
    /// the error came from restoring it).
    pub inner: R,
}

impl<R> std::fmt::Debug for SetupError<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<R> std::fmt::Display for SetupError<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<R> std::error::Error for SetupError<R> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A regular file (or anything that seeks): skips are seeks, bounded by the
/// end of the input. Offsets count from where the input was positioned when
/// it was wrapped (an inherited descriptor may already be past an xl header).
pub struct Seekable<R> {
    inner: R,
    /// Position of `inner`, tracked so skips need no extra system call.
    position: u64,
    /// End of the input, measured at the start and again whenever a skip
    /// would pass it (the file may have grown).
    end: u64,
    /// `R`'s seek, captured where `R: Seek` is known so that this type's
    /// [`ByteSource`] implementation needs only `R: Read`: a holder of a
    /// source chosen at run time (`Reader<R>`) can then carry it without a
    /// `Seek` bound.
    seek: fn(&mut R, SeekFrom) -> io::Result<u64>,
}

impl<R: Read + Seek> Seekable<R> {
    /// Measures the input from its current position to its end. Fails (and
    /// gives the reader back) when the input cannot seek, e.g. a pipe behind
    /// a [`File`].
    ///
    /// ```
    /// use migration_stream::source::{Input, Seekable};
    /// let mut input = Input::new(Seekable::new(std::io::Cursor::new(vec![7u8; 100]))?);
    /// input.skip(99)?;
    /// assert_eq!(input.peek(8)?, [7]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(mut inner: R) -> Result<Self, SetupError<R>> {
        let measured = (|| {
            let position = retry_interrupted(|| inner.stream_position())?;
            let end = retry_interrupted(|| inner.seek(SeekFrom::End(0)))?;
            retry_interrupted(|| inner.seek(SeekFrom::Start(position)))?;
            Ok((position, end))
        })();
        match measured {
            Ok((position, end)) => Ok(Seekable {
                inner,
                position,
                end,
                seek: <R as Seek>::seek,
            }),
            Err(error) => Err(SetupError { error, inner }),
        }
    }
}

impl<R> Seekable<R> {
    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Unwraps the reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> ByteSource for Seekable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?.min(buf.len());
        self.position = self.position.saturating_add(n as u64);
        Ok(n)
    }

    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        let seek = self.seek;
        if n > self.end.saturating_sub(self.position) {
            self.end = retry_interrupted(|| seek(&mut self.inner, SeekFrom::End(0)))?;
        }
        let moved = n.min(self.end.saturating_sub(self.position));
        let target = self.position.saturating_add(moved);
        retry_interrupted(|| seek(&mut self.inner, SeekFrom::Start(target)))?;
        self.position = target;
        Ok(Some(moved))
    }

    fn copy_to<K: CopySink + ?Sized>(&mut self, n: u64, sink: &mut K) -> io::Result<u64> {
        // Counted as the copy goes, so that an error leaves the position right.
        let mut take = (&mut self.inner).take(n);
        let result = retry_interrupted(|| sink.copy_from(&mut take));
        let copied = n - take.limit();
        self.position = self.position.saturating_add(copied);
        result.map(|()| copied)
    }
}

impl<R> std::fmt::Debug for Seekable<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seekable")
            .field("position", &self.position)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// A pipe or socket given as a [`File`]: skipped bytes are copied into
/// `/dev/null` with [`io::copy`], which std turns into `splice(2)` between a
/// pipe and a file, so page data never crosses into user space. A
/// descriptor the caller set non-blocking is waited for (see the module
/// documentation).
pub struct Spliced<R = File> {
    inner: R,
    null: File,
    wait: Wait<R>,
}

impl<R: AsFd> Spliced<R> {
    /// Opens `/dev/null` for the skipped bytes; fails (giving the reader
    /// back) when it cannot be opened.
    ///
    /// ```
    /// use std::io::Write;
    /// use migration_stream::source::{Input, Spliced};
    ///
    /// let (pipe, mut writer) = std::io::pipe()?;
    /// writer.write_all(&[1; 1000])?; // fits in the pipe, so no second thread
    /// drop(writer);
    /// let pipe = std::fs::File::from(std::os::fd::OwnedFd::from(pipe));
    /// let mut input = Input::new(Spliced::new(pipe)?);
    /// input.skip(999)?; // spliced into /dev/null
    /// assert_eq!(input.peek(8)?, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(inner: R) -> Result<Self, SetupError<R>> {
        match std::fs::OpenOptions::new().write(true).open("/dev/null") {
            Ok(null) => Ok(Spliced {
                inner,
                null,
                wait: poll_readable::<R>,
            }),
            Err(error) => Err(SetupError { error, inner }),
        }
    }
}

impl<R> Spliced<R> {
    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Unwraps the reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> ByteSource for Spliced<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }

    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        let moved = copy_retrying(&mut self.inner, n, &mut self.null, Some(self.wait))?;
        Ok(Some(moved))
    }

    fn copy_to<K: CopySink + ?Sized>(&mut self, n: u64, sink: &mut K) -> io::Result<u64> {
        copy_retrying(&mut self.inner, n, sink, Some(self.wait))
    }

    fn wait_readable(&mut self) -> io::Result<bool> {
        (self.wait)(&self.inner).map(|()| true)
    }
}

impl<R> std::fmt::Debug for Spliced<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spliced").finish_non_exhaustive()
    }
}

/// Why [`Input`] could not deliver what was asked.
#[derive(Debug, thiserror::Error)]
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
        let mut input = Input::new(Sequential::new(Trickle(&bytes, 7_001)));
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
        let mut input = Input::with_buffer_size(Sequential::new(Trickle(&bytes, 300)), 100);
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

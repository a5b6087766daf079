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

mod input;

pub use input::{DEFAULT_BUFFER_SIZE, Input, InputError, MIN_BUFFER_SIZE};

/// Where the bytes come from, and how to pass over bytes without reading them.
///
/// The three sources of this module cover pipes, files and sockets; a source
/// of your own (here, bytes made up on the fly) needs only `read` and
/// `seek_forward`:
///
/// ```
/// use std::io;
/// use migration_stream::source::{ByteSource, Input};
///
/// /// An endless stream of one byte value, that can skip without reading.
/// struct Repeat { byte: u8, skipped: u64 }
///
/// impl ByteSource for Repeat {
///     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
///         buf.fill(self.byte);
///         Ok(buf.len())
///     }
///     fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
///         self.skipped += n;
///         Ok(Some(n))
///     }
/// }
///
/// let mut source = Repeat { byte: 9, skipped: 0 };
/// let mut some = [0u8; 4];
/// assert_eq!(source.read(&mut some)?, 4);
/// assert_eq!(source.wait_readable()?, false, "the default: this source cannot wait");
/// let mut out = Vec::new();
/// assert_eq!(source.copy_to(3, &mut out)?, 3); // the default copies through read
/// assert_eq!(out, [9, 9, 9]);
///
/// let mut input = Input::new(source);
/// input.skip(1 << 30)?; // not read: seek_forward moved the source
/// assert_eq!(input.source().skipped, 1 << 30);
/// assert_eq!(input.peek(2)?, [9, 9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use migration_stream::source::{ByteSource, Input, Sequential};
///
/// let mut source = Sequential::new(&b"abcdef"[..]);
/// assert_eq!(source.seek_forward(2)?, None, "the caller reads and drops skipped bytes");
/// assert_eq!(source.get_ref().len(), 6);
/// let mut input = Input::new(source);
/// input.skip(2)?;
/// assert_eq!(input.peek(2)?, b"cd");
/// let rest: &[u8] = input.into_source().into_inner();
/// assert!(rest.is_empty(), "the buffer took it all");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use std::io::{self, Read, Seek, SeekFrom};
/// use migration_stream::source::{Input, Seekable, Sequential};
///
/// /// A reader whose seeks fail, like a pipe's.
/// struct NoSeek(&'static [u8]);
/// impl Read for NoSeek {
///     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> { self.0.read(buf) }
/// }
/// impl Seek for NoSeek {
///     fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
///         Err(io::ErrorKind::Unsupported.into())
///     }
/// }
///
/// let err = Seekable::new(NoSeek(b"data")).unwrap_err();
/// assert_eq!(err.error.kind(), io::ErrorKind::Unsupported);
/// let mut input = Input::new(Sequential::new(err.inner)); // fall back
/// assert_eq!(input.peek(4)?, b"data");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use std::io::Cursor;
/// use migration_stream::source::{ByteSource, Input, Seekable};
///
/// let mut file = Cursor::new(vec![0u8; 1000]);
/// file.set_position(100); // offsets count from here
/// let mut source = Seekable::new(file)?;
/// assert_eq!(source.seek_forward(800)?, Some(800));
/// assert_eq!(source.seek_forward(800)?, Some(100), "bounded by the end");
/// assert_eq!(source.get_ref().position(), 1000);
/// let mut input = Input::new(source);
/// assert!(input.at_end()?);
/// let file = input.into_source().into_inner();
/// assert_eq!(file.get_ref().len(), 1000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use migration_stream::source::{ByteSource, Spliced};
///
/// let (pipe, mut writer) = std::io::pipe()?;
/// writer.write_all(b"skip me, keep me")?;
/// drop(writer);
/// let pipe = std::fs::File::from(std::os::fd::OwnedFd::from(pipe));
/// let fd = pipe.as_raw_fd();
/// let mut source = Spliced::new(pipe)?;
/// assert_eq!(source.seek_forward(9)?, Some(9)); // spliced into /dev/null
/// assert_eq!(source.get_ref().as_raw_fd(), fd);
/// let mut rest = Vec::new();
/// assert_eq!(source.copy_to(100, &mut rest)?, 7, "fewer only at the end");
/// assert_eq!(rest, b"keep me");
/// let _pipe: std::fs::File = source.into_inner();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

//! Where stream bytes go: the [`CopySink`] trait, and the [`BlockWriter`]
//! that turns a converter's many small writes and page copies into few
//! large reads and writes sized for the output.
//!
//! A [`CopySink`] takes bytes two ways: pieces already in memory
//! ([`write_piece`](CopySink::write_piece)), and bytes still in the input
//! ([`copy_from`](CopySink::copy_from)), which the sink pulls from the
//! source's own reader. Every [`Write`] is a sink (the copy is [`io::copy`],
//! so the standard library's kernel copies between descriptors apply), and
//! so is a [`Writer`](crate::Writer)'s open record body.
//!
//! The [`BlockWriter`] is the sink for writing a whole stream fast. It keeps
//! one buffer of [`BlockWriter::DEFAULT_BLOCK_SIZE`] bytes, reads page data
//! from the input straight into it (so the input is read in large reads),
//! and writes it only when it is full, in writes of at most
//! [`max_write`](BlockWriter::max_write) bytes. The write size matters for a
//! regular file: the page cache gives the file folios as large as the
//! writes, and on a virtual machine that reports free memory to its host
//! (virtio-balloon free page reporting) large folios measured far slower to
//! get than small ones once freed memory had been reported. In the reference
//! measurement (1 GiB, after freed memory had gone back to the host) whole
//! 4 MiB writes took 10× as long as `cp`, 64 KiB writes 1.02×, and
//! `copy_file_range` per batch of pages, in
//! [passthrough](BlockWriter::set_passthrough) mode, 0.35–0.74× in three
//! runs; `docs/performance.md` has the tables and `cargo xtask
//! copy-experiment` reruns them.
//!
//! ```
//! use migration_stream::sink::{BlockWriter, CopySink};
//! use std::io::Read;
//!
//! let mut out = BlockWriter::with_block_size(Vec::new(), 4096);
//! out.write_piece(b"header")?;
//! out.copy_from(&mut (&[7u8; 10_000][..]).take(10_000))?; // pulled into the block
//! assert_eq!(out.get_ref().len(), 8192, "two whole blocks written so far");
//! out.flush()?; // the partial last block
//! assert_eq!(out.get_ref().len(), 10_006);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Take, Write};

/// A destination for bytes: in memory ([`write_piece`](CopySink::write_piece))
/// or pulled from a reader ([`copy_from`](CopySink::copy_from)).
///
/// [`Input::copy_to`](crate::source::Input::copy_to) hands its buffered bytes
/// to `write_piece` and then the source's own reader, bounded by a [`Take`],
/// to `copy_from`; an implementation that passes that reader to
/// [`io::copy`] together with its own writer gets the standard library's
/// kernel-copy specialisations (`copy_file_range`, `splice`, `sendfile`) for
/// both ends.
///
/// Every [`Write`] is a sink; a sink of your own, here one that only counts:
///
/// ```
/// use std::io::{self, Read, Take};
/// use migration_stream::sink::CopySink;
/// use migration_stream::source::{Input, Sequential};
///
/// #[derive(Default)]
/// struct Count { pieces: u64, copied: u64, flushed: bool }
///
/// impl CopySink for Count {
///     fn write_piece(&mut self, piece: &[u8]) -> io::Result<()> {
///         self.pieces += piece.len() as u64;
///         Ok(())
///     }
///     fn copy_from<R: Read>(&mut self, src: &mut Take<R>) -> io::Result<()> {
///         self.copied += io::copy(src, &mut io::sink())?;
///         Ok(())
///     }
///     fn flush_sink(&mut self) -> io::Result<()> {
///         self.flushed = true;
///         Ok(())
///     }
/// }
///
/// let mut input = Input::with_buffer_size(Sequential::new(&[1u8; 1000][..]), 64);
/// input.peek(10)?; // 64 bytes are now buffered
/// let mut count = Count::default();
/// input.copy_to(1000, &mut count)?;
/// // The buffered bytes as a piece, the rest pulled from the source.
/// assert_eq!((count.pieces, count.copied), (64, 936));
/// count.flush_sink()?;
/// assert!(count.flushed);
///
/// let mut out = Vec::new(); // a Write
/// out.write_piece(b"ab")?;
/// out.copy_from(&mut (&b"cdef"[..]).take(3))?;
/// out.flush_sink()?;
/// assert_eq!(out, b"abcde");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CopySink {
    /// Writes bytes that are already in memory.
    fn write_piece(&mut self, piece: &[u8]) -> io::Result<()>;

    /// Copies from `src` until its limit is reached or it ends.
    ///
    /// On an error, `src.limit()` still says how much is left to copy:
    /// everything taken from `src` has reached the sink. So a caller can
    /// retry after [`io::ErrorKind::Interrupted`] or, once the input is
    /// readable again, [`io::ErrorKind::WouldBlock`] (what
    /// [`Input::copy_to`](crate::source::Input::copy_to) does).
    fn copy_from<R: Read>(&mut self, src: &mut Take<R>) -> io::Result<()>;

    /// Passes on what the sink holds to where it goes (for a [`Write`],
    /// [`Write::flush`]).
    fn flush_sink(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + ?Sized> CopySink for W {
    fn write_piece(&mut self, piece: &[u8]) -> io::Result<()> {
        self.write_all(piece)
    }

    fn copy_from<R: Read>(&mut self, src: &mut Take<R>) -> io::Result<()> {
        // `io::copy` keeps the `Take`'s limit exact on errors, for the
        // kernel copies too (it counts what the system calls moved).
        io::copy(src, self).map(|_| ())
    }

    fn flush_sink(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// Buffers a stream's bytes into whole blocks of a fixed size and writes
/// only whole blocks (and, at [`flush`](BlockWriter::flush), the last
/// partial one).
///
/// Bytes copied from an input ([`CopySink::copy_from`]) are read straight
/// into the block, so page data crosses user space once, in large reads. In
/// [passthrough](BlockWriter::set_passthrough) mode, copies instead go to
/// [`io::copy`] between the input and `W` (after the buffered bytes), so that
/// the kernel moves them (`splice` between pipes), for the cases where that
/// measures faster.
///
/// Like [`io::BufWriter`], dropping it writes what it holds (errors
/// ignored); call [`flush`](BlockWriter::flush) to see them. After a write
/// error the buffered bytes are dropped, so a later flush does not repeat
/// the failed write.
///
/// ```
/// use std::io::{self, Read, Write};
/// use migration_stream::sink::{BlockWriter, CopySink};
///
/// /// Remembers the size of every write.
/// #[derive(Default)]
/// struct Writes(Vec<usize>);
/// impl Write for Writes {
///     fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
///         self.0.push(buf.len());
///         Ok(buf.len())
///     }
///     fn flush(&mut self) -> io::Result<()> { Ok(()) }
/// }
///
/// let mut out = BlockWriter::with_block_size(Writes::default(), 1024);
/// out.set_max_write(256);
/// assert_eq!((out.block_size(), out.max_write(), out.passthrough()), (1024, 256, false));
/// out.copy_from(&mut (&[0u8; 1500][..]).take(1500))?;
/// assert_eq!(out.get_ref().0, [256; 4], "one whole block, in four writes");
/// assert_eq!((out.buffered(), out.written()), (1500 - 1024, 1024));
///
/// // Passthrough: the buffered bytes go first, then the copy goes to io::copy.
/// out.set_passthrough(true);
/// out.copy_from(&mut (&[0u8; 100][..]).take(100))?;
/// assert_eq!(out.buffered(), 0);
/// assert_eq!(out.written(), 1600);
/// out.get_mut().0.clear();
/// out.flush()?;
/// assert!(out.get_ref().0.is_empty(), "nothing was left to write");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct BlockWriter<W: Write> {
    inner: W,
    block: Box<[u8]>,
    fill: usize,
    /// The largest single `write` (a block goes out in pieces of this size).
    max_write: usize,
    passthrough: bool,
    written: u64,
}

impl<W: Write> BlockWriter<W> {
    /// The block size [`BlockWriter::new`] uses: 4 MiB, a whole batch of
    /// 1024 pages, so that page data is read from the input in large reads.
    /// Whole 4 MiB writes suit a pipe and a file whose page cache is dropped
    /// behind the writer; for a regular file kept in the page cache, set
    /// [`FILE_WRITE_SIZE`](Self::FILE_WRITE_SIZE) writes. The memory it
    /// costs is within the 16 MiB budget of a stream tool.
    pub const DEFAULT_BLOCK_SIZE: usize = 4 << 20;

    /// The write size for a regular file as output: 64 KiB, the size of
    /// `cp`'s own writes (its `copy_file_range` moves a pipe's worth, 16
    /// pages, at a time). On the reference machine, after freed memory had
    /// gone back to the host, 1 GiB written in 64 KiB pieces took 1.02× `cp`
    /// and in whole 4 MiB blocks 10×; 256 KiB pieces took 3.9×
    /// (`cargo xtask copy-experiment --settle-ms 5000`, docs/performance.md).
    pub const FILE_WRITE_SIZE: usize = 64 << 10;

    /// A writer with blocks of [`DEFAULT_BLOCK_SIZE`](Self::DEFAULT_BLOCK_SIZE).
    ///
    /// ```
    /// use migration_stream::sink::BlockWriter;
    /// let out = BlockWriter::new(Vec::<u8>::new());
    /// assert_eq!(out.block_size(), BlockWriter::<Vec<u8>>::DEFAULT_BLOCK_SIZE);
    /// assert_eq!((out.buffered(), out.written()), (0, 0));
    /// ```
    pub fn new(inner: W) -> Self {
        BlockWriter::with_block_size(inner, Self::DEFAULT_BLOCK_SIZE)
    }

    /// A writer with blocks of `size` bytes (at least 1).
    pub fn with_block_size(inner: W, size: usize) -> Self {
        BlockWriter {
            inner,
            block: vec![0; size.max(1)].into_boxed_slice(),
            fill: 0,
            max_write: size.max(1),
            passthrough: false,
            written: 0,
        }
    }

    /// In passthrough mode, [`CopySink::copy_from`] writes out the buffered
    /// bytes and hands the input to [`io::copy`] (kernel copies where the
    /// standard library can make them: from a pipe or socket, or between
    /// regular files); small pieces are still gathered into blocks.
    pub fn set_passthrough(&mut self, passthrough: bool) {
        self.passthrough = passthrough;
    }

    /// Writes each block in pieces of at most `size` bytes (at least 1; by
    /// default a block is one write). Blocks are still filled whole, so the
    /// reads stay large; only the writes shrink.
    ///
    /// For a regular file, use [`FILE_WRITE_SIZE`](Self::FILE_WRITE_SIZE):
    /// the page cache sizes its folios by the write, and large folios can
    /// cost many times what small ones do (see the module documentation).
    pub fn set_max_write(&mut self, size: usize) {
        self.max_write = size.max(1);
    }

    /// The largest single write (see [`set_max_write`](Self::set_max_write)).
    pub fn max_write(&self) -> usize {
        self.max_write
    }

    /// Whether copies go to [`io::copy`] rather than into the block.
    pub fn passthrough(&self) -> bool {
        self.passthrough
    }

    /// The block size.
    pub fn block_size(&self) -> usize {
        self.block.len()
    }

    /// Bytes held, not yet written.
    pub fn buffered(&self) -> usize {
        self.fill
    }

    /// Bytes handed to the inner writer so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably (writing to it directly puts bytes ahead
    /// of the buffered ones).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Writes the buffered bytes (a partial block) and flushes the inner writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_buffered()?;
        self.inner.flush()
    }

    /// Writes `block[..fill]` in pieces of at most `max_write` bytes; on
    /// failure drops what is left, so it is not written twice.
    fn write_buffered(&mut self) -> io::Result<()> {
        let fill = std::mem::take(&mut self.fill);
        for piece in self
            .block
            .get(..fill)
            .unwrap_or_default()
            .chunks(self.max_write)
        {
            self.inner.write_all(piece)?;
            self.written += piece.len() as u64;
        }
        Ok(())
    }

    /// Writes the block if it is full.
    fn write_if_full(&mut self) -> io::Result<()> {
        if self.fill == self.block.len() {
            self.write_buffered()?;
        }
        Ok(())
    }
}

impl<W: Write> CopySink for BlockWriter<W> {
    fn write_piece(&mut self, mut piece: &[u8]) -> io::Result<()> {
        while !piece.is_empty() {
            let room = self.block.get_mut(self.fill..).unwrap_or_default();
            let n = room.len().min(piece.len());
            room[..n].copy_from_slice(&piece[..n]);
            self.fill += n;
            piece = &piece[n..];
            self.write_if_full()?;
        }
        Ok(())
    }

    fn copy_from<R: Read>(&mut self, src: &mut Take<R>) -> io::Result<()> {
        if self.passthrough {
            self.write_buffered()?;
            let copied = io::copy(src, &mut self.inner);
            // The bytes moved count as written even when the copy then failed.
            return copied.map(|n| self.written += n);
        }
        while src.limit() > 0 {
            let room = self.block.get_mut(self.fill..).unwrap_or_default();
            // The limit bounds the read, so nothing past it is consumed.
            let want = room
                .len()
                .min(usize::try_from(src.limit()).unwrap_or(usize::MAX));
            let n = src.read(&mut room[..want])?.min(want);
            if n == 0 {
                return Ok(());
            }
            self.fill += n;
            self.write_if_full()?;
        }
        Ok(())
    }

    fn flush_sink(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// So that a caller can lend its `BlockWriter` to a [`Writer`](crate::Writer)
/// and flush it (or deliver what it holds after an error) afterwards.
impl<W: Write> CopySink for &mut BlockWriter<W> {
    fn write_piece(&mut self, piece: &[u8]) -> io::Result<()> {
        (**self).write_piece(piece)
    }

    fn copy_from<R: Read>(&mut self, src: &mut Take<R>) -> io::Result<()> {
        (**self).copy_from(src)
    }

    fn flush_sink(&mut self) -> io::Result<()> {
        (**self).flush()
    }
}

impl<W: Write> Drop for BlockWriter<W> {
    fn drop(&mut self) {
        let _ = self.write_buffered();
    }
}

impl<W: Write> std::fmt::Debug for BlockWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("block_size", &self.block.len())
            .field("buffered", &self.fill)
            .field("max_write", &self.max_write)
            .field("written", &self.written)
            .field("passthrough", &self.passthrough)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the size of every write it gets.
    #[derive(Default)]
    struct Writes(Vec<usize>, Vec<u8>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.len());
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn only_whole_blocks_are_written_until_the_flush() {
        let bytes = data(10_000);
        let mut out = BlockWriter::with_block_size(Writes::default(), 1000);
        let mut at = 0;
        for (i, len) in [3usize, 997, 1, 1500, 2, 2499].into_iter().enumerate() {
            let piece = &bytes[at..at + len];
            if i % 2 == 0 {
                out.write_piece(piece).unwrap();
            } else {
                out.copy_from(&mut piece.take(len as u64)).unwrap();
            }
            at += len;
        }
        assert_eq!(out.get_ref().0, [1000; 5]);
        assert_eq!(out.buffered(), 2);
        out.flush().unwrap();
        assert_eq!(out.get_ref().1, &bytes[..at]);
        assert_eq!(out.written(), at as u64);
    }

    #[test]
    fn blocks_go_out_in_pieces_of_the_write_size() {
        let bytes = data(2500);
        let mut out = BlockWriter::with_block_size(Writes::default(), 1000);
        out.set_max_write(300);
        out.copy_from(&mut (&bytes[..]).take(2500)).unwrap();
        assert_eq!(out.get_ref().0, [300, 300, 300, 100, 300, 300, 300, 100]);
        out.flush().unwrap();
        assert_eq!(out.get_ref().0[8..], [300, 200]);
        assert_eq!(out.get_ref().1, bytes);
        assert_eq!(out.written(), 2500);
    }

    #[test]
    fn a_copy_stops_at_the_limit_or_the_end_of_the_input() {
        let bytes = data(100);
        let mut out = BlockWriter::with_block_size(Vec::new(), 64);
        let mut src = (&bytes[..]).take(30);
        out.copy_from(&mut src).unwrap();
        assert_eq!(src.limit(), 0);
        let mut rest = (&bytes[30..]).take(1_000);
        out.copy_from(&mut rest).unwrap();
        assert_eq!(rest.limit(), 1_000 - 70, "the input ended");
        out.flush().unwrap();
        assert_eq!(out.get_ref(), &bytes);
    }

    #[test]
    fn dropping_writes_what_is_held_and_a_failed_write_is_not_repeated() {
        let mut sink = Vec::new();
        {
            let mut out = BlockWriter::with_block_size(&mut sink, 64);
            out.write_piece(b"partial").unwrap();
        }
        assert_eq!(sink, b"partial");

        let mut full = [0u8; 10];
        let mut out = BlockWriter::with_block_size(&mut full[..], 8);
        out.write_piece(b"12345678").unwrap();
        assert!(out.write_piece(b"abcdefgh").is_err(), "no room left");
        assert_eq!(out.buffered(), 0);
        out.flush().unwrap();
    }

    #[test]
    fn passthrough_copies_after_the_buffered_bytes() {
        let mut out = BlockWriter::with_block_size(Writes::default(), 1 << 20);
        out.set_passthrough(true);
        out.write_piece(b"head").unwrap();
        out.copy_from(&mut (&b"0123456789"[..]).take(10)).unwrap();
        out.write_piece(b"tail").unwrap();
        out.flush().unwrap();
        assert_eq!(out.get_ref().1, b"head0123456789tail");
        assert_eq!(out.written(), 18);
    }
}

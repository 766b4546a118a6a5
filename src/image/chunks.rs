//! A layer's tar stream passed from the thread that writes it to the
//! unpacker that reads it, in chunks, so a layer made from files (a build
//! step, a container's changes, a layer rebuilt for `save` or `push`) is
//! never written out whole first. The writer is a scoped thread, gone
//! when [`stream`] returns: never stream while this process could fork
//! into a container. The stream ends only where the writer says so
//! (`end`): a writer that fails, and so drops its end early, leaves the
//! reader an error, never a shorter stream that still reads as whole.
//! [`stream`] runs the two ends and says which failed first, so the error
//! reported is the cause, never its echo ("broken pipe", a cut stream).

use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Size of the chunks the stream is passed in.
const CHUNK: usize = 256 * 1024;
/// Chunks written and not read yet, at most.
const QUEUED: usize = 4;

/// The two ends of a new stream.
pub fn channel() -> (ChunkWriter, ChunkReader) {
    let (tx, rx) = sync_channel(QUEUED);
    (
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        ChunkReader {
            rx,
            chunk: Vec::new(),
            at: 0,
            ended: false,
            cut: false,
        },
    )
}

/// The end of a [`stream`] that failed first, with its error.
#[derive(Debug)]
pub enum Failed<R, W> {
    /// The reader failed on its own (refused what it read, or could not
    /// put it where it goes); the writer's error, if any, is only that
    /// its reader went away.
    Reader(R),
    /// The writer failed and so cut the stream short; the reader's error,
    /// if any, is only that cut.
    Writer(W),
    /// The writer's thread panicked.
    WriterPanicked,
}

/// Runs `write` on a thread of its own, writing a new stream that `read`
/// reads on this one: both results, or the error of the end that failed
/// first. A reader that stops early stops the writer at its next chunk
/// (no signal, no pipe: nothing dies of SIGPIPE); what a reader that
/// succeeded left unread is read to the end, so that the writer's last
/// chunk always finds its reader. `write` must call [`ChunkWriter::end`].
pub fn stream<T, U, R, W>(
    write: impl FnOnce(ChunkWriter) -> Result<U, W> + Send,
    read: impl FnOnce(&mut ChunkReader) -> Result<T, R>,
) -> Result<(T, U), Failed<R, W>>
where
    U: Send,
    W: Send,
{
    let (writer, mut reader) = channel();
    std::thread::scope(|s| {
        let writing = s.spawn(move || write(writer));
        let read = read(&mut reader);
        if read.is_ok() {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        }
        let cut = reader.cut;
        drop(reader);
        let Ok(wrote) = writing.join() else {
            return Err(Failed::WriterPanicked);
        };
        match (read, wrote) {
            (Ok(t), Ok(u)) => Ok((t, u)),
            // The reader saw the writer go without its end: the cause.
            (Err(_), Err(w)) if cut => Err(Failed::Writer(w)),
            (Err(r), _) => Err(Failed::Reader(r)),
            (Ok(_), Err(w)) => Err(Failed::Writer(w)),
        }
    })
}

/// The writing end: a reader that went away makes writes fail (broken
/// pipe). `end` sends the last chunk and the end of the stream.
pub struct ChunkWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(full)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }

    /// The stream is whole: what is buffered, then the end (an empty
    /// chunk, which `send` never sends otherwise).
    pub fn end(mut self) -> std::io::Result<()> {
        self.flush()?;
        self.send()
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// The reading end: the chunks in order, then the end of the stream the
/// writer sent, or an error when it went away without one (it failed,
/// and says why).
pub struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
    /// The writer went away without the end of the stream.
    cut: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(c) if c.is_empty() => self.ended = true,
                Ok(c) => (self.chunk, self.at) = (c, 0),
                Err(_) => {
                    self.cut = true;
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the writer of the stream stopped before its end",
                    ));
                }
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_is_read_in_order_across_chunks() {
        let (mut w, mut r) = channel();
        let data: Vec<u8> = (0..CHUNK * 2 + 77).map(|i| (i % 251) as u8).collect();
        let sent = &data;
        let got = std::thread::scope(|s| {
            // Moved in: the stream ends when the writer is dropped.
            let writer = s.spawn(move || {
                w.write_all(sent).unwrap();
                w.end().unwrap();
            });
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            writer.join().unwrap();
            got
        });
        assert_eq!(got, data);
    }

    #[test]
    fn a_writer_gone_without_the_end_fails_the_reader() {
        let (mut w, mut r) = channel();
        w.write_all(&[1u8; CHUNK + 1]).unwrap();
        drop(w);
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(got.len(), CHUNK, "what was sent is read first");
    }

    /// A writer that keeps writing long after its reader stopped.
    fn long_writer(mut w: ChunkWriter) -> std::io::Result<()> {
        for _ in 0..QUEUED * 4 {
            w.write_all(&[7u8; CHUNK])?;
        }
        w.end()
    }

    #[test]
    fn a_reader_that_refuses_is_the_cause_not_the_writers_broken_pipe() {
        let got = stream(long_writer, |r| -> Result<(), &str> {
            r.read_exact(&mut [0u8; 10]).unwrap();
            Err("refused entry x")
        });
        assert!(
            matches!(got, Err(Failed::Reader("refused entry x"))),
            "{got:?}"
        );
    }

    #[test]
    fn a_writer_that_fails_is_the_cause_not_the_readers_cut_stream() {
        let got = stream(
            |mut w| -> Result<(), &str> {
                w.write_all(&[1u8; CHUNK * 2]).unwrap();
                Err("file vanished")
            },
            |r| {
                let mut all = Vec::new();
                r.read_to_end(&mut all).map_err(|e| e.kind())
            },
        );
        assert!(
            matches!(got, Err(Failed::Writer("file vanished"))),
            "{got:?}"
        );
    }

    #[test]
    fn a_reader_done_before_the_end_still_lets_the_writer_end() {
        let got = stream(long_writer, |r| -> Result<u8, ()> {
            let mut one = [0u8; 1];
            r.read_exact(&mut one).unwrap();
            Ok(one[0])
        });
        assert!(matches!(got, Ok((7, ()))), "{got:?}");
    }

    #[test]
    fn a_reader_gone_fails_the_writer() {
        let (mut w, r) = channel();
        drop(r);
        let err = w.write_all(&vec![0u8; CHUNK]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }
}

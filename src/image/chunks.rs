//! A layer's tar stream passed from the thread that writes it to the
//! unpacker that reads it, in chunks, so a layer made from files (a build
//! step, a container's changes) is never written out whole first. Only
//! for a process that forks no more (a user namespace's helper): the
//! writer is a thread. The stream ends only where the writer says so
//! (`end`): a writer that fails, and so drops its end early, leaves the
//! reader an error, never a shorter stream that still reads as whole.

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
        },
    )
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
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the writer of the stream stopped before its end",
                    ))
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

    #[test]
    fn a_reader_gone_fails_the_writer() {
        let (mut w, r) = channel();
        drop(r);
        let err = w.write_all(&vec![0u8; CHUNK]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }
}

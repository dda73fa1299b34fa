//! A pipe's buffer: its bytes in order, kept in the chunks they came in.
//!
//! A write that waits for room keeps a copy of its bytes (the FUSE loop
//! reuses the request's buffer); that copy then goes into the buffer
//! whole, and out to a reader whole when the reader asks for as many. So
//! a 64 KiB write read by a 64 KiB read is copied once by the daemon,
//! where a ring of bytes copied it three times (into the waiting write,
//! into the ring, out of it for the reply). Small writes are gathered into
//! chunks of at least [`GATHER`] bytes, so that a flood of one-byte writes
//! does not make a chunk of each.
//!
//! Invariants: `len` is the chunks' bytes less the `front_at` already
//! read of the front one; no chunk is empty; `front_at` is below the front
//! chunk's length (0 when there is none).

use std::collections::VecDeque;

/// The least capacity of a chunk made for a copy of small writes.
const GATHER: usize = 4096;

#[derive(Default)]
pub(super) struct Chunks {
    chunks: VecDeque<Vec<u8>>,
    front_at: usize,
    len: usize,
}

impl Chunks {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `bytes`: into the last chunk if it has room.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if let Some(last) = self.chunks.back_mut()
            && last.capacity() - last.len() >= bytes.len()
        {
            last.extend_from_slice(bytes);
            return;
        }
        let mut chunk = Vec::with_capacity(bytes.len().max(GATHER));
        chunk.extend_from_slice(bytes);
        self.chunks.push_back(chunk);
    }

    /// Appends `bytes` whole, with no copy.
    pub(super) fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.chunks.push_back(bytes);
    }

    /// Takes the first `n` bytes out (all, if fewer): the front chunk
    /// itself when it is exactly those and `out` has no room made yet,
    /// else a copy appended to `out`. Returns how many were taken.
    pub(super) fn take_into(&mut self, out: &mut Vec<u8>, n: usize) -> usize {
        let n = n.min(self.len);
        if n == 0 {
            return 0;
        }
        self.len -= n;
        let whole_front = self.chunks.front().is_some_and(|c| c.len() == n);
        if self.front_at == 0 && whole_front && out.capacity() == 0 {
            *out = self.chunks.pop_front().expect("a front chunk");
            return n;
        }
        let mut left = n;
        while left > 0 {
            let front = self.chunks.front().expect("len counts the chunks' bytes");
            let unread = &front[self.front_at..];
            let k = unread.len().min(left);
            out.extend_from_slice(&unread[..k]);
            left -= k;
            self.front_at += k;
            if self.front_at == front.len() {
                self.chunks.pop_front();
                self.front_at = 0;
            }
        }
        n
    }

    /// Drops every byte.
    pub(super) fn clear(&mut self) {
        *self = Chunks::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(c: &mut Chunks, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let taken = c.take_into(&mut out, n);
        assert_eq!(taken, out.len());
        out
    }

    #[test]
    fn bytes_come_out_in_order_across_chunks_and_partial_takes() {
        let mut c = Chunks::default();
        c.push(b"ab");
        c.push(b"cd");
        c.push_owned(b"efgh".to_vec());
        c.push(b"");
        c.push(b"ij");
        assert_eq!((c.len(), c.chunks.len()), (10, 3), "small pushes gather");
        assert_eq!(take(&mut c, 3), b"abc");
        assert_eq!(take(&mut c, 3), b"def");
        assert_eq!(take(&mut c, 100), b"ghij");
        assert!(c.is_empty() && c.chunks.is_empty());
        assert_eq!(take(&mut c, 5), b"");
    }

    #[test]
    fn a_chunk_asked_for_whole_leaves_as_it_came() {
        let mut c = Chunks::default();
        let write = vec![7u8; 65536];
        let at = write.as_ptr();
        c.push_owned(write);
        c.push(b"next");
        let mut out = Vec::new();
        assert_eq!(c.take_into(&mut out, 65536), 65536);
        assert_eq!(out.as_ptr(), at, "the same allocation: no copy");
        assert_eq!(take(&mut c, 10), b"next");
    }

    #[test]
    fn a_take_appends_after_what_the_reply_already_holds() {
        let mut c = Chunks::default();
        c.push_owned(b"whole".to_vec());
        let mut out = b"x".to_vec();
        assert_eq!(c.take_into(&mut out, 5), 5);
        assert_eq!(out, b"xwhole");
        c.push_owned(b"made".to_vec());
        let mut reply = Vec::with_capacity(10);
        assert_eq!(c.take_into(&mut reply, 4), 4);
        assert_eq!(
            (reply.as_slice(), reply.capacity()),
            (&b"made"[..], 10),
            "its room kept"
        );
        c.push(b"abc");
        c.clear();
        assert_eq!((c.len(), take(&mut c, 3)), (0, Vec::new()));
    }
}

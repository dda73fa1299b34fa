//! A pipe's buffer: its bytes in order, kept in the chunks they came in.
//!
//! A large write's bytes are a chunk of their own: the caller's request
//! buffer itself when the adapter kept it ([`Bytes::Shared`]), else the
//! copy a write that waited for room made. Either goes out to a reader as
//! a piece of its reply, whole or in part, with no copy. So a 64 KiB write
//! read by a 64 KiB read is copied by the daemon at most once, where a
//! ring of bytes copied it three times (into the waiting write, into the
//! ring, out of it for the reply). Small writes are gathered into chunks
//! of at least [`GATHER`] bytes, so that a flood of one-byte writes does
//! not make a chunk of each.
//!
//! Invariants: `len` is the chunks' bytes less the `front_at` already
//! read of the front one; no chunk is empty; `front_at` is below the front
//! chunk's length (0 when there is none); a kept chunk has at least
//! [`KEEP_MIN`] bytes unread (fewer are copied out, so that a caller's
//! request buffer is not held for a remnant).

use std::collections::VecDeque;

use crate::ipc::KEEP_MIN;
use crate::ipc::bytes::{Bytes, Gathered};

/// The least capacity of a chunk made for a copy of small writes.
const GATHER: usize = 4096;

#[derive(Default)]
pub(super) struct Chunks {
    chunks: VecDeque<Bytes>,
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

    /// Appends a copy of `bytes`: into the last chunk if it is a copy
    /// with room.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if let Some(Bytes::Owned(last)) = self.chunks.back_mut()
            && last.capacity() - last.len() >= bytes.len()
        {
            last.extend_from_slice(bytes);
            return;
        }
        let mut chunk = Vec::with_capacity(bytes.len().max(GATHER));
        chunk.extend_from_slice(bytes);
        self.chunks.push_back(Bytes::Owned(chunk));
    }

    /// Appends bytes `range` of `bytes`: kept ones as a chunk of their
    /// own, with no copy; a copy of the daemon's own (see [`Chunks::push`]).
    pub(super) fn push_part(&mut self, bytes: &Bytes, range: std::ops::Range<usize>) {
        match bytes {
            Bytes::Shared(kept) => self.push_whole(Bytes::Shared(kept.slice(range))),
            Bytes::Owned(own) => self.push(&own[range]),
        }
    }

    /// Appends `bytes` whole, with no copy (kept bytes too few to hold a
    /// request buffer for are copied).
    pub(super) fn push_whole(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if matches!(bytes, Bytes::Shared(_)) && bytes.len() < KEEP_MIN {
            return self.push(&bytes);
        }
        self.len += bytes.len();
        self.chunks.push_back(bytes);
    }

    /// Takes the first `n` bytes out (all, if fewer) into `out`: a chunk
    /// taken whole, or a part of a kept one, as a piece of its own; a
    /// part of a copy, copied. Returns how many were taken.
    pub(super) fn take_into(&mut self, out: &mut Gathered, n: usize) -> usize {
        let n = n.min(self.len);
        self.len -= n;
        let mut left = n;
        while left > 0 {
            let front = self.chunks.front().expect("len counts the chunks' bytes");
            let unread = front.len() - self.front_at;
            let k = unread.min(left);
            if self.front_at == 0 && k == front.len() {
                out.push(self.chunks.pop_front().expect("a front chunk"));
            } else {
                out.push_part(front, self.front_at..self.front_at + k);
                self.front_at += k;
                let unread = front.len() - self.front_at;
                if unread == 0 {
                    self.chunks.pop_front();
                    self.front_at = 0;
                } else if matches!(front, Bytes::Shared(_)) && unread < KEEP_MIN {
                    let copy = Bytes::Owned(front[self.front_at..].to_vec());
                    *self.chunks.front_mut().expect("a front chunk") = copy;
                    self.front_at = 0;
                }
            }
            left -= k;
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
    use std::sync::Arc;

    use super::*;
    use crate::ipc::bytes::Shared;

    fn take(c: &mut Chunks, n: usize) -> Vec<u8> {
        let mut out = Gathered::default();
        let taken = c.take_into(&mut out, n);
        assert_eq!(taken, out.len());
        out.into_vec()
    }

    #[test]
    fn bytes_come_out_in_order_across_chunks_and_partial_takes() {
        let mut c = Chunks::default();
        c.push(b"ab");
        c.push(b"cd");
        c.push_whole(Bytes::Owned(b"efgh".to_vec()));
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
        c.push_whole(Bytes::Owned(write));
        c.push(b"next");
        let mut out = Gathered::default();
        assert_eq!(c.take_into(&mut out, 65536), 65536);
        let whole = out.into_vec();
        assert_eq!(whole.as_ptr(), at, "the same allocation: no copy");
        assert_eq!(take(&mut c, 10), b"next");
    }

    #[test]
    fn kept_bytes_go_out_as_pieces_of_the_callers_buffer() {
        let request = Arc::new((0..70_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let at = request.as_ptr();
        let kept = Shared::new(request.clone()).slice(2..69_998);
        let mut c = Chunks::default();
        c.push(b"ab");
        c.push_whole(Bytes::Shared(kept));
        c.push(b"cd");
        let mut out = Gathered::default();
        assert_eq!(c.take_into(&mut out, 7), 7);
        let slices = out.slices();
        assert_eq!(slices, vec![&b"ab"[..], &request[2..7]]);
        assert_eq!(slices[1].as_ptr(), at.wrapping_add(2), "no copy");
        let mut rest = Gathered::default();
        assert_eq!(c.take_into(&mut rest, 1 << 20), 69_996 - 5 + 2);
        let mut expected = request[7..69_998].to_vec();
        expected.extend_from_slice(b"cd");
        assert_eq!(rest.into_vec(), expected);
        assert!(c.is_empty());
        c.push(b"abc");
        c.clear();
        assert_eq!((c.len(), take(&mut c, 3)), (0, Vec::new()));
    }
}

#[cfg(test)]
mod remnants {
    use std::sync::Arc;

    use super::*;
    use crate::ipc::bytes::Shared;

    /// A kept chunk read down below `KEEP_MIN` lets go of the caller's
    /// buffer: the rest is copied, and comes out the same.
    #[test]
    fn a_kept_chunk_read_down_to_a_remnant_lets_its_buffer_go() {
        let request = Arc::new((0..100_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let mut c = Chunks::default();
        c.push_whole(Bytes::Shared(Shared::new(request.clone())));
        let mut out = Gathered::default();
        c.take_into(&mut out, 50_000);
        drop(out);
        assert_eq!(Arc::strong_count(&request), 2, "still kept: 50,000 unread");
        let mut out = Gathered::default();
        c.take_into(&mut out, 30_000);
        drop(out);
        assert_eq!(Arc::strong_count(&request), 1, "20,000 left: copied out");
        let mut out = Gathered::default();
        assert_eq!(c.take_into(&mut out, 1 << 20), 20_000);
        assert_eq!(out.into_vec(), request[80_000..]);
        // Kept bytes too few to be worth a buffer are copied at once.
        c.push_whole(Bytes::Shared(Shared::new(Arc::new(vec![5; 100]))));
        assert!(matches!(c.chunks.front(), Some(Bytes::Owned(_))));
    }
}

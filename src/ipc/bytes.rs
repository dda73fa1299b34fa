//! Bytes an object holds: its own copy, or a caller's request bytes that
//! the adapter kept for it (a FUSE write's buffer: [`super::Parking::keep`]),
//! shared with no copy; and a read's answer gathered from both.
//!
//! A kept buffer is read-only for as long as any [`Shared`] of it lives:
//! the adapter guarantees it, and nothing here can write through one.

use std::ops::{Deref, Range};
use std::sync::Arc;

/// Bytes the adapter kept, behind a shared owner.
pub type Owner = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A range of kept bytes. Cloning or slicing one copies no byte.
#[derive(Clone)]
pub struct Shared {
    owner: Owner,
    range: Range<usize>,
}

impl Shared {
    /// All of `owner`'s bytes.
    pub fn new(owner: Owner) -> Self {
        let len = (*owner).as_ref().len();
        Shared {
            owner,
            range: 0..len,
        }
    }

    /// Bytes `range` of these (relative to their start).
    pub fn slice(&self, range: Range<usize>) -> Shared {
        assert!(range.start <= range.end && range.end <= self.range.len());
        Shared {
            owner: self.owner.clone(),
            range: self.range.start + range.start..self.range.start + range.end,
        }
    }
}

impl Deref for Shared {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.range.clone()]
    }
}

/// Bytes an object holds.
pub enum Bytes {
    /// Its own copy.
    Owned(Vec<u8>),
    /// A caller's, kept.
    Shared(Shared),
}

impl Default for Bytes {
    fn default() -> Self {
        Bytes::Owned(Vec::new())
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Shared(s) => s,
        }
    }
}

impl Bytes {
    /// `bytes`, kept as `kept` if the adapter kept them, else copied.
    pub fn keep_or_copy(bytes: &[u8], kept: Option<Shared>) -> Bytes {
        match kept {
            Some(shared) => Bytes::Shared(shared),
            None => Bytes::Owned(bytes.to_vec()),
        }
    }
}

/// Pieces a reply gathers at most: a writev(2) takes 1024 vectors, and
/// the reply's header is one. Past this, bytes are copied into the last
/// piece.
const MAX_PIECES: usize = 256;

/// A read's answer, gathered in pieces: runs of copied bytes, and kept
/// bytes as they are. Invariant: no piece is empty, and no two copied
/// pieces are next to each other unless the first came whole.
#[derive(Default)]
pub struct Gathered {
    pieces: Vec<Bytes>,
    len: usize,
}

impl std::fmt::Debug for Gathered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gathered")
            .field("len", &self.len)
            .field("pieces", &self.pieces.len())
            .finish()
    }
}

impl Gathered {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `bytes`.
    pub fn copy(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        if let Some(Bytes::Owned(last)) = self.pieces.last_mut() {
            last.extend_from_slice(bytes);
            return;
        }
        self.pieces.push(Bytes::Owned(bytes.to_vec()));
    }

    /// Appends bytes `range` of `bytes`: kept ones as a piece of their
    /// own, with no copy; a copy of the daemon's own.
    pub fn push_part(&mut self, bytes: &Bytes, range: Range<usize>) {
        match bytes {
            Bytes::Shared(kept) => self.push(Bytes::Shared(kept.slice(range))),
            Bytes::Owned(own) => self.copy(&own[range]),
        }
    }

    /// Appends `bytes` as they are (a whole chunk, or kept bytes).
    pub fn push(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.pieces.len() >= MAX_PIECES {
            return self.copy(&bytes);
        }
        self.len += bytes.len();
        self.pieces.push(bytes);
    }

    /// The pieces, in order, as the reply sends them.
    pub fn slices(&self) -> Vec<&[u8]> {
        self.pieces.iter().map(|p| &**p).collect()
    }

    /// The bytes in one buffer: the only piece itself when it is a copy,
    /// else all of them copied.
    pub fn into_vec(mut self) -> Vec<u8> {
        if let [Bytes::Owned(_)] = self.pieces.as_slice()
            && let Some(Bytes::Owned(v)) = self.pieces.pop()
        {
            return v;
        }
        let mut out = Vec::with_capacity(self.len);
        for piece in &self.pieces {
            out.extend_from_slice(piece);
        }
        out
    }

    /// Whether every byte is in one copied piece (or there are none).
    pub fn is_one_copy(&self) -> bool {
        matches!(self.pieces.as_slice(), [] | [Bytes::Owned(_)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(bytes: &[u8]) -> Shared {
        Shared::new(Arc::new(bytes.to_vec()))
    }

    #[test]
    fn slices_of_shared_bytes_are_relative_to_their_start() {
        let s = shared(b"0123456789").slice(2..8);
        assert_eq!(&*s, b"234567");
        assert_eq!(&*s.slice(1..3), b"34");
        let mut g = Gathered::default();
        g.push_part(&Bytes::Shared(s.clone()), 4..6);
        g.push_part(&Bytes::Owned(b"abc".to_vec()), 1..3);
        assert_eq!(g.slices(), vec![&b"67"[..], b"bc"]);
        assert_eq!(g.slices()[0].as_ptr(), s[4..].as_ptr(), "no copy");
    }

    #[test]
    fn copies_run_together_and_kept_bytes_stay_pieces() {
        let mut g = Gathered::default();
        g.copy(b"ab");
        g.copy(b"cd");
        g.push(Bytes::Shared(shared(b"KEPT")));
        g.copy(b"");
        g.copy(b"ef");
        assert_eq!(g.len(), 10);
        assert_eq!(g.slices(), vec![&b"abcd"[..], b"KEPT", b"ef"]);
        assert!(!g.is_one_copy());
        assert_eq!(g.into_vec(), b"abcdKEPTef");
    }

    #[test]
    fn one_copied_piece_leaves_as_it_is() {
        let mut g = Gathered::default();
        g.push(Bytes::Owned(b"whole".to_vec()));
        assert!(g.is_one_copy());
        assert_eq!(g.into_vec(), b"whole");
        assert!(Gathered::default().is_one_copy());
        let mut kept = Gathered::default();
        kept.push(Bytes::Shared(shared(b"kept")));
        assert!(!kept.is_one_copy());
        assert_eq!(kept.into_vec(), b"kept");
    }

    #[test]
    fn past_the_piece_limit_kept_bytes_are_copied() {
        let mut g = Gathered::default();
        for i in 0..MAX_PIECES + 10 {
            g.push(Bytes::Shared(shared(&[i as u8])));
        }
        assert_eq!(g.slices().len(), MAX_PIECES + 1);
        let expected: Vec<u8> = (0..MAX_PIECES + 10).map(|i| i as u8).collect();
        assert_eq!(g.into_vec(), expected);
    }
}

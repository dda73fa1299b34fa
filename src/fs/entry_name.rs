//! An entry's name, kept in the entry itself when short: most names of a
//! mount's many objects (`jobs`, `q17`, `worker-3.sock`) fit in 14 bytes,
//! and a name of its own allocation cost each object 32 bytes more (the
//! allocator's smallest chunk) and a pointer to follow on every lookup.
//! Longer names (up to `NAME_MAX`) are boxed behind one thin pointer. 16
//! bytes either way, where the `Vec<u8>` it replaces took 24.

use std::fmt;
use std::ops::Deref;

/// The longest name kept inline.
const INLINE: usize = 14;

#[derive(Clone, PartialEq, Eq)]
pub enum Name {
    /// Its length, then its bytes (the rest zero).
    Inline(u8, [u8; INLINE]),
    /// Boxed twice: a thin pointer keeps the name 16 bytes.
    Boxed(Box<Box<[u8]>>),
}

impl Name {
    pub fn new(name: &[u8]) -> Name {
        if name.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..name.len()].copy_from_slice(name);
            Name::Inline(name.len() as u8, bytes)
        } else {
            Name::Boxed(Box::new(name.into()))
        }
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::new(b"")
    }
}

impl Deref for Name {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Name::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Name::Boxed(bytes) => bytes,
        }
    }
}

impl PartialEq<[u8]> for Name {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl PartialEq<&[u8]> for Name {
    fn eq(&self, other: &&[u8]) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_its_bytes_inline_or_boxed_in_16_bytes() {
        assert_eq!(std::mem::size_of::<Name>(), 16);
        let long = [b'x'; 255];
        for bytes in [
            &b""[..],
            b"jobs",
            &long[..INLINE],
            &long[..INLINE + 1],
            &long,
        ] {
            let name = Name::new(bytes);
            assert_eq!(&*name, bytes);
            assert!(name == bytes);
            assert_eq!(matches!(name, Name::Inline(..)), bytes.len() <= INLINE);
        }
        assert_ne!(Name::new(b"a"), Name::new(b"a\0"));
    }
}

//! The tree's entries by inode: each boxed entry found through the inode
//! it holds, so that a slot of the table is one pointer, not a key and a
//! pointer (a mount's many queues cost ~10 bytes less each; a hash table
//! is up to half empty, so its slots count).
//!
//! Invariant: an entry's `ino` never changes while it is in the map.

use std::ops::Index;

use hashbrown::HashTable;

use super::attr::Ino;
use super::tree::Entry;

pub struct EntryMap<N> {
    table: HashTable<Box<Entry<N>>>,
}

impl<N> Default for EntryMap<N> {
    fn default() -> Self {
        EntryMap {
            table: HashTable::new(),
        }
    }
}

/// Inode numbers are handed out in order by the tree, never by users:
/// a multiplicative hash spreads them over the table's high bits (which
/// the table's control bytes use) at the cost of one multiplication.
fn hash(ino: Ino) -> u64 {
    ino.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl<N> EntryMap<N> {
    pub fn get(&self, ino: &Ino) -> Option<&Entry<N>> {
        self.table.find(hash(*ino), |e| e.ino == *ino).map(|e| &**e)
    }

    pub fn get_mut(&mut self, ino: &Ino) -> Option<&mut Entry<N>> {
        self.table
            .find_mut(hash(*ino), |e| e.ino == *ino)
            .map(|e| &mut **e)
    }

    pub fn contains_key(&self, ino: &Ino) -> bool {
        self.get(ino).is_some()
    }

    /// Adds an entry whose inode is in no other entry.
    pub fn insert(&mut self, entry: Box<Entry<N>>) {
        debug_assert!(!self.contains_key(&entry.ino), "inode numbers are unique");
        self.table
            .insert_unique(hash(entry.ino), entry, |e| hash(e.ino));
    }

    pub fn remove(&mut self, ino: &Ino) -> Option<Box<Entry<N>>> {
        let found = self.table.find_entry(hash(*ino), |e| e.ino == *ino).ok()?;
        Some(found.remove().0)
    }

    pub fn values(&self) -> impl Iterator<Item = &Entry<N>> {
        self.table.iter().map(|e| &**e)
    }
}

impl<N> Index<&Ino> for EntryMap<N> {
    type Output = Entry<N>;

    /// The entry of `ino`, which must be in the map.
    fn index(&self, ino: &Ino) -> &Entry<N> {
        self.get(ino).expect("an indexed inode has its entry")
    }
}

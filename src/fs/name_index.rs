//! The tree's index of names: (parent, name) → inode, holding inodes
//! only. Each is hashed and compared through its entry's parent and name,
//! so a name is kept once, in its entry, not again as a key (a queue's
//! name and its key cost ~90 bytes more per object before), and a lookup
//! copies no name.
//!
//! Invariant (the tree keeps it): every inode in the index is in the
//! entries map given to each call, with the parent and name it was
//! indexed under: an entry's name changes only while it is out of the
//! index, and an entry leaves the map only after it left the index.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::attr::Ino;
use super::entry_map::EntryMap as Entries;

#[derive(Default)]
pub struct NameIndex {
    table: HashTable<Ino>,
    hasher: RandomState,
}

impl NameIndex {
    fn hash(&self, parent: Ino, name: &[u8]) -> u64 {
        self.hasher.hash_one((parent, name))
    }

    /// The inode named `name` in `parent`.
    pub fn get<N>(&self, entries: &Entries<N>, parent: Ino, name: &[u8]) -> Option<Ino> {
        let named = |ino: &Ino| entries[ino].parent == parent && entries[ino].name == name;
        self.table.find(self.hash(parent, name), named).copied()
    }

    /// Indexes `ino` under its entry's parent and name, which no other
    /// inode has.
    pub fn insert<N>(&mut self, entries: &Entries<N>, ino: Ino) {
        let e = &entries[&ino];
        let hash = self.hash(e.parent, &e.name);
        let hasher = &self.hasher;
        let rehash = |i: &Ino| hasher.hash_one((entries[i].parent, &entries[i].name[..]));
        self.table.insert_unique(hash, ino, rehash);
    }

    /// Takes `ino`, indexed under `parent` and `name`, out; false if it
    /// was not there (the name is another's, or nobody's).
    pub fn remove(&mut self, parent: Ino, name: &[u8], ino: Ino) -> bool {
        let hash = self.hash(parent, name);
        match self.table.find_entry(hash, |&i| i == ino) {
            Ok(found) => {
                found.remove();
                true
            }
            Err(_) => false,
        }
    }
}

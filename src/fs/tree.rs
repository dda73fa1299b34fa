//! The tree of nodes: one inode allocator, the names in each directory,
//! and how long each inode must live. What a node is, the tree does not
//! know (`N`: the fs layer's `Node`).
//!
//! Invariants, true between any two calls:
//! - an entry lives while it is linked (a user-visible name in a fixed or
//!   listed directory) or while the kernel holds lookups on it (cached
//!   dentries, open files); `rm` unlinks, the last `forget` frees;
//! - `names` maps (parent, name) to the entry of that name: a linked one,
//!   or a synthesized one the kernel knows of or `readdir` listed; it
//!   keeps inodes only, each indexed under its entry's parent and name
//!   (name_index.rs), so an entry is renamed only while out of it;
//! - `entries` finds each entry by the inode it holds (entry_map.rs);
//! - `children` holds every entry that has a parent under that parent,
//!   in creation order (inode numbers only grow; an entry never changes
//!   parent), for stable `readdir` offsets (child_order.rs);
//! - inode numbers are never reused while the daemon runs;
//! - `recency` tracks the synthesized entries the kernel holds lookups
//!   on, except those it was asked to drop since their last lookup
//!   (forgetting.rs).

use std::collections::HashMap;
use std::sync::Arc;

use super::attr::{Ino, Meta, Time};
use super::child_order::ChildOrder;
use super::entry_map::EntryMap;
use super::entry_name::Name;
use super::forgetting::{Recency, Stale};
use super::name_index::NameIndex;
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ipc::policy;
use crate::memory::{Account, Held};

/// The root directory's inode, as FUSE fixes it.
pub const ROOT: Ino = 1;

/// Boxed in the tree's map, so that the map's slack (a hash table is up
/// to half empty) costs a pointer per slot, not an entry; what only
/// synthesized entries have is beside it, in the tree's `makers`.
pub struct Entry<N> {
    pub ino: Ino,
    pub parent: Ino,
    pub name: Name,
    pub meta: Meta,
    pub node: N,
    /// What a user-made object is charged to (its owner's account): kept
    /// with its entry so that a `chown` moves the charge.
    pub charge: Option<Arc<Account>>,
    linked: bool,
    lookups: u64,
    /// Made by a synthesized directory (never linked).
    synthesized: bool,
}

/// Who pays for a synthesized entry while the kernel holds it: the user
/// whose lookup made it, and the charge (forgetting.rs).
struct Maker {
    uid: u32,
    _cost: Held,
    /// The entry's place in the tree's `recency`, under its maker (0:
    /// none).
    stamp: u64,
}

impl<N> Entry<N> {
    pub fn linked(&self) -> bool {
        self.linked
    }
}

/// Rename behaviour asked by `renameat2(2)` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameMode {
    Replace,
    NoReplace,
}

pub struct Tree<N> {
    entries: EntryMap<N>,
    /// The makers of the entries that have one (synthesized ones), by
    /// inode; gone with their entry.
    makers: HashMap<Ino, Maker>,
    /// (parent, name) → inode (name_index.rs).
    names: NameIndex,
    children: ChildOrder,
    next_ino: Ino,
    recency: Recency,
}

impl<N: Clone> Tree<N> {
    /// A tree holding only the root directory.
    pub fn new(root: N, meta: Meta) -> Self {
        let mut tree = Tree {
            entries: EntryMap::default(),
            makers: HashMap::new(),
            names: NameIndex::default(),
            children: ChildOrder::default(),
            next_ino: ROOT,
            recency: Recency::default(),
        };
        let ino = tree.allocate();
        tree.entries.insert(Box::new(Entry {
            ino,
            parent: ROOT,
            name: Name::default(),
            meta,
            node: root,
            charge: None,
            linked: true,
            lookups: 0,
            synthesized: false,
        }));
        tree
    }

    fn allocate(&mut self) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        ino
    }

    pub fn get(&self, ino: Ino) -> Option<&Entry<N>> {
        self.entries.get(&ino)
    }

    pub fn get_mut(&mut self, ino: Ino) -> Option<&mut Entry<N>> {
        self.entries.get_mut(&ino)
    }

    /// The entry named `name` in `parent`: linked, or synthesized and
    /// still known.
    pub fn child(&self, parent: Ino, name: &[u8]) -> Option<&Entry<N>> {
        let ino = self.names.get(&self.entries, parent, name)?;
        self.get(ino)
    }

    /// Counts one more kernel reference (a lookup, create or mknod reply).
    pub fn add_lookup(&mut self, ino: Ino) {
        if let Some(e) = self.entries.get_mut(&ino) {
            e.lookups += 1;
            if let (true, Some(m)) = (e.synthesized, self.makers.get_mut(&ino)) {
                self.recency.used(m.uid, ino, &mut m.stamp);
            }
        }
    }

    /// Whether the synthesized entry `ino` has a user who pays for it.
    pub fn has_maker(&self, ino: Ino) -> bool {
        self.makers.contains_key(&ino)
    }

    /// Charges the synthesized entry `ino` to `uid`, whose lookup made it
    /// (`cost`, held while the entry lives); its lookups count among that
    /// user's from now on.
    pub fn set_maker(&mut self, ino: Ino, uid: u32, cost: Held) {
        if !self.entries.contains_key(&ino) {
            return;
        }
        if let Some(old) = self.makers.get_mut(&ino) {
            self.recency.gone(old.uid, &mut old.stamp);
        }
        let maker = Maker {
            uid,
            _cost: cost,
            stamp: 0,
        };
        self.makers.insert(ino, maker);
    }

    /// Hands `uid`'s least recently looked-up synthesized entries the
    /// kernel holds to `ask` (which asks the kernel to drop them) until at
    /// most `keep` of that user's are left; stops at the first `ask`
    /// refuses, which stays tracked.
    pub fn drop_stale(&mut self, uid: u32, keep: usize, mut ask: impl FnMut(Stale) -> bool) {
        while self.recency.count(uid) > keep {
            let Some((mut stamp, ino)) = self.recency.oldest(uid) else {
                return;
            };
            let (Some(e), Some(maker)) = (self.entries.get(&ino), self.makers.get_mut(&ino)) else {
                self.recency.gone(uid, &mut stamp);
                continue;
            };
            let stale = Stale {
                parent: e.parent,
                ino,
                name: e.name.to_vec(),
            };
            if !ask(stale) {
                return;
            }
            self.recency.gone(uid, &mut maker.stamp);
        }
    }

    /// Drops `n` kernel references; an unlinked entry with none left goes.
    pub fn forget(&mut self, ino: Ino, n: u64) {
        let Some(e) = self.entries.get_mut(&ino) else {
            return;
        };
        e.lookups = e.lookups.saturating_sub(n);
        if e.lookups == 0 && !e.linked {
            self.remove(ino);
        }
    }

    /// Adds a linked entry that users did not make and cannot remove
    /// (the fixed tree). The name is trusted.
    pub fn insert_fixed(&mut self, parent: Ino, name: &str, meta: Meta, node: N) -> Ino {
        self.insert(parent, name.as_bytes(), meta, node, true)
    }

    fn insert(&mut self, parent: Ino, name: &[u8], meta: Meta, node: N, linked: bool) -> Ino {
        let ino = self.allocate();
        self.children.insert(parent, ino);
        self.entries.insert(Box::new(Entry {
            ino,
            parent,
            name: Name::new(name),
            meta,
            node,
            charge: None,
            linked,
            lookups: 0,
            synthesized: !linked,
        }));
        self.names.insert(&self.entries, ino);
        ino
    }

    /// Makes a new named entry. The name must be 1 to 255 bytes and free.
    pub fn create(&mut self, parent: Ino, name: &[u8], meta: Meta, node: N) -> Result<Ino> {
        validate_name(name)?;
        if self.names.get(&self.entries, parent, name).is_some() {
            return Err(Error::Exists);
        }
        Ok(self.insert(parent, name, meta, node, true))
    }

    /// Records the child `name` of a synthesized directory as it is now:
    /// the same inode as long as the kernel or a listing knows it, with
    /// its node and owner refreshed.
    pub fn synthesized(&mut self, parent: Ino, name: &[u8], meta: Meta, node: N) -> Ino {
        if let Some(ino) = self.names.get(&self.entries, parent, name) {
            let e = self.entries.get_mut(&ino).expect("named entry exists");
            e.meta = meta;
            e.node = node;
            return ino;
        }
        self.insert(parent, name, meta, node, false)
    }

    /// Forgets the synthesized children of `parent` that the kernel holds
    /// no reference to and that `still_there` does not keep: what a
    /// listing no longer shows, or a lookup no longer finds.
    pub fn prune(&mut self, parent: Ino, still_there: impl Fn(&[u8]) -> bool) {
        let gone: Vec<Ino> = self
            .child_inos(parent)
            .filter(|ino| {
                let e = &self.entries[ino];
                !e.linked && e.lookups == 0 && !still_there(&e.name)
            })
            .collect();
        for ino in gone {
            self.remove(ino);
        }
    }

    fn child_inos(&self, parent: Ino) -> impl Iterator<Item = Ino> + '_ {
        self.children.after(parent, 0)
    }

    /// Takes an entry out of the tree, and with it the children nothing
    /// holds (a synthesized directory's listed files).
    fn remove(&mut self, ino: Ino) {
        let Some(e) = self.entries.remove(&ino) else {
            return;
        };
        if let Some(mut maker) = self.makers.remove(&ino) {
            self.recency.gone(maker.uid, &mut maker.stamp);
        }
        self.names.remove(e.parent, &e.name, ino);
        self.children.remove(e.parent, ino);
        let orphans: Vec<Ino> = self
            .child_inos(ino)
            .filter(|c| self.entries[c].lookups == 0)
            .collect();
        for child in orphans {
            self.remove(child);
        }
    }

    /// Removes the name. The entry stays while the kernel holds lookups.
    pub fn unlink(&mut self, parent: Ino, name: &[u8], caller: &Caller) -> Result<()> {
        let ino = (self.names)
            .get(&self.entries, parent, name)
            .ok_or(Error::NotFound)?;
        self.may_remove(ino, caller)?;
        self.detach(ino);
        Ok(())
    }

    /// Removes the name whoever made it, if it is there (the queue store
    /// says another mount removed it). The entry stays while the kernel
    /// holds lookups.
    pub fn remove_name(&mut self, parent: Ino, name: &[u8]) {
        if let Some(ino) = self.names.get(&self.entries, parent, name) {
            self.detach(ino);
        }
    }

    /// Removes the directory `name` of `parent` and the names inside it
    /// (a socket endpoint's files), and gives its node back so that the
    /// caller can close the object outside the tree's lock. Entries stay
    /// while the kernel holds lookups.
    pub fn unlink_dir(&mut self, parent: Ino, name: &[u8], caller: &Caller) -> Result<N> {
        let ino = (self.names)
            .get(&self.entries, parent, name)
            .ok_or(Error::NotFound)?;
        self.may_remove(ino, caller)?;
        let node = self.entries[&ino].node.clone();
        self.detach_dir(ino);
        Ok(node)
    }

    /// The path of `ino` from the mount's root (`pipes/x`), for logs;
    /// an entry that lost its name shows as such.
    pub fn path(&self, ino: Ino) -> String {
        let mut parts = Vec::new();
        let mut at = ino;
        while at != ROOT {
            let Some(e) = self.entries.get(&at) else {
                return format!("inode {ino}");
            };
            parts.push(String::from_utf8_lossy(&e.name).into_owned());
            if !e.linked {
                parts.push("(removed)".into());
            }
            at = e.parent;
        }
        if parts.is_empty() {
            return ".".into();
        }
        parts.reverse();
        parts.join("/")
    }

    /// Takes the name of object directory `ino` away, wherever it is now
    /// (it may have been renamed), with its files' names; the daemon's own
    /// doing, when the object closed itself. Nothing if it has no name.
    pub fn unlink_object_dir(&mut self, ino: Ino) {
        if !self.entries.get(&ino).is_some_and(|e| e.linked) {
            return;
        }
        self.detach_dir(ino);
    }

    /// Takes the names of directory `ino` and of the files in it.
    fn detach_dir(&mut self, ino: Ino) {
        let inside: Vec<Ino> = self
            .child_inos(ino)
            .filter(|c| self.entries[c].linked)
            .collect();
        for child in inside {
            self.detach(child);
        }
        self.detach(ino);
    }

    fn may_remove(&self, ino: Ino, caller: &Caller) -> Result<()> {
        if policy::may_remove(caller, self.entries[&ino].meta.uid) {
            Ok(())
        } else {
            Err(Error::NotPermitted)
        }
    }

    fn detach(&mut self, ino: Ino) {
        let e = self.entries.get_mut(&ino).expect("named entry exists");
        e.linked = false;
        e.meta.ctime = Time::now();
        let (parent, held) = (e.parent, e.lookups > 0);
        self.names.remove(parent, &self.entries[&ino].name, ino);
        if !held {
            self.remove(ino);
        }
    }

    /// Renames within one directory. Moving between directories is
    /// `EPERM` (not `EXDEV`, which would make `mv` copy a pipe).
    pub fn rename(
        &mut self,
        from: (Ino, &[u8]),
        to: (Ino, &[u8]),
        mode: RenameMode,
        caller: &Caller,
    ) -> Result<()> {
        let (parent, name) = from;
        let (new_parent, new_name) = to;
        let ino = (self.names)
            .get(&self.entries, parent, name)
            .ok_or(Error::NotFound)?;
        if parent != new_parent {
            return Err(Error::NotPermitted);
        }
        validate_name(new_name)?;
        self.may_remove(ino, caller)?;
        if name == new_name {
            return Ok(());
        }
        if let Some(target) = self.names.get(&self.entries, parent, new_name) {
            if mode == RenameMode::NoReplace {
                return Err(Error::Exists);
            }
            // As rename(2): a directory (an entry with entries: no object
            // directory is ever empty) replaces no file and no directory
            // that has entries, and a file no directory.
            let is_dir = |ino| self.child_inos(ino).any(|c| self.entries[&c].linked);
            match (is_dir(ino), is_dir(target)) {
                (true, true) => return Err(Error::NotEmpty),
                (false, true) => return Err(Error::IsDirectory),
                (true, false) => return Err(Error::NotDirectory),
                (false, false) => {}
            }
            self.may_remove(target, caller)?;
            self.detach(target);
        }
        self.names.remove(parent, name, ino);
        let e = self.entries.get_mut(&ino).expect("named entry exists");
        e.name = Name::new(new_name);
        e.meta.ctime = Time::now();
        self.names.insert(&self.entries, ino);
        Ok(())
    }

    /// Linked children of `parent` with an inode above `after`, oldest
    /// first.
    pub fn list(&self, parent: Ino, after: Ino) -> impl Iterator<Item = &Entry<N>> {
        self.children
            .after(parent, after)
            .map(|c| &self.entries[&c])
            .filter(|e| e.linked)
    }

    /// Every entry, linked or not: for status listings and unmount.
    pub fn all(&self) -> impl Iterator<Item = &Entry<N>> {
        self.entries.values()
    }

    /// Linked children of `parent`.
    pub fn count(&self, parent: Ino) -> usize {
        self.list(parent, 0).count()
    }
}

pub fn validate_name(name: &[u8]) -> Result<()> {
    if name.len() > 255 {
        return Err(Error::NameTooLong);
    }
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::InvalidArgument);
    }
    if name == b"." || name == b".." {
        return Err(Error::Exists);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes as the tree sees them: anything; here a word.
    type T = Tree<&'static str>;

    use crate::caller::examples::{ALICE, BOB, ROOT as ROOT_CALLER};

    fn dir() -> &'static str {
        "dir"
    }

    fn meta(c: &Caller) -> Meta {
        Meta::new(c.uid, c.gid, 0o644)
    }

    /// A tree with two directories, `a` and `b`.
    fn tree() -> (T, Ino, Ino) {
        let mut t = Tree::new(dir(), meta(&ROOT_CALLER));
        let a = t.insert_fixed(ROOT, "a", meta(&ROOT_CALLER), dir());
        let b = t.insert_fixed(ROOT, "b", meta(&ROOT_CALLER), dir());
        (t, a, b)
    }

    #[test]
    fn create_lookup_and_exclusive_names() {
        let (mut t, a, b) = tree();
        let ino = t.create(a, b"p", meta(&ALICE), dir()).unwrap();
        assert_eq!(t.child(a, b"p").unwrap().ino, ino);
        assert!(t.child(b, b"p").is_none());
        assert_eq!(
            t.create(a, b"p", meta(&ALICE), dir()).unwrap_err(),
            Error::Exists
        );
        for (name, e) in [
            (&b""[..], Error::InvalidArgument),
            (b"x/y", Error::InvalidArgument),
            (b"..", Error::Exists),
            (&[b'n'; 256], Error::NameTooLong),
        ] {
            assert_eq!(t.create(a, name, meta(&ALICE), dir()).unwrap_err(), e);
        }
    }

    #[test]
    fn names_survive_the_index_growing_renames_and_removals() {
        let (mut t, a, b) = tree();
        let name = |i: usize| format!("q{i}").into_bytes();
        let inos: Vec<Ino> = (0..5000)
            .map(|i| t.create(a, &name(i), meta(&ALICE), dir()).unwrap())
            .collect();
        // The same names in another directory are other entries.
        let other = t.create(b, &name(7), meta(&ALICE), dir()).unwrap();
        for i in (0..5000).step_by(2) {
            let new = format!("r{i}").into_bytes();
            t.rename((a, &name(i)), (a, &new), RenameMode::Replace, &ALICE)
                .unwrap();
        }
        for i in (1..5000).step_by(4) {
            t.unlink(a, &name(i), &ALICE).unwrap();
        }
        for (i, ino) in inos.iter().enumerate() {
            let (old, renamed) = (t.child(a, &name(i)), t.child(a, format!("r{i}").as_bytes()));
            match (i % 2, i % 4) {
                (0, _) => assert!(old.is_none() && renamed.unwrap().ino == *ino),
                (_, 1) => assert!(old.is_none() && renamed.is_none()),
                _ => assert!(old.unwrap().ino == *ino && renamed.is_none()),
            }
        }
        assert_eq!(t.child(b, &name(7)).unwrap().ino, other);
        assert_eq!(t.child(a, &name(7)).unwrap().ino, inos[7]);
    }

    #[test]
    fn only_owner_or_root_removes_in_sticky_dirs() {
        let (mut t, a, _) = tree();
        t.create(a, b"x", meta(&ALICE), dir()).unwrap();
        assert_eq!(t.unlink(a, b"x", &BOB).unwrap_err(), Error::NotPermitted);
        let rename = t.rename((a, b"x"), (a, b"y"), RenameMode::Replace, &BOB);
        assert_eq!(rename.unwrap_err(), Error::NotPermitted);
        t.unlink(a, b"x", &ROOT_CALLER).unwrap();
        assert!(t.child(a, b"x").is_none());
    }

    #[test]
    fn an_unlinked_entry_lives_until_forgotten() {
        let (mut t, a, _) = tree();
        let ino = t.create(a, b"x", meta(&ALICE), dir()).unwrap();
        t.add_lookup(ino);
        t.add_lookup(ino);
        t.unlink(a, b"x", &ALICE).unwrap();
        assert!(!t.get(ino).unwrap().linked());
        t.forget(ino, 1);
        assert!(t.get(ino).is_some(), "one lookup left");
        t.forget(ino, 1);
        assert!(t.get(ino).is_none());
        // A linked entry outlives any number of forgets.
        let kept = t.create(a, b"y", meta(&ALICE), dir()).unwrap();
        t.forget(kept, 5);
        assert!(t.get(kept).is_some());
    }

    #[test]
    fn rename_within_a_directory_only() {
        let (mut t, a, b) = tree();
        let x = t.create(a, b"x", meta(&ALICE), dir()).unwrap();
        let y = t.create(a, b"y", meta(&ALICE), dir()).unwrap();
        let err = t.rename((a, b"x"), (b, b"x"), RenameMode::Replace, &ALICE);
        assert_eq!(err.unwrap_err(), Error::NotPermitted);
        let err = t.rename((a, b"x"), (a, b"y"), RenameMode::NoReplace, &ALICE);
        assert_eq!(err.unwrap_err(), Error::Exists);
        t.rename((a, b"x"), (a, b"y"), RenameMode::Replace, &ALICE)
            .unwrap();
        assert_eq!(t.child(a, b"y").unwrap().ino, x);
        assert!(t.get(y).is_none(), "the replaced entry had no lookups");
        assert_eq!(t.count(a), 1);
    }

    #[test]
    fn listing_is_in_creation_order_and_resumable() {
        let (mut t, a, _) = tree();
        let x = t.create(a, b"x", meta(&ALICE), dir()).unwrap();
        t.create(a, b"a", meta(&ALICE), dir()).unwrap();
        let all: Vec<_> = t.list(a, 0).map(|e| e.name.to_vec()).collect();
        assert_eq!(all, [b"x".to_vec(), b"a".to_vec()]);
        let rest: Vec<_> = t.list(a, x).map(|e| e.name.to_vec()).collect();
        assert_eq!(rest, [b"a".to_vec()]);
    }

    /// As `ls` of a large directory while others remove and create:
    /// pages resumed after the last inode given list no entry twice, in
    /// creation order, and every entry that stays to the end.
    #[test]
    fn a_listing_resumed_page_by_page_survives_removals_and_creates_between_pages() {
        let (mut t, a, b) = tree();
        let inos: Vec<Ino> = (0..3000)
            .map(|i| {
                t.create(a, format!("q{i}").as_bytes(), meta(&ALICE), dir())
                    .unwrap()
            })
            .collect();
        t.create(b, b"elsewhere", meta(&ALICE), dir()).unwrap();
        // Some removed entries stay known to the kernel (unlinked, with a
        // lookup): they are not listed either.
        for &ino in inos.iter().step_by(7) {
            t.add_lookup(ino);
        }
        let (mut listed, mut after) = (Vec::new(), 0);
        for page in 0.. {
            let inos: Vec<Ino> = t.list(a, after).take(100).map(|e| e.ino).collect();
            let Some(&last) = inos.last() else {
                break;
            };
            listed.extend(inos);
            after = last;
            // Between pages: every third of the oldest 150 goes (mostly
            // ones already listed, which compacts the list), and in the
            // first pages one is made.
            let oldest: Vec<Vec<u8>> = t.list(a, 0).take(150).map(|e| e.name.to_vec()).collect();
            for n in oldest.iter().step_by(3) {
                t.unlink(a, n, &ALICE).unwrap();
            }
            if page < 10 {
                t.create(a, format!("new{page}").as_bytes(), meta(&ALICE), dir())
                    .unwrap();
            }
        }
        assert!(
            listed.windows(2).all(|w| w[0] < w[1]),
            "in order, none twice"
        );
        let stayed: Vec<Ino> = t.list(a, 0).map(|e| e.ino).collect();
        assert!(stayed.len() > 1000, "most stay: {}", stayed.len());
        assert!(
            stayed.iter().all(|ino| listed.contains(ino)),
            "all that stayed"
        );
        let new_ones = (t.list(a, 0))
            .filter(|e| e.name.starts_with(b"new"))
            .count();
        assert_eq!(new_ones, 10);
        assert_eq!(t.count(b), 1);
    }

    #[test]
    fn synthesized_children_keep_their_inode_until_nothing_holds_them() {
        let (mut t, a, _) = tree();
        let one = t.synthesized(a, b"1", meta(&ALICE), dir());
        assert_eq!(t.synthesized(a, b"1", meta(&BOB), dir()), one);
        assert_eq!(t.get(one).unwrap().meta.uid, BOB.uid, "refreshed");
        assert_eq!(t.count(a), 0, "not a linked name");
        let sub = t.synthesized(one, b"signal", meta(&ALICE), dir());
        t.add_lookup(one);
        t.prune(a, |_| false);
        assert!(t.get(one).is_some(), "the kernel holds it");
        t.forget(one, 1);
        assert!(t.get(one).is_none());
        assert!(t.get(sub).is_none(), "its unheld children go with it");
        let two = t.synthesized(a, b"2", meta(&ALICE), dir());
        t.prune(a, |n| n == b"2");
        assert!(t.get(two).is_some(), "still listed");
        t.prune(a, |_| false);
        assert!(t.get(two).is_none(), "no longer listed");
    }

    #[test]
    fn the_least_recently_looked_up_synthesized_entries_are_dropped_first() {
        let (mut t, a, _) = tree();
        let budget = crate::memory::MemoryBudget::new(1 << 20);
        let cost = || budget.account(7).hold(100).unwrap();
        let [one, two, three] = [b"1", b"2", b"3"].map(|n| {
            let ino = t.synthesized(a, n, meta(&ALICE), dir());
            t.set_maker(ino, 7, cost());
            t.add_lookup(ino);
            ino
        });
        assert_eq!(budget.held_by(7).0, 300, "each charged to its maker");
        t.add_lookup(one);
        let mut asked = Vec::new();
        t.drop_stale(7, 1, |s| {
            asked.push((s.parent, s.ino, s.name));
            true
        });
        assert_eq!(asked, [(a, two, b"2".to_vec()), (a, three, b"3".to_vec())]);
        assert!(t.get(two).is_some(), "kept until the kernel forgets it");
        t.drop_stale(7, 1, |_| panic!("asked once: one is left"));
        t.drop_stale(8, 0, |_| panic!("another user's are not touched"));
        // A refused request stays tracked, and is asked again.
        t.drop_stale(7, 0, |_| false);
        let mut again = Vec::new();
        t.drop_stale(7, 0, |s| {
            again.push(s.ino);
            true
        });
        assert_eq!(again, [one]);
        // Looked up again, an entry is tracked again; forgotten, it is not,
        // and its charge goes.
        t.add_lookup(two);
        t.forget(two, 2);
        assert!(t.get(two).is_none());
        assert_eq!(budget.held_by(7).0, 200);
        t.drop_stale(7, 0, |_| panic!("nothing held is tracked"));
    }
}

//! The names of IPC objects: which object a name in an object directory
//! stands for, who owns it, and how long its inode must live.
//!
//! An entry lives while it is linked (has a name) or while the kernel still
//! holds lookups on it (open files, cached dentries). `rm` unlinks the name;
//! the object itself is shared with the open file handles and outlives it.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use crate::error::{Error, Result};

pub type Ino = u64;

/// Inodes of the fixed tree.
pub mod fixed {
    use super::Ino;
    pub const ROOT: Ino = 1;
    pub const README: Ino = 2;
    pub const STATUS: Ino = 3;
    pub const PIPES: Ino = 4;
    pub const QUEUES: Ino = 5;
    pub const SHM: Ino = 6;
    pub const SOCKETS: Ino = 7;
    pub const PROC: Ino = 8;
    pub const PROC_SELF: Ino = 9;
    /// Objects are numbered from here on.
    pub const FIRST_OBJECT: Ino = 64;
}

/// The directories that hold objects (mode 1777, like /tmp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    Pipes,
    Queues,
    Shm,
    Sockets,
}

impl Dir {
    pub const ALL: [Dir; 4] = [Dir::Pipes, Dir::Queues, Dir::Shm, Dir::Sockets];

    pub fn ino(self) -> Ino {
        match self {
            Dir::Pipes => fixed::PIPES,
            Dir::Queues => fixed::QUEUES,
            Dir::Shm => fixed::SHM,
            Dir::Sockets => fixed::SOCKETS,
        }
    }

    pub fn from_ino(ino: Ino) -> Option<Dir> {
        Dir::ALL.into_iter().find(|d| d.ino() == ino)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dir::Pipes => "pipes",
            Dir::Queues => "queues",
            Dir::Shm => "shm",
            Dir::Sockets => "sockets",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Who is asking: the filesystem ids FUSE reports with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// The caller's thread id.
    pub pid: u32,
}

impl Caller {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// Ownership, permission bits and times of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits only (`0o7777`).
    pub perm: u16,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

impl Meta {
    pub fn new(uid: u32, gid: u32, perm: u16) -> Self {
        let now = SystemTime::now();
        Meta {
            uid,
            gid,
            perm: perm & 0o7777,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }
}

#[derive(Debug)]
pub struct Entry<O> {
    pub ino: Ino,
    pub dir: Dir,
    pub name: Vec<u8>,
    pub meta: Meta,
    pub object: O,
    linked: bool,
    lookups: u64,
}

impl<O> Entry<O> {
    pub fn linked(&self) -> bool {
        self.linked
    }

    /// Only the owner or root may remove or rename an entry of a sticky
    /// directory.
    fn may_remove(&self, caller: &Caller) -> Result<()> {
        if caller.is_root() || caller.uid == self.meta.uid {
            Ok(())
        } else {
            Err(Error::NotPermitted)
        }
    }
}

/// Rename behaviour asked by `renameat2(2)` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameMode {
    Replace,
    NoReplace,
}

pub struct Namespace<O> {
    entries: HashMap<Ino, Entry<O>>,
    /// Per directory: name to inode, for lookups.
    names: [HashMap<Vec<u8>, Ino>; 4],
    /// Per directory: inodes in creation order, for stable `readdir` offsets.
    order: [BTreeMap<Ino, ()>; 4],
    next_ino: Ino,
}

impl<O> Default for Namespace<O> {
    fn default() -> Self {
        Namespace {
            entries: HashMap::new(),
            names: Default::default(),
            order: Default::default(),
            next_ino: fixed::FIRST_OBJECT,
        }
    }
}

impl<O> Namespace<O> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn lookup(&self, dir: Dir, name: &[u8]) -> Option<&Entry<O>> {
        let ino = self.names[dir.index()].get(name)?;
        self.entries.get(ino)
    }

    pub fn get(&self, ino: Ino) -> Option<&Entry<O>> {
        self.entries.get(&ino)
    }

    pub fn get_mut(&mut self, ino: Ino) -> Option<&mut Entry<O>> {
        self.entries.get_mut(&ino)
    }

    /// Counts one more kernel reference (a lookup, create or mknod reply).
    pub fn add_lookup(&mut self, ino: Ino) {
        if let Some(e) = self.entries.get_mut(&ino) {
            e.lookups += 1;
        }
    }

    /// Drops `n` kernel references; an unlinked entry with none left goes.
    pub fn forget(&mut self, ino: Ino, n: u64) -> Option<Entry<O>> {
        let e = self.entries.get_mut(&ino)?;
        e.lookups = e.lookups.saturating_sub(n);
        if e.lookups == 0 && !e.linked {
            return self.entries.remove(&ino);
        }
        None
    }

    /// Makes a new entry. The name must be 1 to 255 bytes and free.
    pub fn create(&mut self, dir: Dir, name: &[u8], meta: Meta, object: O) -> Result<Ino> {
        validate_name(name)?;
        if self.names[dir.index()].contains_key(name) {
            return Err(Error::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.names[dir.index()].insert(name.to_vec(), ino);
        self.order[dir.index()].insert(ino, ());
        self.entries.insert(
            ino,
            Entry {
                ino,
                dir,
                name: name.to_vec(),
                meta,
                object,
                linked: true,
                lookups: 0,
            },
        );
        Ok(ino)
    }

    /// Removes the name. The entry stays while the kernel holds lookups.
    pub fn unlink(&mut self, dir: Dir, name: &[u8], caller: &Caller) -> Result<()> {
        let ino = *self.names[dir.index()].get(name).ok_or(Error::NotFound)?;
        self.entries[&ino].may_remove(caller)?;
        self.detach(dir, name, ino);
        Ok(())
    }

    fn detach(&mut self, dir: Dir, name: &[u8], ino: Ino) {
        self.names[dir.index()].remove(name);
        self.order[dir.index()].remove(&ino);
        let entry = self.entries.get_mut(&ino).expect("named entry exists");
        entry.linked = false;
        entry.meta.ctime = SystemTime::now();
        if entry.lookups == 0 {
            self.entries.remove(&ino);
        }
    }

    /// Renames within one directory. Moving between object directories is
    /// `EPERM` (not `EXDEV`, which would make `mv` copy a pipe).
    pub fn rename(
        &mut self,
        from: (Dir, &[u8]),
        to: (Dir, &[u8]),
        mode: RenameMode,
        caller: &Caller,
    ) -> Result<()> {
        let (dir, name) = from;
        let (new_dir, new_name) = to;
        let ino = *self.names[dir.index()].get(name).ok_or(Error::NotFound)?;
        if dir != new_dir {
            return Err(Error::NotPermitted);
        }
        validate_name(new_name)?;
        self.entries[&ino].may_remove(caller)?;
        if name == new_name {
            return Ok(());
        }
        if let Some(&target) = self.names[dir.index()].get(new_name) {
            if mode == RenameMode::NoReplace {
                return Err(Error::Exists);
            }
            self.entries[&target].may_remove(caller)?;
            self.detach(dir, new_name, target);
        }
        self.names[dir.index()].remove(name);
        self.names[dir.index()].insert(new_name.to_vec(), ino);
        let entry = self.entries.get_mut(&ino).expect("named entry exists");
        entry.name = new_name.to_vec();
        entry.meta.ctime = SystemTime::now();
        Ok(())
    }

    /// Linked entries of `dir` with an inode above `after`, oldest first.
    pub fn list(&self, dir: Dir, after: Ino) -> impl Iterator<Item = &Entry<O>> {
        self.order[dir.index()]
            .range(after + 1..)
            .map(|(ino, _)| &self.entries[ino])
    }

    /// Every entry, linked or not: for status listings and unmount.
    pub fn all(&self) -> impl Iterator<Item = &Entry<O>> {
        self.entries.values()
    }

    pub fn count(&self, dir: Dir) -> usize {
        self.names[dir.index()].len()
    }
}

fn validate_name(name: &[u8]) -> Result<()> {
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

    const ROOT: Caller = Caller {
        uid: 0,
        gid: 0,
        pid: 1,
    };
    const ALICE: Caller = Caller {
        uid: 1000,
        gid: 1000,
        pid: 2,
    };
    const BOB: Caller = Caller {
        uid: 1001,
        gid: 1001,
        pid: 3,
    };

    fn meta(c: &Caller) -> Meta {
        Meta::new(c.uid, c.gid, 0o644)
    }

    #[test]
    fn create_lookup_and_exclusive_names() {
        let mut ns = Namespace::new();
        let ino = ns.create(Dir::Pipes, b"p", meta(&ALICE), 'p').unwrap();
        assert_eq!(ns.lookup(Dir::Pipes, b"p").unwrap().ino, ino);
        assert!(ns.lookup(Dir::Queues, b"p").is_none());
        assert_eq!(
            ns.create(Dir::Pipes, b"p", meta(&ALICE), 'q').unwrap_err(),
            Error::Exists
        );
        assert_eq!(
            ns.create(Dir::Pipes, b"", meta(&ALICE), 'q').unwrap_err(),
            Error::InvalidArgument
        );
    }

    #[test]
    fn only_owner_or_root_removes_in_sticky_dirs() {
        let mut ns = Namespace::new();
        ns.create(Dir::Pipes, b"a", meta(&ALICE), ()).unwrap();
        assert_eq!(
            ns.unlink(Dir::Pipes, b"a", &BOB).unwrap_err(),
            Error::NotPermitted
        );
        assert_eq!(
            ns.rename(
                (Dir::Pipes, b"a"),
                (Dir::Pipes, b"b"),
                RenameMode::Replace,
                &BOB
            )
            .unwrap_err(),
            Error::NotPermitted
        );
        ns.unlink(Dir::Pipes, b"a", &ROOT).unwrap();
        assert!(ns.lookup(Dir::Pipes, b"a").is_none());
    }

    #[test]
    fn unlinked_entry_lives_until_forgotten() {
        let mut ns = Namespace::new();
        let ino = ns.create(Dir::Pipes, b"a", meta(&ALICE), ()).unwrap();
        ns.add_lookup(ino);
        ns.unlink(Dir::Pipes, b"a", &ALICE).unwrap();
        assert!(ns.get(ino).is_some());
        assert!(!ns.get(ino).unwrap().linked());
        assert!(ns.forget(ino, 1).is_some());
        assert!(ns.get(ino).is_none());
    }

    #[test]
    fn rename_within_a_directory_only() {
        let mut ns = Namespace::new();
        let a = ns.create(Dir::Pipes, b"a", meta(&ALICE), 1).unwrap();
        let b = ns.create(Dir::Pipes, b"b", meta(&ALICE), 2).unwrap();
        assert_eq!(
            ns.rename(
                (Dir::Pipes, b"a"),
                (Dir::Queues, b"a"),
                RenameMode::Replace,
                &ALICE
            )
            .unwrap_err(),
            Error::NotPermitted
        );
        assert_eq!(
            ns.rename(
                (Dir::Pipes, b"a"),
                (Dir::Pipes, b"b"),
                RenameMode::NoReplace,
                &ALICE
            )
            .unwrap_err(),
            Error::Exists
        );
        ns.rename(
            (Dir::Pipes, b"a"),
            (Dir::Pipes, b"b"),
            RenameMode::Replace,
            &ALICE,
        )
        .unwrap();
        assert_eq!(ns.lookup(Dir::Pipes, b"b").unwrap().ino, a);
        assert!(ns.get(b).is_none(), "the replaced entry had no lookups");
        assert_eq!(ns.count(Dir::Pipes), 1);
    }

    #[test]
    fn listing_is_in_creation_order_and_resumable() {
        let mut ns = Namespace::new();
        let x = ns.create(Dir::Pipes, b"x", meta(&ALICE), ()).unwrap();
        ns.create(Dir::Pipes, b"a", meta(&ALICE), ()).unwrap();
        let names: Vec<_> = ns.list(Dir::Pipes, 0).map(|e| e.name.clone()).collect();
        assert_eq!(names, vec![b"x".to_vec(), b"a".to_vec()]);
        let rest: Vec<_> = ns.list(Dir::Pipes, x).map(|e| e.name.clone()).collect();
        assert_eq!(rest, vec![b"a".to_vec()]);
    }
}

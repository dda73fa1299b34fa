//! The operations on names: making objects and endpoint directories,
//! removing and renaming them, and listing directories.

use std::sync::Arc;

use super::attr::{Attr, FileType, Ino, Meta};
use super::node::{Children, DirContext, MadeDir, Node};
use super::reply::{Call, ParkedOpen, Reference, Replies};
use super::tree::{self, RenameMode, Tree, validate_name};
use super::{DirEntry, Fs, RenameFlags};
use crate::caller::Caller;
use crate::error::{Error, Result};

impl<R: Replies> Fs<R> {
    /// Makes a node of `file_type` named `name` in an object directory
    /// and counts the kernel's reference to it; `EPERM` for a kind that
    /// directory does not hold, or a directory that takes none.
    pub fn mknod(
        &self,
        caller: &Caller,
        parent: Ino,
        name: &[u8],
        perm: u16,
        file_type: FileType,
    ) -> Result<Attr> {
        let Children::Listed(dir) = self.children_of(parent)? else {
            return Err(Error::NotPermitted);
        };
        if Self::reserved(&dir, name, caller) {
            return Err(Error::Exists);
        }
        let make = match file_type {
            FileType::Regular => dir.regular,
            FileType::NamedPipe => dir.fifo,
            FileType::Directory | FileType::Symlink => None,
        };
        let make = make.ok_or(Error::NotPermitted)?;
        validate_name(name)?;
        // A name taken is EEXIST before any charge is tried: a user whose
        // share is full learns the name is there, as from the kernel.
        if self.tree().child(parent, name).is_some() {
            return Err(Error::Exists);
        }
        let account = self.shared.budget.object_account(caller.uid, name.len())?;
        let node = make(&self.shared, name, account.clone())?;
        let kind = match &node {
            Node::File(kind) => Some(kind.clone()),
            Node::Dir(_) | Node::Link(_) => None,
        };
        let meta = Meta::new(caller.uid, caller.gid, perm);
        let mut tree = self.tree();
        let ino = tree.create(parent, name, meta, node)?;
        if let Some(kind) = kind {
            kind.named(name, &meta);
        }
        tree.get_mut(ino).expect("just created").charge = Some(account);
        tree.add_lookup(ino);
        self.shut_down_if_late(&tree, ino);
        log::debug!(
            "created {}/{} (inode {ino}) for uid {}",
            dir.name,
            String::from_utf8_lossy(name),
            caller.uid
        );
        self.attr(tree.get(ino).expect("just created"), caller)
    }

    /// `create`: a new regular file, opened. The reply carries the new
    /// entry's attributes.
    pub fn create(
        &self,
        call: &Call,
        parent: Ino,
        name: &[u8],
        perm: u16,
        flags: i32,
        reply: R::Open,
    ) {
        let made = match self.mknod(&call.caller, parent, name, perm, FileType::Regular) {
            // The name came between the kernel's lookup and this create:
            // made by another mount of the queue store, as this one
            // heard (on one host the kernel's lock of the directory keeps
            // a lookup and a create together). The queue there may be
            // another user's, and the kernel checks no access on a
            // create: `ESTALE` makes it walk the path again once, look
            // the name up afresh and open what is there as any open,
            // access checked (`O_EXCL` then fails `EEXIST` in the
            // kernel).
            Err(Error::Exists) if self.shared.queue_store.is_some() => {
                log::debug!(
                    "create of {}: the name was made on another mount meanwhile; \
                     the kernel opens it instead",
                    String::from_utf8_lossy(name)
                );
                Err(match flags & libc::O_EXCL {
                    0 => Error::Stale,
                    _ => Error::Exists,
                })
            }
            made => made,
        };
        match made {
            Ok(attr) => {
                let parked = ParkedOpen {
                    reply,
                    ino: attr.ino,
                    created: Some(attr),
                    reference: Reference::counted(&self.shared.unreferenced, attr.ino),
                };
                self.open_parked(call, parked, flags);
            }
            Err(e) => R::opened(reply, Err(e)),
        }
    }

    /// `mkdir` in an object directory whose kind is a directory (a socket
    /// endpoint in `sockets/`): the directory and its files, owned by the
    /// caller. Elsewhere `EEXIST` for a name that exists, `EPERM`
    /// otherwise.
    /// The directory is 0700 whatever the mode asked (the umask's or
    /// `mkdir -m`'s), as a socket is its process's alone: the owner may
    /// `chmod` it to share.
    pub fn mkdir(&self, caller: &Caller, parent: Ino, name: &[u8], _perm: u16) -> Result<Attr> {
        let perm = OBJECT_DIR_PERM;
        let make = match self.children_of(parent)? {
            Children::Listed(dir) => dir.dir,
            _ => None,
        };
        if let Children::Listed(dir) = self.children_of(parent)? {
            if Self::reserved(&dir, name, caller) {
                return Err(Error::Exists);
            }
        }
        let Some(make) = make else {
            return match self.find(caller, parent, name, false) {
                Ok(_) => Err(Error::Exists),
                Err(_) => Err(Error::NotPermitted),
            };
        };
        validate_name(name)?;
        let account = self.shared.budget.object_account(caller.uid, name.len())?;
        let mut tree = self.tree();
        if tree.child(parent, name).is_some() {
            return Err(Error::Exists);
        }
        let context = DirContext {
            shared: &self.shared,
            tree: Arc::downgrade(&self.tree),
            parent,
            name,
            perm,
            account: account.clone(),
        };
        let made = make(&context);
        let object = made.object.clone();
        let owner = (caller.uid, caller.gid);
        let ino = match insert_object_dir(&mut tree, parent, name, owner, perm, made) {
            Ok(ino) => ino,
            Err(e) => {
                drop(tree);
                object.close();
                return Err(e);
            }
        };
        tree.get_mut(ino).expect("just made").charge = Some(account);
        tree.add_lookup(ino);
        self.shut_down_if_late(&tree, ino);
        log::debug!(
            "made endpoint {} (inode {ino}) for uid {}",
            String::from_utf8_lossy(name),
            caller.uid
        );
        self.attr(tree.get(ino).expect("just made"), caller)
    }

    /// Removes a name in an object directory; inside a directory object
    /// (an endpoint) the name goes, the object stays until `rmdir`, so
    /// that `rm -r` works.
    pub fn unlink(&self, caller: &Caller, parent: Ino, name: &[u8]) -> Result<()> {
        match self.children_of(parent)? {
            Children::Listed(_) | Children::Object(_) => {}
            _ => return Err(Error::NotPermitted),
        };
        let mut tree = self.tree();
        let kind = match tree.child(parent, name).map(|e| &e.node) {
            Some(Node::Dir(_)) => return Err(Error::IsDirectory),
            Some(Node::File(kind)) => Some(kind.clone()),
            _ => None,
        };
        tree.unlink(parent, name, caller)?;
        drop(tree);
        if let Some(kind) = kind {
            kind.unnamed(name);
        }
        Ok(())
    }

    /// `rmdir` of a directory object closes it; any other directory is
    /// `EPERM`, anything else `ENOTDIR`.
    pub fn rmdir(&self, caller: &Caller, parent: Ino, name: &[u8]) -> Result<()> {
        let found = self.find(caller, parent, name, false)?;
        if found.attr.file_type != FileType::Directory {
            return Err(Error::NotDirectory);
        }
        let listed = matches!(self.children_of(parent)?, Children::Listed(_));
        let object = match self.children_of(found.attr.ino)? {
            Children::Object(_) if listed => self.tree().unlink_dir(parent, name, caller)?,
            _ => return Err(Error::NotPermitted),
        };
        // Closed outside the tree's lock: it takes the endpoint's.
        if let Node::Dir(Children::Object(object)) = object {
            object.close();
        }
        Ok(())
    }

    pub fn rename(
        &self,
        caller: &Caller,
        from: (Ino, &[u8]),
        to: (Ino, &[u8]),
        flags: RenameFlags,
    ) -> Result<()> {
        let listed = |ino| matches!(self.children_of(ino), Ok(Children::Listed(_)));
        if !listed(from.0) || !listed(to.0) {
            return Err(Error::NotPermitted);
        }
        // A name the directory keeps for itself (`sockets/tcp`) is no
        // one's to take, by mkdir or by rename.
        if let Ok(Children::Listed(dir)) = self.children_of(to.0) {
            if Self::reserved(&dir, to.1, caller) {
                return Err(Error::Exists);
            }
        }
        let fixed = |ino, name| match self.tree().child(ino, name).map(|e| &e.node) {
            Some(Node::File(kind)) => !kind.renamable(),
            _ => false,
        };
        if fixed(from.0, from.1) || fixed(to.0, to.1) {
            log::info!("rename refused: a queue kept in a store keeps its name on every mount");
            return Err(Error::NotPermitted);
        }
        let mode = match flags {
            RenameFlags::Plain => RenameMode::Replace,
            RenameFlags::NoReplace => RenameMode::NoReplace,
            RenameFlags::Other => return Err(Error::InvalidArgument),
        };
        self.tree().rename(from, to, mode, caller)
    }

    /// Lists `ino` from `offset` into `add`, which returns true when it
    /// is full. Offsets: 1 and 2 for `.` and `..`; a stored child's inode
    /// number + 2 (stable while others come and go); a synthesized
    /// child's offset as its directory gives it.
    pub fn readdir(
        &self,
        caller: &Caller,
        ino: Ino,
        offset: u64,
        mut add: impl FnMut(DirEntry<'_>) -> bool,
    ) -> Result<()> {
        let children = self.children_of(ino)?;
        let parent = self.tree().get(ino).map_or(tree::ROOT, |e| e.parent);
        let dots = [(ino, 1, &b"."[..]), (parent, 2, &b".."[..])];
        for (dot_ino, off, name) in dots {
            if off > offset {
                let entry = DirEntry {
                    ino: dot_ino,
                    offset: off,
                    file_type: FileType::Directory,
                    name,
                };
                if add(entry) {
                    return Ok(());
                }
            }
        }
        match children {
            Children::Fixed | Children::Listed(_) | Children::Object(_) => {
                // Entries go straight into the reply, which holds a few
                // hundred: collecting every remaining one first made
                // listing a large directory take time in its square.
                let tree = self.tree();
                for e in tree.list(ino, offset.saturating_sub(2)) {
                    let entry = DirEntry {
                        ino: e.ino,
                        offset: e.ino + 2,
                        file_type: e.node.file_type(),
                        name: &e.name,
                    };
                    if add(entry) {
                        break;
                    }
                }
            }
            Children::Synthesized(synth) => {
                let listed = synth.list(offset)?;
                if offset <= 2 {
                    // A whole listing: forget what it no longer shows.
                    self.tree()
                        .prune(ino, |n| listed.iter().any(|l| l.name == n));
                }
                for l in listed {
                    let known = self.tree().child(ino, &l.name).map(|e| e.ino);
                    let child_ino = match known {
                        Some(i) => i,
                        None => match synth.child(&l.name, caller) {
                            Ok((node, meta)) => self.tree().synthesized(ino, &l.name, meta, node),
                            // Gone since it was listed.
                            Err(_) => continue,
                        },
                    };
                    let entry = DirEntry {
                        ino: child_ino,
                        offset: l.offset,
                        file_type: l.file_type,
                        name: &l.name,
                    };
                    if add(entry) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The mode of a directory object when made: its owner's alone.
const OBJECT_DIR_PERM: u16 = 0o700;

/// Adds a directory object and its files to the tree, owned by `owner`.
/// The files take the directory's read and write bits where theirs allow
/// them (a private endpoint has private files); the owner keeps its own.
pub(crate) fn insert_object_dir<R: Replies>(
    tree: &mut Tree<Node<R>>,
    parent: Ino,
    name: &[u8],
    owner: (u32, u32),
    perm: u16,
    made: MadeDir<R>,
) -> Result<Ino> {
    let (uid, gid) = owner;
    let meta = Meta::new(uid, gid, perm);
    let ino = tree.create(parent, name, meta, Node::Dir(Children::Object(made.object)))?;
    for (file, node, file_perm) in made.files {
        let bits = object_file_bits(file_perm, perm);
        tree.insert_fixed(ino, file, Meta::new(uid, gid, bits), node);
    }
    Ok(ino)
}

/// The mode of a file of an object directory (an endpoint's), from the
/// directory's mode. A class of users may use the files that act on the
/// object (`ctl`, `data`, `accept`: a read of `data` is recv(2) on the
/// owner's socket) only if it may write the directory, as only who holds
/// a socket may use it; it may read the files that only tell (`status`,
/// `local`, ...) if it may read the directory. The owner always may.
/// An endpoint is made 0700 ([`OBJECT_DIR_PERM`]), so its files start as
/// its owner's alone: `ctl`, `data` and `accept` 0600, the rest 0400.
fn object_file_bits(file_perm: u16, dir_perm: u16) -> u16 {
    let mut bits = file_perm & 0o600;
    for shift in [3, 0] {
        let dir = (dir_perm >> shift) & 0o7;
        let file = (file_perm >> shift) & 0o7;
        let allowed = if file & 0o2 != 0 {
            if dir & 0o2 != 0 { 0o6 } else { 0 }
        } else if dir & 0o4 != 0 {
            0o4
        } else {
            0
        };
        bits |= (file & allowed) << shift;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::object_file_bits;

    #[test]
    fn an_object_directorys_files_follow_its_write_and_read_bits() {
        // (file, directory) -> mode
        for (file, dir, mode) in [
            (0o666, 0o755, 0o600),
            (0o444, 0o755, 0o444),
            (0o666, 0o700, 0o600),
            (0o444, 0o700, 0o400),
            (0o666, 0o770, 0o660),
            (0o444, 0o750, 0o440),
            (0o666, 0o777, 0o666),
            (0o666, 0o733, 0o666),
            (0o444, 0o733, 0o400),
        ] {
            assert_eq!(object_file_bits(file, dir), mode, "{file:o} in {dir:o}");
        }
    }
}

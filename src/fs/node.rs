//! What a node of the tree is, and the traits each kind implements.
//!
//! A node is a directory, a file or a symbolic link. A directory's
//! children come to be in one of three ways ([`Children`]): made with it
//! (the root), made by users (the object directories), or synthesized on
//! lookup from the world outside (`proc/`, `proc/PID/`). Files of every
//! kind — pipes, kernel FIFOs, queues, generated text, signal files — are
//! one trait, [`FileKind`]; an open file of any kind is one trait,
//! [`OpenFile`]. Adding a kind is a new module in `kinds/` that implements
//! them, and one line in `kinds/mod.rs` that says where it is made.

use std::sync::{Arc, Mutex, Weak};

use super::Shared;
use super::attr::{FileType, Ino, Meta};
use super::reply::{Call, ParkedOpen, Replies};
use super::tree::Tree;
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::ipc::ready;
use crate::ipc::status::StatusRow;
use crate::memory::Account;

pub enum Node<R: Replies> {
    Dir(Children<R>),
    File(Arc<dyn FileKind<R>>),
    Link(Arc<dyn LinkKind>),
}

impl<R: Replies> Clone for Node<R> {
    fn clone(&self) -> Self {
        match self {
            Node::Dir(c) => Node::Dir(c.clone()),
            Node::File(f) => Node::File(f.clone()),
            Node::Link(l) => Node::Link(l.clone()),
        }
    }
}

impl<R: Replies> Node<R> {
    pub fn file_type(&self) -> FileType {
        match self {
            Node::Dir(_) => FileType::Directory,
            Node::File(f) => f.file_type(),
            Node::Link(_) => FileType::Symlink,
        }
    }

    pub fn file(&self) -> Option<&Arc<dyn FileKind<R>>> {
        match self {
            Node::File(f) => Some(f),
            _ => None,
        }
    }
}

/// How a directory's children come to be.
pub enum Children<R: Replies> {
    /// Made with the directory and never added or removed by users.
    Fixed,
    /// Made and removed by users: the object directories, each holding
    /// the kinds its [`ObjectDir`] lists.
    Listed(Arc<ObjectDir<R>>),
    /// Made on lookup by asking the world (`proc/`, `proc/PID/`).
    Synthesized(Arc<dyn Synthesizer<R>>),
    /// A directory that is itself an object (a socket endpoint): its
    /// files are made with it, and removing it closes the object.
    Object(Arc<dyn DirObject>),
}

impl<R: Replies> Clone for Children<R> {
    fn clone(&self) -> Self {
        match self {
            Children::Fixed => Children::Fixed,
            Children::Listed(d) => Children::Listed(d.clone()),
            Children::Synthesized(s) => Children::Synthesized(s.clone()),
            Children::Object(o) => Children::Object(o.clone()),
        }
    }
}

/// An object that is a directory (a socket endpoint).
pub trait DirObject: Send + Sync {
    /// `rmdir`: the object ends (`close()` for an endpoint). Its files may
    /// still be open; they find it closed.
    fn close(&self);
    /// Fills in its row of `status`.
    fn status(&self, row: StatusRow) -> StatusRow;
    /// Answers every parked call for unmount.
    fn shut_down(&self);
}

/// A new directory object and its files: name, node and permission bits
/// (before the creator's umask).
pub struct MadeDir<R: Replies> {
    pub object: Arc<dyn DirObject>,
    pub files: Vec<(&'static str, Node<R>, u16)>,
}

/// Where a new directory object is made.
pub struct DirContext<'a, R: Replies> {
    pub shared: &'a Arc<Shared<R>>,
    /// The tree, for objects that add directories of their own later (a
    /// listener's accepted connections, next to it).
    pub tree: Weak<Mutex<Tree<Node<R>>>>,
    pub parent: Ino,
    pub name: &'a [u8],
    pub perm: u16,
    /// What the new object holds for its users is charged here (its
    /// owner's account, which also counts it as one of the owner's
    /// objects).
    pub account: Arc<Account>,
}

/// Makes a new directory object of one kind.
pub type MakeDir<R> = fn(&DirContext<'_, R>) -> MadeDir<R>;

/// Makes a new node of one kind named `name`, with the mount's shared
/// state at hand, charging what it holds to `account` (its owner's);
/// fails when the daemon lacks what the kind needs (a shared-memory
/// file's memory file).
pub type Make<R> = fn(&Arc<Shared<R>>, &[u8], Arc<Account>) -> Result<Node<R>>;

/// A directory whose entries users create: its name and which kind of
/// node a `create`/`mknod` of each file type makes in it (`None`: that
/// type is refused with `EPERM`).
pub struct ObjectDir<R: Replies> {
    pub name: &'static str,
    /// The kind made for a regular file (`touch`, `>`, `open(O_CREAT)`).
    pub regular: Option<Make<R>>,
    /// The kind made for a FIFO node (`mkfifo`).
    pub fifo: Option<Make<R>>,
    /// The kind made for a directory (`mkdir`).
    pub dir: Option<MakeDir<R>>,
    /// Names the directory holds without listing them, made on lookup
    /// (`sockets/tcp/...`, the dial files); users cannot take them.
    pub reserved: Option<Arc<dyn Synthesizer<R>>>,
}

/// One child of a synthesized directory, as `readdir` lists it: a stable
/// offset (the cookie to resume after it), its name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub offset: u64,
    pub name: Vec<u8>,
    pub file_type: FileType,
}

/// A directory whose children exist as long as something outside does
/// (a process): asked again at every lookup and `getattr`.
pub trait Synthesizer<R: Replies>: Send + Sync {
    /// The child `name` as it is now, with its owner and mode, or
    /// `NotFound` when there is none.
    fn child(&self, name: &[u8], caller: &Caller) -> Result<(Node<R>, Meta)>;
    /// The children after `offset`, in offset order. Offsets 1 and 2 are
    /// `.` and `..`. None by default: children that exist for any name
    /// (the dial tree's, as `/dev/tcp` in bash) are not listed.
    fn list(&self, _offset: u64) -> Result<Vec<Listed>> {
        Ok(Vec::new())
    }
}

/// A symbolic link whose target may depend on who reads it (`proc/self`).
pub trait LinkKind: Send + Sync {
    fn target(&self, caller: &Caller) -> Result<Vec<u8>>;
}

/// The names of a kind's extended attributes, without the `user.ipcfs.`
/// prefix: settings (writable by the owner) and counters (read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeNames {
    pub settings: &'static [&'static str],
    pub counters: &'static [&'static str],
}

impl AttributeNames {
    pub const NONE: AttributeNames = AttributeNames {
        settings: &[],
        counters: &[],
    };

    pub fn contains(&self, field: &str) -> bool {
        self.settings.contains(&field) || self.counters.contains(&field)
    }
}

/// Every kind of file: attributes, open, settings, counters and its row
/// of `status`.
pub trait FileKind<R: Replies>: Send + Sync {
    fn file_type(&self) -> FileType {
        FileType::Regular
    }

    /// `st_size`.
    fn size(&self) -> u64;

    /// Opens a file description and answers `parked` — now, or later from
    /// whatever call lets the open finish. `flags` are open(2)'s.
    fn open(&self, shared: &Arc<Shared<R>>, call: &Call, parked: ParkedOpen<R>, flags: i32);

    /// `truncate(…, size)`, including the one an `O_TRUNC` open makes.
    fn truncate(&self, _size: u64) -> Result<()> {
        Err(Error::NotPermitted)
    }

    /// `fallocate(2)` with its mode bits; only files with a size have it.
    fn allocate(&self, _offset: u64, _length: u64, _mode: i32) -> Result<()> {
        Err(Error::NotSupported)
    }

    /// `lseek(2)` with `SEEK_DATA` or `SEEK_HOLE` (the kernel answers the
    /// other whences itself): a file is all data up to its size, and a
    /// hole after it; past the end, `ENXIO`. A file with holes of its own
    /// (shared memory) says where they are.
    fn seek_data(&self, offset: u64, whence: i32) -> Result<u64> {
        let size = self.size();
        match whence {
            _ if offset >= size => Err(Error::NoReader),
            libc::SEEK_DATA => Ok(offset),
            libc::SEEK_HOLE => Ok(size),
            _ => Err(Error::InvalidArgument),
        }
    }

    fn attribute_names(&self) -> AttributeNames {
        AttributeNames::NONE
    }

    /// The value of one of [`FileKind::attribute_names`], as text (a
    /// decimal number for most).
    fn attribute(&self, _field: &str) -> Result<String> {
        Err(Error::NoAttribute)
    }

    /// Sets one of the settings of [`FileKind::attribute_names`] from its
    /// text (UTF-8, without a trailing newline); the caller's right to has
    /// been checked.
    fn set_attribute(&self, _field: &str, _value: &str) -> Result<()> {
        Err(Error::NotSupported)
    }

    /// Fills in the kind and counters of its `status` row; `None` for a
    /// file that is not an IPC object (README, signal files).
    fn status(&self, _row: StatusRow) -> Option<StatusRow> {
        None
    }

    /// Answers every parked call for unmount; nothing parks afterwards.
    fn shut_down(&self) {}

    /// A user gave it its name (`meta`: owner and mode): a queue kept in
    /// a store makes itself there.
    fn named(&self, _name: &[u8], _meta: &Meta) {}

    /// Its owner, group or mode changed (`meta`): a queue kept in a store
    /// changes them there, for every mount.
    fn owner_changed(&self, _name: &[u8], _meta: &Meta) {}

    /// A user removed its name: a queue kept in a store is removed there.
    fn unnamed(&self, _name: &[u8]) {}

    /// Whether `rename` may give it another name (a queue kept in a store
    /// is its name there, on every mount).
    fn renamable(&self) -> bool {
        true
    }

    /// What the store says changed in it (a queue kept in a store).
    fn store_changed(&self, _change: crate::ipc::queue::store::Change) {}

    /// Which queue of its name it is in the store (a queue kept in a
    /// store: a name removed and made again is another queue), and
    /// whether the store has answered that yet (a create made here).
    fn incarnation(&self) -> Option<(String, bool)> {
        None
    }
}

/// An open file description of any kind: what a file handle refers to.
pub trait OpenFile<R: Replies>: Send + Sync {
    /// Reads `size` bytes at `offset` (stream files have no offsets: see
    /// the stream kinds for what a non-zero one means there).
    fn read(&self, call: &Call, reply: R::Read, offset: u64, size: usize, nonblock: bool);
    /// Writes `data` at `offset` (stream files have no offsets and
    /// ignore it).
    fn write(&self, call: &Call, reply: R::Write, offset: u64, data: &[u8], nonblock: bool);
    /// Readiness (`ready::*` bits); with a handle, notified at the next change.
    fn poll(&self, _notify: Option<(u64, R::Poll)>) -> u32 {
        ready::IN | ready::OUT
    }
    /// A descriptor of this description was closed (FUSE's FLUSH, which
    /// close(2) waits for), or it was fsync'ed: what it wrote so far is
    /// complete. `reply` is answered now, or later by whatever the file
    /// waits on.
    fn flush(&self, _call: &Call, reply: R::Flush) {
        R::flushed(reply, Ok(()));
    }
    /// The last descriptor of this description was closed.
    fn release(&self) {}
}

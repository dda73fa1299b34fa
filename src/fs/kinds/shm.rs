//! A shared-memory file (`touch shm/x`): a seekable file whose store is
//! a memory file ([`SharedMemory`]), opened with passthrough when the
//! mount can (mappings map the memory file itself) or through the page
//! cache otherwise.
//!
//! The kernel refuses to mix the two for one inode, and wants one
//! backing registration per inode while any of its files is open: so the
//! first open of a file picks the way, later opens follow it while any
//! is open, and the registration is dropped at the last release.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::fs::Shared;
use crate::fs::attr::OpenStyle;
use crate::fs::node::{AttributeNames, FileKind, Node, OpenFile};
use crate::fs::reply::{Call, ParkedOpen, Replies};
use crate::ipc::shm::{Allocate, SharedMemory};
use crate::ipc::status::StatusRow;
use crate::memory::Account;

pub const ATTRIBUTES: AttributeNames = AttributeNames {
    settings: &[],
    counters: &["size", "opens"],
};

pub struct ShmKind<R: Replies> {
    memory: Arc<SharedMemory>,
    opens: Arc<Mutex<Opens<R>>>,
    shared: Arc<Shared<R>>,
}

/// The open file descriptions of one file, and how they are served.
struct Opens<R: Replies> {
    count: usize,
    /// The registration the open ones share, when they pass through;
    /// `None` while none is open or when they use the page cache.
    backing: Option<R::Backing>,
}

pub fn make<R: Replies>(
    shared: &Arc<Shared<R>>,
    name: &[u8],
    account: Arc<Account>,
) -> Result<Node<R>> {
    let name = String::from_utf8_lossy(name);
    let memory = SharedMemory::new(&name, account)?;
    Ok(Node::File(Arc::new(ShmKind {
        memory: Arc::new(memory),
        opens: Arc::new(Mutex::new(Opens {
            count: 0,
            backing: None,
        })),
        shared: shared.clone(),
    })))
}

fn lock<R: Replies>(opens: &Mutex<Opens<R>>) -> MutexGuard<'_, Opens<R>> {
    crate::locks::lock(opens)
}

impl<R: Replies> ShmKind<R> {
    /// Whether this file's opens pass through: those open now say, and
    /// the mount says for a first open.
    fn passes_through(&self, opens: &Opens<R>) -> bool {
        if opens.count > 0 {
            opens.backing.is_some()
        } else {
            self.shared.passthrough()
        }
    }
}

impl<R: Replies> FileKind<R> for ShmKind<R> {
    fn size(&self) -> u64 {
        self.memory.size()
    }

    fn open(&self, shared: &Arc<Shared<R>>, _call: &Call, parked: ParkedOpen<R>, _flags: i32) {
        // Permission was checked by the kernel (default_permissions) or
        // is the mounting user's; O_TRUNC arrives as a truncate.
        let mut opens = lock(&self.opens);
        if opens.count == 0 && shared.passthrough() {
            match R::open_backing(&parked.reply, self.memory.fd()) {
                Ok(backing) => opens.backing = Some(backing),
                Err(e) => {
                    // Every later open would fail the same way.
                    shared.set_passthrough(false);
                    log::warn!(
                        "shm files: passthrough refused by the kernel ({e}); \
                         serving them through the page cache from now on"
                    );
                }
            }
        }
        opens.count += 1;
        let file = Arc::new(ShmOpen {
            memory: self.memory.clone(),
            opens: self.opens.clone(),
        });
        // Answered under the lock, so that a release cannot drop the
        // registration between its choice and its use.
        match &opens.backing {
            Some(backing) => shared.answer_open_backed(parked, file, OpenStyle::Mapped, backing),
            None => shared.answer_open(parked, file, OpenStyle::Cached),
        }
    }

    fn truncate(&self, size: u64) -> Result<()> {
        self.memory.set_len(size)
    }

    fn allocate(&self, offset: u64, length: u64, mode: i32) -> Result<()> {
        let how = match mode {
            0 => Allocate::Reserve,
            m if m == libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE => Allocate::PunchHole,
            // Preallocation past the end (KEEP_SIZE alone) would hold
            // memory no size accounts for; the rest tmpfs lacks too.
            _ => return Err(Error::NotSupported),
        };
        self.memory.allocate(how, offset, length)
    }

    fn seek_data(&self, offset: u64, whence: i32) -> Result<u64> {
        self.memory.seek_data(offset, whence)
    }

    fn attribute_names(&self) -> AttributeNames {
        ATTRIBUTES
    }

    fn attribute(&self, field: &str) -> Result<String> {
        match field {
            "size" => Ok(self.memory.size().to_string()),
            "opens" => Ok(lock(&self.opens).count.to_string()),
            _ => Err(Error::NoAttribute),
        }
    }

    fn status(&self, row: StatusRow) -> Option<StatusRow> {
        let served_by = if self.passes_through(&lock(&self.opens)) {
            "passthrough"
        } else {
            "daemon"
        };
        Some(StatusRow {
            kind: "shm",
            bytes: Some(self.memory.size() as usize),
            served_by,
            ..row
        })
    }
}

/// One open file description of a shared-memory file. Reads and writes
/// reach it in both ways of serving: with passthrough they are direct
/// I/O (see fuse/reply.rs), with the page cache they fill and write
/// through it.
struct ShmOpen<R: Replies> {
    memory: Arc<SharedMemory>,
    opens: Arc<Mutex<Opens<R>>>,
}

impl<R: Replies> OpenFile<R> for ShmOpen<R> {
    fn read(&self, _call: &Call, reply: R::Read, offset: u64, size: usize, _nonblock: bool) {
        match self.memory.read_at(offset, size) {
            Ok(data) => R::data(reply, Ok(&data)),
            Err(e) => R::data(reply, Err(e)),
        }
    }

    fn write(&self, _call: &Call, reply: R::Write, offset: u64, data: &[u8], _nonblock: bool) {
        R::written(reply, self.memory.write_at(offset, data));
    }

    fn release(&self) {
        let mut opens = lock(&self.opens);
        opens.count -= 1;
        if opens.count == 0 {
            // Mappings and opens already answered keep the memory file;
            // the next open registers it anew.
            opens.backing = None;
        }
    }
}

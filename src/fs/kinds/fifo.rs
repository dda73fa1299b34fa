//! A FIFO node made by `mkfifo`: the kernel serves its opens, reads and
//! writes itself (the answer to `mknod(S_IFIFO)` must be a FIFO), so the
//! daemon keeps only its name, owner and mode.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::Shared;
use crate::fs::attr::FileType;
use crate::fs::node::{FileKind, Node};
use crate::fs::reply::{Call, ParkedOpen, Replies};
use crate::ipc::status::StatusRow;
use crate::memory::Account;

pub struct KernelFifo;

/// A kernel FIFO holds no data in the daemon: its account charges only
/// its record, for as long as the node lives.
pub fn make<R: Replies>(
    _shared: &Arc<Shared<R>>,
    _name: &[u8],
    _account: Arc<Account>,
) -> Result<Node<R>> {
    Ok(Node::File(Arc::new(KernelFifo)))
}

impl<R: Replies> FileKind<R> for KernelFifo {
    fn file_type(&self) -> FileType {
        FileType::NamedPipe
    }

    fn size(&self) -> u64 {
        0
    }

    fn open(&self, _shared: &Arc<Shared<R>>, _call: &Call, parked: ParkedOpen<R>, _flags: i32) {
        // The kernel never sends the open of a FIFO node.
        R::opened(parked.reply, Err(Error::NotPermitted));
    }

    fn truncate(&self, size: u64) -> Result<()> {
        crate::fs::cell::truncate_stream(size)
    }

    fn status(&self, row: StatusRow) -> Option<StatusRow> {
        Some(StatusRow {
            kind: "fifo",
            served_by: "kernel",
            ..row
        })
    }
}

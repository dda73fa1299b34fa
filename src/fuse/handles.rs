//! Open file descriptions: what each FUSE file handle (`fh`) refers to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::cell::StreamFile;
use super::proc::ProcNode;
use crate::ipc::namespace::Ino;

pub enum HandleKind {
    /// An open file of a stream object (a pipe, a queue).
    Stream(Box<dyn StreamFile>),
    /// A read-only text file (`README`, `status`), generated at open so
    /// that successive reads of one open see one consistent snapshot.
    Text(Vec<u8>),
    /// `proc/PID/signal` or `pgsignal`.
    Proc(ProcFile),
}

/// An open signal file: its target, and the text a read at offset 0 last
/// produced (later offsets read on in that same text).
pub struct ProcFile {
    pub node: ProcNode,
    pub text: Mutex<Vec<u8>>,
}

pub struct Handle {
    pub ino: Ino,
    pub kind: HandleKind,
}

#[derive(Default)]
pub struct HandleTable {
    open: Mutex<HashMap<u64, Arc<Handle>>>,
    next: AtomicU64,
}

impl HandleTable {
    pub fn insert(&self, handle: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(fh, Arc::new(handle));
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Arc<Handle>> {
        self.lock().get(&fh).cloned()
    }

    pub fn remove(&self, fh: u64) -> Option<Arc<Handle>> {
        self.lock().remove(&fh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Handle>>> {
        // Single inserts and removes cannot leave the map inconsistent.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

//! Open file descriptions: what each file handle (`fh`) refers to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::attr::{Ino, OpenStyle};
use super::node::OpenFile;
use super::reply::Replies;

pub struct Handle<R: Replies> {
    pub ino: Ino,
    pub file: Arc<dyn OpenFile<R>>,
    /// How the kernel was told to treat it.
    pub style: OpenStyle,
}

impl<R: Replies> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Handle {
            ino: self.ino,
            file: self.file.clone(),
            style: self.style,
        }
    }
}

pub struct HandleTable<R: Replies> {
    open: Mutex<HashMap<u64, Handle<R>>>,
    next: AtomicU64,
}

impl<R: Replies> Default for HandleTable<R> {
    fn default() -> Self {
        HandleTable {
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        }
    }
}

impl<R: Replies> HandleTable<R> {
    pub fn insert(&self, ino: Ino, file: Arc<dyn OpenFile<R>>, style: OpenStyle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(fh, Handle { ino, file, style });
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Handle<R>> {
        self.lock().get(&fh).cloned()
    }

    pub fn remove(&self, fh: u64) -> Option<Handle<R>> {
        self.lock().remove(&fh)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Handle<R>>> {
        crate::locks::lock(&self.open)
    }
}

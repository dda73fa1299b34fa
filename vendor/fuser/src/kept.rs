//! Request bytes a filesystem keeps past its handler (ipcfs patch).
//!
//! A handler gets a write's data as a slice of the buffer its event loop
//! read the request into, and the loop reads the next request into the
//! same buffer, so a filesystem that must hold the data longer (a write
//! that waits for room) copies it. [`keep_request_bytes`] lets it keep
//! them instead: the loop's buffer goes with the kept bytes, and the loop
//! reads on into a spare one. A spare comes from a small pool of buffers
//! that kept bytes gave back, already faulted in, so a steady flow of
//! kept writes costs no allocation and no page faults.
//!
//! Bounds: at most [`KEPT_MAX`] kept values are alive at once (beyond
//! them the filesystem copies, as without this patch); the pool holds at
//! most [`POOL_MAX`] buffers, each trimmed to [`TRIM_TO`] bytes of touched
//! memory when it is put back. A loop's own buffer is trimmed, before
//! each request, to the larger of the last request and [`TRIM_TO`]. Bytes
//! are not kept from a buffer touched past both the request's end and
//! [`TRIM_TO`], nor from a request more than [`TRIM_TO`] larger than
//! they are: kept bytes hold at most [`TRIM_TO`] bytes of memory beyond
//! their own. Only /dev/fuse event loops lend their
//! buffers: a ring's request sits in the ring's own memory, and keeping
//! is refused there.
//!
//! Invariant: a loop reads into its buffer only while no kept value and
//! no lending shares it (`Arc::get_mut`), so kept bytes never change.

use std::cell::RefCell;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

use crate::read_buf::FuseReadBuf;

/// Kept values alive at once, at most.
pub(crate) const KEPT_MAX: usize = 8;
/// Spare buffers the pool holds, at most.
pub(crate) const POOL_MAX: usize = 4;
/// Touched bytes a buffer keeps when it goes back to the pool: a largest
/// ordinary write (1 MiB) and its header.
pub(crate) const TRIM_TO: usize = (1 << 20) + 4096;

static POOL: Mutex<Vec<FuseReadBuf>> = Mutex::new(Vec::new());
static KEPT: AtomicUsize = AtomicUsize::new(0);

/// This thread's lending: the buffer of the request being dispatched,
/// and the spare its loop reads the next request into if that request's
/// bytes were kept.
#[derive(Default)]
struct Lending {
    current: Option<Arc<FuseReadBuf>>,
    spare: Option<FuseReadBuf>,
}

thread_local! {
    static LENDING: RefCell<Lending> = RefCell::new(Lending::default());
}

/// A spare buffer: from the pool, else a new one; `None` if the system
/// has no memory for one.
fn spare() -> Option<FuseReadBuf> {
    let pooled = POOL.lock().ok().and_then(|mut pool| pool.pop());
    pooled.or_else(FuseReadBuf::try_new)
}

/// Puts a buffer no one uses back into the pool, or frees it.
fn put_back(mut buf: FuseReadBuf) {
    buf.trim(TRIM_TO);
    if let Ok(mut pool) = POOL.lock() {
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
    }
}

/// Bytes of a request's buffer kept past its handler (ipcfs patch; see
/// [`keep_request_bytes`]). The buffer goes back to fuser's pool when the
/// last kept value of it is dropped.
#[derive(Debug)]
pub struct KeptBytes {
    buf: Option<Arc<FuseReadBuf>>,
    start: usize,
    len: usize,
}

impl Deref for KeptBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let buf = self.buf.as_ref().expect("set until dropped");
        &buf.as_slice()[self.start..self.start + self.len]
    }
}

impl Drop for KeptBytes {
    fn drop(&mut self) {
        KEPT.fetch_sub(1, Ordering::Relaxed);
        if let Some(buf) = self.buf.take().and_then(Arc::into_inner) {
            put_back(buf);
        }
    }
}

/// Keeps `data`, which must be bytes of the request the calling thread is
/// dispatching (a write's data), past the handler, with no copy (ipcfs
/// patch). `None` when they cannot be kept: not bytes of such a request,
/// a request that came through a ring, [`KEPT_MAX`] kept values alive, a
/// buffer or a request reaching more than [`TRIM_TO`] past them (see the
/// bounds above), or no memory for the spare buffer the loop then needs.
/// The caller copies them then.
pub fn keep_request_bytes(data: &[u8]) -> Option<KeptBytes> {
    LENDING
        .try_with(|lending| {
            let mut lending = lending.borrow_mut();
            let buf = lending.current.as_ref()?;
            let request = buf.last();
            if buf.high_water() > TRIM_TO.max(request) || request > data.len() + TRIM_TO {
                return None;
            }
            let whole = buf.as_slice();
            let start = (data.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
            if start.checked_add(data.len())? > request {
                return None;
            }
            if KEPT.fetch_add(1, Ordering::Relaxed) >= KEPT_MAX {
                KEPT.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
            let kept = KeptBytes {
                buf: Some(buf.clone()),
                start,
                len: data.len(),
            };
            if lending.spare.is_none() {
                // Dropping `kept` gives the count back.
                lending.spare = Some(spare()?);
            }
            Some(kept)
        })
        .ok()
        .flatten()
}

/// An event loop's request buffer, lent to [`keep_request_bytes`] while a
/// request in it is dispatched.
#[derive(Debug)]
pub(crate) struct LoopBuf {
    buf: Arc<FuseReadBuf>,
}

impl LoopBuf {
    pub(crate) fn new() -> Self {
        LoopBuf {
            buf: Arc::new(FuseReadBuf::new()),
        }
    }

    /// The buffer to read the next request into: this loop's own, or,
    /// if the last request's bytes were kept, the spare set aside then.
    pub(crate) fn next(&mut self) -> &mut FuseReadBuf {
        let spare = LENDING.with(|lending| lending.borrow_mut().spare.take());
        if Arc::get_mut(&mut self.buf).is_none() {
            let fresh = spare.unwrap_or_else(FuseReadBuf::new);
            let old = std::mem::replace(&mut self.buf, Arc::new(fresh));
            // The kept bytes may have gone since the check.
            if let Some(old) = Arc::into_inner(old) {
                put_back(old);
            }
        } else if let Some(spare) = spare {
            // The kept bytes went before the next request came.
            put_back(spare);
        }
        let buf = Arc::get_mut(&mut self.buf).expect("no kept value shares a fresh buffer");
        // What a larger request touched goes back once smaller ones come.
        buf.trim(buf.last().max(TRIM_TO));
        buf
    }

    /// Runs `dispatch` on the first `size` bytes of the buffer (a request
    /// just read), with the buffer lent to [`keep_request_bytes`].
    pub(crate) fn lend<T>(&self, size: usize, dispatch: impl FnOnce(&[u8]) -> T) -> T {
        struct Return;
        impl Drop for Return {
            fn drop(&mut self) {
                let _ = LENDING.try_with(|lending| lending.borrow_mut().current = None);
            }
        }
        LENDING.with(|lending| lending.borrow_mut().current = Some(self.buf.clone()));
        let _return = Return;
        dispatch(&self.buf.as_slice()[..size])
    }
}

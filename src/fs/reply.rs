//! How answers reach callers, whoever the caller is: the FUSE adapter's
//! reply objects, or a unit test's channels.
//!
//! The fs layer never names a fuser type. It holds the adapter's reply
//! objects as the associated types of [`Replies`] and answers them through
//! its functions, which the adapter implements (and where it logs each
//! failed call once, at the boundary).

use std::marker::PhantomData;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};

use super::attr::{Attr, Ino, OpenStyle};
use crate::caller::Caller;
use crate::error::Result;
use crate::ipc::Parking;
use crate::ipc::bytes::{Gathered, Shared};
use crate::ipc::socket::splice::Spliced;
use crate::wait::WaiterId;

/// The reply types of one adapter, and how each is answered.
pub trait Replies: Send + Sync + 'static {
    /// The reply of an `open` or of the open half of a `create`.
    type Open: Send;
    type Read: Send;
    type Write: Send;
    /// A poll handle, notified once at the object's next change.
    type Poll: Send;
    /// The reply of a flush (a close(2) of a descriptor) or an fsync(2).
    type Flush: Send + 'static;
    /// A file registered with the kernel for passthrough (FUSE's backing
    /// id): opens answered with it are mapped from that file itself.
    /// Dropping it unregisters the file; opens already answered keep it.
    type Backing: Send + Sync;

    fn opened(reply: Self::Open, result: Result<Opened>);
    fn data(reply: Self::Read, result: Result<&[u8]>);

    /// The bytes a read's reply needs in front of `len` bytes of data in a
    /// pipe, for call `id` to be answered from that pipe by
    /// [`Replies::spliced`]; `None` (the default) where replies cannot
    /// take a pipe, and a socket's bytes are received into memory.
    fn splice_header(_id: WaiterId, _len: usize) -> Option<[u8; 16]> {
        None
    }

    /// Answers a read with the header and bytes at the head of a pipe.
    /// The default reads them out and answers with the bytes.
    fn spliced(reply: Self::Read, bytes: Spliced) {
        Self::data(reply, bytes.into_bytes().as_deref().map_err(|&e| e));
    }

    /// Answers a read with data in pieces, in order, as one reply. The
    /// default copies them into one buffer.
    fn gathered(reply: Self::Read, pieces: Gathered) {
        Self::data(reply, Ok(&pieces.into_vec()));
    }

    /// Keeps `data`, bytes of the write being served on this thread, past
    /// the call with no copy; `None` (the default) where it cannot.
    fn keep(_data: &[u8]) -> Option<Shared> {
        None
    }

    /// Whether [`Replies::keep`] can keep write bytes on this transport.
    fn keeps_writes() -> bool {
        false
    }

    fn written(reply: Self::Write, result: Result<usize>);
    fn flushed(reply: Self::Flush, result: Result<()>);
    fn notify(poll: Self::Poll);

    /// Registers `file` for passthrough on the connection `reply` came
    /// from. Fails where the kernel or the daemon's privileges do not
    /// allow it (it needs `CAP_SYS_ADMIN`).
    fn open_backing(reply: &Self::Open, file: BorrowedFd<'_>) -> std::io::Result<Self::Backing>;
    /// Answers an open with `backing` as the file the kernel maps.
    fn opened_with_backing(reply: Self::Open, opened: Opened, backing: &Self::Backing);
}

/// A finished open: the new file handle, how the kernel is to treat the
/// file, and for a `create` the new entry's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    pub style: OpenStyle,
    pub created: Option<Attr>,
}

/// One call as the fs layer sees it: the request's id (which names a
/// parked call until it is answered) and who made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub id: WaiterId,
    /// The caller's ids; `caller.pid` is its thread, which a signal
    /// (`SIGPIPE`) or an interrupt check addresses.
    pub caller: Caller,
}

/// An open waiting to be answered: its reply, the node it opens and, for
/// a `create`, the attributes the answer carries and the kernel's
/// reference to the new entry, which it holds only if the open succeeds.
pub struct ParkedOpen<R: Replies> {
    pub reply: R::Open,
    pub ino: u64,
    pub created: Option<Attr>,
    pub reference: Reference,
}

/// The kernel reference a create counted for its new entry when it made
/// it. The kernel holds it only if the create's open succeeds ([`keep`]);
/// dropped otherwise (the open failed: `ENXIO` of a pipe's non-blocking
/// create, `ESTALE` of a queue another mount made), it is handed back to
/// be forgotten at the tree's next use, never here, as an open may fail
/// under the tree's lock. Without it the entry would outlive its name
/// forever, charged to its owner.
///
/// [`keep`]: Reference::keep
pub struct Reference(Option<(Arc<Mutex<Vec<Ino>>>, Ino)>);

impl Reference {
    /// No reference (an open of an existing name).
    pub fn none() -> Reference {
        Reference(None)
    }

    /// The reference to `ino`, handed back to `unreferenced` unless kept.
    pub fn counted(unreferenced: &Arc<Mutex<Vec<Ino>>>, ino: Ino) -> Reference {
        Reference(Some((unreferenced.clone(), ino)))
    }

    /// The open succeeded: the kernel holds the reference.
    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        if let Some((unreferenced, ino)) = self.0.take() {
            crate::locks::lock(&unreferenced).push(ino);
        }
    }
}

/// A write's reply as the fs layer parks it in the core (the core's
/// `Parking::Write`): the kernel's reply, the thread that gets `SIGPIPE`
/// if the pipe loses its last reader, and who pays while it waits.
pub struct WriteReply<W> {
    pub reply: W,
    pub tid: u32,
    /// Who pays for the bytes of the write while it waits: the writer.
    pub payer: Option<Payer>,
}

/// A writer, as the memory budget knows it: its account is made only if
/// its write waits.
pub struct Payer {
    pub budget: std::sync::Arc<crate::memory::MemoryBudget>,
    pub uid: u32,
}

/// The core objects' view of an adapter's replies: what they park.
pub struct FsParking<R>(PhantomData<R>);

impl<R: Replies> Parking for FsParking<R> {
    type Open = ParkedOpen<R>;
    type Read = R::Read;
    type Write = WriteReply<R::Write>;
    type Poll = R::Poll;
    type Flush = R::Flush;

    fn splice_header(id: WaiterId, len: usize) -> Option<[u8; 16]> {
        R::splice_header(id, len)
    }

    fn keep(data: &[u8]) -> Option<Shared> {
        R::keep(data)
    }

    fn writer(waiter: &WriteReply<R::Write>) -> Option<u32> {
        waiter.payer.as_ref().map(|p| p.uid)
    }

    fn writer_account(
        waiter: &WriteReply<R::Write>,
    ) -> Option<std::sync::Arc<crate::memory::Account>> {
        waiter.payer.as_ref().map(|p| p.budget.account(p.uid))
    }
}

//! A stream object as the adapter holds it: the core state machine behind
//! its own lock, plus the code that answers what the state machine finished.
//! One generic cell serves every object kind through [`StreamObject`].
//!
//! Lock order: an object's lock, then the registry's lock (a parked call is
//! registered while the object is locked). Replies are sent, handles
//! installed and calls deregistered only after the object's lock is
//! released.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use fuser::{
    FileAttr, FileHandle, FopenFlags, Generation, PollNotifier, ReplyCreate, ReplyData, ReplyOpen,
    ReplyWrite,
};

use super::attr::ATTR_TTL;
use super::handles::{Handle, HandleKind};
use super::{Shared, log_error};
use crate::error::Result;
use crate::interrupt::Cancel;
use crate::ipc::namespace::Ino;
use crate::ipc::{CancelReason, OpenRequest, Parking, Step, StreamObject, Wakeups, WriteDone};
use crate::wait::WaiterId;

/// How every stream file is opened: no page cache, no file position, and
/// writes that do not serialize on the inode lock (see attr.rs).
pub fn stream_open_flags() -> FopenFlags {
    FopenFlags::FOPEN_DIRECT_IO
        | FopenFlags::FOPEN_NONSEEKABLE
        | FopenFlags::FOPEN_STREAM
        | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES
}

/// The reply an open waits to send: a plain open, or the open half of a
/// create (which also carries the new entry's attributes).
pub enum OpenReply {
    Open(ReplyOpen),
    Create(ReplyCreate, Box<FileAttr>),
}

impl OpenReply {
    pub fn error(self, errno: fuser::Errno) {
        match self {
            OpenReply::Open(r) => r.error(errno),
            OpenReply::Create(r, _) => r.error(errno),
        }
    }
}

pub struct ParkedOpen {
    pub reply: OpenReply,
    pub ino: Ino,
}

pub struct ParkedWrite {
    pub reply: ReplyWrite,
    /// The writer's thread, for `SIGPIPE`.
    pub tid: u32,
}

/// The reply types the adapter parks in core objects.
pub struct FuseParking;

impl Parking for FuseParking {
    type Open = ParkedOpen;
    type Read = ReplyData;
    type Write = ParkedWrite;
    type Poll = PollNotifier;
}

type FuseWakeups<T> = Wakeups<FuseParking, <T as StreamObject<FuseParking>>::End>;

/// Who is calling, for parking: the request id and the caller's thread.
#[derive(Debug, Clone, Copy)]
pub struct CallId {
    pub id: WaiterId,
    pub tid: u32,
}

pub struct Cell<T> {
    object: Mutex<T>,
    shared: Arc<Shared>,
    /// This cell itself, for the handles that finished opens install.
    me: Weak<Cell<T>>,
}

impl<T: StreamObject<FuseParking>> Cell<T> {
    pub fn new(object: T, shared: Arc<Shared>) -> Arc<Self> {
        Arc::new_cyclic(|me| Cell {
            object: Mutex::new(object),
            shared,
            me: me.clone(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        // Every core operation finishes its state change before it could
        // panic on a logic error; a poisoned lock still guards valid state.
        self.object.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a change that may finish parked calls (a new setting, say) and
    /// answers them.
    pub fn update<R>(&self, change: impl FnOnce(&mut T, &mut FuseWakeups<T>) -> R) -> R {
        let mut wk = Wakeups::default();
        let result = change(&mut self.lock(), &mut wk);
        self.deliver(wk, &[]);
        result
    }

    /// Runs one core call; registers it with the interrupt watcher if it
    /// parked, then answers what the call finished. `input` is the call's
    /// own data (a write's bytes), which reads it finished may be answered
    /// from.
    fn run<W, R>(
        self: &Arc<Self>,
        call: CallId,
        input: &[u8],
        op: impl FnOnce(&mut T, &mut FuseWakeups<T>) -> Step<W, R>,
    ) -> Option<(W, R)> {
        let mut wk = Wakeups::default();
        let mut interrupted_already = false;
        let step = {
            let mut object = self.lock();
            let step = op(&mut object, &mut wk);
            if let Step::Parked = step {
                interrupted_already = self.shared.registry.register(
                    call.id,
                    call.tid,
                    self.clone() as Arc<dyn Cancel>,
                );
            }
            step
        };
        self.deliver(wk, input);
        if interrupted_already {
            // The kernel's interrupt overtook the call on its way to parking.
            self.cancel(call.id, CancelReason::Interrupted);
        }
        match step {
            Step::Done(w, r) => Some((w, r)),
            Step::Parked => None,
        }
    }

    fn read(
        self: &Arc<Self>,
        call: CallId,
        reply: ReplyData,
        end: T::End,
        size: usize,
        nonblock: bool,
    ) {
        if let Some((reply, result)) = self.run(call, &[], |o, wk| {
            o.read(call.id, reply, end, size, nonblock, wk)
        }) {
            finish_read(reply, result);
        }
    }

    fn write(
        self: &Arc<Self>,
        call: CallId,
        reply: ReplyWrite,
        end: T::End,
        data: &[u8],
        nonblock: bool,
    ) {
        let waiter = ParkedWrite {
            reply,
            tid: call.tid,
        };
        if let Some((w, done)) = self.run(call, data, |o, wk| {
            o.write(call.id, waiter, end, data, nonblock, wk)
        }) {
            finish_write(w, done);
        }
    }

    fn finish_open(&self, parked: ParkedOpen, result: Result<T::End>) {
        let end = match result {
            Ok(end) => end,
            Err(e) => return parked.reply.error(log_error("open", e)),
        };
        // The cell is alive: this method runs on it.
        let cell = self.me.upgrade().expect("a cell outlives its own calls");
        let fh = self.shared.handles.insert(Handle {
            ino: parked.ino,
            kind: HandleKind::Stream(Box::new(OpenFile { cell, end })),
        });
        match parked.reply {
            OpenReply::Open(r) => r.opened(FileHandle(fh), stream_open_flags()),
            OpenReply::Create(r, attr) => r.created(
                &ATTR_TTL,
                &attr,
                Generation(0),
                FileHandle(fh),
                stream_open_flags(),
            ),
        }
    }

    /// Answers every call the core finished, after the lock is released;
    /// `input` is the data of the call that finished them (see `run`).
    fn deliver(&self, wk: FuseWakeups<T>, input: &[u8]) {
        if wk.is_empty() {
            return;
        }
        let registry = &self.shared.registry;
        for (id, parked, result) in wk.opens {
            registry.deregister(id);
            self.finish_open(parked, result);
        }
        for (id, reply, result) in wk.reads {
            registry.deregister(id);
            finish_read(reply, result);
        }
        for (id, reply, range) in wk.handed {
            registry.deregister(id);
            reply.data(&input[range]);
        }
        for (id, w, done) in wk.writes {
            registry.deregister(id);
            finish_write(w, done);
        }
        for poller in wk.polls {
            if let Err(e) = poller.notify() {
                log::debug!("poll notification not delivered: {e}");
            }
        }
    }
}

impl<T: StreamObject<FuseParking>> Cancel for Cell<T> {
    fn cancel(&self, id: WaiterId, why: CancelReason) -> bool {
        self.update(|o, wk| o.cancel(id, why, wk))
    }
}

/// What the adapter needs of any object cell, whatever its kind.
pub trait StreamCell: Send + Sync {
    /// Opens the object; the reply is sent now or when the open finishes.
    fn open(self: Arc<Self>, call: CallId, waiter: ParkedOpen, req: OpenRequest);
    /// Answers every parked call for unmount.
    fn shut_down(&self);
}

impl<T: StreamObject<FuseParking>> StreamCell for Cell<T> {
    fn open(self: Arc<Self>, call: CallId, waiter: ParkedOpen, req: OpenRequest) {
        if let Some((w, result)) = self.run(call, &[], |o, wk| o.open(call.id, waiter, req, wk)) {
            self.finish_open(w, result);
        }
    }

    fn shut_down(&self) {
        self.update(|o, wk| o.shut_down(wk));
    }
}

/// An open file description of a stream object: what a handle holds.
pub trait StreamFile: Send + Sync {
    fn read(&self, call: CallId, reply: ReplyData, size: usize, nonblock: bool);
    fn write(&self, call: CallId, reply: ReplyWrite, data: &[u8], nonblock: bool);
    fn poll(&self, notify: Option<(u64, PollNotifier)>) -> u32;
    fn release(&self);
}

struct OpenFile<T: StreamObject<FuseParking>> {
    cell: Arc<Cell<T>>,
    end: T::End,
}

impl<T: StreamObject<FuseParking>> StreamFile for OpenFile<T> {
    fn read(&self, call: CallId, reply: ReplyData, size: usize, nonblock: bool) {
        self.cell.read(call, reply, self.end, size, nonblock);
    }

    fn write(&self, call: CallId, reply: ReplyWrite, data: &[u8], nonblock: bool) {
        self.cell.write(call, reply, self.end, data, nonblock);
    }

    fn poll(&self, notify: Option<(u64, PollNotifier)>) -> u32 {
        self.cell.lock().poll(self.end, notify)
    }

    fn release(&self) {
        self.cell.update(|o, wk| o.release(self.end, wk));
    }
}

fn finish_read(reply: ReplyData, result: Result<Vec<u8>>) {
    match result {
        Ok(data) => reply.data(&data),
        Err(e) => reply.error(log_error("read", e)),
    }
}

fn finish_write(w: ParkedWrite, done: WriteDone) {
    if done.sigpipe {
        send_sigpipe(w.tid);
    }
    match done.result {
        Ok(n) => w.reply.written(n as u32),
        Err(e) => w.reply.error(log_error("write", e)),
    }
}

/// Sends `SIGPIPE` to the writing thread, as the kernel does for its own
/// pipes, before the write is answered with `EPIPE`.
fn send_sigpipe(tid: u32) {
    let Some(tgid) = thread_group(tid) else {
        return;
    };
    // SAFETY: tgkill has no memory effects; a wrong id only fails.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            tgid as libc::pid_t,
            tid as libc::pid_t,
            libc::SIGPIPE,
        )
    };
    if rc != 0 {
        log::debug!(
            "SIGPIPE to thread {tid} not sent: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn thread_group(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

//! A pipe as the adapter holds it: the core state machine behind its own
//! lock, plus the code that answers what the state machine finished.
//!
//! Lock order: a pipe's lock, then the registry's lock (a parked call is
//! registered while the pipe is locked). Replies are sent, handles installed
//! and calls deregistered only after the pipe's lock is released.

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
use crate::ipc::pipe::{Pipe, PipeEnd, PipeWakeups};
use crate::ipc::{CancelReason, Mode, Parking, Step, WriteDone};
use crate::wait::WaiterId;

/// How every pipe file is opened: no page cache, no file position, and
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

pub struct ParkedOpen {
    pub reply: OpenReply,
    pub ino: Ino,
}

pub struct ParkedWrite {
    pub reply: ReplyWrite,
    /// The writer's thread, for `SIGPIPE`.
    pub tid: u32,
}

pub struct FuseParking;

impl Parking for FuseParking {
    type Open = ParkedOpen;
    type Read = ReplyData;
    type Write = ParkedWrite;
    type Poll = PollNotifier;
}

pub struct PipeCell {
    pipe: Mutex<Pipe<FuseParking>>,
    shared: Arc<Shared>,
    /// This cell itself, for the handles that finished opens install.
    me: Weak<PipeCell>,
}

/// Who is calling, for parking: the request id and the caller's thread.
#[derive(Debug, Clone, Copy)]
pub struct CallId {
    pub id: WaiterId,
    pub tid: u32,
}

impl PipeCell {
    pub fn new(capacity: usize, shared: Arc<Shared>) -> Arc<PipeCell> {
        Arc::new_cyclic(|me| PipeCell {
            pipe: Mutex::new(Pipe::new(capacity, shared.budget.clone())),
            shared,
            me: me.clone(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Pipe<FuseParking>> {
        // Every core operation finishes its state change before it can
        // panic on a logic error; a poisoned lock still guards valid state.
        self.pipe.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one core operation; registers the call with the interrupt
    /// watcher if it parked, then answers what the operation finished.
    fn run<W, T>(
        self: &Arc<Self>,
        call: CallId,
        op: impl FnOnce(&mut Pipe<FuseParking>, &mut PipeWakeups<FuseParking>) -> Step<W, T>,
    ) -> Option<(W, T)> {
        let mut wk = PipeWakeups::default();
        let step = {
            let mut pipe = self.lock();
            let step = op(&mut pipe, &mut wk);
            if let Step::Parked = step {
                self.shared
                    .registry
                    .register(call.id, call.tid, self.clone() as Arc<dyn Cancel>);
            }
            step
        };
        self.deliver(wk);
        match step {
            Step::Done(w, t) => Some((w, t)),
            Step::Parked => None,
        }
    }

    pub fn open(
        self: &Arc<Self>,
        call: CallId,
        waiter: ParkedOpen,
        mode: Mode,
        nonblock: bool,
        creating: bool,
    ) {
        if let Some((w, result)) = self.run(call, |p, wk| {
            p.open(call.id, waiter, mode, nonblock, creating, wk)
        }) {
            self.finish_open(w, result);
        }
    }

    pub fn read(self: &Arc<Self>, call: CallId, reply: ReplyData, size: usize, nonblock: bool) {
        if let Some((reply, result)) =
            self.run(call, |p, wk| p.read(call.id, reply, size, nonblock, wk))
        {
            finish_read(reply, result);
        }
    }

    pub fn write(self: &Arc<Self>, call: CallId, reply: ReplyWrite, data: &[u8], nonblock: bool) {
        let waiter = ParkedWrite {
            reply,
            tid: call.tid,
        };
        if let Some((w, done)) =
            self.run(call, |p, wk| p.write(call.id, waiter, data, nonblock, wk))
        {
            finish_write(w, done);
        }
    }

    pub fn release(&self, end: PipeEnd) {
        let mut wk = PipeWakeups::default();
        self.lock().release(end, &mut wk);
        self.deliver(wk);
    }

    pub fn set_capacity(&self, capacity: usize) -> Result<()> {
        let mut wk = PipeWakeups::default();
        let result = self.lock().set_capacity(capacity, &mut wk);
        self.deliver(wk);
        result
    }

    pub fn shut_down(&self) {
        let mut wk = PipeWakeups::default();
        self.lock().shut_down(&mut wk);
        self.deliver(wk);
    }

    fn finish_open(&self, parked: ParkedOpen, result: Result<PipeEnd>) {
        let end = match result {
            Ok(end) => end,
            Err(e) => {
                let errno = log_error("open", e);
                match parked.reply {
                    OpenReply::Open(r) => r.error(errno),
                    OpenReply::Create(r, _) => r.error(errno),
                }
                return;
            }
        };
        // The cell is alive: this method runs on it.
        let pipe = self
            .me
            .upgrade()
            .expect("a pipe cell outlives its own calls");
        let fh = self.shared.handles.insert(Handle {
            ino: parked.ino,
            kind: HandleKind::Pipe { pipe, end },
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

    /// Answers every call the core finished, after the lock is released.
    fn deliver(&self, wk: PipeWakeups<FuseParking>) {
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

impl Cancel for PipeCell {
    fn cancel(&self, id: WaiterId, why: CancelReason) -> bool {
        let mut wk = PipeWakeups::default();
        let found = self.lock().cancel(id, why, &mut wk);
        self.deliver(wk);
        found
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

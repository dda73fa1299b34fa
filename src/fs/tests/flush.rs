//! A flush that its object parks: answered when the object says, and
//! reached, like a parked read or write, by an interrupt and by the
//! unmount. No kind parks one yet; a stand-in object does.

use super::*;
use crate::fs::cell::Cell;
use crate::fs::reply::{FsParking, ParkedOpen, Reference, WriteReply};
use crate::ipc::{
    CancelReason, OpenRequest, ReadCall, Step, StreamObject, Wakeups, WriteCall, WriteDone, ready,
};
use crate::wait::WaiterId;

type StoringWakeups = Wakeups<FsParking<TestReplies>, ()>;

/// An object whose written data counts as complete only once something
/// else says it is stored (as a message a server keeps): every flush
/// waits for that.
#[derive(Default)]
struct Storing {
    flushes: Vec<(WaiterId, TestReply)>,
    stopped: bool,
}

impl Storing {
    /// What was written is stored: every waiting flush is answered.
    fn stored(&mut self, wk: &mut StoringWakeups) {
        for (id, reply) in self.flushes.drain(..) {
            wk.flushes.push((id, reply, Ok(())));
        }
    }
}

impl StreamObject<FsParking<TestReplies>> for Storing {
    type End = ();

    fn open(
        &mut self,
        _id: WaiterId,
        waiter: ParkedOpen<TestReplies>,
        _req: OpenRequest,
        _wk: &mut StoringWakeups,
    ) -> Step<ParkedOpen<TestReplies>, Result<()>> {
        Step::Done(waiter, Ok(()))
    }

    fn read(
        &mut self,
        call: ReadCall<TestReply, ()>,
        _wk: &mut StoringWakeups,
    ) -> Step<TestReply, Result<Vec<u8>>> {
        Step::Done(call.waiter, Ok(Vec::new()))
    }

    fn write(
        &mut self,
        call: WriteCall<'_, WriteReply<TestReply>, ()>,
        _wk: &mut StoringWakeups,
    ) -> Step<WriteReply<TestReply>, WriteDone> {
        Step::Done(call.waiter, WriteDone::ok(call.data.len()))
    }

    fn release(&mut self, _end: (), _wk: &mut StoringWakeups) {}

    fn flush(
        &mut self,
        id: WaiterId,
        waiter: TestReply,
        _end: (),
        _killed: &mut dyn FnMut() -> bool,
        _wk: &mut StoringWakeups,
    ) -> Step<TestReply, Result<()>> {
        if self.stopped {
            return Step::Done(waiter, Err(Error::ShuttingDown));
        }
        self.flushes.push((id, waiter));
        Step::Parked
    }

    fn cancel(&mut self, id: WaiterId, why: CancelReason, wk: &mut StoringWakeups) -> bool {
        match self.flushes.iter().position(|(parked, _)| *parked == id) {
            Some(at) => {
                let (id, reply) = self.flushes.remove(at);
                wk.flushes.push((id, reply, Err(why.error())));
                true
            }
            None => false,
        }
    }

    fn parked(&self) -> Vec<WaiterId> {
        self.flushes.iter().map(|(id, _)| *id).collect()
    }

    fn stop_parking(&mut self, _wk: &mut StoringWakeups) {
        self.stopped = true;
    }

    fn poll(&mut self, _end: (), _notify: Option<(u64, Sender<Answer>)>) -> u32 {
        ready::OUT
    }
}

/// A storing object's cell (in no directory: only its handle reaches
/// it) and a handle open for writing.
fn storing(fs: &TestFs) -> (Arc<Cell<Storing, TestReplies>>, u64) {
    let cell = Cell::new(Storing::default(), fs.shared.clone());
    let (tx, rx) = reply();
    let parked = ParkedOpen {
        reply: tx,
        ino: tree::ROOT,
        created: None,
        reference: Reference::none(),
    };
    cell.open_with_flags(&call(), parked, libc::O_WRONLY);
    (cell, opened(now(&rx)).fh)
}

/// A storing object with a flush of its handle parked by `call`: its
/// cell, the handle, and where the flush is answered.
fn parked_flush(
    fs: &TestFs,
    call: &Call,
) -> (Arc<Cell<Storing, TestReplies>>, u64, Receiver<Answer>) {
    let (cell, fh) = storing(fs);
    let (tx, rx) = reply();
    fs.flush(call, fh, tx);
    assert_eq!(now(&rx), None, "parked");
    (cell, fh, rx)
}

#[test]
fn a_parked_flush_is_answered_when_its_object_says() {
    let fs = fs();
    let (cell, fh, rx) = parked_flush(&fs, &call());
    assert_eq!(fs.parked(), 1, "registered as any parked call");
    cell.update(|o, wk| o.stored(wk));
    assert_eq!(now(&rx), Some(Answer::Flushed(Ok(()))));
    assert_eq!(fs.parked(), 0, "deregistered once answered");
    fs.release(fh);
}

#[test]
fn a_parked_flush_is_interrupted() {
    let fs = fs();
    let c = call();
    let (_cell, fh, rx) = parked_flush(&fs, &c);
    assert!(fs.interrupt(c.id));
    assert_eq!(now(&rx), Some(Answer::Flushed(Err(Error::Interrupted))));
    assert_eq!(fs.parked(), 0);
    fs.release(fh);
}

#[test]
fn a_parked_flush_ends_at_unmount() {
    let fs = fs();
    let (_cell, _fh, rx) = parked_flush(&fs, &call());
    assert_eq!(fs.shut_down(), 1);
    assert_eq!(now(&rx), Some(Answer::Flushed(Err(Error::ShuttingDown))));
    assert_eq!(fs.parked(), 0);
}

#[test]
fn a_flush_of_a_handle_not_open_is_refused() {
    let fs = fs();
    assert_eq!(
        flush(&fs, 999),
        Some(Answer::Flushed(Err(Error::BadHandle)))
    );
}

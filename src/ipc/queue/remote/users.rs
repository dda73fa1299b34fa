//! Whom each step a shared queue asks of its store is for. The store
//! serves the users of a mount in turn (src/remote/turns.rs), so that one
//! user's flood of steps does not make another's wait out the store's
//! timeout; for that, each step must be in the line of the user whose
//! doing it is, and none in another's. The rule, first match:
//!
//! 1. A call's own step — an open's place, a write's append or place, a
//!    close's append — is for the user who made that call, also when it
//!    is asked again after waiting for room: an open's opener, a write's
//!    writer as the adapter names it (`Parking::writer`), a close's
//!    caller.
//! 2. A take is for the user of the oldest read waiting, which it serves
//!    first: that read's description's opener (a parked read keeps no
//!    caller; a description handed to another user's process goes on
//!    counting as its opener's, as its messages in progress do).
//! 3. Receipts sent on their own are for the user of the read that
//!    received the last message (its description's opener).
//! 4. Any other step is for the user whose call or answer the queue is
//!    serving when it asks it ([`Users::serving`]): a place given back at
//!    a description's release, its opener's; a place given back after its
//!    open was interrupted, or messages given back that no read here took,
//!    the user whose step's answer led to it (the store's seam says whose
//!    answer it hands over).
//! 5. Else (settings, the give-backs at unmount): the queue's owner.
//!
//! So the steps a user's calls ask go in that user's line (or, through a
//! description another user opened and handed over, that user's), and
//! the steps no call asked are bounded by the steps of whoever caused
//! them. Outside the queue, the fs layer asks a create for the queue's
//! maker and a removal or a change of owner for its owner
//! (src/fs/kinds/shared_queue.rs), whose callers it is not told.

use super::*;

/// Who the queue is serving, for [`RemoteQueue::user_of`].
#[derive(Debug, Default)]
pub(super) struct Users {
    /// The user whose call, or whose step's answer, the queue serves now
    /// (`StreamObject::serving`); `None` between them.
    pub(super) serving: Option<u32>,
    /// The user of the read that received the last message here.
    pub(super) receiving: Option<u32>,
}

impl<P: Parking> RemoteQueue<P> {
    /// The queue's owner (who pays for the messages taken here).
    pub fn owner(&self) -> u32 {
        self.budget.uid()
    }

    /// Whom `step`, about to be asked, is for (the module's rule).
    pub(super) fn user_of(&self, step: &InFlight<P>) -> u32 {
        let own = match step {
            InFlight::Call(_, asking, _) => Self::caller_of(asking),
            InFlight::Take(_) => self.reads.front().map(|r| r.end.opener),
            InFlight::Acks(_) => self.users.receiving,
            InFlight::Quiet(_) | InFlight::Orphan { .. } => None,
        };
        own.or(self.users.serving).unwrap_or_else(|| self.owner())
    }

    /// The user who made a call that waits on the store, where the call
    /// itself says (a close does not: it never waits for room, so its
    /// step is asked only while its call is served).
    fn caller_of(asking: &Asking<P>) -> Option<u32> {
        match asking {
            Asking::Open { end, .. } => Some(end.opener),
            Asking::Start { reply, end, .. } => P::writer(reply).or(Some(end.opener)),
            Asking::Write { reply, .. } => P::writer(reply),
            Asking::Flush { .. } => None,
        }
    }
}

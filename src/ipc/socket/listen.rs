//! A listening endpoint: `listen`, and the reads of its `accept` file,
//! each of which takes one connection (the fs layer makes it an endpoint
//! of its own and answers with its name).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::command::Kind;
use super::{Deputy, Endpoint, EndpointWakeups, State, sys};
use crate::error::{Error, Result};
use crate::ipc::{Parking, Step, ready};
use crate::reactor::Readiness;
use crate::wait::WaiterId;

/// A connection a listening endpoint accepted, for the reader of its
/// `accept` file (`uid`, `gid`) whose open file description is `end`.
#[derive(Debug)]
pub struct Accepted {
    pub fd: OwnedFd,
    pub kind: Kind,
    pub uid: u32,
    pub gid: u32,
    pub end: u64,
    /// It closes with the last descriptor of its `data` (the listener's
    /// `autoclose`).
    pub autoclose: bool,
}

pub(super) struct ParkedAccept<R> {
    pub(super) reply: R,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) end: u64,
}

/// The backlog of `listen` without one, as listen(2) users commonly pass.
pub const DEFAULT_BACKLOG: u32 = 128;

impl<P: Parking> Endpoint<P> {
    /// listen(2), as the caller: a Unix listener records who listens, and
    /// its clients see that (`SO_PEERCRED`).
    pub(super) fn listen(&mut self, backlog: u32, deputy: &Arc<dyn Deputy>) -> Result<()> {
        let stream = self.kind.is_some_and(Kind::is_stream);
        let fd = match (&self.fd, self.state) {
            (Some(fd), State::Bound) if stream => fd,
            _ => return Err(Error::InvalidArgument),
        };
        deputy.act(&mut || sys::listen(fd, backlog))?;
        self.state = State::Listening;
        Ok(())
    }

    /// A new open of the `accept` file: its key for [`Endpoint::accept`].
    pub fn open_accept(&mut self) -> u64 {
        self.next_accept_end += 1;
        self.next_accept_end
    }

    pub fn release_accept(&mut self, end: u64) {
        self.given.remove(&end);
    }

    /// A read of the `accept` file of description `end` by `uid`/`gid`: a
    /// connection now, or parked until one comes; `Ok(None)` is the end
    /// of file after a name was given.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        &mut self,
        id: WaiterId,
        waiter: P::Read,
        end: u64,
        owner: (u32, u32),
        nonblock: bool,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Read, Result<Option<Accepted>>> {
        if self.given.remove(&end) {
            return Step::Done(waiter, Ok(None));
        }
        if self.state == State::Closed || self.shut_down {
            return Step::Done(waiter, Ok(None));
        }
        let (Some(fd), State::Listening) = (&self.fd, self.state) else {
            return Step::Done(waiter, Err(Error::InvalidArgument));
        };
        let kind = self.kind.expect("a listener has a kind");
        if self.accepts.is_empty() {
            match sys::accept(fd) {
                Ok(Some(fd)) => {
                    self.given.insert(end);
                    let (uid, gid) = owner;
                    let accepted = Accepted {
                        fd,
                        autoclose: self.autoclose_accepted,
                        kind,
                        uid,
                        gid,
                        end,
                    };
                    return Step::Done(waiter, Ok(Some(accepted)));
                }
                Ok(None) => {}
                Err(e) => return Step::Done(waiter, Err(self.fail("accept", e))),
            }
        }
        if nonblock {
            return Step::Done(waiter, Err(Error::WouldBlock));
        }
        let (uid, gid) = owner;
        let parked = ParkedAccept {
            reply: waiter,
            uid,
            gid,
            end,
        };
        self.accepts.push(id, parked);
        self.arm_or_answer(wk);
        Step::Parked
    }

    /// Readiness of the `accept` file: `POLLIN` while a connection waits
    /// (or once closed, with `POLLHUP`); with a handle, it is told when
    /// one comes.
    pub fn poll_accept(&mut self, notify: Option<(u64, P::Poll)>) -> u32 {
        let mut mask = 0;
        match (&self.fd, self.state) {
            (_, State::Closed) => mask |= ready::IN | ready::HUP,
            (Some(fd), State::Listening) => {
                let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                if poll(&mut pfd, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
                    mask |= ready::IN;
                }
            }
            _ => {}
        }
        if let Some((kh, handle)) = notify {
            self.pollers.register(kh, handle);
            if mask & ready::IN == 0 {
                self.poll_interest |= Readiness::READABLE;
                let _ = self.arm();
            }
        }
        mask
    }
}

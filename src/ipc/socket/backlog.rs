//! Bytes of a stream write answered before the socket took them.
//!
//! Over /dev/fuse a blocking write of [`KEEP_MIN`] bytes or more to a
//! stream endpoint, with nothing of the endpoint waiting to be sent, is
//! answered as soon as its bytes are kept (no copy, [`Parking::keep`]),
//! and sent right after its answer, on the same thread
//! ([`StreamObject::after_answers`]). The writer's next write then comes
//! in, and is copied into the daemon, while this one is copied into the
//! socket: the overlap a kernel socket's writer has with its peer. Sent
//! before the answer, as smaller writes are, the two copies and the
//! writer's own work take turns.
//!
//! What the socket does not take at once is the endpoint's *backlog*. As
//! a kernel socket holds in its send buffer bytes a write returned for,
//! the endpoint holds these, and sends them as the peer makes room:
//! - before any later write's bytes: a later write parks behind them
//!   (`EAGAIN` with `O_NONBLOCK`), and poll says no `POLLOUT` until they
//!   are gone;
//! - a send error they meet is the next write's answer (`EPIPE` and
//!   `SIGPIPE`, `ECONNRESET`), as the kernel reports an error that met
//!   the bytes in its buffer, and writing ends there, so that the stream
//!   never goes on past bytes it lost;
//! - before the end of the stream: `shutdown wr` shuts the socket's
//!   writing once they are sent (later writes fail with `EPIPE` at once);
//! - past the socket's close: `close`, `rmdir`, a dial file's or an
//!   autoclose endpoint's last close answers at once, and the socket is
//!   closed once they are sent (or meet an error). Meanwhile the mount
//!   holds the endpoint alive ([`StreamObject::must_outlive_callers`]),
//!   as the kernel keeps a closed socket until its buffer is sent, and
//!   they are copied out of the request buffer they were kept in.
//! - at unmount they are handed to the kernel whole: the send buffer is
//!   given room for them past `net.core.wmem_max` (`SO_SNDBUFFORCE`, so
//!   only a daemon that may do that answers writes early) and they are
//!   sent, and the kernel sends them after the daemon exits. Unmount is
//!   the only time room is made: the bytes in the kernel are then
//!   charged to no one, so no user can have it done again and again.
//!
//! Invariants: an endpoint has at most one backlog, made only while no
//! write is parked and none is held, so the backlog's bytes are always
//! the oldest unsent ones; an open endpoint's backlog is kept request
//! bytes, so open endpoints have at most as many backlogs as the adapter
//! keeps buffers at once (a closing one's is copied out); the whole
//! write is charged to its writer until its last byte is sent; `closing`
//! only while a backlog exists (the socket's descriptor is kept for it).

use super::{DataEnd, Endpoint, EndpointWakeups, sys};
use crate::error::Error;
use crate::ipc::bytes::Bytes;
use crate::ipc::{Parking, Unwritten, WriteCall, WriteDone, keep_large};
use crate::memory::Held;

#[cfg(doc)]
use crate::ipc::{KEEP_MIN, StreamObject};

/// The bytes of a write answered before the socket took them all.
pub(super) struct Backlog {
    rest: Unwritten,
    /// The whole write's charge, held until the last byte is sent (its
    /// request buffer, while kept, is held that long too).
    _charge: Option<Held>,
    /// A send found the socket full: the reactor watches for room.
    pub(super) waits_for_room: bool,
}

impl<P: Parking> Endpoint<P> {
    /// Answers `call`, a write of a connected endpoint that is neither
    /// shut nor closed, before its bytes are sent, if it may (see the
    /// module's documentation): its bytes become the backlog, sent once
    /// the answer is out.
    pub(super) fn answer_early(
        &mut self,
        call: &WriteCall<'_, P::Write, DataEnd>,
        wk: &mut EndpointWakeups<P>,
    ) -> Option<WriteDone> {
        let stream = self.kind.is_some_and(|k| k.is_stream());
        let nothing_waits =
            self.backlog.is_none() && self.writes.is_empty() && self.unreported.is_none();
        if !stream || call.nonblock || self.shut_down || !nothing_waits || !sys::may_answer_early()
        {
            return None;
        }
        let kept = keep_large::<P>(call.data)?;
        let payer = P::writer_account(&call.waiter).or_else(|| self.account.clone());
        let charge = match payer {
            Some(account) => Some(account.hold(call.data.len())?),
            None => None,
        };
        self.backlog = Some(Backlog {
            rest: Unwritten {
                data: Bytes::Shared(kept),
                at: 0,
            },
            _charge: charge,
            waits_for_room: false,
        });
        wk.after_answers = true;
        Some(WriteDone::ok(call.data.len()))
    }

    /// Sends what the socket takes of the backlog. A send error ends it:
    /// the error is the next write's answer. True when no backlog is left
    /// (and then a deferred `shutdown wr` or close is done).
    pub(super) fn send_backlog(&mut self) -> bool {
        let Some(mut backlog) = self.backlog.take() else {
            return true;
        };
        while !backlog.rest.left().is_empty() {
            // Straight on the descriptor: a closing endpoint is no longer
            // connected for its callers, but its socket still is.
            let sent = match &self.fd {
                Some(fd) => sys::send(fd, backlog.rest.left(), self.creds),
                None => Err(Error::NotConnected),
            };
            match sent {
                Ok(Some(n)) => {
                    backlog.rest.at += n;
                    self.bytes_out += n as u64;
                }
                Ok(None) => {
                    backlog.waits_for_room = true;
                    self.backlog = Some(backlog);
                    return false;
                }
                Err(e) => {
                    self.lost(backlog.rest.left().len(), e, "send");
                    self.backlog_gone(true);
                    return true;
                }
            }
        }
        self.backlog_gone(false);
        true
    }

    /// `lost` bytes of the backlog will never be sent (`e`, met at `why`).
    /// The stream must not go on past the hole: writing through the
    /// endpoint ends here, and `e` is the next write's answer.
    fn lost(&mut self, lost: usize, e: Error, why: &str) {
        log::warn!("socket: {lost} bytes a write was answered for not sent ({why}): {e}");
        if e == Error::ConnectionReset {
            // The kernel says a reset once: to this send, not a reader.
            self.peer = Some(sys::Peer::Reset);
        }
        self.error = Some(format!("{why}: {lost} bytes not sent: {e}"));
        self.unreported = Some(e);
        self.write_shut = true;
    }

    /// The backlog is gone (`lost`: with bytes unsent): the `shutdown wr`
    /// or close that waited for it is done now; a close after a loss
    /// resets the connection.
    fn backlog_gone(&mut self, lost: bool) {
        if self.shut_wr_pending {
            self.shut_wr_pending = false;
            if let Some(fd) = &self.fd {
                if let Err(e) = sys::shutdown(fd, libc::SHUT_WR) {
                    log::info!("socket: shutdown wr after the last bytes: {e}");
                }
            }
        }
        if self.closing {
            self.closing = false;
            if let Some(fd) = self.fd.take() {
                if lost {
                    sys::reset_on_close(&fd);
                }
                self.retired.push((self.token.take(), fd));
            }
        }
    }

    /// The backlog of an endpoint that closes is copied out of the request
    /// buffer it was kept in (its charge stays): a peer that reads late,
    /// or never, holds no buffer the adapter keeps few of.
    pub(super) fn copy_out_backlog(&mut self) {
        if let Some(backlog) = &mut self.backlog {
            let left = backlog.rest.left().to_vec();
            backlog.rest = Unwritten {
                data: Bytes::Owned(left),
                at: 0,
            };
        }
    }

    /// Hands the backlog to the kernel whole, at unmount: room is made for
    /// it in the send buffer, and it is sent. What the kernel still
    /// refuses (it is short of memory for sockets) is lost, and logged.
    pub(super) fn hand_over_backlog(&mut self) {
        // Room is counted in the kernel's units, which a guess can miss:
        // a second try asks again for what is left.
        for _ in 0..2 {
            if self.send_backlog() {
                return;
            }
            let left = self.backlog.as_ref().map_or(0, |b| b.rest.left().len());
            if let Some(fd) = &self.fd {
                if let Err(e) = sys::make_room(fd, left) {
                    log::warn!("socket: no room made for {left} bytes at unmount: {e}");
                }
            }
        }
        if !self.send_backlog() {
            self.drop_backlog("unmount", Error::NoSpace);
        }
    }

    /// Drops the backlog when it can no longer be sent (`why`): a loss,
    /// whose error (`e`) is the next write's answer.
    pub(super) fn drop_backlog(&mut self, why: &str, e: Error) {
        if let Some(backlog) = self.backlog.take() {
            self.lost(backlog.rest.left().len(), e, why);
            self.backlog_gone(true);
        }
    }

    /// The error a send met on bytes a write was answered for, as the
    /// answer of the write after: `EPIPE` raises `SIGPIPE`, as it does
    /// when the write meets it itself.
    pub(super) fn take_unreported(&mut self) -> Option<WriteDone> {
        let e = self.unreported.take()?;
        let mut done = WriteDone::err(e);
        done.sigpipe = e == Error::BrokenPipe;
        Some(done)
    }
}

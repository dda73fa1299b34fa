//! The `data` file of an endpoint: the connection's bytes both ways, read
//! and written straight on the non-blocking socket, with callers parked
//! while it has nothing to give or no room to take.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use super::splice::{self, Received};
use super::{Accepted, DataEnd, Endpoint, EndpointWakeups, State, datagram, sys};
use crate::error::{Error, Result};
use crate::ipc::bytes::Bytes;
use crate::ipc::compose::{self, Framing, Stop};
use crate::ipc::{
    CancelReason, IoMode, OpenRequest, Parking, ReadCall, Step, StreamObject, WriteCall, WriteDone,
    ready,
};
use crate::ipc::{ParkedWrite, ReadDone, Unwritten, keep_large};
use crate::reactor::Readiness;
use crate::wait::WaiterId;

impl<P: Parking> Endpoint<P> {
    /// Serves parked readers and writers as far as the socket allows.
    pub(super) fn serve(&mut self, wk: &mut EndpointWakeups<P>) {
        let Some(fd) = &self.fd else {
            return;
        };
        let mut changed = false;
        while let (Some(_), State::Listening) = (self.accepts.front(), self.state) {
            match sys::accept(fd) {
                Ok(None) => break,
                Ok(Some(conn)) => {
                    let (id, a) = self.accepts.pop_front().expect("front exists");
                    self.given.insert(a.end);
                    let accepted = Accepted {
                        autoclose: self.autoclose_accepted,
                        fd: conn,
                        kind: self.kind.expect("a listener has a kind"),
                        uid: a.uid,
                        gid: a.gid,
                        end: a.end,
                    };
                    wk.reads.push((id, a.reply, ReadDone::Accepted(accepted)));
                }
                Err(e) => {
                    let (id, a) = self.accepts.pop_front().expect("front exists");
                    wk.reads.push((id, a.reply, ReadDone::Data(Err(e))));
                    self.error = Some(format!("accept: {e}"));
                }
            }
            changed = true;
        }
        while let (Some(id), Some(front)) = (self.reads.front_id(), self.reads.front()) {
            let (size, end) = (front.size, front.end);
            let answer = match self.receive(&end, size, Some(id)) {
                Ok(None) => break,
                Ok(Some(received)) => Ok(received),
                Err(e) => {
                    self.error = Some(format!("receive: {e}"));
                    Err(e)
                }
            };
            wk.serve_front_read(&mut self.reads, answer);
            changed = true;
        }
        if self.backlog.is_some() {
            changed = true;
            if !self.send_backlog() {
                self.notify(wk);
                return;
            }
        }
        while !self.writes.is_empty() {
            // The oldest parked write came after the backlog (none is made
            // while one is parked), with nothing sent: the error the
            // backlog met is its answer.
            if let Some(done) = self.take_unreported() {
                let (id, w) = self.writes.pop_front().expect("front exists");
                wk.writes.push((id, w.reply, done));
                changed = true;
                continue;
            }
            // Writing ended at a loss of the backlog's bytes: no later
            // write goes on past the hole.
            if self.write_shut {
                let (id, w) = self.writes.pop_front().expect("front exists");
                let mut done = w.end_early(Error::BrokenPipe);
                done.sigpipe = w.accepted == 0;
                wk.writes.push((id, w.reply, done));
                changed = true;
                continue;
            }
            let front = self.writes.front_mut().expect("front exists");
            // The bytes are lent out for the send, which needs the whole
            // endpoint, and put back: no copy of a parked write per try.
            let (data, from) = (std::mem::take(&mut front.rest.data), front.rest.at);
            let sent = self.send_some(&data[from..]);
            let front = self.writes.front_mut().expect("front exists");
            front.rest.data = data;
            match sent {
                Ok(None) => break,
                Ok(Some(n)) => {
                    front.rest.at += n;
                    front.accepted += n;
                    self.bytes_out += n as u64;
                    if front.rest.left().is_empty() {
                        wk.finish_front_write(&mut self.writes);
                    }
                }
                Err(e) => {
                    let (id, w) = self.writes.pop_front().expect("front exists");
                    let mut done = w.end_early(e);
                    done.sigpipe = e == Error::BrokenPipe && w.accepted == 0;
                    wk.writes.push((id, w.reply, done));
                    self.error = Some(format!("send: {e}"));
                }
            }
            changed = true;
        }
        if changed {
            self.notify(wk);
        }
    }

    /// A read of the data file, answered now or parked; `splice`: its
    /// answer may be bytes left in a pipe (a parked read's always may).
    fn read_received(
        &mut self,
        call: ReadCall<P::Read, DataEnd>,
        wk: &mut EndpointWakeups<P>,
        splice: bool,
    ) -> Step<P::Read, Result<Received>> {
        if self.state == State::Closed || self.read_shut || call.size == 0 {
            return Step::Done(call.waiter, Ok(Received::Bytes(Vec::new())));
        }
        if self.framed(&call.end) {
            if let Some(answer) = self.read_on(&call.end, call.size) {
                return Step::Done(call.waiter, Ok(Received::Bytes(answer)));
            }
        }
        if let Err(e) = self.connected_fd() {
            return Step::Done(call.waiter, Err(e));
        }
        if self.reads.is_empty() {
            let id = splice.then_some(call.id);
            match self.receive(&call.end, call.size, id) {
                Ok(Some(received)) => return Step::Done(call.waiter, Ok(received)),
                Ok(None) => {}
                Err(e) => {
                    self.error = Some(format!("receive: {e}"));
                    return Step::Done(call.waiter, Err(e));
                }
            }
        }
        if call.nonblock || self.shut_down {
            let answer = if self.shut_down {
                Ok(Received::Bytes(Vec::new()))
            } else {
                Err(Error::WouldBlock)
            };
            return Step::Done(call.waiter, answer);
        }
        call.park_in(&mut self.reads);
        self.arm_or_answer(wk);
        Step::Parked
    }

    /// The data file's state for a read or write: the socket, or why
    /// there is none.
    fn connected_fd(&self) -> Result<&OwnedFd> {
        let datagrams = self.kind.is_some_and(|k| !k.is_stream());
        match (&self.fd, self.state) {
            (Some(fd), State::Connected) => Ok(fd),
            // A bound datagram endpoint receives from anyone.
            (Some(fd), State::Bound) if datagrams => Ok(fd),
            _ => Err(Error::NotConnected),
        }
    }

    /// Receives for a read of `size` bytes through `end`, by call `id`
    /// (`None`: a caller that takes bytes only): bytes of the stream,
    /// left in a pipe for a large read, a whole datagram, or the start of
    /// one (framed reads).
    fn receive(
        &mut self,
        end: &DataEnd,
        size: usize,
        id: Option<WaiterId>,
    ) -> Result<Option<Received>> {
        if self.kind.is_some_and(|k| k.is_stream()) {
            let fd = self.connected_fd()?;
            let reply = id.map(|id| (id, P::splice_header as splice::Header));
            let received = match splice::receive(fd, size, reply) {
                // The reset is read once; `status` keeps saying it.
                Err(Error::ConnectionReset) => {
                    self.peer = Some(sys::Peer::Reset);
                    return Err(Error::ConnectionReset);
                }
                other => other?,
            };
            match &received {
                Some(Received::Bytes(d)) if d.is_empty() && size > 0 => {
                    self.peer.get_or_insert(sys::Peer::Closed);
                }
                Some(Received::Bytes(d)) => self.bytes_in += d.len() as u64,
                Some(Received::Spliced(s)) => self.bytes_in += s.len() as u64,
                None => {}
            }
            return Ok(received);
        }
        let datagram = if !self.framed(end) {
            self.receive_one(size)?
        } else {
            self.receive_one(datagram::MAX_DATAGRAM)?
                .map(|datagram| self.start_reading(end, datagram, size))
        };
        Ok(datagram.map(Received::Bytes))
    }

    /// A datagram write needs somewhere to go; a stream one its peer.
    fn destination_ok(&self) -> Result<()> {
        match self.kind {
            Some(k) if !k.is_stream() => self.destination().map(|_| ()),
            _ => Ok(()),
        }
    }

    /// A framed write: its bytes join the datagram this open is writing,
    /// sent whole at the close. One over the largest datagram is
    /// `EMSGSIZE`, and the datagram is dropped.
    fn compose(&mut self, end: &DataEnd, data: &[u8]) -> WriteDone {
        // The composition is taken out while the sink holds the endpoint.
        let state = self.datagram_ends.entry(end.id).or_default();
        let mut composition = std::mem::take(&mut state.composition);
        let fed = self.send_now(false).map(|mut sink| {
            let max = datagram::MAX_DATAGRAM;
            compose::feed(Framing::Message, &mut composition, data, max, &mut sink)
        });
        self.datagram_ends.entry(end.id).or_default().composition = composition;
        let fed = match fed {
            Ok(fed) => fed,
            Err(e) => return WriteDone::err(e),
        };
        match fed.stop {
            None => WriteDone::ok(fed.consumed),
            Some(Stop::Failed(e)) => WriteDone::err(e),
            Some(Stop::Full) => WriteDone::err(Error::WouldBlock),
        }
    }

    /// Sends what the socket takes of `data`: stream bytes, or one whole
    /// datagram (to the last sender of a bound endpoint).
    fn send_some(&mut self, data: &[u8]) -> Result<Option<usize>> {
        let fd = self.connected_fd()?;
        if self.kind.is_some_and(|k| k.is_stream()) {
            return sys::send(fd, data, self.creds);
        }
        match self.send_now(true)?.transmit(data) {
            Ok(n) => Ok(Some(n)),
            Err(Error::WouldBlock) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<P: Parking> Endpoint<P> {
    pub fn faults(&self) -> crate::ipc::channel::Faults {
        self.transit.channel.faults()
    }

    pub fn channel_counters(&self) -> crate::ipc::channel::ChannelCounters {
        self.transit.channel.counters()
    }

    /// Sets one of the channel's settings (see `Faults::set`); it acts on
    /// the datagrams of udp and unixgram endpoints, and a stream
    /// endpoint's is `EINVAL` (a stream has no messages to lose).
    pub fn set_fault(&mut self, name: &str, value: &str) -> Result<()> {
        if self.kind.is_some_and(|k| k.is_stream()) {
            return Err(Error::InvalidArgument);
        }
        self.transit.channel.set(name, value)
    }

    /// The channel a new endpoint starts with (the mount's defaults).
    pub fn set_faults(&mut self, faults: crate::ipc::channel::Faults) {
        self.transit = datagram::Transit::new(faults);
    }

    /// Where what it holds for its users is charged (its owner's).
    pub fn set_account(&mut self, account: Arc<crate::memory::Account>) {
        self.account = Some(account);
    }
}

impl<P: Parking> StreamObject<P> for Endpoint<P> {
    type End = DataEnd;

    /// A large write is answered before its bytes are sent (see
    /// [`super::backlog`]), and writes before reads.
    const WRITERS_FIRST: bool = true;

    fn next_deadline(&self) -> Option<std::time::Instant> {
        let errand = self.pending.as_ref().map(|p| p.due);
        match (self.transit.next_deadline(), errand) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// An errand that took too long fails its command; delayed datagrams
    /// fall due: sent where the endpoint sends now (a network would have
    /// lost them had the socket gone).
    fn deadline(&mut self, now: std::time::Instant, wk: &mut EndpointWakeups<P>) {
        if self.pending.as_ref().is_some_and(|p| p.due <= now) {
            self.errand_timed_out(wk);
        }
        let due = self.transit.due(now);
        let (Some(fd), Ok(to)) = (
            self.fd.as_ref(),
            datagram::destination(self.state, &self.last_sender, self.headers),
        ) else {
            return;
        };
        for d in due {
            match datagram::send_one(fd, &d, to, self.creds, self.headers) {
                Ok(n) => self.bytes_out += n as u64,
                Err(e) => log::debug!("socket: a delayed datagram not sent: {e}"),
            }
        }
    }

    fn open(
        &mut self,
        _id: WaiterId,
        waiter: P::Open,
        req: OpenRequest,
        _wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Open, Result<DataEnd>> {
        self.next_data_end += 1;
        let end = DataEnd {
            mode: req.mode,
            id: self.next_data_end,
            packet: req.io != IoMode::Stream,
        };
        self.data_held += 1;
        Step::Done(waiter, Ok(end))
    }

    /// A read whose answer is bytes: one left in a pipe is read out.
    fn read(
        &mut self,
        call: ReadCall<P::Read, DataEnd>,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Read, Result<Vec<u8>>> {
        self.read_received(call, wk, false)
            .map(|received| received.and_then(Received::into_bytes))
    }

    fn read_done(
        &mut self,
        call: ReadCall<P::Read, DataEnd>,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Read, ReadDone> {
        self.read_received(call, wk, true).map(ReadDone::from)
    }

    fn write(
        &mut self,
        call: WriteCall<'_, P::Write, DataEnd>,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        // Bytes a write was answered for go first; an error they met is
        // this write's answer (and ends writing: see `backlog`).
        self.send_backlog();
        if let Some(done) = self.take_unreported() {
            return Step::Done(call.waiter, done);
        }
        if self.write_shut || self.state == State::Closed {
            let done = WriteDone {
                result: Err(Error::BrokenPipe),
                sigpipe: true,
            };
            return Step::Done(call.waiter, done);
        }
        if let Err(e) = self.connected_fd().and_then(|_| self.destination_ok()) {
            return Step::Done(call.waiter, WriteDone::err(e));
        }
        if self.framed(&call.end) {
            return Step::Done(call.waiter, self.compose(&call.end, call.data));
        }
        if let Some(done) = self.answer_early(&call, wk) {
            return Step::Done(call.waiter, done);
        }
        let mut sent = 0;
        if self.writes.is_empty() && self.backlog.is_none() {
            while sent < call.data.len() {
                match self.send_some(&call.data[sent..]) {
                    Ok(Some(n)) => sent += n,
                    Ok(None) => break,
                    Err(e) => {
                        self.bytes_out += sent as u64;
                        self.error = Some(format!("send: {e}"));
                        let mut done = WriteDone::stopped(sent, e);
                        done.sigpipe = e == Error::BrokenPipe && sent == 0;
                        return Step::Done(call.waiter, done);
                    }
                }
            }
            self.bytes_out += sent as u64;
        }
        if sent == call.data.len() {
            return Step::Done(call.waiter, WriteDone::ok(sent));
        }
        if call.nonblock || self.shut_down {
            let why = match self.shut_down {
                true => Error::ShuttingDown,
                false => Error::WouldBlock,
            };
            let done = WriteDone::stopped(sent, why);
            return Step::Done(call.waiter, done);
        }
        // The bytes a parked write holds (what the socket did not take
        // yet) are charged while it waits, to its writer (else the
        // endpoint's owner).
        let rest = &call.data[sent..];
        let payer = P::writer_account(&call.waiter).or_else(|| self.account.clone());
        let held = match &payer {
            Some(account) => match account.hold(rest.len()) {
                Some(held) => Some(held),
                None => {
                    log::info!("socket write not parked: no memory left to hold its bytes");
                    let done = WriteDone::stopped(sent, Error::NoSpace);
                    return Step::Done(call.waiter, done);
                }
            },
            None => None,
        };
        self.writes.push(
            call.id,
            ParkedWrite {
                reply: call.waiter,
                rest: Unwritten {
                    data: Bytes::keep_or_copy(rest, keep_large::<P>(rest)),
                    at: 0,
                },
                accepted: sent,
                charge: held,
            },
        );
        self.arm_or_answer(wk);
        Step::Parked
    }

    fn must_outlive_callers(&self) -> bool {
        self.backlog.is_some()
    }

    fn take_retired(&mut self) -> Vec<(Option<crate::reactor::Token>, OwnedFd)> {
        Endpoint::take_retired(self)
    }

    /// Sends the bytes of a write answered early (see [`super::backlog`]).
    fn after_answers(&mut self, wk: &mut EndpointWakeups<P>) {
        if self.backlog.is_some() {
            self.serve(wk);
            self.arm_or_answer(wk);
        }
    }

    /// A dial file's endpoint lives as long as its one open: the last
    /// close closes the socket, once the bytes of a write answered early
    /// are sent (see [`super::backlog`]). (Its reactor registration goes with the
    /// endpoint, whose cell is dropped with the handle; closing the
    /// descriptor takes it out of epoll.)
    fn release(&mut self, end: DataEnd, wk: &mut EndpointWakeups<P>) {
        if self.framed(&end) {
            self.end_datagram(&end, &mut || false);
        }
        self.datagram_ends.remove(&end.id);
        if self.dialed {
            // Its socket goes with its last descriptor: retired (the
            // registration dropped before the descriptor is closed) by
            // the call that released it.
            self.retire_socket();
            self.state = State::Closed;
            self.answer_all(wk, Error::ConnectionReset);
            wk.closed_itself = true;
        }
        self.data_held = self.data_held.saturating_sub(1);
        if self.autoclose && self.data_held == 0 && self.state != State::Closed {
            log::debug!("socket: the last descriptor of an autoclose endpoint closed");
            self.close(wk);
            wk.closed_itself = true;
        }
        self.notify(wk);
    }

    /// A close (or fsync) of a datagram endpoint's `data` ends the
    /// datagram written through that open: it is sent now. (A stream's
    /// backlog stays: the socket outlives the close and goes on sending
    /// it.)
    fn flush(
        &mut self,
        _id: WaiterId,
        waiter: P::Flush,
        end: DataEnd,
        killed: &mut dyn FnMut() -> bool,
        wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Flush, Result<()>> {
        if self.framed(&end) {
            self.end_datagram(&end, killed);
            self.notify(wk);
        }
        Step::Done(waiter, Ok(()))
    }

    fn cancel(&mut self, id: WaiterId, why: CancelReason, wk: &mut EndpointWakeups<P>) -> bool {
        if let Some(r) = self.reads.remove(id) {
            wk.read_cancelled(id, r.reply, why);
        } else if let Some(w) = self.writes.remove(id) {
            wk.write_cancelled(id, w, why);
        } else if let Some(a) = self.accepts.remove(id) {
            wk.read_cancelled(id, a.reply, why);
        } else if self.pending.as_ref().is_some_and(|p| p.id == id) {
            // An interrupted errand is given up: what it brings back later
            // is dropped, as close() after an interrupted connect(2).
            let p = self.pending.take().expect("just seen");
            self.errand_abandoned(&p);
            p.asking.answer(id, Err(why.error()), wk);
        } else if let Some(c) = self.connects.remove(id) {
            // An interrupted connect gives up: the socket is dropped, as
            // close() after an interrupted connect(2) would.
            self.discard_socket();
            c.waiter.answer(id, Err(why.error()), wk);
        } else {
            return false;
        }
        self.notify(wk);
        true
    }

    fn parked(&self) -> Vec<WaiterId> {
        let mut ids: Vec<WaiterId> = self.pending.iter().map(|p| p.id).collect();
        ids.extend(self.connects.ids());
        ids.extend(self.reads.ids());
        ids.extend(self.writes.ids());
        ids.extend(self.accepts.ids());
        ids
    }

    fn stop_parking(&mut self, wk: &mut EndpointWakeups<P>) {
        self.hand_over_backlog();
        self.shut_down = true;
        self.notify(wk);
    }

    fn poll(&mut self, end: DataEnd, notify: Option<(u64, P::Poll)>) -> u32 {
        let mut mask = 0;
        let open = self.state == State::Connected;
        if end.mode.read && (self.read_shut || self.state == State::Closed) {
            mask |= ready::IN | ready::HUP;
        }
        if let (true, Some(fd)) = (open, &self.fd) {
            let mut pfd = [nix::poll::PollFd::new(
                fd.as_fd(),
                nix::poll::PollFlags::POLLIN | nix::poll::PollFlags::POLLOUT,
            )];
            if nix::poll::poll(&mut pfd, nix::poll::PollTimeout::ZERO).is_ok() {
                let got = pfd[0].revents().unwrap_or(nix::poll::PollFlags::empty());
                if end.mode.read && got.intersects(nix::poll::PollFlags::POLLIN) {
                    mask |= ready::IN;
                }
                if end.mode.write
                    && got.intersects(nix::poll::PollFlags::POLLOUT)
                    && self.writes.is_empty()
                    && self.backlog.is_none()
                    && !self.write_shut
                {
                    mask |= ready::OUT;
                }
                if got.intersects(nix::poll::PollFlags::POLLHUP) {
                    mask |= ready::HUP;
                }
            }
        }
        if let Some((kh, handle)) = notify {
            self.pollers.register(kh, handle);
            // Told at the next change: arm for what this caller lacks.
            if end.mode.read && mask & ready::IN == 0 {
                self.poll_interest |= Readiness::READABLE;
            }
            if end.mode.write && mask & ready::OUT == 0 {
                self.poll_interest |= Readiness::WRITABLE;
            }
            let _ = self.arm();
        }
        mask
    }
}

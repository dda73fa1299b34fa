//! The `data` file of an endpoint: the connection's bytes both ways, read
//! and written straight on the non-blocking socket, with callers parked
//! while it has nothing to give or no room to take.

use std::os::fd::{AsFd, OwnedFd};

use super::{Accepted, DataEnd, Endpoint, EndpointWakeups, ParkedRead, ParkedWrite, State, sys};
use crate::error::{Error, Result};
use crate::ipc::{CancelReason, OpenRequest, Parking, Step, StreamObject, WriteDone, ready};
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
                        fd: conn,
                        kind: self.kind.expect("a listener has a kind"),
                        uid: a.uid,
                        gid: a.gid,
                        end: a.end,
                    };
                    wk.accepted.push((id, a.reply, accepted));
                }
                Err(e) => {
                    let (id, a) = self.accepts.pop_front().expect("front exists");
                    wk.reads.push((id, a.reply, Err(e)));
                    self.error = Some(format!("accept: {e}"));
                }
            }
            changed = true;
        }
        while let Some(front) = self.reads.front() {
            match sys::recv(fd, front.size) {
                Ok(None) => break,
                Ok(Some(data)) => {
                    self.bytes_in += data.len() as u64;
                    let (id, r) = self.reads.pop_front().expect("front exists");
                    wk.reads.push((id, r.reply, Ok(data)));
                }
                Err(e) => {
                    let (id, r) = self.reads.pop_front().expect("front exists");
                    wk.reads.push((id, r.reply, Err(e)));
                    self.error = Some(format!("receive: {e}"));
                }
            }
            changed = true;
        }
        while let Some(front) = self.writes.front_mut() {
            match sys::send(fd, &front.data[front.sent..]) {
                Ok(None) => break,
                Ok(Some(n)) => {
                    front.sent += n;
                    self.bytes_out += n as u64;
                    if front.sent == front.data.len() {
                        let (id, w) = self.writes.pop_front().expect("front exists");
                        wk.writes.push((id, w.reply, WriteDone::ok(w.sent)));
                    }
                }
                Err(e) => {
                    let (id, w) = self.writes.pop_front().expect("front exists");
                    let mut done = ended_early(&w, e);
                    done.sigpipe = e == Error::BrokenPipe && w.sent == 0;
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

    /// The data file's state for a read or write: the socket, or why
    /// there is none.
    fn connected_fd(&self) -> Result<&OwnedFd> {
        match (&self.fd, self.state) {
            (Some(fd), State::Connected) => Ok(fd),
            _ => Err(Error::NotConnected),
        }
    }
}

/// A write's answer when it ends before all is sent.
pub(super) fn ended_early<W>(w: &ParkedWrite<W>, e: Error) -> WriteDone {
    match w.sent {
        0 => WriteDone::err(e),
        n => WriteDone::ok(n),
    }
}

impl<P: Parking> StreamObject<P> for Endpoint<P> {
    type End = DataEnd;

    fn open(
        &mut self,
        _id: WaiterId,
        waiter: P::Open,
        req: OpenRequest,
        _wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Open, Result<DataEnd>> {
        Step::Done(waiter, Ok(DataEnd { mode: req.mode }))
    }

    fn read(
        &mut self,
        id: WaiterId,
        waiter: P::Read,
        _end: DataEnd,
        size: usize,
        nonblock: bool,
        _wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Read, Result<Vec<u8>>> {
        if self.state == State::Closed || self.read_shut || size == 0 {
            return Step::Done(waiter, Ok(Vec::new()));
        }
        let fd = match self.connected_fd() {
            Ok(fd) => fd,
            Err(e) => return Step::Done(waiter, Err(e)),
        };
        if self.reads.is_empty() {
            match sys::recv(fd, size) {
                Ok(Some(data)) => {
                    self.bytes_in += data.len() as u64;
                    return Step::Done(waiter, Ok(data));
                }
                Ok(None) => {}
                Err(e) => {
                    self.error = Some(format!("receive: {e}"));
                    return Step::Done(waiter, Err(e));
                }
            }
        }
        if nonblock || self.shut_down {
            let answer = if self.shut_down {
                Ok(Vec::new())
            } else {
                Err(Error::WouldBlock)
            };
            return Step::Done(waiter, answer);
        }
        self.reads.push(
            id,
            ParkedRead {
                reply: waiter,
                size,
            },
        );
        self.arm();
        Step::Parked
    }

    fn write(
        &mut self,
        id: WaiterId,
        waiter: P::Write,
        _end: DataEnd,
        data: &[u8],
        nonblock: bool,
        _wk: &mut EndpointWakeups<P>,
    ) -> Step<P::Write, WriteDone> {
        if self.write_shut || self.state == State::Closed {
            let done = WriteDone {
                result: Err(Error::BrokenPipe),
                sigpipe: true,
            };
            return Step::Done(waiter, done);
        }
        let fd = match self.connected_fd() {
            Ok(fd) => fd,
            Err(e) => return Step::Done(waiter, WriteDone::err(e)),
        };
        let mut sent = 0;
        if self.writes.is_empty() {
            while sent < data.len() {
                match sys::send(fd, &data[sent..]) {
                    Ok(Some(n)) => sent += n,
                    Ok(None) => break,
                    Err(e) => {
                        self.bytes_out += sent as u64;
                        self.error = Some(format!("send: {e}"));
                        let done = match sent {
                            0 => WriteDone {
                                result: Err(e),
                                sigpipe: e == Error::BrokenPipe,
                            },
                            n => WriteDone::ok(n),
                        };
                        return Step::Done(waiter, done);
                    }
                }
            }
            self.bytes_out += sent as u64;
        }
        if sent == data.len() {
            return Step::Done(waiter, WriteDone::ok(sent));
        }
        if nonblock || self.shut_down {
            let done = match sent {
                0 if self.shut_down => WriteDone::err(Error::ShuttingDown),
                0 => WriteDone::err(Error::WouldBlock),
                n => WriteDone::ok(n),
            };
            return Step::Done(waiter, done);
        }
        self.writes.push(
            id,
            ParkedWrite {
                reply: waiter,
                data: data.to_vec(),
                sent,
            },
        );
        self.arm();
        Step::Parked
    }

    /// A dial file's endpoint lives as long as its one open: the last
    /// close closes the socket. (Its reactor registration goes with the
    /// endpoint, whose cell is dropped with the handle; closing the
    /// descriptor takes it out of epoll.)
    fn release(&mut self, _end: DataEnd, wk: &mut EndpointWakeups<P>) {
        if self.dialed {
            self.token = None;
            self.fd = None;
            self.state = State::Closed;
            self.answer_all(wk, Error::ConnectionReset);
        }
        self.notify(wk);
    }

    fn cancel(&mut self, id: WaiterId, why: CancelReason, wk: &mut EndpointWakeups<P>) -> bool {
        if let Some(r) = self.reads.remove(id) {
            wk.reads.push((id, r.reply, why.read_answer()));
        } else if let Some(w) = self.writes.remove(id) {
            let done = ended_early(&w, why.error());
            wk.writes.push((id, w.reply, done));
        } else if let Some(a) = self.accepts.remove(id) {
            wk.reads.push((id, a.reply, why.read_answer()));
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
        let mut ids = self.connects.ids();
        ids.extend(self.reads.ids());
        ids.extend(self.writes.ids());
        ids.extend(self.accepts.ids());
        ids
    }

    fn stop_parking(&mut self, wk: &mut EndpointWakeups<P>) {
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
            self.arm();
        }
        mask
    }
}

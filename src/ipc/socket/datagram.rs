//! Datagrams through an endpoint's `data` file, with boundaries kept as a
//! queue keeps them: through one open of a udp or unixgram endpoint,
//! everything written until a descriptor of it is closed (or fsync'ed) is
//! one datagram (compose.rs's `message` framing), and one open receives
//! one datagram — the first read returns as much of it as fits, the next
//! the rest, then end of file. With `O_DIRECT` each write is one datagram
//! and each read receives one, as send(2) and recv(2); so is every read
//! and write of a dial file.
//!
//! A bound endpoint that is not connected receives from anyone and
//! answers the most recent sender.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;

use nix::sys::socket::SockaddrStorage;

use super::sys::{self, Credentials};
use super::{DataEnd, Endpoint};
use crate::error::{Error, Result};
use crate::ipc::Parking;
use crate::ipc::channel::{Channel, Faults, InFlight};
use crate::ipc::compose::{Composition, Sink};
use crate::ipc::reception::Reception;
use crate::memory::{Account, Held};

/// The largest datagram received or composed: UDP's largest payload.
pub const MAX_DATAGRAM: usize = 65507;

/// One open file description of a datagram endpoint's `data` file.
#[derive(Debug, Default)]
pub(super) struct DatagramEnd {
    /// The datagram being written through it.
    pub(super) composition: Composition,
    /// The datagram being read through it, and how far.
    pub(super) reception: Reception,
}

/// The channel an endpoint's datagrams go out through (labs): what it
/// delays or holds back waits here, under the cell's timer, and is sent
/// when due to where the endpoint sends then.
#[derive(Debug)]
pub(super) struct Transit {
    pub(super) channel: Channel,
    /// Delayed datagrams, each with its charge.
    flight: InFlight<(Vec<u8>, Option<Held>)>,
}

impl Transit {
    pub(super) fn new(faults: Faults) -> Transit {
        Transit {
            channel: Channel::new(faults),
            flight: InFlight::default(),
        }
    }

    /// Sends one datagram through the channel: those to send now, in
    /// order; the delayed ones are kept, charged to `account` (one that
    /// cannot be is lost, as a full network queue would lose it), and
    /// so is one held back.
    fn send(&mut self, datagram: Vec<u8>, account: Option<&Arc<Account>>) -> Vec<Vec<u8>> {
        let now = Instant::now();
        let mut out = Vec::new();
        for d in self.channel.send(datagram) {
            if d.delay.is_zero() {
                out.push(d.message);
                continue;
            }
            let held = match account.map(|a| a.hold(d.message.len())) {
                Some(None) => {
                    log::info!("socket: a delayed datagram dropped: no memory left for it");
                    continue;
                }
                Some(held) => held,
                None => None,
            };
            self.flight.keep(now + d.delay, (d.message, held));
        }
        self.flight.note_held(self.channel.holds(), now);
        out
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.flight.next_deadline()
    }

    /// What is due at `now`, in order; a datagram's charge goes with it.
    pub(super) fn due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        if self.flight.hold_expired(now) {
            for d in self.channel.release_held() {
                self.flight.keep(now + d.delay, (d.message, None));
            }
        }
        self.flight.due(now).into_iter().map(|(d, _)| d).collect()
    }
}

/// Where a composed datagram goes: sent at once when it is whole (through
/// the endpoint's channel). A datagram's place is not limited (the
/// socket's buffer decides), and its bytes are held only until the close
/// that ends it.
pub(super) struct SendNow<'a> {
    pub(super) fd: &'a OwnedFd,
    pub(super) to: Option<&'a SockaddrStorage>,
    /// What a Unix-domain datagram carries as its sender.
    creds: Option<Credentials>,
    /// Each datagram starts with a header line naming where it goes.
    headers: bool,
    pub(super) transit: &'a mut Transit,
    /// Where a datagram being composed is charged until it is sent.
    account: Option<&'a Arc<Account>>,
    pub(super) sent: u64,
    pub(super) error: Option<Error>,
    pub(super) dropped: u64,
}

impl SendNow<'_> {
    /// Sends a whole datagram through the channel: its bytes count as
    /// sent whatever the channel does with them, as a network's would.
    pub(super) fn transmit(&mut self, datagram: &[u8]) -> Result<usize> {
        // Through a perfect channel it goes straight out, and the
        // socket's answer is the writer's, as for send(2).
        if self.transit.channel.is_perfect() {
            return send_one(self.fd, datagram, self.to, self.creds, self.headers);
        }
        for d in self.transit.send(datagram.to_vec(), self.account) {
            if let Err(e) = send_one(self.fd, &d, self.to, self.creds, self.headers) {
                log::debug!("socket: a datagram of the channel not sent: {e}");
            }
        }
        Ok(datagram.len())
    }
}

impl Sink for SendNow<'_> {
    fn reserve(&mut self) -> bool {
        true
    }
    fn unreserve(&mut self) {}
    fn commit(&mut self, datagram: Vec<u8>) {
        // Composed, it leaves the daemon: its charge goes back.
        self.refund(datagram.len());
        match self.transmit(&datagram) {
            Ok(n) => self.sent += n as u64,
            Err(e) => self.error = Some(e),
        }
    }
    fn charge(&mut self, bytes: usize) -> Result<()> {
        match self.account {
            Some(a) if !a.try_reserve(bytes) => Err(Error::NoSpace),
            _ => Ok(()),
        }
    }
    fn refund(&mut self, bytes: usize) {
        if let Some(a) = self.account {
            a.release(bytes);
        }
    }
    fn dropped(&mut self) {
        self.dropped += 1;
    }
}

/// Where an endpoint in `state` sends datagrams: its peer when connected
/// (`None`: the socket knows it), else the most recent sender
/// (`ENOTCONN` before anyone sent).
pub(super) fn destination(
    state: super::State,
    last_sender: &Option<SockaddrStorage>,
    headers: bool,
) -> Result<Option<&SockaddrStorage>> {
    match state {
        // Each datagram's header line says where it goes.
        _ if headers => Ok(None),
        super::State::Connected => Ok(None),
        _ => last_sender.as_ref().map(Some).ok_or(Error::NotConnected),
    }
}

/// A datagram's header (`headers on`): its first line is an address, as
/// `remote` prints one (`127.0.0.1:5353`, `[::1]:5353`, a path); the
/// address and the datagram after it.
fn split_header(datagram: &[u8]) -> Result<(SockaddrStorage, &[u8])> {
    let end = datagram
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(Error::InvalidArgument)?;
    let text = std::str::from_utf8(&datagram[..end]).map_err(|_| Error::InvalidArgument)?;
    let address = if text.starts_with('/') {
        use nix::sys::socket::SockaddrLike;
        let unix = nix::sys::socket::UnixAddr::new(text).map_err(|_| Error::InvalidArgument)?;
        // SAFETY: a valid sockaddr_un of the length it says.
        unsafe { SockaddrStorage::from_raw(unix.as_ptr().cast(), Some(unix.len())) }
            .ok_or(Error::InvalidArgument)?
    } else {
        let inet: std::net::SocketAddr = text.parse().map_err(|_| Error::InvalidArgument)?;
        SockaddrStorage::from(inet)
    };
    Ok((address, &datagram[end + 1..]))
}

/// Sends one datagram, to `to` when the socket is not connected. A full
/// socket buffer fails it with `EAGAIN` (a datagram is never sent in
/// part).
pub(super) fn send_one(
    fd: &OwnedFd,
    data: &[u8],
    to: Option<&SockaddrStorage>,
    creds: Option<Credentials>,
    headers: bool,
) -> Result<usize> {
    if headers {
        let (to, payload) = split_header(data).inspect_err(|_| {
            log::info!("socket: a datagram's header is not an address: not sent")
        })?;
        return sys::send_to(fd, payload, &to, creds)?
            .map(|_| data.len())
            .ok_or(Error::WouldBlock);
    }
    let sent = match to {
        Some(to) => sys::send_to(fd, data, to, creds)?,
        None => sys::send(fd, data, creds)?,
    };
    sent.ok_or(Error::WouldBlock)
}

impl<P: Parking> Endpoint<P> {
    /// Whether reads and writes of `end` keep boundaries per open rather
    /// than per call.
    pub(super) fn framed(&self, end: &DataEnd) -> bool {
        self.kind.is_some_and(|k| !k.is_stream()) && !self.dialed && !end.packet
    }

    /// Where datagrams go: the connected peer, or the most recent sender
    /// of a bound endpoint (`ENOTCONN` before anyone sent).
    pub(super) fn destination(&self) -> Result<Option<&SockaddrStorage>> {
        destination(self.state, &self.last_sender, self.headers)
    }

    /// What sends this endpoint's datagrams now: to its destination
    /// (`addressed`), or where the socket itself sends them (`None`, a
    /// connected socket). `ENOTCONN` without a socket or a destination.
    pub(super) fn send_now(&mut self, addressed: bool) -> Result<SendNow<'_>> {
        let to = match addressed {
            true => destination(self.state, &self.last_sender, self.headers)?,
            false => None,
        };
        Ok(SendNow {
            fd: self.fd.as_ref().ok_or(Error::NotConnected)?,
            to,
            creds: self.creds,
            headers: self.headers,
            transit: &mut self.transit,
            account: self.account.as_ref(),
            sent: 0,
            error: None,
            dropped: 0,
        })
    }

    /// Receives one datagram of up to `size` bytes, noting its sender.
    pub(super) fn receive_one(&mut self, size: usize) -> Result<Option<Vec<u8>>> {
        let fd = self.fd.as_ref().ok_or(Error::NotConnected)?;
        match sys::recv_from(fd, size)? {
            Some((data, from)) => {
                self.bytes_in += data.len() as u64;
                let sender = from.as_ref().and_then(sys::describe);
                let data = match self.headers {
                    // Sender and datagram together: its address, a newline,
                    // then the datagram.
                    true => {
                        let mut with =
                            format!("{}\n", sender.as_deref().unwrap_or("-")).into_bytes();
                        with.extend_from_slice(&data);
                        with
                    }
                    false => data,
                };
                if self.state != super::State::Connected {
                    // `remote` names who sent the datagram just read, as
                    // recvfrom(2) would tell (nothing for an unnamed one).
                    self.remote = sender;
                    self.last_sender = from;
                }
                Ok(Some(data))
            }
            None => Ok(None),
        }
    }

    /// A framed read's answer from the datagram `end` is reading, if it
    /// has one (or has finished one): `None` when it must receive anew.
    pub(super) fn read_on(&mut self, end: &DataEnd, size: usize) -> Option<Vec<u8>> {
        let state = self.datagram_ends.entry(end.id).or_default();
        state.reception.read_on(size)
    }

    /// Starts reading a received datagram through `end`: its first
    /// `size` bytes now, the rest on the next reads.
    pub(super) fn start_reading(
        &mut self,
        end: &DataEnd,
        mut datagram: Vec<u8>,
        size: usize,
    ) -> Vec<u8> {
        // What the first read does not take waits in the daemon, charged
        // to the endpoint's owner; past the cap it is dropped, as a
        // datagram socket drops what a short read does not take.
        let mut charge = None;
        if datagram.len() > size
            && let Some(account) = &self.account
        {
            charge = account.hold(datagram.len());
            if charge.is_none() {
                log::info!(
                    "socket: the last {} bytes of a datagram dropped: no memory left to keep them",
                    datagram.len() - size
                );
                datagram.truncate(size);
            }
        }
        let state = self.datagram_ends.entry(end.id).or_default();
        state.reception.start(datagram, size, charge)
    }

    /// Ends the datagram `end` is writing: sent whole, unless `killed`
    /// says its writer is dying of a signal.
    pub(super) fn end_datagram(&mut self, end: &DataEnd, killed: &mut dyn FnMut() -> bool) {
        let Some(state) = self.datagram_ends.get_mut(&end.id) else {
            return;
        };
        let mut composition = std::mem::take(&mut state.composition);
        let mut sink = match self.send_now(true) {
            Ok(sink) => sink,
            Err(_) => {
                if composition != Composition::Idle {
                    self.error = Some("send: no peer to send the datagram to".into());
                }
                return;
            }
        };
        crate::ipc::compose::end(&mut composition, &mut sink, killed);
        let (sent, error) = (sink.sent, sink.error);
        self.bytes_out += sent;
        if let Some(e) = error {
            log::info!("socket: datagram not sent: {e}");
            self.error = Some(format!("send: {e}"));
        }
    }
}

//! A cell's timer: one timerfd, watched by the reactor, armed for the
//! object's next deadline (a delayed message falling due). Made on first
//! use, so objects that never have a deadline cost nothing.
//!
//! Lock order: the object's lock, then the timer's, then the reactor's
//! (the timer is armed while the object is locked, so that two calls
//! cannot arm it out of order).

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::reactor::{Reactor, Readiness, Ready, Token};

pub struct DeadlineTimer {
    reactor: Arc<Reactor>,
    armed: Mutex<Option<Armed>>,
}

struct Armed {
    fd: TimerFd,
    token: Token,
    /// The deadline it is set for, if any.
    at: Option<Instant>,
}

impl DeadlineTimer {
    pub fn new(reactor: Arc<Reactor>) -> Self {
        DeadlineTimer {
            reactor,
            armed: Mutex::new(None),
        }
    }

    /// Fires at `at` (calling `owner`'s `ready`), or never for `None`.
    pub fn set<O: Ready + 'static>(&self, at: Option<Instant>, owner: &Arc<O>) {
        let mut armed = self.lock();
        if armed.as_ref().map(|a| a.at) == Some(at) {
            return;
        }
        if armed.is_none() {
            if at.is_none() {
                return;
            }
            match self.make(owner) {
                Ok(made) => *armed = Some(made),
                Err(e) => {
                    log::warn!("no timer for delayed messages ({e}): they arrive at the next call");
                    return;
                }
            }
        }
        let a = armed.as_mut().expect("made above");
        let result = match at {
            Some(at) => {
                // At least a nanosecond: a zero time would disarm it.
                let wait = at
                    .saturating_duration_since(Instant::now())
                    .max(std::time::Duration::from_nanos(1));
                a.fd.set(
                    Expiration::OneShot(TimeSpec::from_duration(wait)),
                    TimerSetTimeFlags::empty(),
                )
                .and_then(|()| {
                    self.reactor
                        .modify(a.token, Readiness::READABLE)
                        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
                })
            }
            None => a.fd.unset(),
        };
        match result {
            Ok(()) => a.at = at,
            Err(e) => log::warn!("the timer for delayed messages failed: {e}"),
        }
    }

    /// The timer fired: its count is read, so that it is quiet until set
    /// again.
    pub fn fired(&self) {
        if let Some(a) = self.lock().as_mut() {
            a.at = None;
            // Non-blocking: nothing to read only if it was set again.
            let mut count = [0u8; 8];
            let _ = nix::unistd::read(a.fd.as_fd(), &mut count);
        }
    }

    fn make<O: Ready + 'static>(&self, owner: &Arc<O>) -> std::io::Result<Armed> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let token = self
            .reactor
            .register(fd.as_fd(), Readiness::READABLE, owner)?;
        Ok(Armed {
            fd,
            token,
            at: None,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Armed>> {
        crate::locks::lock(&self.armed)
    }
}

impl Drop for DeadlineTimer {
    fn drop(&mut self) {
        // Deregistered before the timerfd closes (the reactor's rule).
        let armed = crate::locks::get_mut(&mut self.armed);
        if let Some(a) = armed.take() {
            self.reactor.deregister(a.token);
        }
    }
}

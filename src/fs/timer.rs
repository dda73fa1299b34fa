//! A cell's timer: one of the reactor's timers (no descriptor), set for
//! the object's next deadline (a delayed message falling due). Registered
//! on first use, so objects that never have a deadline cost nothing.
//!
//! Lock order: the object's lock, then the timer's, then the reactor's
//! (the timer is set while the object is locked, so that two calls
//! cannot set it out of order).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::reactor::{Reactor, Ready, Token};

pub struct DeadlineTimer {
    reactor: Arc<Reactor>,
    armed: Mutex<Option<Armed>>,
}

struct Armed {
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
            match self.reactor.add_timer(owner) {
                Ok(token) => *armed = Some(Armed { token, at: None }),
                Err(e) => {
                    log::warn!("no timer for delayed messages ({e}): they arrive at the next call");
                    return;
                }
            }
        }
        let a = armed.as_mut().expect("made above");
        match self.reactor.set_timer(a.token, at) {
            Ok(()) => a.at = at,
            Err(e) => log::warn!("the timer for delayed messages failed: {e}"),
        }
    }

    /// The timer fired: it is unset until set again.
    pub fn fired(&self) {
        if let Some(a) = self.lock().as_mut() {
            a.at = None;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Armed>> {
        crate::locks::lock(&self.armed)
    }
}

impl Drop for DeadlineTimer {
    fn drop(&mut self) {
        let armed = crate::locks::get_mut(&mut self.armed);
        if let Some(a) = armed.take() {
            self.reactor.deregister(a.token);
        }
    }
}

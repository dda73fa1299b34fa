//! One rule for the daemon's mutexes: a lock poisoned by a panic is taken
//! anyway.
//!
//! Every mutex here guards data that its holders change in steps that
//! each leave it consistent (checks first, then one statement per change;
//! no callback into other code while a change is half done). So a panic
//! in one holder leaves the data usable, and the next holder takes the
//! lock as if nothing had happened: one request's bug never stops the
//! mount. Code that takes a lock of the daemon keeps that rule.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Takes `mutex`, poisoned or not.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The data of a mutex that is not shared (its owner holds it mutably),
/// poisoned or not.
pub fn get_mut<T: ?Sized>(mutex: &mut Mutex<T>) -> &mut T {
    mutex.get_mut().unwrap_or_else(PoisonError::into_inner)
}

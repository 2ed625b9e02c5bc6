//! Cooperative cancellation (Ctrl-C): long kernels check a flag between chunks of work and stop with
//! [`HlError::Cancelled`]. The bindings raise the flag when Python reports a pending KeyboardInterrupt while
//! a kernel runs, so an interrupt is honoured within one chunk (milliseconds), not at the end of the call.
//!
//! The flag is process-wide: an interrupt cancels every kernel running at that moment (a KeyboardInterrupt
//! ends the program's work anyway). [`reset`] clears it before each call.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{HlError, Result};

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Ask every running kernel to stop at its next check.
pub fn request() {
    CANCELLED.store(true, Ordering::Relaxed);
}

/// Clear the flag (at the start of a call).
pub fn reset() {
    CANCELLED.store(false, Ordering::Relaxed);
}

/// Has cancellation been requested? (Cheap: one relaxed load; call it once per chunk of work.)
#[inline]
pub fn requested() -> bool {
    CANCELLED.load(Ordering::Relaxed)
}

/// `Err(HlError::Cancelled)` once cancellation has been requested.
#[inline]
pub fn check() -> Result<()> {
    if requested() {
        Err(HlError::Cancelled)
    } else {
        Ok(())
    }
}

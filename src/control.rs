//! Cancellation and progress shared between a long computation and whoever waits for it.
//!
//! The core never talks to Python. The bindings run the computation on a worker thread and,
//! from the waiting thread, poll Python for Ctrl-C (then call [`Control::cancel`]) and report
//! [`Control::progress`]. The core checks [`Control::is_cancelled`] between tiles, so a cancel
//! takes effect within one tile's work (milliseconds).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the running computation to stop; it returns [`crate::Error::Interrupted`].
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `(units done, units in all)`; the unit is a tile of the current pass.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn add_total(&self, units: u64) {
        self.total.fetch_add(units, Ordering::Relaxed);
    }

    pub(crate) fn add_done(&self, units: u64) {
        self.done.fetch_add(units, Ordering::Relaxed);
    }
}

//! Fault injection: which calls fail, with what error, and how slow every call is.

use std::time::Duration;

use cache_core::CacheError;

/// The faults currently armed.
#[derive(Debug)]
pub(crate) struct Faults {
    /// How many of the next calls fail.
    pub(crate) fail_next: u64,
    /// Every call fails while this is set.
    pub(crate) fail_always: bool,
    /// Added to every call (on tokio's clock).
    pub(crate) latency: Duration,
    /// What a failing call returns.
    pub(crate) error: CacheError,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail_next: 0,
            fail_always: false,
            latency: Duration::ZERO,
            error: default_error(),
        }
    }
}

impl Faults {
    /// Decides the fate of one call: `Some(error)` when it must fail. Consumes one of the
    /// `fail_next` failures.
    pub(crate) fn take(&mut self) -> Option<CacheError> {
        if self.fail_always {
            return Some(self.error.clone());
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(self.error.clone());
        }
        None
    }
}

/// The error injected unless a test chooses another: a backend failure, so it feeds the
/// circuit breaker like a real outage.
fn default_error() -> CacheError {
    CacheError::Unavailable {
        backend: "fake",
        message: "injected fault".to_owned(),
    }
}

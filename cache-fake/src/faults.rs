//! Fault injection: which calls fail, with what error, and how slow every call is.

use std::time::Duration;

use cache_core::CacheError;

use crate::ops::OpKind;

/// The faults currently armed.
#[derive(Debug)]
pub(crate) struct Faults {
    /// How many of the next calls fail.
    pub(crate) fail_next: u64,
    /// Every call fails while this is set.
    pub(crate) fail_always: bool,
    /// Added to every call before it reaches the store (on tokio's clock).
    pub(crate) latency: Duration,
    /// Added to every call after the store applied it: the reply is in flight.
    pub(crate) reply_latency: Duration,
    /// One-shot reply delays: the next call of that kind waits this long after it applied.
    pub(crate) reply_delays: Vec<(OpKind, Duration)>,
    /// What a failing call returns.
    pub(crate) error: CacheError,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail_next: 0,
            fail_always: false,
            latency: Duration::ZERO,
            reply_latency: Duration::ZERO,
            reply_delays: Vec::new(),
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

impl Faults {
    /// True when no fault or latency is armed: a call would be answered at once, unchanged.
    pub(crate) fn is_quiet(&self) -> bool {
        !self.fail_always
            && self.fail_next == 0
            && self.latency.is_zero()
            && self.reply_latency.is_zero()
            && self.reply_delays.is_empty()
    }

    /// How long the reply of a call of `kind` that just applied is held back.
    pub(crate) fn reply_delay(&mut self, kind: OpKind) -> Duration {
        let one_shot = match self.reply_delays.iter().position(|(k, _)| *k == kind) {
            Some(i) => self.reply_delays.remove(i).1,
            None => Duration::ZERO,
        };
        self.reply_latency.saturating_add(one_shot)
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

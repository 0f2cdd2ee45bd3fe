//! Why a scenario could not run (as opposed to a measured assertion failing).

use std::fmt;

/// A scenario could not be set up or driven.
#[derive(Debug)]
pub enum ChaosError {
    /// A process, port or file could not be set up.
    Setup(String),
    /// The Redis harness failed.
    Redis(redis_harness::HarnessError),
    /// An I/O error.
    Io(std::io::Error),
}

impl fmt::Display for ChaosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChaosError::Setup(m) => write!(f, "setup: {m}"),
            ChaosError::Redis(e) => write!(f, "redis: {e}"),
            ChaosError::Io(e) => write!(f, "i/o: {e}"),
        }
    }
}

impl std::error::Error for ChaosError {}

impl From<redis_harness::HarnessError> for ChaosError {
    fn from(e: redis_harness::HarnessError) -> Self {
        ChaosError::Redis(e)
    }
}

impl From<std::io::Error> for ChaosError {
    fn from(e: std::io::Error) -> Self {
        ChaosError::Io(e)
    }
}

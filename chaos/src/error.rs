//! Why a scenario could not run (as opposed to a measured figure missing its limit).

/// A scenario could not be set up or driven.
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// A process, port or file could not be set up.
    #[error("setup: {0}")]
    Setup(String),
    /// The Redis harness failed.
    #[error("redis: {0}")]
    Redis(#[from] redis_harness::HarnessError),
    /// An I/O error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

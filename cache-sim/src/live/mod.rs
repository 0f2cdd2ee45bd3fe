//! Live mode: K real [`SmartCache`](cache_core::SmartCache) instances sharing one store, a
//! compute that takes Δ, an open-loop Poisson read load, the fleet lock on or off.

pub mod config;
pub mod lock;
pub mod probe;
pub mod report;
pub mod run;

pub use config::{LiveBackend, LiveConfig};
pub use lock::SharedLockBackend;
pub use report::{Latency, LiveReport, render_live};
pub use run::run_live;

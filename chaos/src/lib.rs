//! The fault suite of smartcache (`cargo xtask chaos`): real `redis-server` processes killed,
//! frozen, failed over, partitioned and slowed while an open-loop load generator drives the
//! prediction service (`brain-integration`, run as child processes) at a fixed rate and checks
//! every body against the uncached answer.
//!
//! Each scenario reports and asserts: failed requests (0), wrong bodies (0), reads staler than
//! the L1's stated bound (0, from a library-level checker of shared keys that takes the same
//! fault), p99 and max latency during the fault (≤ command timeout + compute), time from Redis
//! being back to hits on every instance (≤ 1 s), and WARN/ERROR log lines per fault and
//! instance (a handful).
//!
//! - [`scenarios`]: the seven scenarios and the run around each;
//! - [`load`]: the open-loop generator and the reference answers;
//! - [`proxy`]: the TCP proxy that stalls, cuts or delays a service's Redis traffic;
//! - [`service`]: the service as a child process, its warnings counted;
//! - [`staleness`]: the staleness checker beside the load;
//! - [`measure`] and [`table`]: the figures, the checks, the printed table.
#![warn(missing_docs)]

pub mod error;
pub mod load;
pub mod measure;
pub mod proxy;
pub mod scenarios;
pub mod service;
pub mod staleness;
pub mod table;

pub use error::ChaosError;

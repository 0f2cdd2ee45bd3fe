//! The smartcache stampede simulator: shows what X-Fetch, refresh-ahead, single-flight and a fleet
//! lock do to the recompute load of one hot key.
//!
//! - [`model`]: a discrete-event simulation in virtual time. Reads arrive as a Poisson process from
//!   uncoordinated clients; every decision is made by the project's real
//!   [`RefreshPolicy`](cache_core::RefreshPolicy) implementations.
//! - [`live`]: K real [`SmartCache`](cache_core::SmartCache) instances sharing one store (memory,
//!   or Redis with the `redis` feature), a compute that takes Δ, an open-loop Poisson read load,
//!   with the fleet lock on or off.
//! - [`run_cli`]: the command line behind `cargo xtask stampede` (see [`cli::USAGE`]).
//!
//! ```
//! use cache_sim::model::{ModelConfig, RecomputeTime, Strategy, run_strategy};
//!
//! let config = ModelConfig {
//!     read_rate: 1000.0,
//!     recompute: RecomputeTime::Fixed { seconds: 0.1 },
//!     ttl: 5.0,
//!     cycles: 20,
//!     seed: 7,
//! };
//! let plain = run_strategy(&config, &Strategy::PlainTtl)?;
//! let xfetch = run_strategy(&config, &Strategy::XFetchSingleFlight { beta: 1.0 })?;
//! // A stampede of about 1 + λΔ = 101 recomputations per expiry, against exactly one.
//! assert!(plain.recomputes_per_cycle.mean > 50.0);
//! assert_eq!(xfetch.recomputes_per_cycle.mean, 1.0);
//! assert_eq!(xfetch.missing_reads, 0);
//! # Ok::<(), cache_sim::SimError>(())
//! ```
#![warn(missing_docs)]

pub mod cli;
pub mod error;
pub mod live;
pub mod model;
pub mod output;
pub mod summary;

pub use error::SimError;

/// Runs the simulator's command line (`args` without the program name) and prints the result.
///
/// This is what `cargo xtask stampede` and the `cache-sim` binary call; see [`cli::USAGE`].
pub fn run_cli(args: Vec<String>) -> Result<(), String> {
    let command = cli::parse(&args).map_err(|e| format!("{e}\n\n{}", cli::USAGE))?;
    let output = cli::execute(&command).map_err(|e| e.to_string())?;
    print!("{output}");
    Ok(())
}

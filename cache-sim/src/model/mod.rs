//! Model mode: a discrete-event simulation of one key in virtual time, driving the project's
//! real [`RefreshPolicy`](cache_core::RefreshPolicy) implementations.

pub mod config;
pub mod engine;
pub mod probability;
pub mod report;
pub mod theory;

pub use config::{ModelConfig, RecomputeTime, Strategy};
pub use engine::{CycleTally, SimulationRun, simulate};
pub use probability::{ProbabilityCurve, ProbabilityPoint, sample_refresh_probability};
pub use report::{ModelReport, StrategyReport, run_model, run_strategy};

//! The simulator's error type.

/// What can go wrong when configuring or running a simulation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A parameter is out of range or malformed.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidParameter {
        /// Parameter name (as on the command line, e.g. `--lambda`).
        name: String,
        /// The value given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The model would simulate more reads than is reasonable for one run.
    #[error(
        "the model would simulate about {expected_reads:.2e} reads (limit {limit:.0e}): lower the read rate, the TTL or the number of cycles"
    )]
    TooLarge {
        /// Estimated number of reads.
        expected_reads: f64,
        /// The limit.
        limit: f64,
    },
    /// The live run failed (backend or runtime error).
    #[error("live run failed: {0}")]
    Live(String),
    /// A report could not be serialized.
    #[error("cannot encode the report: {0}")]
    Encode(String),
    /// Writing an output file failed.
    #[error("cannot write {path}: {message}")]
    Output {
        /// File path.
        path: String,
        /// The I/O error.
        message: String,
    },
}

impl SimError {
    /// Shorthand for [`SimError::InvalidParameter`].
    pub fn invalid(name: &str, value: impl ToString, expected: &str) -> Self {
        SimError::InvalidParameter {
            name: name.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}

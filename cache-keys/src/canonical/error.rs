//! The error the canonical serializers report (turned into `KeyError::Params` at the edge).

use std::fmt::{self, Display};

use serde::ser;

/// Why parameters could not be canonicalised.
#[derive(Debug)]
pub(super) struct CanonError(pub(super) String);

impl Display for CanonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CanonError {}

impl ser::Error for CanonError {
    fn custom<T: Display>(msg: T) -> Self {
        CanonError(msg.to_string())
    }
}

pub(super) type Result<T> = std::result::Result<T, CanonError>;

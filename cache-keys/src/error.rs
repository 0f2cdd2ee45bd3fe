//! The error type of the crate.

use std::fmt;

/// Which kind of name failed validation.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// The factory's namespace.
    Namespace,
    /// An entity name passed to a key or pattern builder.
    Entity,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Namespace => "namespace",
            NameKind::Entity => "entity",
        })
    }
}

/// Everything that can stop a key or pattern from being built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A namespace or entity name is empty, too long, or holds a character outside
    /// `[A-Za-z0-9_.-]`.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// Namespace or entity.
        kind: NameKind,
        /// The offending name (cut to its first 64 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The id is the empty string. An empty hash tag `{}` is ignored by Redis Cluster, so the key
    /// would not be pinned to its id's slot.
    #[error("the id is empty: every key needs a non-empty id for its Redis Cluster hash tag")]
    EmptyId,
    /// The parameters could not be brought into canonical form (their `Serialize` impl failed,
    /// a map key is not a string, integer, bool or char, a field appears twice, or the value
    /// nests deeper than [`MAX_PARAMS_DEPTH`](crate::MAX_PARAMS_DEPTH)).
    #[error("parameters cannot be canonicalised: {0}")]
    Params(String),
}

impl From<KeyError> for cache_core::CacheError {
    fn from(err: KeyError) -> Self {
        cache_core::CacheError::InvalidKey(err.to_string())
    }
}

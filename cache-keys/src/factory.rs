//! [`KeyFactory`]: keys and invalidation patterns for one namespace and schema version.

use std::fmt::Display;

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_128;

use crate::canonical::canonical_bytes;
use crate::digest::hex128;
use crate::error::{KeyError, NameKind};
use crate::id::{MAX_ID_TAG_LEN, id_tag};
use crate::name::{MAX_NAME_LEN, validate};

/// The longest key (and pattern) a factory can produce, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// Length of the parameter digest: 32 lowercase hex digits.
pub const DIGEST_LEN: usize = 32;

// namespace ":v" u32 ":" entity ":{" tag "}:" digest — the worst case must fit the bound.
const _: () = assert!(
    MAX_NAME_LEN + 2 + 10 + 1 + MAX_NAME_LEN + 2 + MAX_ID_TAG_LEN + 2 + DIGEST_LEN <= MAX_KEY_LEN
);

/// Builds cache keys `namespace:v{version}:entity:{id}:digest` and the glob patterns that select
/// them.
///
/// - `namespace` and `entity` are validated names (`[A-Za-z0-9_.-]{1,64}`); a bad one is a
///   [`KeyError::InvalidName`].
/// - `{id}` is the id, escaped (see the [crate docs](crate#ids)), between literal braces: a Redis
///   Cluster hash tag, so every key of one id is in one slot.
/// - `digest` is the 32-hex-digit xxh3-128 of the [canonical bytes](crate::canonical_bytes) of the
///   parameters; [`key`](Self::key) uses the parameters `()` (canonical `null`).
///
/// Changing the version changes every key: bump it when the cached value's shape changes, and
/// the old entries are never read again (they expire with their TTL, or go with
/// [`namespace_pattern`](Self::namespace_pattern)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyFactory {
    namespace: String,
    version: u32,
    /// `namespace:v{version}:`, shared by every key.
    prefix: String,
}

impl KeyFactory {
    /// A factory for `namespace` at schema `version`.
    ///
    /// ```
    /// use cache_keys::{KeyError, KeyFactory};
    /// assert!(KeyFactory::new("brain", 1).is_ok());
    /// assert!(matches!(KeyFactory::new("my app", 1), Err(KeyError::InvalidName { .. })));
    /// ```
    pub fn new(namespace: impl Into<String>, version: u32) -> Result<Self, KeyError> {
        let namespace = namespace.into();
        validate(NameKind::Namespace, &namespace)?;
        let prefix = format!("{namespace}:v{version}:");
        Ok(KeyFactory {
            namespace,
            version,
            prefix,
        })
    }

    /// The namespace, the first segment of every key.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The schema version, the second segment of every key (`v{version}`).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The key of `id` of `entity` without parameters; the same as
    /// `key_with_params(entity, id, &())`.
    pub fn key(&self, entity: &str, id: impl Display) -> Result<String, KeyError> {
        self.key_with_params(entity, id, &())
    }

    /// The key of `id` of `entity` for these parameters: any `Serialize` value (a struct, a map,
    /// a `serde_json::Value`, ...). Parameters that are equal in canonical form give the same key;
    /// see [`canonical_bytes`](crate::canonical_bytes) for what is canonical.
    pub fn key_with_params<P: Serialize + ?Sized>(
        &self,
        entity: &str,
        id: impl Display,
        params: &P,
    ) -> Result<String, KeyError> {
        validate(NameKind::Entity, entity)?;
        let tag = id_tag(&id.to_string())?;
        let digest = hex128(xxh3_128(&canonical_bytes(params)?));
        Ok(format!("{}{entity}:{{{tag}}}:{digest}", self.prefix))
    }

    /// The pattern of every key of one id of `entity`, whatever the parameters:
    /// `namespace:v{version}:entity:{id}:*`. It matches no key of any other id (`4*` does not
    /// select `42`), entity, version or namespace.
    pub fn id_pattern(&self, entity: &str, id: impl Display) -> Result<String, KeyError> {
        validate(NameKind::Entity, entity)?;
        let tag = id_tag(&id.to_string())?;
        // The escaped id holds no glob character already; escaping again is a guard should the
        // escaped set ever shrink.
        Ok(format!(
            "{}{entity}:{{{}}}:*",
            self.prefix,
            cache_core::glob::escape(&tag)
        ))
    }

    /// The pattern of every key of `entity` in this namespace and version:
    /// `namespace:v{version}:entity:*`.
    pub fn entity_pattern(&self, entity: &str) -> Result<String, KeyError> {
        validate(NameKind::Entity, entity)?;
        Ok(format!("{}{entity}:*", self.prefix))
    }

    /// The pattern of every key of this namespace at this version: `namespace:v{version}:*`.
    pub fn version_pattern(&self) -> String {
        format!("{}*", self.prefix)
    }

    /// The pattern of every key of this namespace at every version, `namespace:*`: what removes
    /// the entries an older schema version left behind.
    pub fn namespace_pattern(&self) -> String {
        format!("{}:*", self.namespace)
    }
}

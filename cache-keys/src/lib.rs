//! Cache keys that never collide, never leak across namespaces, and keep one id in one Redis
//! Cluster slot.
//!
//! ```
//! use cache_keys::KeyFactory;
//! use cache_core::glob;
//! use serde::Serialize;
//!
//! #[derive(Serialize)]
//! struct Query<'a> {
//!     horizon_days: u32,
//!     model: &'a str,
//!     #[serde(skip_serializing_if = "Option::is_none")]
//!     region: Option<&'a str>,
//! }
//!
//! let keys = KeyFactory::new("brain", 1)?;
//! let key = keys.key_with_params("prediction", 42, &Query { horizon_days: 7, model: "arima", region: None })?;
//! assert!(key.starts_with("brain:v1:prediction:{42}:"));
//!
//! // Field order and number spelling do not matter: the parameters are canonicalised.
//! let same = keys.key_with_params(
//!     "prediction",
//!     "42",
//!     &serde_json::json!({ "model": "arima", "horizon_days": 7.0, "region": null }),
//! )?;
//! assert_eq!(key, same);
//!
//! // Ids are escaped, so a pattern built from user input selects exactly that id.
//! let wild = keys.key("prediction", "4*")?;
//! assert!(wild.starts_with("brain:v1:prediction:{4%2A}:"));
//! let pattern = keys.id_pattern("prediction", "4*")?;
//! assert!(glob::matches(&pattern, &wild));
//! assert!(!glob::matches(&pattern, &key));
//!
//! // A new schema version reaches none of the old keys.
//! let v2 = KeyFactory::new("brain", 2)?;
//! assert!(!glob::matches(&v2.version_pattern(), &key));
//! # Ok::<(), cache_keys::KeyError>(())
//! ```
//!
//! # Key shape
//!
//! `namespace:v{version}:entity:{id}:digest`, for example
//! `app:v1:user:{42}:c311d21b3583875acbaa0f6724ae8b0a` (`KeyFactory::new("app", 1)?.key("user", 42)?`).
//!
//! - `namespace` and `entity` are names chosen by code: `[A-Za-z0-9_.-]{1,64}`, anything else is
//!   rejected with [`KeyError::InvalidName`].
//! - `version` is a `u32` in decimal.
//! - `{id}` holds the escaped id between literal braces — the Redis Cluster hash tag.
//! - `digest` is 32 lowercase hex digits (below).
//!
//! Because names cannot contain `:`, `{` or `}` and escaped ids contain none of them, a key has
//! exactly four `:` outside its braces, exactly one `{` and one `}`, and its hash tag (per
//! [`hash_tag`]) is always the escaped id: input cannot move a key into another namespace, entity
//! or slot.
//!
//! # Ids
//!
//! An id is any non-empty Unicode text (anything `Display`: `42`, `"42"` and a `Uuid` work, and
//! `42` and `"42"` are the same id). The empty id is rejected ([`KeyError::EmptyId`]): Redis
//! ignores an empty hash tag. Ids are **escaped, never rejected**: each UTF-8 byte of these
//! characters becomes `%XX` (uppercase hex):
//!
//! - `%` — the escape character itself, which makes the escaping reversible, hence injective;
//! - `:` — the separator; `{` and `}` — hash tag delimiters;
//! - `*`, `?`, `[`, `]`, `\` — glob characters;
//! - the 25 Unicode `White_Space` characters and the control characters `U+0000..=U+001F`,
//!   `U+007F..=U+009F`.
//!
//! Every other character (letters of any script, emoji, `-`, `_`, `.`, `/`, quotes, ...) is kept.
//! An escaped id longer than [`MAX_ID_TAG_LEN`] bytes is shortened: its longest prefix made of
//! whole characters and escapes that fits in 222 bytes, then `%~`, then the 32-hex-digit xxh3-128
//! of the full raw id. `%~` never appears in an escaped id, so a shortened id cannot equal an
//! unshortened one, and two long ids share a tag only if their 128-bit digests collide.
//!
//! # Parameters and digest
//!
//! Parameters are brought into a canonical form — fields sorted at every depth, `1 == 1.0`, null
//! fields dropped — and encoded into bytes; see [`canonical_bytes`] for the exact rules. The
//! digest is XXH3-128 (seed 0, default secret; the `xxh3_128` of the `xxhash-rust` crate, equal to
//! the reference C implementation's `XXH3_128bits`) of those bytes, written as 32 lowercase hex
//! digits, high 64 bits first (the canonical form `xxhsum -H2` prints). Neither depends on the
//! platform, the process or the Rust release; golden vectors in the tests pin both.
//!
//! XXH3 is not a cryptographic hash. Keys of different ids never collide whatever the
//! parameters, since the id is in the key verbatim; but two parameter sets of one id that an
//! attacker crafts to collide would share an entry. Keep anything that grants access (a tenant,
//! a user) in the id or the entity, not only in the parameters.
//!
//! # Patterns
//!
//! [`KeyFactory::id_pattern`], [`KeyFactory::entity_pattern`], [`KeyFactory::version_pattern`]
//! and [`KeyFactory::namespace_pattern`] give Redis glob patterns (`SCAN MATCH`, and
//! [`cache_core::glob::matches`] for in-process backends). The id in a pattern is escaped as in a
//! key, so it holds no glob character: the pattern for id `4*` matches no key of id `42`.
//!
//! # Limits
//!
//! Keys and patterns are at most [`MAX_KEY_LEN`] (512) bytes: names are at most
//! [`MAX_NAME_LEN`] bytes, the hash tag content at most [`MAX_ID_TAG_LEN`], the digest
//! [`DIGEST_LEN`]. Parameters may nest at most [`MAX_PARAMS_DEPTH`] levels.
#![warn(missing_docs)]

mod canonical;
mod digest;
mod error;
mod factory;
mod hash_tag;
mod id;
mod name;

pub use canonical::{MAX_PARAMS_DEPTH, canonical_bytes};
pub use error::{KeyError, NameKind};
pub use factory::{DIGEST_LEN, KeyFactory, MAX_KEY_LEN};
pub use hash_tag::hash_tag;
pub use id::MAX_ID_TAG_LEN;
pub use name::MAX_NAME_LEN;

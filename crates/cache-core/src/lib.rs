//! smartcache core: the ports and the use cases.
#![warn(missing_docs)]

pub mod backend;
pub mod codec;
pub mod envelope;
pub mod error;
pub mod glob;
pub mod policy;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{CacheBackend, LockOutcome, ObjectPayload, Payload, PayloadKind, StoredEntry};
pub use codec::{Codec, JsonCodec};
pub use envelope::{ENVELOPE_VERSION, EntryTiming, Envelope};
pub use error::{CacheError, Result, SharedError};
pub use policy::{Freshness, PlainTtl, RefreshAhead, RefreshPolicy, XFetch};

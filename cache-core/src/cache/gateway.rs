//! The cache's gateway to the backend: guarded calls (per-domain breaker + timeout), encoding
//! and decoding, and the writes of the read path.

use crate::decoded::{Decoded, Shared};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::Inner;
use super::fresh_hit::Prefetched;
use crate::backend::{ObjectPayload, Payload, PayloadKind, StoredEntry};
use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::{CacheError, Result};
use crate::options::Tier;
use crate::stats::Stats;
use crate::tag::{TagVersion, version_key};

/// An entry read from the backend: the decoded envelope, and what identifies the write.
pub(crate) struct Found<T> {
    pub env: Arc<Envelope<T>>,
    pub remaining: Option<Duration>,
    /// What identifies the write, with `env` (see [`Found::payload`]).
    identity: Identity,
    size: usize,
    /// Which tier answered.
    pub tier: Tier,
}

/// Where a found entry's write identity lives.
enum Identity {
    /// An object store's entry: the object as stored (its write id and value allocation).
    Object(Arc<ObjectPayload>),
    /// A bytes store's entry: the stored bytes.
    Bytes(bytes::Bytes),
    /// An L1 copy of a bytes store's entry: the L1 keeps the decoded value, not the bytes, so
    /// the write id alone names the write.
    L1Copy,
}

impl<T: Shared> Found<T> {
    /// An entry the L1 kept from an L2 read. A copy of an object store's entry holds the
    /// store's own header and value allocation, and so names the store's very object.
    pub(crate) fn from_l1(
        env: Arc<Envelope<T>>,
        remaining: Option<Duration>,
        size: usize,
        l2_objects: bool,
    ) -> Self {
        let identity = if l2_objects {
            let value = env.value.clone().into_object();
            Identity::Object(Arc::new(ObjectPayload::new(env.header(), value, size)))
        } else {
            Identity::L1Copy
        };
        Found {
            env,
            remaining,
            identity,
            size,
            tier: Tier::L1,
        }
    }

    /// The payload as stored, for conditional writes ([`Payload::same_entry`]): the same bytes,
    /// or — for object stores — the same object (write id and value allocation). `None` for
    /// an L1 copy of a bytes store's entry (see [`Inner::stored_payload`]).
    pub fn payload(&self) -> Option<Payload> {
        match &self.identity {
            Identity::Object(object) => Some(Payload::Object(object.clone())),
            Identity::Bytes(bytes) => Some(Payload::Bytes(bytes.clone())),
            Identity::L1Copy => None,
        }
    }

    /// Whether `self` and `other` are the same write: the same stored entry, or — when one
    /// is an L1 copy that kept no bytes — the same write id (random per write). Entries
    /// written before write ids existed all read as id 0, which names no write: never the same.
    pub(crate) fn same_write(&self, other: &Found<T>) -> bool {
        match (self.payload(), other.payload()) {
            (Some(mine), Some(theirs)) => mine.same_entry(&theirs),
            _ => self.env.id != 0 && self.env.id == other.env.id,
        }
    }

    /// The encoded size of the entry.
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

/// What a read found.
pub(crate) enum Read<T> {
    Found(Found<T>),
    /// Nothing usable (absent, or undecodable and counted).
    Absent,
    /// The backend failed or the breaker is open; `last_good` is what the L1 still holds of
    /// the key (not served as fresh: the change feed is down too, but it backs fail-safe).
    Unavailable {
        last_good: Option<Found<T>>,
    },
}

/// Takes the value out of an envelope, cloning only when the envelope is shared.
pub(crate) fn into_value<T: Clone>(env: Arc<Envelope<T>>) -> T {
    // A hit's envelope is always shared (the store holds it): a plain load says so, where
    // `try_unwrap` would pay a failing compare-and-swap on the shared count.
    if Arc::strong_count(&env) > 1 {
        return env.value.clone();
    }
    Arc::try_unwrap(env)
        .map(|e| e.value)
        .unwrap_or_else(|shared| shared.value.clone())
}

impl<C: Codec> Inner<C> {
    /// The object an in-process store keeps for `env`: its metadata inline, its value as is,
    /// and this cache's freshness bound for it.
    fn object_payload<T: Shared>(&self, env: Arc<Envelope<T>>, size: usize) -> Payload {
        let fresh = self.fresh_bound(&env.timing());
        let mut object = ObjectPayload::new(env.header(), into_value(env).into_object(), size);
        object.fresh = fresh;
        Payload::Object(Arc::new(object))
    }

    /// One backend operation through the breaker of `key`'s failure domain and the
    /// per-operation timeout. Operations on no key (`ping`, patterns) use domain 0.
    pub(crate) async fn call<R>(
        &self,
        operation: &'static str,
        key: Option<&str>,
        fut: impl Future<Output = Result<R>>,
    ) -> Result<R> {
        let domain = key.map_or(0, |k| self.backend.failure_domain(k));
        let breaker = self.breakers.of(domain);
        if !breaker.allow(|| self.backend.connection_epoch()) {
            Stats::bump(&self.stats.breaker_rejections);
            return Err(CacheError::CircuitOpen);
        }
        let result = if self.bounds_own_latency {
            fut.await
        } else {
            match tokio::time::timeout(self.config.op_timeout, fut).await {
                Ok(result) => result,
                Err(_) => Err(CacheError::Timeout {
                    operation,
                    after: self.config.op_timeout,
                }),
            }
        };
        match &result {
            Err(err) if err.is_backend_failure() => {
                Stats::bump(&self.stats.backend_errors);
                // One warning when a fault starts, not one per request in flight; the count of
                // failed operations is logged when the backend answers again.
                if breaker.on_failure(self.backend.connection_epoch()) {
                    tracing::warn!(backend = self.backend.name(), operation, error = %err, "cache backend failing");
                } else {
                    tracing::debug!(backend = self.backend.name(), operation, error = %err, "cache backend failed");
                }
            }
            _ => breaker.on_success(),
        }
        result
    }

    /// The indices of `keys` grouped by failure domain, in order of first appearance.
    pub(crate) fn by_domain<'k>(
        &self,
        keys: impl IntoIterator<Item = (usize, &'k str)>,
    ) -> Vec<Vec<usize>> {
        let keys = keys.into_iter();
        // Sized for the whole batch: most batches have one domain, which then never regrows.
        let size = keys.size_hint().0;
        let mut groups: Vec<(u64, Vec<usize>)> = Vec::new();
        for (i, key) in keys {
            let domain = self.backend.failure_domain(key);
            match groups.iter_mut().find(|(d, _)| *d == domain) {
                Some((_, group)) => group.push(i),
                None => {
                    let mut group = Vec::with_capacity(size);
                    group.push(i);
                    groups.push((domain, group));
                }
            }
        }
        groups.into_iter().map(|(_, group)| group).collect()
    }

    /// `get_many` of keys that may live in several failure domains: one call per domain, side
    /// by side, each through its own domain's breaker — a dead shard fails and charges only its
    /// own breaker, never that of whichever key came first. Fails when any domain failed.
    pub(crate) async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        let groups = self.by_domain(keys.iter().copied().enumerate());
        if groups.len() <= 1 {
            let read = self.backend.get_many(keys);
            return self.call("get_many", keys.first().copied(), read).await;
        }
        let reads = groups.into_iter().map(|group| async move {
            let batch: Vec<&str> = group.iter().map(|&i| keys[i]).collect();
            let read = self.backend.get_many(&batch);
            (
                group,
                self.call("get_many", batch.first().copied(), read).await,
            )
        });
        let mut entries: Vec<Option<StoredEntry>> = keys.iter().map(|_| None).collect();
        for (group, read) in futures_util::future::join_all(reads).await {
            for (i, entry) in group.into_iter().zip(read?) {
                entries[i] = entry;
            }
        }
        Ok(entries)
    }

    /// `set_many` per failure domain, as [`get_many`](Self::get_many) reads.
    pub(crate) async fn set_many(&self, writes: &[(&str, Payload, Duration)]) -> Result<()> {
        let groups = self.by_domain(writes.iter().map(|(key, _, _)| *key).enumerate());
        let calls = groups.into_iter().map(|group| async move {
            let batch: Vec<(&str, Payload, Duration)> =
                group.iter().map(|&i| writes[i].clone()).collect();
            let write = self.backend.set_many(&batch);
            self.call("set_many", batch.first().map(|w| w.0), write)
                .await
        });
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .collect()
    }

    /// Reads and decodes `key`: from the L1 when it holds a valid entry, else from the backend
    /// (filling the L1). Undecodable entries are counted misses, never errors.
    /// `prefetched`: what [`fresh_hit`](Self::fresh_hit) already got from an in-process store
    /// (which is not asked again).
    /// `tags`: the tags the caller expects the entry to carry (its entry options'), whose
    /// versions a store without an L1 then reads beside the entry (see
    /// [`read_with_versions`](Self::read_with_versions)).
    pub(crate) async fn read<T>(
        &self,
        key: &str,
        prefetched: Prefetched,
        tags: &[String],
    ) -> Read<T>
    where
        T: Decoded + Send + Sync + 'static,
    {
        let Some(l1) = &self.l1 else {
            return self.read_l2(key, prefetched, tags).await;
        };
        if let Some(found) = self.read_l1::<T>(l1, key) {
            // Tags and clear() are checked on every tier: an L1 copy is no more valid than the
            // entry it was filled from.
            if self.holds_now(&found.env) {
                return Read::Found(found);
            }
            return self.admit(key, found).await;
        }
        let ticket = l1.ticket(key);
        // The L1 holds tag versions too (`tag_versions`): nothing to read beside the entry.
        match self.read_l2::<T>(key, Prefetched::NotAsked, &[]).await {
            Read::Found(found) => {
                let fresh = self.fresh_bound(&found.env.timing());
                l1.fill(key, ticket, &found, fresh).await;
                Read::Found(found)
            }
            Read::Unavailable { .. } => Read::Unavailable {
                last_good: l1.last_good(key),
            },
            absent => absent,
        }
    }

    /// The L1's valid entry for `key`, if it holds one (counted as an L1 hit): no I/O.
    pub(crate) fn read_l1<T>(&self, l1: &super::l1::L1, key: &str) -> Option<Found<T>>
    where
        T: Shared + Send + Sync + 'static,
    {
        let found = l1.hit::<T>(key)?;
        Stats::bump(&self.stats.l1_hits);
        Some(found)
    }

    /// Drops `key` from the L1, after a write or delete of it.
    pub(crate) fn forget(&self, key: &str) {
        if let Some(l1) = &self.l1 {
            l1.forget(key);
        }
    }

    /// Drops everything from the L1, after a pattern invalidation.
    pub(crate) fn forget_all(&self) {
        if let Some(l1) = &self.l1 {
            l1.forget_all();
        }
    }

    /// Reads and decodes `key` from the backend: at once when it can answer without awaiting
    /// (an in-process store: no boxed future, no breaker bookkeeping on a hit), else through
    /// the breaker and the timeout. The decoded entry, or why there is none.
    async fn read_l2<T>(&self, key: &str, prefetched: Prefetched, tags: &[String]) -> Read<T>
    where
        T: Decoded + Send + Sync + 'static,
    {
        let answered = match prefetched {
            Prefetched::NotAsked => self.ask_now(key, crate::Moment::now()),
            asked => asked,
        };
        let (read, versions) = match answered {
            Prefetched::Answered(Ok(entry)) => (Ok(entry), None),
            // A failure, an open breaker, or a store that must be awaited: the guarded path.
            _ if tags.is_empty() => (
                self.call("get", Some(key), self.backend.get(key)).await,
                None,
            ),
            _ => self.read_with_versions(key, tags).await,
        };
        match read {
            Ok(Some(entry)) => match self.decode_entry::<T>(key, entry) {
                Some(found) if self.holds_now(&found.env) => Read::Found(found),
                Some(found) => {
                    let holds = match versions {
                        Some(versions) => self.holds_with(&found.env, tags, versions).await,
                        None => None,
                    };
                    match holds {
                        Some(holds) => self.admitted(key, found, holds),
                        None => self.admit(key, found).await,
                    }
                }
                None => Read::Absent,
            },
            Ok(None) => Read::Absent,
            Err(_) => Read::Unavailable { last_good: None },
        }
    }

    /// The guarded read of `key` and, at the same time, the versions of the tags the caller
    /// expects it to carry (`versions[i]` the version of `tags[i]`): a tagged read takes one
    /// round trip, not the entry's and then its tags'. The
    /// versions may be read before the entry (another connection): a read concurrent with an
    /// invalidation may then serve what was valid when it started, as any read concurrent
    /// with a write may; a read that starts after `invalidate_tag` returned reads the new
    /// version.
    async fn read_with_versions(
        &self,
        key: &str,
        tags: &[String],
    ) -> (
        Result<Option<StoredEntry>>,
        Option<Result<Vec<Option<TagVersion>>>>,
    ) {
        let keys: Vec<String> = tags.iter().map(|tag| version_key(tag)).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let get = self.call("get", Some(key), self.backend.get(key));
        let (read, versions) = futures_util::future::join(get, self.tag_versions(&keys)).await;
        (read, Some(versions))
    }

    /// Decodes `key`'s stored entry, its tags not checked yet; an undecodable one is counted
    /// and logged, and is `None` (a miss, never an error).
    pub(crate) fn decode_entry<T>(&self, key: &str, entry: StoredEntry) -> Option<Found<T>>
    where
        T: Decoded + Send + Sync + 'static,
    {
        match self.found::<T>(entry) {
            Ok(found) => Some(found),
            Err(err) => {
                Stats::bump(&self.stats.corrupt_entries);
                tracing::warn!(key, error = %err, "undecodable cache entry treated as a miss");
                None
            }
        }
    }

    /// Decodes a stored entry; keeps the bytes it came from (the write identity).
    pub(crate) fn found<T>(&self, entry: StoredEntry) -> Result<Found<T>>
    where
        T: Decoded + Send + Sync + 'static,
    {
        let remaining = entry.remaining;
        match entry.payload {
            Payload::Object(object) => {
                let value =
                    T::from_object(&object.value).ok_or_else(|| CacheError::TypeMismatch {
                        expected: std::any::type_name::<T>(),
                    })?;
                Ok(Found {
                    env: Arc::new(object.header.clone().map_value(|()| value)),
                    remaining,
                    size: object.size,
                    identity: Identity::Object(object),
                    tier: Tier::L2,
                })
            }
            Payload::Bytes(bytes) => Ok(Found {
                env: Arc::new(T::decode_envelope(&self.codec, &bytes)?),
                remaining,
                size: bytes.len(),
                identity: Identity::Bytes(bytes),
                tier: Tier::L2,
            }),
        }
    }

    /// The payload to store for an envelope, in the form the backend wants; enforces the size
    /// limit.
    pub(crate) fn payload<T>(&self, env: Arc<Envelope<T>>) -> Result<Payload>
    where
        T: Serialize + Shared + Send + Sync + 'static,
    {
        let limit = self.config.max_value_bytes;
        let too_large = |size: usize| CacheError::ValueTooLarge { size, limit };
        match self.payload_kind {
            // An in-process store that does not weigh entries gets the object as it is: no
            // encoding on the write path (the size limit is about encoded bytes, so it applies
            // only where entries are weighed or sent).
            PayloadKind::Object if !self.weighs_objects => Ok(self.object_payload(env, 0)),
            PayloadKind::Object => {
                let size = self.codec.encoded_len(&*env)?;
                if size > limit {
                    return Err(too_large(size));
                }
                Ok(self.object_payload(env, size))
            }
            PayloadKind::Bytes => {
                let bytes = self.codec.encode(&*env)?;
                if bytes.len() > limit {
                    return Err(too_large(bytes.len()));
                }
                Ok(Payload::Bytes(bytes.into()))
            }
        }
    }

    /// Stores an envelope; returns the payload written, `None` when it was not (failures are
    /// counted and logged, never returned: the caller already has its value).
    pub(crate) async fn store<T>(&self, key: &str, env: Envelope<T>) -> Option<Payload>
    where
        T: Serialize + Shared + Send + Sync + 'static,
    {
        let lifetime = env.lifetime();
        match self.payload(Arc::new(env)) {
            Ok(payload) => {
                let set = self.backend.set(key, payload.clone(), lifetime);
                let stored = self.call("set", Some(key), set).await;
                self.forget(key);
                stored.ok().map(|()| payload)
            }
            Err(err) => {
                Stats::bump(&self.stats.store_skipped);
                tracing::warn!(key, error = %err, "computed value returned but not stored");
                None
            }
        }
    }

    /// Replaces `key`'s entry with `env` only if the stored entry is still `expected`. False
    /// when it was not, or when the backend has no [`ConditionalWrites`](crate::ConditionalWrites).
    pub(crate) async fn store_if_unchanged<T>(
        &self,
        key: &str,
        expected: &Payload,
        env: Envelope<T>,
    ) -> bool
    where
        T: Serialize + Shared + Send + Sync + 'static,
    {
        let Some(conditional) = self.backend.conditional() else {
            return false;
        };
        let lifetime = env.lifetime();
        let Ok(payload) = self.payload(Arc::new(env)) else {
            return false;
        };
        let set = conditional.compare_and_set(key, expected, payload, lifetime);
        let stored = self.call("compare_and_set", Some(key), set).await;
        self.forget(key);
        stored.unwrap_or(false)
    }

    /// Deletes `key` only if its entry is still `expected` (our own write); false otherwise.
    pub(crate) async fn delete_if_unchanged(&self, key: &str, expected: &Payload) -> bool {
        let Some(conditional) = self.backend.conditional() else {
            return false;
        };
        let delete = conditional.compare_and_delete(key, expected);
        let deleted = self.call("compare_and_delete", Some(key), delete).await;
        self.forget(key);
        deleted.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l1_copy(id: u64) -> Found<Arc<u32>> {
        let second = Duration::from_secs(1);
        let mut env = Envelope::new(Arc::new(1u32), second, second, Duration::ZERO);
        env.id = id;
        Found::from_l1(Arc::new(env), None, 0, false)
    }

    #[test]
    fn l1_copies_are_the_same_write_only_under_a_known_write_id() {
        assert!(l1_copy(5).same_write(&l1_copy(5)));
        assert!(!l1_copy(5).same_write(&l1_copy(6)));
        assert!(
            !l1_copy(0).same_write(&l1_copy(0)),
            "entries from before write ids all read as id 0: no write"
        );
    }
}

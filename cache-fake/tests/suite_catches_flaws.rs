//! The conformance suite must reject a backend that breaks a contract. Each test wraps the fake
//! in one deliberate flaw and checks that the matching contract fails (panics), while the same
//! wrapper without a flaw passes.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cache_core::testing::{self, unique_prefix};
use cache_core::{
    CacheBackend, ConditionalWrites, ObjectPayload, Payload, PayloadKind, Result, StoredEntry,
};
use cache_fake::FakeBackend;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    QuestionMarkIsLiteral,
    IgnoresEscapes,
    DeleteAlwaysTrue,
    DeleteCountsExpired,
    OverwriteKeepsLifetime,
    NeverExpires,
    RemainingNeverShrinks,
    LosesObjects,
    EmptyIsAbsent,
    TruncatesLargeValues,
    GetManyReversed,
    /// Compare-and-set that stores whatever the key holds (a plain `set`).
    UnconditionalSet,
    /// Compare-and-delete that deletes whatever the key holds (a plain `delete`).
    UnconditionalDelete,
    /// Compare-and-set that matches any entry of the same size (compares contents loosely).
    ComparesSizeOnly,
}

#[derive(Debug)]
struct Flawed {
    inner: FakeBackend,
    flaw: Flaw,
    /// Lifetime of every key written and not deleted, for the flaws that need it.
    written: Mutex<HashMap<String, Duration>>,
}

#[async_trait]
impl CacheBackend for Flawed {
    fn name(&self) -> &'static str {
        "flawed"
    }

    fn payload_kind(&self) -> PayloadKind {
        self.inner.payload_kind()
    }

    fn conditional(&self) -> Option<&dyn ConditionalWrites> {
        Some(self)
    }

    async fn get(&self, key: &str) -> Result<Option<StoredEntry>> {
        let Some(mut entry) = self.inner.get(key).await? else {
            return Ok(None);
        };
        match (self.flaw, &entry.payload) {
            (Flaw::EmptyIsAbsent, Payload::Bytes(b)) if b.is_empty() => return Ok(None),
            (Flaw::LosesObjects, Payload::Object(o)) => {
                let value: Arc<dyn Any + Send + Sync> = Arc::new(());
                entry.payload = Payload::Object(std::sync::Arc::new(ObjectPayload::new(
                    o.header.clone(),
                    value,
                    o.size,
                )));
            }
            (Flaw::RemainingNeverShrinks, _) => {
                entry.remaining = self.written.lock().unwrap().get(key).copied();
            }
            _ => {}
        }
        Ok(Some(entry))
    }

    async fn set(&self, key: &str, payload: Payload, mut lifetime: Duration) -> Result<()> {
        let mut payload = payload;
        match self.flaw {
            Flaw::OverwriteKeepsLifetime => {
                if let Some(old) = self.inner.peek(key).and_then(|e| e.remaining) {
                    lifetime = old;
                }
            }
            Flaw::NeverExpires => lifetime = Duration::from_secs(3600),
            Flaw::TruncatesLargeValues => {
                if let Payload::Bytes(b) = &payload {
                    payload = Payload::Bytes(b.slice(..b.len().min(512 * 1024)));
                }
            }
            _ => {}
        }
        self.written
            .lock()
            .unwrap()
            .insert(key.to_owned(), lifetime);
        self.inner.set(key, payload, lifetime).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let existed = self.inner.delete(key).await?;
        let was_written = self.written.lock().unwrap().remove(key).is_some();
        Ok(match self.flaw {
            Flaw::DeleteAlwaysTrue => true,
            Flaw::DeleteCountsExpired => was_written,
            _ => existed,
        })
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<u64> {
        let pattern = match self.flaw {
            Flaw::QuestionMarkIsLiteral => pattern.replace('?', "\\?"),
            Flaw::IgnoresEscapes => pattern.replace('\\', ""),
            _ => pattern.to_owned(),
        };
        self.inner.invalidate_pattern(&pattern).await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<StoredEntry>>> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.push(self.get(key).await?);
        }
        if self.flaw == Flaw::GetManyReversed {
            found.reverse();
        }
        Ok(found)
    }
}

#[async_trait]
impl ConditionalWrites for Flawed {
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &Payload,
        payload: Payload,
        lifetime: Duration,
    ) -> Result<bool> {
        let Some(inner) = self.inner.conditional() else {
            panic!("the fake offers conditional writes");
        };
        match self.flaw {
            Flaw::UnconditionalSet => {
                self.inner.set(key, payload, lifetime).await?;
                Ok(true)
            }
            Flaw::ComparesSizeOnly => match self.inner.peek(key) {
                Some(entry) if entry.payload.size() == expected.size() => {
                    self.inner.set(key, payload, lifetime).await?;
                    Ok(true)
                }
                _ => Ok(false),
            },
            _ => {
                inner
                    .compare_and_set(key, expected, payload, lifetime)
                    .await
            }
        }
    }

    async fn compare_and_delete(&self, key: &str, expected: &Payload) -> Result<bool> {
        let Some(inner) = self.inner.conditional() else {
            panic!("the fake offers conditional writes");
        };
        match self.flaw {
            Flaw::UnconditionalDelete => self.inner.delete(key).await,
            _ => inner.compare_and_delete(key, expected).await,
        }
    }
}

/// Runs the contract meant to catch `flaw`; true when it failed the backend.
async fn rejects(flaw: Flaw, contract: &'static str) -> bool {
    let task = tokio::spawn(async move {
        let backend = Flawed {
            inner: FakeBackend::new(),
            flaw,
            written: Mutex::new(HashMap::new()),
        };
        let prefix = unique_prefix("flaws");
        match contract {
            "pattern_invalidation" => testing::pattern_invalidation(&backend, &prefix).await,
            "escaped_patterns" => testing::escaped_patterns(&backend, &prefix).await,
            "delete" => testing::delete(&backend, &prefix).await,
            "expiry" => testing::expiry(&backend, &prefix).await,
            "overwrite" => testing::overwrite_replaces_value_and_lifetime(&backend, &prefix).await,
            "lifetime_and_remaining" => testing::lifetime_and_remaining(&backend, &prefix).await,
            "round_trip_object" => testing::round_trip_object(&backend, &prefix).await,
            "large_and_empty_values" => testing::large_and_empty_values(&backend, &prefix).await,
            "batch_consistency" => testing::batch_consistency(&backend, &prefix).await,
            "conditional_writes" => testing::conditional_writes(&backend, &prefix).await,
            "all" => testing::run_all(&backend, &prefix).await,
            other => panic!("no contract {other}"),
        }
    });
    match task.await {
        Ok(()) => false,
        Err(err) => err.is_panic(),
    }
}

#[tokio::test]
async fn the_wrapper_without_a_flaw_passes() {
    assert!(!rejects(Flaw::None, "all").await);
}

#[tokio::test]
async fn glob_question_mark_must_match_one_byte() {
    assert!(rejects(Flaw::QuestionMarkIsLiteral, "pattern_invalidation").await);
}

#[tokio::test]
async fn glob_escapes_must_be_honoured() {
    assert!(rejects(Flaw::IgnoresEscapes, "pattern_invalidation").await);
    assert!(rejects(Flaw::IgnoresEscapes, "escaped_patterns").await);
}

#[tokio::test]
async fn delete_must_report_existence() {
    assert!(rejects(Flaw::DeleteAlwaysTrue, "delete").await);
    assert!(rejects(Flaw::DeleteCountsExpired, "expiry").await);
}

#[tokio::test]
async fn lifetimes_must_be_kept_and_replaced() {
    assert!(rejects(Flaw::NeverExpires, "expiry").await);
    assert!(rejects(Flaw::OverwriteKeepsLifetime, "overwrite").await);
    assert!(rejects(Flaw::RemainingNeverShrinks, "lifetime_and_remaining").await);
}

#[tokio::test]
async fn values_must_round_trip_whole() {
    assert!(rejects(Flaw::LosesObjects, "round_trip_object").await);
    assert!(rejects(Flaw::EmptyIsAbsent, "large_and_empty_values").await);
    assert!(rejects(Flaw::TruncatesLargeValues, "large_and_empty_values").await);
    assert!(rejects(Flaw::GetManyReversed, "batch_consistency").await);
}

#[tokio::test]
async fn conditional_writes_must_be_conditional() {
    assert!(rejects(Flaw::UnconditionalSet, "conditional_writes").await);
    assert!(rejects(Flaw::UnconditionalDelete, "conditional_writes").await);
    assert!(rejects(Flaw::ComparesSizeOnly, "conditional_writes").await);
}

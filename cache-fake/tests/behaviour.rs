//! The fake's own features: tokio-clock expiry, fault injection, corruption, the operation log,
//! the refresh lock and `wait_for_value`. Paused time throughout, so every result is exact.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{
    CacheBackend, CacheError, Codec, Envelope, JsonCodec, LockOutcome, ObjectPayload, Payload,
    StoredEntry,
};
use cache_fake::{Corruption, FakeBackend, Op, OpKind};
use tokio::time::{Instant, advance};

fn bytes(data: &[u8]) -> Payload {
    Payload::Bytes(cache_core::Bytes::copy_from_slice(data))
}

fn bytes_of(entry: &StoredEntry) -> Vec<u8> {
    match &entry.payload {
        Payload::Bytes(b) => b.to_vec(),
        Payload::Object(_) => panic!("expected bytes, got an object"),
    }
}

fn object(value: &str) -> (Arc<String>, Payload) {
    let header = Envelope::new((), Duration::from_secs(60), Duration::ZERO, Duration::ZERO);
    let value = Arc::new(value.to_owned());
    let shared: Arc<dyn Any + Send + Sync> = value.clone();
    (
        value,
        Payload::Object(Arc::new(ObjectPayload::new(header, shared, 10))),
    )
}

fn op(kind: OpKind, key: &str, failed: bool) -> Op {
    Op {
        kind,
        key: key.to_owned(),
        failed,
    }
}

const SEC: Duration = Duration::from_secs(1);

// ---- time ----

#[tokio::test(start_paused = true)]
async fn expiry_follows_tokio_clock_exactly() {
    let fake = FakeBackend::new();
    fake.set("k", bytes(b"v"), 10 * SEC).await.unwrap();

    advance(Duration::from_millis(9_999)).await;
    let entry = fake
        .get("k")
        .await
        .unwrap()
        .expect("still alive 1 ms before its deadline");
    assert_eq!(entry.remaining, Some(Duration::from_millis(1)));

    advance(Duration::from_millis(1)).await;
    assert!(fake.get("k").await.unwrap().is_none());
    assert!(
        !fake.delete("k").await.unwrap(),
        "an expired entry does not count as existing"
    );
}

#[tokio::test(start_paused = true)]
async fn remaining_is_measured_on_virtual_time() {
    let fake = FakeBackend::new();
    fake.set("k", bytes(b"v"), 60 * SEC).await.unwrap();
    advance(15 * SEC).await;
    assert_eq!(
        fake.get("k").await.unwrap().unwrap().remaining,
        Some(45 * SEC)
    );
    // Overwriting resets the lifetime.
    fake.set("k", bytes(b"w"), 60 * SEC).await.unwrap();
    assert_eq!(
        fake.get("k").await.unwrap().unwrap().remaining,
        Some(60 * SEC)
    );
}

#[tokio::test(start_paused = true)]
async fn a_lifetime_beyond_the_cap_is_clamped_like_redis() {
    let fake = FakeBackend::new();
    fake.set("forever", bytes(b"v"), Duration::MAX)
        .await
        .unwrap();
    advance(3_600 * SEC).await;
    let entry = fake.get("forever").await.unwrap().expect("present");
    assert_eq!(
        entry.remaining,
        Some(fake.max_lifetime() - 3_600 * SEC),
        "kept for max_lifetime, as Redis keeps a clamped PX"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_lives_less_than_a_millisecond() {
    let fake = FakeBackend::new();
    fake.set("k", bytes(b"v"), Duration::from_micros(10))
        .await
        .unwrap();
    advance(Duration::from_micros(500)).await;
    assert!(fake.get("k").await.unwrap().is_some(), "kept for 1 ms");
    advance(Duration::from_micros(500)).await;
    assert!(fake.get("k").await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_reply_can_arrive_after_the_operation_applied() {
    let fake = FakeBackend::new();
    fake.delay_next_reply(OpKind::Set, SEC);
    let writer = fake.clone();
    let write = tokio::spawn(async move { writer.set("k", bytes(b"v"), 60 * SEC).await });
    tokio::task::yield_now().await;
    assert!(fake.peek("k").is_some(), "applied at once");
    assert!(!write.is_finished(), "answered later");
    advance(SEC).await;
    write.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn pattern_invalidation_skips_expired_entries() {
    let fake = FakeBackend::new();
    fake.set("user:1", bytes(b"a"), SEC).await.unwrap();
    fake.set("user:2", bytes(b"b"), 10 * SEC).await.unwrap();
    fake.set("post:1", bytes(b"c"), 10 * SEC).await.unwrap();
    advance(2 * SEC).await;
    assert_eq!(fake.invalidate_pattern("user:*").await.unwrap(), 1);
    assert_eq!(fake.keys(), vec!["post:1".to_owned()]);
}

// ---- faults ----

#[tokio::test(start_paused = true)]
async fn fail_next_fails_exactly_n_operations() {
    let fake = FakeBackend::new();
    fake.fail_next(2);
    let first = fake.set("k", bytes(b"v"), SEC).await;
    assert!(
        matches!(&first, Err(e) if e.is_backend_failure()),
        "{first:?}"
    );
    assert!(fake.get("k").await.is_err());
    fake.set("k", bytes(b"v"), SEC).await.unwrap();
    assert_eq!(bytes_of(&fake.get("k").await.unwrap().unwrap()), b"v");
    assert_eq!(
        fake.ops(),
        vec![
            op(OpKind::Set, "k", true),
            op(OpKind::Get, "k", true),
            op(OpKind::Set, "k", false),
            op(OpKind::Get, "k", false)
        ]
    );
    assert!(
        fake.peek("k").is_some(),
        "the failed set must not have been what stored the value"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_operation_has_no_effect() {
    let fake = FakeBackend::new();
    fake.set("k", bytes(b"v"), SEC).await.unwrap();
    fake.fail_next(3);
    assert!(fake.set("k", bytes(b"new"), SEC).await.is_err());
    assert!(fake.delete("k").await.is_err());
    assert!(fake.invalidate_pattern("*").await.is_err());
    assert_eq!(bytes_of(&fake.peek("k").unwrap()), b"v");
}

#[tokio::test(start_paused = true)]
async fn fail_always_lasts_until_turned_off() {
    let fake = FakeBackend::new();
    fake.fail_always(true);
    for _ in 0..5 {
        assert!(fake.ping().await.is_err());
        assert!(fake.get_many(&["a", "b"]).await.is_err());
    }
    fake.fail_always(false);
    fake.ping().await.unwrap();
    assert_eq!(fake.count(OpKind::Ping), 6);
    assert_eq!(fake.count(OpKind::GetMany), 5);
    assert_eq!(fake.ops().iter().filter(|o| o.failed).count(), 15);
}

#[tokio::test(start_paused = true)]
async fn injected_error_is_configurable_and_heal_resets_everything() {
    let fake = FakeBackend::new();
    let timeout = CacheError::Timeout {
        operation: "get",
        after: Duration::from_millis(50),
    };
    fake.set_injected_error(timeout);
    fake.set_latency(SEC);
    fake.fail_always(true);
    assert!(matches!(
        fake.get("k").await,
        Err(CacheError::Timeout {
            operation: "get",
            ..
        })
    ));

    fake.heal();
    let start = Instant::now();
    fake.get("k").await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO, "heal removes the latency");
    fake.fail_next(1);
    assert!(matches!(
        fake.get("k").await,
        Err(CacheError::Unavailable {
            backend: "fake",
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn latency_delays_every_operation_on_virtual_time() {
    let fake = FakeBackend::new();
    fake.set_latency(Duration::from_millis(50));
    let start = Instant::now();
    fake.set("k", bytes(b"v"), SEC).await.unwrap();
    fake.get("k").await.unwrap();
    fake.fail_next(1);
    assert!(fake.ping().await.is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(150));

    // A per-operation timeout shorter than the latency fires.
    let timed = tokio::time::timeout(Duration::from_millis(49), fake.get("k")).await;
    assert!(timed.is_err());
}

// ---- corruption ----

#[tokio::test(start_paused = true)]
async fn corruption_variants_decode_to_their_typed_errors() {
    let fake = FakeBackend::new();
    let cases = [
        (Corruption::Garbage, "corrupt"),
        (Corruption::UnknownVersion, "version"),
        (Corruption::WrongType, "type"),
    ];
    for (corruption, expected) in cases {
        fake.set("k", bytes(b"{}"), 60 * SEC).await.unwrap();
        assert!(fake.corrupt("k", corruption.clone()));
        let stored = bytes_of(&fake.get("k").await.unwrap().unwrap());
        let as_string = JsonCodec.decode::<String>(&stored);
        let as_numbers = JsonCodec.decode::<Vec<u64>>(&stored);
        for result in [as_string.map(|_| ()), as_numbers.map(|_| ())] {
            let ok = matches!(
                (&result, expected),
                (Err(CacheError::Corrupt(_)), "corrupt")
                    | (Err(CacheError::UnsupportedVersion { .. }), "version")
                    | (Err(CacheError::TypeMismatch { .. }), "type")
            );
            assert!(
                ok,
                "{corruption:?} decoded to {result:?}; expected a {expected} error"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn corrupting_an_object_replaces_it_with_bytes_and_keeps_the_lifetime() {
    let fake = FakeBackend::new();
    let (_, payload) = object("fine");
    fake.set("k", payload, 60 * SEC).await.unwrap();
    advance(20 * SEC).await;
    assert!(fake.corrupt("k", Corruption::Bytes(b"raw".to_vec())));
    let entry = fake.get("k").await.unwrap().unwrap();
    assert_eq!(bytes_of(&entry), b"raw");
    assert_eq!(entry.remaining, Some(40 * SEC));
}

#[tokio::test(start_paused = true)]
async fn foreign_object_fails_every_downcast() {
    let fake = FakeBackend::new();
    let (_, payload) = object("fine");
    fake.set("k", payload, 60 * SEC).await.unwrap();
    assert!(fake.corrupt("k", Corruption::ForeignObject));
    let Payload::Object(found) = fake.get("k").await.unwrap().unwrap().payload else {
        panic!("expected an object")
    };
    assert!(found.value.clone().downcast::<String>().is_err());
    assert!(found.value.clone().downcast::<()>().is_err());
}

#[tokio::test(start_paused = true)]
async fn corrupting_a_missing_key_does_nothing() {
    let fake = FakeBackend::new();
    assert!(!fake.corrupt("absent", Corruption::Garbage));
    fake.set("short", bytes(b"v"), SEC).await.unwrap();
    advance(2 * SEC).await;
    assert!(
        !fake.corrupt("short", Corruption::Garbage),
        "an expired entry is not corrupted back to life"
    );
    assert!(fake.is_empty());
}

// ---- payload modes ----

#[tokio::test(start_paused = true)]
async fn objects_round_trip_as_the_same_arc() {
    let fake = FakeBackend::new();
    let (value, payload) = object("shared");
    fake.set("k", payload, SEC).await.unwrap();
    let Payload::Object(found) = fake.get("k").await.unwrap().unwrap().payload else {
        panic!("expected an object")
    };
    let back = found.value.clone().downcast::<String>().unwrap();
    assert!(Arc::ptr_eq(&back, &value));
}

#[tokio::test(start_paused = true)]
async fn encoded_mode_rejects_objects() {
    let fake = FakeBackend::builder().encode_values(true).build();
    let (_, payload) = object("not encoded");
    assert!(matches!(
        fake.set("k", payload.clone(), SEC).await,
        Err(CacheError::Encode(_))
    ));
    assert!(matches!(
        fake.set_many(&[("a", bytes(b"ok"), SEC), ("b", payload, SEC)])
            .await,
        Err(CacheError::Encode(_))
    ));
    assert!(fake.is_empty(), "a rejected batch stores nothing");
    fake.set("k", bytes(b"encoded"), SEC).await.unwrap();
    assert_eq!(bytes_of(&fake.get("k").await.unwrap().unwrap()), b"encoded");
}

// ---- operation log ----

#[tokio::test(start_paused = true)]
async fn the_log_records_every_call_in_order() {
    let fake = FakeBackend::new();
    let backend: Arc<dyn CacheBackend> = Arc::new(fake.clone());
    backend.set("a", bytes(b"1"), SEC).await.unwrap();
    backend.get_many(&["a", "b"]).await.unwrap();
    backend.set_many(&[("c", bytes(b"3"), SEC)]).await.unwrap();
    backend.invalidate_pattern("c*").await.unwrap();
    backend.delete("a").await.unwrap();
    backend.ping().await.unwrap();
    backend.get_many(&[]).await.unwrap();

    assert_eq!(
        fake.ops(),
        vec![
            op(OpKind::Set, "a", false),
            op(OpKind::GetMany, "a", false),
            op(OpKind::GetMany, "b", false),
            op(OpKind::SetMany, "c", false),
            op(OpKind::InvalidatePattern, "c*", false),
            op(OpKind::Delete, "a", false),
            op(OpKind::Ping, "", false),
            op(OpKind::GetMany, "", false),
        ]
    );
    assert_eq!(fake.count(OpKind::GetMany), 2, "a batch counts as one call");
    assert_eq!(fake.count(OpKind::Get), 0);
    assert_eq!(fake.total_calls(), 7);

    // Inspection is not logged.
    let _ = fake.peek("a");
    let _ = fake.keys();
    assert_eq!(fake.total_calls(), 7);

    fake.clear_ops();
    assert!(fake.ops().is_empty());
    assert!(OpKind::ALL.iter().all(|&kind| fake.count(kind) == 0));
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_store_faults_and_log() {
    let fake = FakeBackend::new();
    let owned_by_cache = fake.clone();
    owned_by_cache.set("k", bytes(b"v"), SEC).await.unwrap();
    assert!(fake.peek("k").is_some());
    fake.fail_next(1);
    assert!(owned_by_cache.ping().await.is_err());
    assert_eq!(fake.count(OpKind::Ping), 1);
}

// ---- refresh lock ----

#[tokio::test(start_paused = true)]
async fn lock_is_exclusive_and_released_only_by_its_token() {
    let fake = FakeBackend::new();
    assert_eq!(
        fake.try_lock("k", "A", 10 * SEC).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        fake.try_lock("k", "B", 10 * SEC).await.unwrap(),
        LockOutcome::Held
    );
    assert_eq!(
        fake.try_lock("k", "A", 10 * SEC).await.unwrap(),
        LockOutcome::Held,
        "not re-entrant"
    );
    assert_eq!(
        fake.try_lock("other", "B", 10 * SEC).await.unwrap(),
        LockOutcome::Acquired
    );
    assert!(!fake.unlock("k", "B").await.unwrap());
    assert_eq!(fake.lock_holder("k").as_deref(), Some("A"));
    assert!(fake.unlock("k", "A").await.unwrap());
    assert!(!fake.unlock("k", "A").await.unwrap());
    assert_eq!(
        fake.try_lock("k", "B", 10 * SEC).await.unwrap(),
        LockOutcome::Acquired
    );
}

#[tokio::test(start_paused = true)]
async fn lock_expires_on_tokio_clock() {
    let fake = FakeBackend::new();
    assert_eq!(
        fake.try_lock("k", "A", 5 * SEC).await.unwrap(),
        LockOutcome::Acquired
    );
    advance(Duration::from_millis(4_999)).await;
    assert_eq!(
        fake.try_lock("k", "B", 5 * SEC).await.unwrap(),
        LockOutcome::Held
    );
    advance(Duration::from_millis(1)).await;
    assert_eq!(fake.lock_holder("k"), None);
    assert_eq!(
        fake.try_lock("k", "B", 5 * SEC).await.unwrap(),
        LockOutcome::Acquired
    );
    assert!(
        !fake.unlock("k", "A").await.unwrap(),
        "an expired holder cannot release the new lock"
    );
    assert_eq!(fake.lock_holder("k").as_deref(), Some("B"));
}

#[tokio::test(start_paused = true)]
async fn locks_are_separate_from_entries() {
    let fake = FakeBackend::new();
    fake.try_lock("k", "A", 5 * SEC).await.unwrap();
    assert!(fake.is_empty());
    assert_eq!(fake.invalidate_pattern("*").await.unwrap(), 0);
    assert_eq!(fake.lock_holder("k").as_deref(), Some("A"));
}

#[tokio::test(start_paused = true)]
async fn locks_can_be_turned_off() {
    let fake = FakeBackend::builder().locks(false).build();
    assert_eq!(
        fake.try_lock("k", "A", SEC).await.unwrap(),
        LockOutcome::Unsupported
    );
    assert!(!fake.unlock("k", "A").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn lock_operations_are_logged_and_faulted() {
    let fake = FakeBackend::new();
    fake.fail_next(1);
    assert!(fake.try_lock("k", "A", SEC).await.is_err());
    assert_eq!(
        fake.lock_holder("k"),
        None,
        "a failed try_lock takes nothing"
    );
    fake.try_lock("k", "A", SEC).await.unwrap();
    fake.unlock("k", "A").await.unwrap();
    assert_eq!(
        fake.ops(),
        vec![
            op(OpKind::TryLock, "k", true),
            op(OpKind::TryLock, "k", false),
            op(OpKind::Unlock, "k", false)
        ]
    );
}

// ---- wait_for_value ----

#[tokio::test(start_paused = true)]
async fn wait_for_value_wakes_at_the_write() {
    let fake = FakeBackend::new();
    let waiter = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let found = fake.wait_for_value("k", 5 * SEC).await.unwrap();
            (found, start.elapsed())
        })
    };
    tokio::time::sleep(SEC).await;
    fake.set("other", bytes(b"x"), 60 * SEC).await.unwrap();
    tokio::time::sleep(SEC).await;
    fake.set("k", bytes(b"v"), 60 * SEC).await.unwrap();

    let (found, waited) = waiter.await.unwrap();
    assert_eq!(bytes_of(&found.expect("written while waiting")), b"v");
    assert_eq!(waited, 2 * SEC);
    assert_eq!(fake.count(OpKind::WaitForValue), 1);
    assert_eq!(fake.count(OpKind::Get), 0, "the fake waits without polling");
}

#[tokio::test(start_paused = true)]
async fn wait_for_value_times_out_or_returns_at_once() {
    let fake = FakeBackend::new();
    let start = Instant::now();
    assert!(fake.wait_for_value("k", 3 * SEC).await.unwrap().is_none());
    assert_eq!(start.elapsed(), 3 * SEC);

    fake.set("k", bytes(b"v"), 60 * SEC).await.unwrap();
    let start = Instant::now();
    assert!(fake.wait_for_value("k", 3 * SEC).await.unwrap().is_some());
    assert_eq!(start.elapsed(), Duration::ZERO);

    fake.fail_next(1);
    assert!(fake.wait_for_value("k", 3 * SEC).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn conditional_writes_are_logged_delayed_and_faulted() {
    let fake = FakeBackend::new();
    let Some(cond) = fake.conditional() else {
        panic!("the fake offers conditional writes by default");
    };
    let (_, v1) = object("v1");
    let (_, v2) = object("v2");
    fake.set("k", v1.clone(), SEC * 60).await.unwrap();

    // A fault fails the call and changes nothing, as for every other operation.
    fake.fail_next(2);
    assert!(
        cond.compare_and_set("k", &v1, v2.clone(), SEC)
            .await
            .is_err()
    );
    assert!(cond.compare_and_delete("k", &v1).await.is_err());
    assert!(fake.peek("k").unwrap().payload.same_entry(&v1));

    // Latency applies on tokio's clock.
    fake.set_latency(Duration::from_millis(50));
    let started = Instant::now();
    assert!(
        cond.compare_and_set("k", &v1, v2.clone(), SEC)
            .await
            .unwrap()
    );
    assert_eq!(started.elapsed(), Duration::from_millis(50));
    assert!(cond.compare_and_delete("k", &v2).await.unwrap());
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    assert!(fake.peek("k").is_none());

    assert_eq!(
        fake.ops()[1..],
        [
            op(OpKind::CompareAndSet, "k", true),
            op(OpKind::CompareAndDelete, "k", true),
            op(OpKind::CompareAndSet, "k", false),
            op(OpKind::CompareAndDelete, "k", false),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn conditional_writes_can_be_turned_off() {
    let fake = FakeBackend::builder().conditional(false).build();
    assert!(fake.conditional().is_none());
}

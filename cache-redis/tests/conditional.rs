//! Conditional writes on Redis beyond the shared contract: what the scripts compare (the
//! envelope bytes after the header, or a whole value written by another tool), the lifetime a
//! compare-and-set writes, a server that forgot its scripts, and a key of another type.

mod common;

use std::time::Duration;

use cache_core::testing::{conditional_writes, unique_prefix};
use cache_core::{CacheBackend, CacheError};
use common::{bytes, payload_bytes};
use redis_harness::Reply;

const LONG: Duration = Duration::from_secs(60);

fn raw(args: &[&str]) -> Reply {
    common::server()
        .command_ok(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_on_a_standalone_server_and_a_cluster() {
    let standalone = common::standalone().await;
    assert!(standalone.conditional().is_some());
    conditional_writes(&standalone, &unique_prefix("cond:standalone")).await;
    let clustered = common::clustered().await;
    assert!(clustered.conditional().is_some());
    conditional_writes(&clustered, &unique_prefix("cond:cluster")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_set_matches_the_envelope_bytes_and_writes_a_frame_with_px() {
    let backend = common::standalone().await;
    let cond = backend.conditional().unwrap();
    let key = format!("{}:framed", unique_prefix("cond"));
    backend.set(&key, bytes(b"{\"v\":1}"), LONG).await.unwrap();
    let read = backend.get(&key).await.unwrap().unwrap();
    let written = cond
        .compare_and_set(
            &key,
            &read.payload,
            bytes(b"{\"v\":2}"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(written);
    // The stored value is a frame with the new lifetime, and Redis expires it with PX.
    let Reply::Bulk(Some(stored)) = raw(&["GET", &key]) else {
        panic!("GET")
    };
    let (header, body) = cache_redis::frame::decode(&stored).expect("a framed value");
    assert_eq!(header.lifetime_ms, 30_000);
    assert_eq!(body, b"{\"v\":2}");
    let Reply::Integer(pttl) = raw(&["PTTL", &key]) else {
        panic!("PTTL")
    };
    assert!(pttl > 25_000 && pttl <= 30_000, "{pttl}");
    // The whole frame is not the envelope: a caller never holds it, and it must not match.
    let whole = bytes(&stored);
    assert!(!cond.compare_and_delete(&key, &whole).await.unwrap());
    let read = backend.get(&key).await.unwrap().unwrap();
    assert!(cond.compare_and_delete(&key, &read.payload).await.unwrap());
    assert_eq!(raw(&["EXISTS", &key]), Reply::Integer(0));
}

/// Entries written by earlier builds carry a text header: reads strip it, and the scripts
/// compare what follows it, so a compare-and-set over such an entry still matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_with_the_text_header_of_earlier_builds_compare_their_envelope() {
    let backend = common::standalone().await;
    let cond = backend.conditional().unwrap();
    let key = format!("{}:text", unique_prefix("cond"));
    let far = "9".repeat(18);
    raw(&[
        "SET",
        &key,
        &format!("@sc exp={far} px=60000\nold"),
        "PX",
        "60000",
    ]);
    let read = backend.get(&key).await.unwrap().unwrap();
    assert_eq!(payload_bytes(&read), b"old");
    assert!(read.remaining.unwrap() > Duration::from_secs(50));
    assert!(
        cond.compare_and_set(&key, &read.payload, bytes(b"new"), LONG)
            .await
            .unwrap()
    );
    let now = backend.get(&key).await.unwrap().unwrap();
    assert_eq!(payload_bytes(&now), b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_without_a_valid_header_compare_whole() {
    let backend = common::standalone().await;
    let cond = backend.conditional().unwrap();
    let prefix = unique_prefix("cond:raw");
    // Written by another tool; the second looks like a header but is not one (20 digits).
    for (i, value) in [
        "plain value".to_string(),
        format!("@sc exp={} px=5\nbody", "9".repeat(20)),
        "@sc exp=12 px=3".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let key = format!("{prefix}:{i}");
        raw(&["SET", &key, value, "PX", "60000"]);
        let read = backend.get(&key).await.unwrap().unwrap();
        assert_eq!(payload_bytes(&read), value.as_bytes());
        assert!(
            cond.compare_and_set(&key, &read.payload, bytes(b"mine"), LONG)
                .await
                .unwrap(),
            "{value:?}"
        );
        let now = backend.get(&key).await.unwrap().unwrap();
        assert_eq!(payload_bytes(&now), b"mine");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_forgot_the_scripts_still_runs_them() {
    let backend = common::standalone().await;
    let cond = backend.conditional().unwrap();
    let key = format!("{}:flushed", unique_prefix("cond"));
    backend.set(&key, bytes(b"a"), LONG).await.unwrap();
    raw(&["SCRIPT", "FLUSH"]);
    assert!(
        cond.compare_and_set(&key, &bytes(b"a"), bytes(b"b"), LONG)
            .await
            .unwrap()
    );
    raw(&["SCRIPT", "FLUSH"]);
    assert!(cond.compare_and_delete(&key, &bytes(b"b")).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_type_is_an_error_not_a_match() {
    let backend = common::standalone().await;
    let cond = backend.conditional().unwrap();
    let key = format!("{}:hash", unique_prefix("cond"));
    raw(&["HSET", &key, "f", "v"]);
    let err = cond
        .compare_and_set(&key, &bytes(b"v"), bytes(b"w"), LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::Corrupt(_)), "{err:?}");
    let err = cond
        .compare_and_delete(&key, &bytes(b"v"))
        .await
        .unwrap_err();
    assert!(matches!(err, CacheError::Corrupt(_)), "{err:?}");
    assert_eq!(raw(&["TYPE", &key]), Reply::Status("hash".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_lifetimes_are_bounded_not_errors() {
    let backend = common::standalone().await;
    let max = backend.max_lifetime();
    let key = format!("{}:forever", unique_prefix("cond"));
    backend.set(&key, bytes(b"a"), Duration::MAX).await.unwrap();
    backend.set(&key, bytes(b"a2"), max).await.unwrap();
    let cond = backend.conditional().unwrap();
    assert!(
        cond.compare_and_set(&key, &bytes(b"a2"), bytes(b"b"), Duration::MAX)
            .await
            .unwrap()
    );
    let entry = backend.get(&key).await.unwrap().unwrap();
    assert!(entry.remaining.unwrap() > max / 2);
    assert!(entry.remaining.unwrap() <= max);
}

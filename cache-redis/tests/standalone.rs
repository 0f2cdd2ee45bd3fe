//! A standalone server: conformance, clock skew, stored format.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_core::testing::{run_all, unique_prefix};
use cache_core::{CacheBackend, Codec, EntryOptions, Envelope, JsonCodec, SmartCache, Source};
use common::bytes;
use redis_harness::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_standalone() {
    let backend = common::standalone().await;
    run_all(&backend, &unique_prefix("conformance:standalone")).await;
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

const TEN_YEARS_MS: u64 = 10 * 365 * 86_400_000;

/// An envelope of `value` that claims it was stored at `stored_at_ms`, in the all-JSON layout
/// (what another tool, or an earlier build, writes).
fn envelope_at(value: &str, ttl: Duration, grace: Duration, stored_at_ms: u64) -> Vec<u8> {
    let mut env = Envelope::new(value.to_string(), ttl, grace, Duration::from_millis(1));
    env.stored_at_ms = stored_at_ms;
    serde_json::to_vec(&env).unwrap()
}

fn pttl(key: &str) -> i64 {
    match common::server().command_ok(&["PTTL", key]).unwrap() {
        Reply::Integer(ms) => ms,
        other => panic!("PTTL {other:?}"),
    }
}

/// Skew: the writer's stored-at time, far in the past or the future, changes nothing; the
/// server-side remaining lifetime alone decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_stored_at_is_judged_by_server_remaining_time_alone() {
    let backend = common::standalone().await;
    let cache = SmartCache::builder(backend.clone()).build();
    let prefix = unique_prefix("skew");
    let ttl = Duration::from_secs(60);
    let grace = Duration::from_secs(10);
    let opts = EntryOptions::new().ttl(ttl).grace(grace);

    for (label, stored_at) in [("past", 0), ("future", unix_ms() + TEN_YEARS_MS)] {
        // Physically alive for ttl + grace: fresh on the server's clock, whatever stored-at says.
        let fresh = format!("{prefix}:{label}:fresh");
        backend
            .set(
                &fresh,
                bytes(&envelope_at("cached", ttl, grace, stored_at)),
                ttl + grace,
            )
            .await
            .unwrap();
        let entry = backend.get(&fresh).await.unwrap().unwrap();
        let remaining = entry.remaining.unwrap();
        let server_ms = pttl(&fresh);
        assert!(remaining <= ttl + grace, "{label}: {remaining:?}");
        assert!(
            (remaining.as_millis() as i64 - server_ms).abs() < 1_000,
            "{label}: remaining {remaining:?} vs PTTL {server_ms} ms"
        );
        let lookup = cache
            .get_or_compute_detailed(&fresh, &opts, || async {
                Ok::<_, std::io::Error>("computed".to_string())
            })
            .await
            .unwrap();
        assert_eq!(
            (lookup.value.as_str(), lookup.source),
            ("cached", Source::Hit),
            "{label}"
        );

        // Physically alive for less than the grace: stale, even though stored-at (writer's
        // clock) says it was written just now or in the future.
        let stale = format!("{prefix}:{label}:stale");
        backend
            .set(
                &stale,
                bytes(&envelope_at("old", ttl, grace, stored_at)),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let lookup = cache
            .get_or_compute_detailed(&stale, &opts.clone().fail_safe(false), || async {
                Ok::<_, std::io::Error>("recomputed".to_string())
            })
            .await
            .unwrap();
        assert_eq!(
            (lookup.value.as_str(), lookup.source),
            ("old", Source::Stale),
            "{label}"
        );
    }
}

/// Values written by other tools (no header) are judged by `PTTL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_without_a_header_use_pttl() {
    let backend = common::standalone().await;
    let key = unique_prefix("unframed");
    let raw = envelope_at("raw", Duration::from_secs(60), Duration::from_secs(10), 0);
    let raw = String::from_utf8(raw).unwrap();
    common::server()
        .command_ok(&["SET", &key, &raw, "PX", "5000"])
        .unwrap();
    let entry = backend.get(&key).await.unwrap().unwrap();
    assert_eq!(common::payload_bytes(&entry), raw.as_bytes());
    let remaining = entry.remaining.unwrap();
    assert!(
        remaining <= Duration::from_secs(5) && remaining > Duration::from_secs(3),
        "{remaining:?}"
    );

    common::server()
        .command_ok(&["SET", &key, "no expiry"])
        .unwrap();
    assert_eq!(backend.get(&key).await.unwrap().unwrap().remaining, None);
}

/// What `redis-cli GET` shows: a one-line header, then the JSON envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_values_read_well_in_redis_cli() {
    let backend = common::standalone().await;
    let cache = SmartCache::builder(backend).build();
    let key = unique_prefix("readable");
    let opts = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .grace(Duration::from_secs(10));
    cache
        .get_or_compute(&key, &opts, || async {
            Ok::<_, std::io::Error>(vec![1, 2, 3])
        })
        .await
        .unwrap();
    let Reply::Bulk(Some(stored)) = common::server().command_ok(&["GET", &key]).unwrap() else {
        panic!("GET")
    };
    let (header, envelope) = cache_redis::frame::decode(&stored).expect("a framed value");
    assert_eq!(header.lifetime_ms, 70_000);
    assert_eq!(
        stored.len() - envelope.len(),
        cache_redis::frame::HEADER_LEN
    );
    // The envelope: its compact header, then the value as JSON, readable in `redis-cli`.
    assert!(envelope.ends_with(b"[1,2,3]"), "{envelope:?}");
    assert!(envelope.len() - b"[1,2,3]".len() <= 40, "{envelope:?}");
    let decoded: Envelope<Vec<u32>> = JsonCodec.decode(envelope).unwrap();
    assert_eq!((decoded.version, decoded.ttl_ms), (1, 60_000));
    assert_eq!(decoded.value, [1, 2, 3]);
}

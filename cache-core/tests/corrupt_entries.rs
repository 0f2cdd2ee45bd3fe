//! Bad stored data is a counted miss, overwritten by the next write; never a panic or an error.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use cache_core::{Codec, JsonCodec, Payload, SmartCache, Source};
use cache_fake::{Corruption, FakeBackend};
use common::*;

async fn check(fake: FakeBackend, corruption: Corruption) {
    let cache: SmartCache = builder(&fake).build();
    let runs = Arc::new(AtomicUsize::new(0));
    cache
        .get_or_compute("k", &opts(), counted(&runs, 1))
        .await
        .unwrap();
    settle().await;
    assert!(fake.corrupt("k", corruption.clone()));

    let got = cache
        .get_or_compute_detailed("k", &opts(), counted(&runs, 2))
        .await
        .unwrap();
    assert_eq!(
        (*got.value, got.source),
        (2, Source::Miss),
        "{corruption:?}"
    );
    assert_eq!(cache.stats().corrupt_entries, 1, "{corruption:?}");
    assert!(
        cache
            .get::<u64>("k")
            .await
            .unwrap()
            .is_some_and(|c| *c.value == 2),
        "{corruption:?}: overwritten"
    );
}

#[tokio::test(start_paused = true)]
async fn corrupt_unknown_version_and_wrong_type_are_counted_misses() {
    for encode in [false, true] {
        for corruption in [
            Corruption::Garbage,
            Corruption::UnknownVersion,
            Corruption::WrongType,
            Corruption::Bytes(Vec::new()),
            Corruption::Bytes(b"{\"v\":1".to_vec()),
        ] {
            check(
                FakeBackend::builder().encode_values(encode).build(),
                corruption,
            )
            .await;
        }
    }
    check(FakeBackend::new(), Corruption::ForeignObject).await;
}

#[tokio::test(start_paused = true)]
async fn encoded_entries_end_in_their_value_as_json() {
    let fake = FakeBackend::builder().encode_values(true).build();
    let cache: SmartCache = builder(&fake).build();
    let runs = Arc::new(AtomicUsize::new(0));
    cache
        .get_or_compute("k", &opts(), counted(&runs, 7))
        .await
        .unwrap();
    settle().await;
    let Payload::Bytes(bytes) = fake.peek("k").unwrap().payload else {
        panic!("bytes expected")
    };
    // The compact header, then the value as JSON.
    assert!(
        bytes.starts_with(b"\xfe") && bytes.ends_with(b"7"),
        "{bytes:?}"
    );
    assert_eq!(
        JsonCodec.decode::<u64>(&bytes).unwrap().delta_us,
        DELTA.as_micros() as u64
    );
}

#[tokio::test(start_paused = true)]
async fn oversized_values_are_returned_not_stored() {
    // Encoded values, as Redis takes them: the limit is on the encoded size.
    let fake = FakeBackend::builder().encode_values(true).build();
    let cache: SmartCache = builder(&fake)
        .config(cache_core::CacheConfig {
            max_value_bytes: 1024,
            default_ttl: TTL,
            ..Default::default()
        })
        .build();
    let big = "x".repeat(4096);
    let value = cache
        .get_or_compute("big", &opts(), move || async move {
            Ok::<_, std::io::Error>(big)
        })
        .await
        .unwrap();
    assert_eq!(value.len(), 4096);
    settle().await;
    assert!(fake.peek("big").is_none());
    assert_eq!(cache.stats().store_skipped, 1);
    let err = cache
        .set("big", "y".repeat(4096), &opts())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("exceeds the limit of 1024 bytes"),
        "{err}"
    );
}

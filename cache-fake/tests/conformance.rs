//! The shared backend conformance suite, on the fake in both payload modes (real time).

use std::sync::Arc;
use std::time::Duration;

use cache_core::testing::{run_all, unique_prefix};
use cache_core::{CacheBackend, Payload, PayloadKind};
use cache_fake::FakeBackend;

#[tokio::test]
async fn conformance_with_objects() {
    let fake = FakeBackend::new();
    assert_eq!(fake.payload_kind(), PayloadKind::Object);
    run_all(&fake, &unique_prefix("fake:objects")).await;
    assert!(
        fake.keys().is_empty(),
        "the suite left keys behind: {:?}",
        fake.keys()
    );
}

#[tokio::test]
async fn conformance_with_encoded_values() {
    let fake = FakeBackend::builder().encode_values(true).build();
    assert_eq!(fake.payload_kind(), PayloadKind::Bytes);
    run_all(&fake, &unique_prefix("fake:encoded")).await;
    assert!(
        fake.keys().is_empty(),
        "the suite left keys behind: {:?}",
        fake.keys()
    );
}

/// A prefix full of glob characters: the suite must escape it in every pattern, so keys that
/// the unescaped prefix would match survive the run.
#[tokio::test]
async fn conformance_keeps_to_its_prefix() {
    let fake = FakeBackend::new();
    let backend: Arc<dyn CacheBackend> = Arc::new(fake.clone());
    let prefix = "run[1]*?\\{x}";
    let contracts = [
        "round_trip_bytes",
        "round_trip_object",
        "lifetime_and_remaining",
        "expiry",
        "delete",
        "overwrite",
        "pattern_invalidation",
        "escaped_patterns",
        "large_and_empty_values",
        "unusual_keys",
        "batch_consistency",
        "conditional_writes",
    ];
    // Each decoy matches `{prefix}:{contract}:*` when the prefix is used as a raw glob.
    let decoys: Vec<String> = contracts
        .iter()
        .map(|c| format!("run1-other?x{{x}}:{c}:hello"))
        .collect();
    for decoy in &decoys {
        assert!(
            cache_core::glob::matches(&format!("{prefix}:*"), decoy),
            "decoy {decoy} is not a trap"
        );
        let payload = Payload::Bytes(cache_core::Bytes::copy_from_slice(decoy.as_bytes()));
        backend
            .set(decoy, payload, Duration::from_secs(600))
            .await
            .unwrap();
    }

    run_all(&*backend, prefix).await;

    let mut expected = decoys.clone();
    expected.sort();
    assert_eq!(fake.keys(), expected);
}

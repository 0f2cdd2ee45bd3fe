//! The `metrics` feature: counters reach the recorder installed when the cache was built, under
//! Prometheus names with the cache's name as the `cache` label.
#![cfg(feature = "metrics")]

use cache_core::{EntryOptions, SmartCache};
use cache_memory::MemoryBackend;
use metrics_exporter_prometheus::PrometheusBuilder;

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[tokio::test]
async fn counters_are_reported_per_named_cache() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let (scores, teams) = metrics::with_local_recorder(&recorder, || {
        (
            SmartCache::builder(MemoryBackend::new(100))
                .name("scores")
                .build(),
            SmartCache::builder(MemoryBackend::new(100))
                .name("teams")
                .build(),
        )
    });
    // Built outside any recorder: counts for itself, reports nowhere.
    let silent = SmartCache::builder(MemoryBackend::new(100))
        .name("silent")
        .build();
    let options = EntryOptions::new();
    for cache in [&scores, &scores, &scores, &teams, &silent] {
        let v = cache
            .get_or_compute("k", &options, || async { Ok::<u32, std::io::Error>(7) })
            .await
            .unwrap();
        assert_eq!(*v, 7);
    }
    let text = handle.render();
    assert_eq!(
        line(&text, "smartcache_hits_total{cache=\"scores\"}"),
        Some("smartcache_hits_total{cache=\"scores\"} 2"),
        "{text}"
    );
    assert_eq!(
        line(&text, "smartcache_misses_total{cache=\"scores\"}"),
        Some("smartcache_misses_total{cache=\"scores\"} 1")
    );
    assert_eq!(
        line(&text, "smartcache_computes_total{cache=\"teams\"}"),
        Some("smartcache_computes_total{cache=\"teams\"} 1")
    );
    assert_eq!(
        line(&text, "smartcache_hits_total{cache=\"teams\"}"),
        Some("smartcache_hits_total{cache=\"teams\"} 0")
    );
    assert!(
        text.contains("# TYPE smartcache_hits_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# HELP smartcache_misses_total Lookups that found no usable entry."),
        "{text}"
    );
    assert!(!text.contains("silent"), "{text}");
    // The cache's own snapshot counts either way.
    assert_eq!(silent.stats().computes, 1);
    assert_eq!(scores.stats().hits, 2);
}

#[tokio::test]
async fn an_unnamed_cache_reports_as_default() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let cache = metrics::with_local_recorder(&recorder, || {
        SmartCache::builder(MemoryBackend::new(10)).build()
    });
    cache.set("k", 1u8, &EntryOptions::new()).await.unwrap();
    assert!(cache.get::<u8>("k").await.unwrap().is_some());
    let text = recorder.handle().render();
    assert!(
        text.contains("smartcache_hits_total{cache=\"default\"} 1"),
        "{text}"
    );
}

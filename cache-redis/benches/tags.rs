//! Tags on Redis without an in-process tier (paired rounds, see
//! `cache-core/benches/support/paired.rs`): a hit of a tagged entry (its `GET`, then one `MGET`
//! of its tag's version) against an untagged one (one `GET`), and `invalidate_tag` of a tag
//! carried by 10, 10,000 and 100,000 entries (O(1): one `SET`). A harness `redis-server`, a pool
//! of 4 connections, one task (p50 latency) and 64 tasks (throughput) on a two-worker runtime.
//! Subjects and setup: `cache-core/benches/support/tagged.rs`.
//!
//! `cargo bench -p cache-redis --bench tags [-- --quick]` (needs `redis-server` on PATH).

#[path = "../../cache-core/benches/support/paired.rs"]
mod paired;
#[path = "../../cache-core/benches/support/prediction.rs"]
mod prediction;
#[path = "../../cache-core/benches/support/tagged.rs"]
mod tagged;

use std::sync::Arc;

use cache_core::SmartCache;
use cache_redis::{RedisBackend, RedisConfig};
use paired::Plan;
use redis_harness::RedisServer;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let setup = runtime.block_on(async {
        let mut config = RedisConfig::from_url(&server.url()).expect("the harness URL");
        config.pool_size = 4;
        let backend = RedisBackend::connect(config).await.expect("connected");
        let setup = tagged::setup(SmartCache::new(backend)).await;
        tagged::warm(&setup).await;
        setup
    });
    let setup = Arc::new(setup);
    if let Some((subject, reads)) = paired::profile_requested(&tagged::SUBJECTS, 5_000) {
        paired::profile(&runtime, &setup, subject, reads);
        return;
    }
    let plan = Plan {
        rounds: 16,
        batch: 1,
        batches: 300,
        tasks: 64,
        reads_per_task: 100,
    }
    .or_quick();
    let before = setup.cache.stats();
    let measured = paired::run(&runtime, &setup, &tagged::SUBJECTS, plan);
    let after = setup.cache.stats();
    assert_eq!(after.misses, before.misses, "every read must hit");
    paired::report(
        "tags, redis (no L1)",
        &measured,
        &tagged::rows("redis.tags"),
    );
    drop(server);
}

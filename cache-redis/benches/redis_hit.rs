//! A Redis hit as users run it, against raw fred in the same run (paired rounds, see
//! `cache-core/benches/support/paired.rs`): a 621-byte JSON value held as `Arc<Prediction>`,
//! 1,024 hot keys on a harness `redis-server`, a pool of 4 connections shared by every subject
//! (so raw fred runs with smartcache's client settings), one task (p50 latency) and 64 tasks
//! (throughput) on a two-worker runtime.
//!
//! Subjects: raw fred `GET` (bytes), raw fred `GET` + JSON decode into `Arc<Prediction>` (the
//! value stored plainly, as a raw-fred user would), `RedisBackend::get` alone, smartcache
//! through `get_or_compute` and `get`, and — to document the design choice in the crate docs —
//! one `EVALSHA` returning `{GET, PTTL}`.
//!
//! `cargo bench -p cache-redis --bench redis_hit [-- --quick]` (needs `redis-server` on PATH;
//! `-- --profile "<subject>" [reads]`: only reads (5,000) with one subject, for a profiler);
//! `cargo xtask bench` prints the summary table.

#[path = "../../cache-core/benches/support/hit.rs"]
mod hit;
#[path = "../../cache-core/benches/support/paired.rs"]
mod paired;
#[path = "../../cache-core/benches/support/prediction.rs"]
mod prediction;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{CacheBackend, EntryOptions, SmartCache};
use cache_redis::{RedisBackend, RedisConfig};
use fred::bytes::Bytes;
use fred::prelude::*;
use fred::types::scripts::Script;
use hit::HitBench;
use paired::{Plan, Row, Subject};
use prediction::Prediction;
use redis_harness::RedisServer;

const KEYS: usize = 1_024;
const POOL: usize = 4;
const GET_PTTL: &str = "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";

struct Setup {
    _server: RedisServer,
    /// Keys holding the plain JSON of the value (raw fred's).
    raw_keys: Vec<String>,
    /// Keys written by smartcache.
    keys: Vec<String>,
    backend: RedisBackend,
    cache: SmartCache,
    options: EntryOptions,
    script: Script,
}

#[derive(Clone, Copy)]
enum Read {
    RawGet,
    RawGetDecode,
    Backend,
    GetOrCompute,
    Get,
    EvalshaGetPttl,
}

impl Subject for Read {
    type Setup = Setup;

    fn name(self) -> &'static str {
        match self {
            Read::RawGet => "raw fred GET",
            Read::RawGetDecode => "raw fred GET + decode",
            Read::Backend => "RedisBackend::get",
            Read::GetOrCompute => "smartcache get_or_compute",
            Read::Get => "smartcache get",
            Read::EvalshaGetPttl => "EVALSHA {GET, PTTL}",
        }
    }

    async fn read(self, s: &Setup, i: usize) {
        let raw_key = s.raw_keys[i % KEYS].as_str();
        let key = s.keys[i % KEYS].as_str();
        let pool = s.backend.fred_pool();
        match self {
            Read::RawGet => {
                let bytes: Option<Bytes> = pool.next().get(raw_key).await.expect("a GET");
                black_box(bytes.expect("a raw hit"));
            }
            Read::RawGetDecode => {
                let bytes: Option<Bytes> = pool.next().get(raw_key).await.expect("a GET");
                let bytes = bytes.expect("a raw hit");
                let value: Prediction = serde_json::from_slice(&bytes).expect("JSON");
                black_box(Arc::new(value));
            }
            Read::Backend => {
                let entry = s.backend.get(key).await.ok().flatten();
                black_box(entry.expect("a backend hit"));
            }
            Read::GetOrCompute => hit::get_or_compute(&s.cache, key, &s.options).await,
            Read::Get => hit::get(&s.cache, key).await,
            Read::EvalshaGetPttl => {
                let (bytes, _pttl): (Option<Bytes>, i64) = s
                    .script
                    .evalsha_with_reload(pool.next(), vec![key], Vec::<String>::new())
                    .await
                    .expect("an EVALSHA");
                black_box(bytes.expect("a hit"));
            }
        }
    }
}

/// Starts a server, connects, and writes every key the reads hit.
async fn setup() -> Setup {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let mut config = RedisConfig::from_url(&server.url()).expect("the harness URL");
    config.pool_size = POOL;
    let backend = RedisBackend::connect(config).await.expect("connected");
    let cache = SmartCache::new(backend.clone());
    let options = EntryOptions::new().ttl(Duration::from_secs(3600));
    let value = prediction::sample();
    let json = serde_json::to_vec(&value).expect("JSON");
    let raw_keys = prediction::keys("bench:raw", KEYS);
    let keys = prediction::keys("bench:prediction", KEYS);
    for (raw_key, key) in raw_keys.iter().zip(&keys) {
        let pool = backend.fred_pool();
        pool.set::<(), _, _>(raw_key.as_str(), json.as_slice(), None, None, false)
            .await
            .expect("a SET");
        hit::warm(&cache, key, &options, value.clone()).await;
    }
    let script = Script::from_lua(GET_PTTL);
    script
        .load(backend.fred_pool().next())
        .await
        .expect("SCRIPT LOAD");
    Setup {
        _server: server,
        raw_keys,
        keys,
        backend,
        cache,
        options,
        script,
    }
}

fn main() {
    let (runtime, setup) = HitBench {
        title: "redis hit",
        subjects: &[
            Read::RawGet,
            Read::RawGetDecode,
            Read::Backend,
            Read::GetOrCompute,
            Read::Get,
            Read::EvalshaGetPttl,
        ],
        profile_reads: 5_000,
        plan: Plan {
            rounds: 24,
            batch: 1,
            batches: 300,
            tasks: 64,
            reads_per_task: 100,
        },
        rows: &[
            Row {
                id: "redis.get_or_compute",
                path: "Redis hit, get_or_compute",
                subject: "smartcache get_or_compute",
                floor: "raw fred GET + decode",
            },
            Row {
                id: "redis.get",
                path: "Redis hit, SmartCache::get",
                subject: "smartcache get",
                floor: "raw fred GET + decode",
            },
            Row {
                id: "redis.backend",
                path: "RedisBackend::get alone",
                subject: "RedisBackend::get",
                floor: "raw fred GET",
            },
            Row {
                id: "redis.evalsha",
                path: "EVALSHA {GET, PTTL}",
                subject: "EVALSHA {GET, PTTL}",
                floor: "raw fred GET",
            },
        ],
    }
    .run(
        setup(),
        |s| s.cache.stats(),
        |before, after| hit::every_read_hit(&before, &after),
    );
    // Close the connections before the server goes.
    runtime.block_on(setup.backend.quit());
}

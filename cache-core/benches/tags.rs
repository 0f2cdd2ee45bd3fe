//! Tags on the in-process store (paired rounds, see `support/paired.rs`): a hit of a tagged entry
//! against an untagged one, and `invalidate_tag` of a tag carried by 10, 10,000 and 100,000
//! entries (O(1): the same cost). One task (p50 latency) and 64 tasks (throughput) on a
//! two-worker runtime. Subjects and setup: `support/tagged.rs`.
//!
//! `cargo bench -p cache-core --bench tags [-- --quick] [--l1]`: with `--l1`, the same subjects
//! on two tiers — an L1 (`MemoryBackend`) in front of a network store (the fake, encoded values,
//! change feed alive) — where a tagged hit reads its tag's version from the L1 too.

#[path = "support/paired.rs"]
mod paired;
#[path = "support/prediction.rs"]
mod prediction;
#[path = "support/tagged.rs"]
mod tagged;

use std::sync::Arc;

use cache_core::SmartCache;
use cache_memory::MemoryBackend;
use paired::Plan;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let two_tiers = std::env::args().any(|a| a == "--l1");
    let backend = MemoryBackend::builder().max_entries(250_000).build();
    let cache = if two_tiers {
        let l2 = cache_fake::FakeBackend::builder()
            .encode_values(true)
            .build();
        // A long heartbeat keeps a profiler's slow run from closing the L1; the hit's cost does
        // not depend on it.
        runtime.block_on(async {
            SmartCache::builder(l2)
                .l1(backend)
                .l1_heartbeat(std::time::Duration::from_secs(5))
                .build()
        })
    } else {
        SmartCache::new(backend)
    };
    let setup = Arc::new(runtime.block_on(async {
        let setup = tagged::setup(cache).await;
        tagged::warm(&setup).await;
        setup
    }));
    if let Some((subject, reads)) = paired::profile_requested(&tagged::SUBJECTS, 200_000) {
        paired::profile(&runtime, &setup, subject, reads);
        return;
    }
    let plan = Plan {
        rounds: 20,
        batch: 16,
        batches: 200,
        tasks: 64,
        reads_per_task: 500,
    }
    .or_quick();
    let before = setup.cache.stats();
    let measured = paired::run(&runtime, &setup, &tagged::SUBJECTS, plan);
    let after = setup.cache.stats();
    assert_eq!(after.misses, before.misses, "every read must hit");
    if two_tiers {
        paired::report(
            "tags, two tiers (L1 hits)",
            &measured,
            &tagged::rows("l1.tags"),
        );
    } else {
        paired::report("tags, memory", &measured, &tagged::rows("memory.tags"));
    }
}

//! Tags on the in-process store (paired rounds, see `support/paired.rs`): a hit of a tagged entry
//! against an untagged one, and `invalidate_tag` of a tag carried by 10, 10,000 and 100,000
//! entries (O(1): the same cost). One task (p50 latency) and 64 tasks (throughput) on a
//! two-worker runtime. Subjects and setup: `support/tagged.rs`.
//!
//! `cargo bench -p cache-core --bench tags [-- --quick]`.

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
    let backend = MemoryBackend::builder().max_entries(250_000).build();
    let setup = Arc::new(runtime.block_on(tagged::setup(SmartCache::new(backend))));
    if let Some((subject, reads)) = paired::profile_requested(&tagged::SUBJECTS, 200_000) {
        paired::profile(&runtime, &*setup, subject, reads);
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
    paired::report("tags, memory", &measured, &tagged::rows("memory.tags"));
}

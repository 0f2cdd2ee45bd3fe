//! The hit's clock on the OS clock, as production runs it: no test in this file pauses Tokio's
//! clock (a process that has seen it paused reads the precise clock on every hit).

use std::time::{Duration, Instant};

use cache_core::{EntryOptions, Freshness, SmartCache};
use cache_memory::MemoryBackend;

/// A hit reads a bound of the clock that may run a couple of timer ticks ahead of it, so an
/// entry a millisecond from its deadline looks expired to it. The read must then ask the store
/// again at the precise time: every read that finishes before the deadline finds the entry
/// fresh.
#[tokio::test]
async fn an_entry_the_hit_clock_calls_expired_is_read_again_at_the_precise_time() {
    let ttl = Duration::from_millis(1);
    let cache = SmartCache::new(MemoryBackend::new(10_000));
    let options = EntryOptions::new().ttl(ttl).grace(Duration::ZERO);
    // Reads that finish before their entry's deadline (a loaded machine makes fewer of them;
    // the loop goes on until it has enough).
    let mut before_deadline = 0;
    for attempt in 0..5_000 {
        let key = format!("k{attempt}");
        let written = Instant::now();
        cache.set(&key, attempt, &options).await.unwrap();
        let read = cache.get::<i32>(&key).await.unwrap();
        if written.elapsed() >= ttl {
            continue; // the deadline may have passed: either answer is right
        }
        let read = read.unwrap_or_else(|| panic!("attempt {attempt}: a live entry missed"));
        assert_eq!((*read.value, read.freshness), (attempt, Freshness::Fresh));
        before_deadline += 1;
        if before_deadline == 20 {
            return;
        }
    }
    panic!("only {before_deadline} of 5,000 reads finished within a millisecond of their write");
}

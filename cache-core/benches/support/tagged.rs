//! Tags, measured the same way on any store (shared by `cache-core/benches/tags.rs` and
//! `cache-redis/benches/tags.rs`): a hit of an untagged entry against a hit of a tagged one
//! (one tag), and `invalidate_tag` of a tag that 10, 10,000 and 100,000 entries carry.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use cache_core::{EntryOptions, SmartCache, Source};

use crate::paired::{Row, Subject};
use crate::prediction::{self, Prediction};

const KEYS: usize = 1_024;
/// How many entries carry each measured tag.
pub const SIZES: [usize; 3] = [10, 10_000, 100_000];
/// Writes in flight while filling the store.
const FILL_CONCURRENCY: usize = 512;

pub struct Setup {
    pub cache: SmartCache,
    keys: Vec<String>,
    tagged_keys: Vec<String>,
    untagged: EntryOptions,
    tagged: EntryOptions,
    /// The tag of each size in `SIZES`.
    tags: Vec<String>,
}

#[derive(Clone, Copy)]
pub enum Op {
    UntaggedHit,
    TaggedHit,
    /// `invalidate_tag` of the tag `SIZES[i]` entries carry.
    Invalidate(usize),
}

pub const SUBJECTS: [Op; 5] = [
    Op::UntaggedHit,
    Op::TaggedHit,
    Op::Invalidate(0),
    Op::Invalidate(1),
    Op::Invalidate(2),
];

impl Subject for Op {
    type Setup = Setup;

    fn name(self) -> &'static str {
        match self {
            Op::UntaggedHit => "untagged hit",
            Op::TaggedHit => "tagged hit (1 tag)",
            Op::Invalidate(0) => "invalidate_tag, 10 entries",
            Op::Invalidate(1) => "invalidate_tag, 10k entries",
            Op::Invalidate(_) => "invalidate_tag, 100k entries",
        }
    }

    async fn read(self, s: &Setup, i: usize) {
        let (keys, options) = match self {
            Op::UntaggedHit => (&s.keys, &s.untagged),
            Op::TaggedHit => (&s.tagged_keys, &s.tagged),
            Op::Invalidate(size) => {
                s.cache
                    .invalidate_tag(&s.tags[size])
                    .await
                    .expect("an invalidation");
                return;
            }
        };
        let value: cache_core::Value<Prediction> = s
            .cache
            .get_or_compute(&keys[i % KEYS], options, || async {
                Ok::<_, Infallible>(prediction::sample())
            })
            .await
            .expect("a hit");
        black_box(value);
    }
}

/// Writes the hot keys (untagged and tagged) and the entries of each measured tag.
pub async fn setup(cache: SmartCache) -> Setup {
    let ttl = Duration::from_secs(3600);
    let untagged = EntryOptions::new().ttl(ttl);
    let tagged = untagged.clone().tags(["bench:hot-tag"]);
    let keys = prediction::keys("bench:untagged", KEYS);
    let tagged_keys = prediction::keys("bench:tagged", KEYS);
    for (key, options) in keys
        .iter()
        .map(|k| (k, &untagged))
        .chain(tagged_keys.iter().map(|k| (k, &tagged)))
    {
        // Written by a compute that took a millisecond (Δ > 0), as in production.
        let lookup = cache
            .get_or_compute_detailed(key, options, || async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, Infallible>(prediction::sample())
            })
            .await
            .expect("the first read computes");
        assert_eq!(lookup.source, Source::Miss);
    }
    let tags: Vec<String> = SIZES.iter().map(|n| format!("bench:tag-of-{n}")).collect();
    for (n, tag) in SIZES.iter().zip(&tags) {
        let options = untagged.clone().tags([tag.as_str()]);
        let keys: Vec<String> = (0..*n).map(|i| format!("bench:{tag}:{i}")).collect();
        for chunk in keys.chunks(FILL_CONCURRENCY) {
            let writes = chunk.iter().map(|key| cache.set(key, 1u64, &options));
            for written in futures_util::future::join_all(writes).await {
                written.expect("a tagged write");
            }
        }
    }
    Setup {
        cache,
        keys,
        tagged_keys,
        untagged,
        tagged,
        tags,
    }
}

/// The rows of the report: tagged hit against untagged hit, and each invalidation against the
/// smallest.
/// Reads every hit key twice more: on two tiers the reads after the first come from the L1.
pub async fn warm(s: &Setup) {
    for (keys, options) in [(&s.keys, &s.untagged), (&s.tagged_keys, &s.tagged)] {
        for key in keys {
            for _ in 0..2 {
                let hit = s
                    .cache
                    .get_or_compute(key, options, || async {
                        Ok::<_, Infallible>(prediction::sample())
                    })
                    .await
                    .expect("a hit");
                black_box(hit);
            }
        }
    }
}

pub fn rows(prefix: &'static str) -> Vec<Row> {
    let id =
        |suffix: &str| -> &'static str { Box::leak(format!("{prefix}.{suffix}").into_boxed_str()) };
    vec![
        Row {
            id: id("tagged_hit"),
            path: "tagged hit vs untagged hit",
            subject: "tagged hit (1 tag)",
            floor: "untagged hit",
        },
        Row {
            id: id("invalidate_tag.10k"),
            path: "invalidate_tag: 10k entries vs 10",
            subject: "invalidate_tag, 10k entries",
            floor: "invalidate_tag, 10 entries",
        },
        Row {
            id: id("invalidate_tag.100k"),
            path: "invalidate_tag: 100k entries vs 10",
            subject: "invalidate_tag, 100k entries",
            floor: "invalidate_tag, 10 entries",
        },
    ]
}

//! The hit path: a fresh hit settled without awaiting, without a decision to carry around and
//! without a draw — one clock read (shared with the store), the entry read by reference, one
//! clone of the value. What it cannot settle goes to the full read path (`read_path.rs`).

use super::Inner;
use super::l1::TagCheck;
use super::read_path::Answer;
use crate::backend::{Payload, StoredEntry};
use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::Result;
use crate::options::{Source, Tier};
use crate::stats::Stats;

/// What [`Inner::fresh_hit`] got from an in-process store's `get_now`, handed to the full read
/// so the store is not asked twice (`None`: nothing was asked).
pub(crate) type Prefetched = Option<Result<Option<StoredEntry>>>;

impl<C: Codec> Inner<C> {
    /// The common hit: a fresh entry of the L1 or of an in-process store, certainly not due
    /// for an early refresh, whose stamp (tags, `clear()`) checks without I/O. Counted as a hit.
    /// `Err` for everything else (nothing counted or drawn), with what an in-process store
    /// answered, for [`read`](Self::read) and the full decision: the store is not asked twice.
    pub(crate) fn fresh_hit<T>(&self, key: &str) -> Result<Answer<T>, Prefetched>
    where
        T: Clone + Send + Sync + 'static,
    {
        let now = tokio::time::Instant::now();
        let serve = |env: &Envelope<T>, remaining, tier, check: Option<TagCheck<'_>>| {
            let fresh = self.policy.surely_fresh(&env.timing(), remaining)
                && self.stamp_holds_now(env, now, check)?;
            fresh.then(|| Answer {
                value: env.value.clone(),
                source: Source::Hit,
                tier: Some(tier),
                compute_time: None,
            })
        };
        let answer = match &self.l1 {
            Some(l1) => {
                let answer = l1
                    .with_entry(key, now, |env, remaining, check| {
                        serve(env, remaining, Tier::L1, Some(check))
                    })
                    .ok_or(None)?;
                Stats::bump(&self.stats.l1_hits);
                answer
            }
            None => {
                let domain = self.backend.failure_domain(key);
                if !self.breakers.of(domain).is_closed() {
                    return Err(None);
                }
                let read = self.backend.get_now(key, now.into_std());
                let answer = match &read {
                    Some(Ok(Some(StoredEntry {
                        payload: Payload::Object(object),
                        remaining,
                    }))) => object
                        .value
                        .downcast_ref()
                        .and_then(|env| serve(env, *remaining, Tier::L2, None)),
                    _ => None,
                };
                answer.ok_or(read)?
            }
        };
        Stats::bump(&self.stats.hits);
        Ok(answer)
    }
}

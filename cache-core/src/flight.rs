//! Single-flight: one computation per key per process; every concurrent caller waits on it.
//!
//! A flight is a `watch` channel in a map keyed by cache key. The leader's computation runs in
//! its own task, so a caller that is dropped never cancels it, and the flight leaves the map
//! when that task ends — however it ends — so a key is never poisoned.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::{CacheError, Result};

/// How a flight's value came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Computed by this process, in `delta`.
    Computed(Duration),
    /// Written by another process that held the fleet lock.
    Fleet,
    /// The compute failed; this is the last good value.
    FailSafe,
    /// Another process holds the fleet lock; this is the stale value at hand.
    Stale,
}

/// What a flight publishes.
pub(crate) type FlightResult<T> = Result<(T, Origin)>;
type Slot<T> = Option<FlightResult<T>>;

struct Entry {
    id: u64,
    invalidated: Arc<AtomicBool>,
    /// `watch::Sender<Slot<T>>`, type-erased because one map serves every value type.
    sender: Arc<dyn Any + Send + Sync>,
}

#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Entry>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Flights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Flights({} in flight)", self.lock().len())
    }
}

/// The result of joining a key's flight.
pub(crate) enum Join<T: Send + Sync + 'static> {
    /// No flight existed: the caller leads and must run the computation.
    Lead(Leader<T>),
    /// Another caller leads: wait on this.
    Wait(Waiter<T>),
    /// A flight of another value type runs under this key: compute alone.
    Alone,
}

/// The right (and duty) to publish a key's result. Dropping it without publishing wakes every
/// waiter with an error; dropping it always removes the flight from the map.
pub(crate) struct Leader<T: Send + Sync + 'static> {
    flights: Arc<Flights>,
    key: String,
    id: u64,
    sender: Arc<watch::Sender<Slot<T>>>,
    invalidated: Arc<AtomicBool>,
}

pub(crate) struct Waiter<T> {
    receiver: watch::Receiver<Slot<T>>,
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the flight for `key`, or starts one.
    pub(crate) fn join<T: Clone + Send + Sync + 'static>(self: &Arc<Self>, key: &str) -> Join<T> {
        let mut map = self.lock();
        if let Some(entry) = map.get(key) {
            return match entry.sender.clone().downcast::<watch::Sender<Slot<T>>>() {
                Ok(sender) => Join::Wait(Waiter {
                    receiver: sender.subscribe(),
                }),
                Err(_) => Join::Alone,
            };
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, _) = watch::channel::<Slot<T>>(None);
        let sender = Arc::new(sender);
        let invalidated = Arc::new(AtomicBool::new(false));
        map.insert(
            key.to_owned(),
            Entry {
                id,
                invalidated: invalidated.clone(),
                sender: sender.clone(),
            },
        );
        Join::Lead(Leader {
            flights: self.clone(),
            key: key.to_owned(),
            id,
            sender,
            invalidated,
        })
    }

    /// Marks the flights whose key satisfies `affected` as invalidated: their results are still
    /// returned to the callers already waiting but not stored. They also leave the map, so a
    /// caller arriving after the invalidation starts a new flight instead of being handed a value
    /// that may have been computed from the data just invalidated. (The leader keeps its sender:
    /// its waiters still get the result; its `Drop` only removes an entry with its own id.)
    pub(crate) fn invalidate(&self, affected: impl Fn(&str) -> bool) {
        self.lock().retain(|key, entry| {
            let hit = affected(key);
            if hit {
                entry.invalidated.store(true, Ordering::Release);
            }
            !hit
        });
    }

    /// How many flights are in the map (running computes and refreshes).
    pub(crate) fn running(&self) -> usize {
        self.lock().len()
    }
}

impl<T: Clone + Send + Sync + 'static> Leader<T> {
    /// A receiver for the leader's own caller.
    pub(crate) fn waiter(&self) -> Waiter<T> {
        Waiter {
            receiver: self.sender.subscribe(),
        }
    }

    /// Publishes the result to every waiter (the flight stays joinable until dropped, so
    /// callers arriving while the value is being stored get it too).
    pub(crate) fn publish(&self, result: FlightResult<T>) {
        self.sender.send_replace(Some(result));
    }

    /// Whether the key was invalidated since the flight started.
    pub(crate) fn invalidated(&self) -> bool {
        self.invalidated.load(Ordering::Acquire)
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

impl<T: Send + Sync + 'static> Drop for Leader<T> {
    fn drop(&mut self) {
        let mut map = self.flights.lock();
        if map.get(&self.key).is_some_and(|e| e.id == self.id) {
            map.remove(&self.key);
        }
        // Dropping our sender (the map's copy is gone) closes the channel: waiters of a
        // flight that never published see `ComputePanicked` instead of hanging.
    }
}

impl<T: Clone> Waiter<T> {
    /// Waits for the flight's result.
    pub(crate) async fn wait(mut self) -> FlightResult<T> {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(slot) => slot.clone().unwrap_or(Err(CacheError::ComputePanicked)),
            Err(_) => Err(CacheError::ComputePanicked),
        }
    }

    /// Waits for the result within this caller's own limits: `soft` (then the caller serves
    /// what it has and the flight goes on) and `hard` (then the caller gives up). Each caller
    /// brings its own: a flight led by a caller with looser limits never holds a stricter one.
    pub(crate) async fn wait_within(
        self,
        soft: Option<Duration>,
        hard: Option<Duration>,
    ) -> Waited<T> {
        let wait = self.wait();
        tokio::pin!(wait);
        let hard = hard.unwrap_or(Duration::MAX);
        if let Some(soft) = soft.filter(|soft| *soft < hard) {
            // `timeout` saturates: no overflow for any user-supplied duration.
            return match tokio::time::timeout(soft, &mut wait).await {
                Ok(result) => Waited::Done(result),
                Err(_) => Waited::SoftTimeout,
            };
        }
        match tokio::time::timeout(hard, wait).await {
            Ok(result) => Waited::Done(result),
            Err(_) => Waited::HardTimeout(hard),
        }
    }
}

/// How a caller's wait on a flight ended.
pub(crate) enum Waited<T> {
    /// The flight published.
    Done(FlightResult<T>),
    /// The caller's soft timeout passed first.
    SoftTimeout,
    /// The caller's hard timeout passed first.
    HardTimeout(Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_leader_many_waiters_and_cleanup() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(leader) = flights.join::<u32>("k") else {
            panic!("first caller leads")
        };
        let waiters: Vec<_> = (0..10)
            .map(|_| match flights.join::<u32>("k") {
                Join::Wait(w) => w,
                _ => panic!("later callers wait"),
            })
            .collect();
        assert!(matches!(flights.join::<String>("k"), Join::Alone));
        leader.publish(Ok((7, Origin::Fleet)));
        drop(leader);
        assert_eq!(flights.running(), 0);
        for w in waiters {
            assert_eq!(w.wait().await.unwrap().0, 7);
        }
    }

    #[tokio::test]
    async fn invalidation_detaches_the_flight_but_its_waiters_still_get_the_result() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(old) = flights.join::<u32>("k") else {
            panic!("first caller leads")
        };
        let Join::Wait(w) = flights.join::<u32>("k") else {
            panic!("second caller waits")
        };
        flights.invalidate(|k| k == "k");
        assert!(old.invalidated());
        let Join::Lead(new) = flights.join::<u32>("k") else {
            panic!("a caller after the invalidation starts a new flight")
        };
        old.publish(Ok((1, Origin::Fleet)));
        drop(old);
        assert_eq!(
            flights.running(),
            1,
            "the old leader must not remove the new flight"
        );
        assert_eq!(w.wait().await.unwrap().0, 1);
        assert!(!new.invalidated());
        drop(new);
        assert_eq!(flights.running(), 0);
    }

    #[tokio::test]
    async fn leader_dropped_without_result_wakes_waiters_with_error() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(leader) = flights.join::<u32>("k") else {
            panic!()
        };
        let Join::Wait(w) = flights.join::<u32>("k") else {
            panic!()
        };
        drop(leader);
        assert!(matches!(w.wait().await, Err(CacheError::ComputePanicked)));
        assert!(
            matches!(flights.join::<u32>("k"), Join::Lead(_)),
            "key not poisoned"
        );
    }
}

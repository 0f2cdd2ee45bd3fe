//! The stored entries and refresh locks, with lifetimes on tokio's clock.

use std::collections::HashMap;
use std::time::Duration;

use cache_core::{Payload, StoredEntry};
use tokio::time::Instant;

/// One stored entry.
#[derive(Debug, Clone)]
struct Slot {
    payload: Payload,
    /// `None`: lives forever (a lifetime too long to represent as an instant).
    deadline: Option<Instant>,
}

impl Slot {
    fn is_live(&self, now: Instant) -> bool {
        self.deadline.is_none_or(|deadline| deadline > now)
    }

    fn entry(&self, now: Instant) -> StoredEntry {
        StoredEntry {
            payload: self.payload.clone(),
            remaining: self
                .deadline
                .map(|deadline| deadline.saturating_duration_since(now)),
        }
    }
}

/// A refresh lock: who holds it and until when.
#[derive(Debug)]
struct Lock {
    token: String,
    deadline: Option<Instant>,
}

/// Entries and locks. Expired ones are dropped lazily, when touched.
#[derive(Debug, Default)]
pub(crate) struct Store {
    entries: HashMap<String, Slot>,
    locks: HashMap<String, Lock>,
    /// Keys written or deleted since the last [`take_changes`](Store::take_changes), for the
    /// change feed.
    changes: Vec<String>,
}

/// Redis keeps nothing for less than a millisecond (`PX` counts whole milliseconds, and a
/// sub-millisecond `SET ... PX` is sent as 1 ms), so neither does the fake.
const MIN_LIFETIME: Duration = Duration::from_millis(1);

fn deadline_after(lifetime: Duration) -> Option<Instant> {
    Instant::now().checked_add(lifetime.max(MIN_LIFETIME))
}

impl Store {
    pub(crate) fn get(&mut self, key: &str) -> Option<StoredEntry> {
        let now = Instant::now();
        match self.entries.get(key) {
            Some(slot) if slot.is_live(now) => Some(slot.entry(now)),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn set(&mut self, key: &str, payload: Payload, lifetime: Duration) {
        let slot = Slot {
            payload,
            deadline: deadline_after(lifetime),
        };
        self.entries.insert(key.to_owned(), slot);
        self.changes.push(key.to_owned());
    }

    /// The keys changed since the last call.
    pub(crate) fn take_changes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changes)
    }

    /// Replaces `key`'s entry only if the live entry is `expected` (the same write).
    pub(crate) fn compare_and_set(
        &mut self,
        key: &str,
        expected: &Payload,
        payload: Payload,
        lifetime: Duration,
    ) -> bool {
        let matches = self
            .get(key)
            .is_some_and(|e| e.payload.same_entry(expected));
        if matches {
            self.set(key, payload, lifetime);
        }
        matches
    }

    /// Removes `key` only if the live entry is `expected`.
    pub(crate) fn compare_and_delete(&mut self, key: &str, expected: &Payload) -> bool {
        let matches = self
            .get(key)
            .is_some_and(|e| e.payload.same_entry(expected));
        if matches {
            self.entries.remove(key);
            self.changes.push(key.to_owned());
        }
        matches
    }

    /// Removes `key`; true when it held a live entry.
    pub(crate) fn delete(&mut self, key: &str) -> bool {
        let now = Instant::now();
        let removed = self.entries.remove(key);
        if removed.is_some() {
            self.changes.push(key.to_owned());
        }
        removed.is_some_and(|slot| slot.is_live(now))
    }

    /// Removes every entry whose key matches the Redis glob; counts the live ones.
    pub(crate) fn invalidate_pattern(&mut self, pattern: &str) -> u64 {
        let now = Instant::now();
        let mut removed = 0;
        let changes = &mut self.changes;
        self.entries.retain(|key, slot| {
            if cache_core::glob::matches(pattern, key) {
                removed += u64::from(slot.is_live(now));
                changes.push(key.clone());
                false
            } else {
                true
            }
        });
        removed
    }

    /// Replaces the payload of a live entry, keeping its lifetime; false when there is none.
    pub(crate) fn replace_payload(&mut self, key: &str, payload: Payload) -> bool {
        let now = Instant::now();
        match self.entries.get_mut(key) {
            Some(slot) if slot.is_live(now) => {
                slot.payload = payload;
                self.changes.push(key.to_owned());
                true
            }
            _ => false,
        }
    }

    /// The live keys, sorted.
    pub(crate) fn keys(&self) -> Vec<String> {
        let now = Instant::now();
        let mut keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, slot)| slot.is_live(now))
            .map(|(key, _)| key.clone())
            .collect();
        keys.sort();
        keys
    }

    /// Takes the lock for `key` unless someone holds it (an expired lock is free).
    pub(crate) fn try_lock(&mut self, key: &str, token: &str, lifetime: Duration) -> bool {
        let now = Instant::now();
        if let Some(lock) = self.locks.get(key) {
            if lock.deadline.is_none_or(|deadline| deadline > now) {
                return false;
            }
        }
        let lock = Lock {
            token: token.to_owned(),
            deadline: deadline_after(lifetime),
        };
        self.locks.insert(key.to_owned(), lock);
        true
    }

    /// Releases the lock for `key` if it is still held with `token`.
    pub(crate) fn unlock(&mut self, key: &str, token: &str) -> bool {
        let holder = self.lock_holder(key);
        if holder.as_deref() == Some(token) {
            self.locks.remove(key);
            true
        } else {
            false
        }
    }

    /// The token holding the lock for `key`, if the lock is held and has not expired.
    pub(crate) fn lock_holder(&mut self, key: &str) -> Option<String> {
        let now = Instant::now();
        match self.locks.get(key) {
            Some(lock) if lock.deadline.is_none_or(|deadline| deadline > now) => {
                Some(lock.token.clone())
            }
            Some(_) => {
                self.locks.remove(key);
                None
            }
            None => None,
        }
    }
}

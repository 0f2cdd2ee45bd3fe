//! The fleet-lock contract, run on both adapters (`tests/lock.rs` for fred, `tests/redis_rs.rs`
//! for redis-rs): expiry of a dead holder, ownership, a waiter handed the value, a release
//! without value. Each takes two backends on one server, as two instances of a fleet.

use std::time::{Duration, Instant};

use cache_core::{CacheBackend, LockOutcome};

use super::{bytes, payload_bytes};

const LONG: Duration = Duration::from_secs(30);

/// A holder that dies (never writes, never unlocks) blocks nobody past its lock's lifetime, even
/// a waiter allowed to wait forever (`Duration::MAX` must not overflow either).
pub async fn a_dead_holder_blocks_nobody_past_its_lock_lifetime(
    holder: &impl CacheBackend,
    other: &impl CacheBackend,
    key: &str,
) {
    let lifetime = Duration::from_millis(300);
    assert_eq!(
        holder.try_lock(key, "holder", lifetime).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        other.try_lock(key, "other", lifetime).await.unwrap(),
        LockOutcome::Held
    );
    // The outer limit only turns a hang into a failure.
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        other.wait_for_value(key, Duration::MAX),
    )
    .await
    .expect("wait_for_value kept waiting after the dead holder's lock expired")
    .unwrap();
    assert!(waited.is_none());
    assert_eq!(
        other.try_lock(key, "other", LONG).await.unwrap(),
        LockOutcome::Acquired
    );
}

/// Only the token that took a lock releases it, also after it expired and another took it.
pub async fn a_lock_is_only_released_by_its_owner(
    a: &impl CacheBackend,
    b: &impl CacheBackend,
    key: &str,
) {
    assert_eq!(
        a.try_lock(key, "token-a", Duration::from_millis(200))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    assert!(
        !b.unlock(key, "token-b").await.unwrap(),
        "b released a's lock"
    );
    assert_eq!(
        b.try_lock(key, "token-b", LONG).await.unwrap(),
        LockOutcome::Held
    );
    // a's lock expires while a still "computes"; b takes the lock.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        b.try_lock(key, "token-b", LONG).await.unwrap(),
        LockOutcome::Acquired
    );
    // a finishes late: its unlock must not release b's lock.
    assert!(
        !a.unlock(key, "token-a").await.unwrap(),
        "a released b's lock"
    );
    assert_eq!(
        a.try_lock(key, "token-a", LONG).await.unwrap(),
        LockOutcome::Held
    );
    assert!(b.unlock(key, "token-b").await.unwrap());
    assert_eq!(
        a.try_lock(key, "token-a", LONG).await.unwrap(),
        LockOutcome::Acquired
    );
    assert!(a.unlock(key, "token-a").await.unwrap());
}

/// A waiter gets the value the holder writes before releasing; `label` names the waiter in
/// failures and in the informational timing line.
pub async fn a_waiter_gets_the_holders_value<B: CacheBackend + Clone + 'static>(
    holder: &impl CacheBackend,
    waiter: &B,
    key: &str,
    label: &str,
) {
    assert_eq!(
        holder.try_lock(key, "h", LONG).await.unwrap(),
        LockOutcome::Acquired
    );
    let waiting = {
        let (waiter, key) = (waiter.clone(), key.to_owned());
        tokio::spawn(async move { waiter.wait_for_value(&key, Duration::from_secs(20)).await })
    };
    // Long enough for the waiter's polling pause to have grown to its maximum.
    tokio::time::sleep(Duration::from_millis(600)).await;
    holder.set(key, bytes(b"computed"), LONG).await.unwrap();
    assert!(holder.unlock(key, "h").await.unwrap());
    let released = Instant::now();
    let entry = waiting
        .await
        .unwrap()
        .unwrap()
        .unwrap_or_else(|| panic!("{label}: the waiter saw no value"));
    // Informational: with the release notification this is about a round trip, not a pause.
    println!(
        "{label}: waiter saw the value {:?} after the release",
        released.elapsed()
    );
    assert_eq!(payload_bytes(&entry), b"computed", "{label}");
}

/// A holder whose compute failed releases without writing: the wait ends at once, empty.
pub async fn a_released_lock_without_value_ends_the_wait<B: CacheBackend + Clone + 'static>(
    holder: &impl CacheBackend,
    waiter: &B,
    key: &str,
) {
    assert_eq!(
        holder.try_lock(key, "h", LONG).await.unwrap(),
        LockOutcome::Acquired
    );
    let waiting = {
        let (waiter, key) = (waiter.clone(), key.to_owned());
        tokio::spawn(async move { waiter.wait_for_value(&key, Duration::from_secs(60)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(holder.unlock(key, "h").await.unwrap());
    let result = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("waiter hung")
        .unwrap();
    assert!(result.unwrap().is_none());
}

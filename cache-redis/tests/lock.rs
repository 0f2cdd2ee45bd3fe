//! The fleet lock on a standalone server: expiry of a dead holder, ownership, notification.

mod common;

use std::time::Duration;

use cache_core::testing::unique_prefix;
use cache_core::{CacheBackend, LockOutcome};
use common::{bytes, payload_bytes};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_blocks_nobody_past_its_lock_lifetime() {
    let holder = common::standalone().await;
    let other = common::standalone().await;
    let key = unique_prefix("lock:dead");
    let lifetime = Duration::from_millis(300);

    assert_eq!(
        holder.try_lock(&key, "holder", lifetime).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        other.try_lock(&key, "other", lifetime).await.unwrap(),
        LockOutcome::Held
    );
    // The holder "dies": it never writes and never unlocks. A waiter allowed a minute gives up
    // once the lock is gone (the outer limit only turns a hang into a failure).
    let waited = tokio::time::timeout(
        Duration::from_secs(20),
        other.wait_for_value(&key, Duration::from_secs(60)),
    )
    .await
    .expect("wait_for_value kept waiting after the dead holder's lock expired")
    .unwrap();
    assert!(waited.is_none());
    assert_eq!(
        other
            .try_lock(&key, "other", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_only_released_by_its_owner() {
    let a = common::standalone().await;
    let b = common::standalone().await;
    let key = unique_prefix("lock:owner");

    assert_eq!(
        a.try_lock(&key, "token-a", Duration::from_millis(200))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    assert!(
        !b.unlock(&key, "token-b").await.unwrap(),
        "b released a's lock"
    );
    assert_eq!(
        b.try_lock(&key, "token-b", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Held
    );

    // a's lock expires while a still "computes"; b takes the lock.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        b.try_lock(&key, "token-b", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    // a finishes late: its unlock must not release b's lock.
    assert!(
        !a.unlock(&key, "token-a").await.unwrap(),
        "a released b's lock"
    );
    assert_eq!(
        a.try_lock(&key, "token-a", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Held
    );
    assert!(b.unlock(&key, "token-b").await.unwrap());
    assert_eq!(
        a.try_lock(&key, "token-a", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    assert!(a.unlock(&key, "token-a").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_gets_the_holders_value() {
    let holder = common::standalone().await;
    let waiter = common::standalone().await;
    let key = unique_prefix("lock:value");
    assert_eq!(
        holder
            .try_lock(&key, "h", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );

    let waiting = {
        let (waiter, key) = (waiter.clone(), key.clone());
        tokio::spawn(async move { waiter.wait_for_value(&key, Duration::from_secs(20)).await })
    };
    // Long enough for the waiter's polling pause to have grown to its maximum.
    tokio::time::sleep(Duration::from_millis(600)).await;
    holder
        .set(&key, bytes(b"computed"), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(holder.unlock(&key, "h").await.unwrap());
    let released = std::time::Instant::now();
    let entry = waiting
        .await
        .unwrap()
        .unwrap()
        .expect("the waiter saw no value");
    // Informational: with the release notification this is about a round trip, not a pause.
    println!(
        "waiter saw the value {:?} after the release",
        released.elapsed()
    );
    assert_eq!(payload_bytes(&entry), b"computed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lock_without_value_ends_the_wait() {
    let holder = common::standalone().await;
    let waiter = common::standalone().await;
    let key = unique_prefix("lock:failed");
    assert_eq!(
        holder
            .try_lock(&key, "h", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );
    let waiting = {
        let (waiter, key) = (waiter.clone(), key.clone());
        tokio::spawn(async move { waiter.wait_for_value(&key, Duration::from_secs(60)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The holder's compute failed: it releases without writing.
    assert!(holder.unlock(&key, "h").await.unwrap());
    let result = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("waiter hung")
        .unwrap();
    assert!(result.unwrap().is_none());
}

/// Connections the server holds for `user`, from `CLIENT LIST` over the harness's own
/// connection (which is the default user's).
fn connections_of(server: &redis_harness::RedisServer, user: &str) -> usize {
    let list = server
        .command_ok(&["CLIENT", "LIST"])
        .unwrap()
        .as_text()
        .unwrap();
    let field = format!(" user={user} ");
    list.lines().filter(|line| line.contains(&field)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_channel_permission_locks_by_polling_without_leaking_connections() {
    let server = redis_harness::RedisServer::start().unwrap();
    server
        .command_ok(&[
            "ACL",
            "SETUSER",
            "nochan",
            "on",
            ">pw",
            "~*",
            "+@all",
            "resetchannels",
        ])
        .unwrap();
    let url = server.url_with_auth("nochan", "pw");
    let holder = common::connect(&url).await;
    let waiter = common::connect(&url).await;
    let key = unique_prefix("lock:nochan");
    assert_eq!(
        holder
            .try_lock(&key, "h", Duration::from_secs(30))
            .await
            .unwrap(),
        LockOutcome::Acquired
    );

    // The first wait starts the subscriber (fred 10.1 takes the NOPERM reply to SUBSCRIBE for
    // a success, so it then stays connected and silent); later waits must not start another.
    assert!(
        waiter
            .wait_for_value(&key, Duration::from_millis(300))
            .await
            .unwrap()
            .is_none()
    );
    let pools = connections_of(&server, "nochan");
    for _ in 0..4 {
        assert!(
            waiter
                .wait_for_value(&key, Duration::from_millis(100))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(
        connections_of(&server, "nochan"),
        pools,
        "every wait opened a subscriber"
    );

    // Waiting still works, by polling; unlocking is not failed by the forbidden PUBLISH.
    let waiting = {
        let (waiter, key) = (waiter.clone(), key.clone());
        tokio::spawn(async move { waiter.wait_for_value(&key, Duration::from_secs(20)).await })
    };
    holder
        .set(&key, bytes(b"computed"), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(holder.unlock(&key, "h").await.unwrap());
    let entry = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("waiter hung")
        .unwrap()
        .unwrap()
        .expect("the waiter saw no value");
    assert_eq!(payload_bytes(&entry), b"computed");
    assert_eq!(connections_of(&server, "nochan"), pools);
}

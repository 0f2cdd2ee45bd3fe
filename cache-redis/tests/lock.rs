//! The fleet lock on a standalone server: the contract of both adapters (expiry of a dead
//! holder, ownership, notification), and a user without channel permission.

mod common;

use std::time::Duration;

use cache_core::testing::unique_prefix;
use cache_core::{CacheBackend, LockOutcome};
use common::{bytes, lock, payload_bytes};

// The contract both adapters keep (`shared/lock.rs`), here on fred.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_blocks_nobody_past_its_lock_lifetime() {
    let (holder, other) = (common::standalone().await, common::standalone().await);
    lock::a_dead_holder_blocks_nobody_past_its_lock_lifetime(
        &holder,
        &other,
        &unique_prefix("lock:dead"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_only_released_by_its_owner() {
    let (a, b) = (common::standalone().await, common::standalone().await);
    lock::a_lock_is_only_released_by_its_owner(&a, &b, &unique_prefix("lock:owner")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_gets_the_holders_value() {
    let (holder, waiter) = (common::standalone().await, common::standalone().await);
    let key = unique_prefix("lock:value");
    lock::a_waiter_gets_the_holders_value(&holder, &waiter, &key, "fred").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lock_without_value_ends_the_wait() {
    let (holder, waiter) = (common::standalone().await, common::standalone().await);
    let key = unique_prefix("lock:failed");
    lock::a_released_lock_without_value_ends_the_wait(&holder, &waiter, &key).await;
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

//! Fault paths on a standalone server: commands in flight when the connection drops, pattern
//! invalidation while unreachable, the connection epoch, a lock wait of `Duration::MAX`, a pool
//! whose connections come back one at a time.

mod common;

use std::time::Duration;

use cache_core::testing::unique_prefix;
use cache_core::{CacheBackend, CacheError};
use cache_redis::{RedisBackend, RedisConfig};
use common::bytes;
use redis_harness::RedisServer;

const LONG: Duration = Duration::from_secs(60);
/// A command timeout no test here may wait for: an error that takes it is a hang.
const PATIENT: Duration = Duration::from_secs(60);
/// Guard against a hang, far below `PATIENT` and far above any fail-fast answer.
const GUARD: Duration = Duration::from_secs(20);

async fn patient_backend(server: &RedisServer) -> RedisBackend {
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    config.command_timeout = PATIENT;
    RedisBackend::connect(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_in_flight_when_the_connection_drops_fail_at_once() {
    let server = RedisServer::start().unwrap();
    let backend = patient_backend(&server).await;
    let prefix = unique_prefix("inflight");
    backend
        .set(&format!("{prefix}:k"), bytes(b"v"), LONG)
        .await
        .unwrap();
    // Paused clients get no answer: the reads below stay in flight until the server dies.
    server
        .command_ok(&["CLIENT", "PAUSE", "60000", "ALL"])
        .unwrap();
    let reads: Vec<_> = (0..16)
        .map(|_| {
            let backend = backend.clone();
            let key = format!("{prefix}:k");
            tokio::spawn(async move { backend.get(&key).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    for read in reads {
        let outcome = tokio::time::timeout(GUARD, read)
            .await
            .expect("a read in flight waited for its command timeout")
            .unwrap();
        match outcome {
            Err(CacheError::Unavailable { .. }) => {}
            other => panic!("expected Unavailable at once, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_invalidation_fails_fast_while_unreachable() {
    let server = RedisServer::start().unwrap();
    let backend = patient_backend(&server).await;
    server.kill();
    // Past the first reconnection attempts: the client is down, not just dropping.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outcome = tokio::time::timeout(GUARD, backend.invalidate_pattern("any:*"))
        .await
        .expect("invalidate_pattern waited while Redis was unreachable");
    match outcome {
        Err(CacheError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable at once, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_epoch_moves_on_each_reconnection() {
    let server = RedisServer::start().unwrap();
    let backend = common::connect(&server.url()).await;
    let first = backend.connection_epoch();
    server.kill();
    server.restart().unwrap();
    let restarted = std::time::Instant::now();
    let mut moved = None;
    for _ in 0..1000 {
        if backend.connection_epoch() > first && backend.ping().await.is_ok() {
            moved = Some(restarted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("redis restarted: connection epoch moved and ping answered after {moved:?}");
    assert!(
        moved.is_some(),
        "connection_epoch stayed at {first} after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_wait_of_duration_max_does_not_overflow() {
    let backend = common::standalone().await;
    let prefix = unique_prefix("waitmax");
    let key = format!("{prefix}:k");
    backend.set(&key, bytes(b"v"), LONG).await.unwrap();
    let found = backend.wait_for_value(&key, Duration::MAX).await.unwrap();
    assert!(found.is_some());
    // No value and no lock: the wait ends at once, with nothing.
    let absent = format!("{prefix}:absent");
    assert!(
        backend
            .wait_for_value(&absent, Duration::MAX)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_task_that_ends_is_restarted() {
    let server = RedisServer::start().unwrap();
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    config.pool_size = 2;
    let backend = RedisBackend::connect(config).await.unwrap();
    let key = format!("{}:k", unique_prefix("restarted"));
    backend.set(&key, bytes(b"v"), LONG).await.unwrap();
    let before = backend.connection_epoch();
    // End one pooled client's task behind the backend's back, as a fred error would.
    let client = backend.fred_pool().clients()[0].clone();
    fred::interfaces::ClientLike::quit(&client).await.unwrap();
    let mut healed = false;
    for _ in 0..200 {
        let mut all = true;
        for _ in 0..4 {
            all &= matches!(backend.get(&key).await, Ok(Some(_)));
        }
        if all && backend.is_connected() {
            healed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healed, "the ended connection task was not restarted");
    assert!(backend.connection_epoch() > before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_go_to_the_connections_that_are_up() {
    let (user, password) = ("partial-app", "partial-app-password");
    let server = RedisServer::builder()
        .acl_user(user, password)
        .start()
        .unwrap();
    let mut config = RedisConfig::from_url(&server.url_with_auth(user, password)).unwrap();
    config.pool_size = 2;
    let backend = RedisBackend::connect(config).await.unwrap();
    let key = format!("{}:k", unique_prefix("partial"));
    backend.set(&key, bytes(b"v"), LONG).await.unwrap();
    // From now on the user cannot log in, but its open connections keep working: one of the
    // two is dropped and stays down (its reconnections are refused), as after a restart the
    // connections come back one by one. The other listed client is this command's own.
    server.command_ok(&["ACL", "SETUSER", user, "off"]).unwrap();
    let list = server
        .command_ok(&["CLIENT", "LIST", "TYPE", "normal"])
        .unwrap()
        .as_text()
        .unwrap();
    let id = list
        .lines()
        .filter(|line| line.contains(&format!("user={user} ")))
        .find_map(|line| line.strip_prefix("id="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the backend's connections are listed")
        .to_owned();
    server.command_ok(&["CLIENT", "KILL", "ID", &id]).unwrap();
    for _ in 0..400 {
        if !backend.is_connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!backend.is_connected(), "the killed connection is still up");
    for i in 0..20 {
        let read = backend.get(&key).await;
        assert!(
            matches!(read, Ok(Some(_))),
            "read {i} failed with one connection of two up: {read:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sent_before_the_first_reconnection_attempt_fail_at_once() {
    let server = RedisServer::start().unwrap();
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    config.command_timeout = PATIENT;
    // fred says "connected" until its first reconnection attempt: a long first delay makes
    // that window as long as the test.
    config.reconnect.min = LONG;
    config.reconnect.max = LONG;
    // One pooled connection: the drop the test waits for is the one of the connection the
    // command would use (with two, the second one's drop event may still be on its way).
    config.pool_size = 1;
    let backend = RedisBackend::connect(config).await.unwrap();
    server.kill();
    // The drop is seen (its error event arrived), the first reconnection is a minute away.
    for _ in 0..400 {
        if backend.connection_error().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        backend.connection_error().is_some(),
        "the drop was not seen"
    );
    let outcome = tokio::time::timeout(GUARD, backend.get("any"))
        .await
        .expect("a command sent after the drop waited for its command timeout");
    match outcome {
        Err(CacheError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable at once, got {other:?}"),
    }
}

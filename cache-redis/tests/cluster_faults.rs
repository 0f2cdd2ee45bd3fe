//! Faults on a real cluster: a slot migrated under the client (ASK, then MOVED), and a primary
//! killed under load (3 primaries + 3 replicas). The client must follow every redirect and
//! never need a restart; keys on healthy primaries never fail, and the dead primary's keys
//! come back once its replica is promoted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::testing::unique_prefix;
use cache_core::{CacheBackend, LockOutcome};
use common::{bytes, payload_bytes};
use redis_harness::{RedisCluster, RedisServer, Reply, node_id};

const LONG: Duration = Duration::from_secs(600);

fn slot_of(cluster: &RedisCluster, key: &str) -> u16 {
    match cluster.nodes()[0]
        .command_ok(&["CLUSTER", "KEYSLOT", key])
        .unwrap()
    {
        Reply::Integer(slot) => u16::try_from(slot).unwrap(),
        other => panic!("KEYSLOT {other:?}"),
    }
}

/// The primary (of those started) that serves `slot`: the others answer MOVED.
fn owner_of<'c>(cluster: &'c RedisCluster, key: &str) -> (usize, &'c RedisServer) {
    cluster
        .nodes()
        .iter()
        .enumerate()
        .find(|(_, node)| matches!(node.command(&["EXISTS", key]).unwrap(), Reply::Integer(_)))
        .unwrap_or_else(|| panic!("no node serves {key}"))
}

/// Moves `key` from node `from` to node `to` (the step of a slot migration between SETSLOTs).
fn migrate(from: &RedisServer, to: &RedisServer, key: &str) {
    let port = to.port().to_string();
    let args = ["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS", key];
    from.command_ok(&args).unwrap();
}

/// The deterministic reproduction of the ASK bug: warm a key, migrate its slot by hand
/// (IMPORTING / MIGRATING / MIGRATE), then, mid-migration, read, write, run the conditional
/// scripts and take the lock (the old owner answers ASK for every key it no longer holds);
/// finish with `SETSLOT NODE` everywhere and read again (MOVED). Every command answers, as a
/// hit where the key is there, for every key, without a restart (before the fix every command
/// timed out from the ASK on; later, the migrated key read as an error until the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrating_slot_is_followed_through_ask_and_moved() {
    let cluster = RedisCluster::start(3).unwrap();
    let backend = common::connect(&cluster.url()).await;
    let prefix = unique_prefix("ask");
    let key = format!("{prefix}:migrated");
    // Keys of the same slot (hash tag = the migrated key): one stays on the old owner, one is
    // created mid-migration.
    let (stays, created) = (format!("{{{key}}}:stays"), format!("{{{key}}}:created"));
    let others: Vec<String> = (0..30).map(|i| format!("{prefix}:other:{i}")).collect();
    backend.set(&key, bytes(b"warm"), LONG).await.unwrap();
    backend.set(&stays, bytes(b"stays"), LONG).await.unwrap();
    for other in &others {
        backend
            .set(other, bytes(other.as_bytes()), LONG)
            .await
            .unwrap();
    }
    assert_eq!(
        payload_bytes(&backend.get(&key).await.unwrap().unwrap()),
        b"warm"
    );

    let slot = slot_of(&cluster, &key).to_string();
    assert_eq!(slot, slot_of(&cluster, &created).to_string());
    let (from_index, from) = owner_of(&cluster, &key);
    let to = &cluster.nodes()[(from_index + 1) % 3];
    let (from_id, to_id) = (node_id(from).unwrap(), node_id(to).unwrap());
    to.command_ok(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id])
        .unwrap();
    from.command_ok(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id])
        .unwrap();
    migrate(from, to, &key);

    // Mid-migration: the old owner answers ASK for `key` (migrated) and `created` (absent);
    // each command must reach the importing node, after ASKING.
    let read = |key: String| {
        let backend = backend.clone();
        async move {
            backend
                .get(&key)
                .await
                .unwrap_or_else(|e| panic!("read of {key} mid-migration: {e}"))
        }
    };
    let migrated = read(key.clone()).await.expect("a hit mid-migration");
    assert_eq!(payload_bytes(&migrated), b"warm");
    assert_eq!(payload_bytes(&read(stays.clone()).await.unwrap()), b"stays");
    backend.set(&key, bytes(b"during"), LONG).await.unwrap();
    assert_eq!(payload_bytes(&read(key.clone()).await.unwrap()), b"during");
    backend
        .set(&created, bytes(b"created"), LONG)
        .await
        .unwrap();
    let fresh = read(created.clone())
        .await
        .expect("the key created mid-migration");
    assert_eq!(payload_bytes(&fresh), b"created");
    // The conditional scripts (EVALSHA, and EVAL: the importing node has not seen them).
    let cond = backend.conditional().unwrap();
    let current = read(key.clone()).await.unwrap();
    assert!(
        cond.compare_and_set(&key, &current.payload, bytes(b"swapped"), LONG)
            .await
            .unwrap()
    );
    assert_eq!(payload_bytes(&read(key.clone()).await.unwrap()), b"swapped");
    assert!(
        cond.compare_and_delete(&created, &fresh.payload)
            .await
            .unwrap()
    );
    assert!(read(created.clone()).await.is_none());
    // The fleet lock lives in the key's slot: taken, seen held, released.
    assert_eq!(
        backend.try_lock(&key, "t1", LONG).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        backend.try_lock(&key, "t2", LONG).await.unwrap(),
        LockOutcome::Held
    );
    assert!(backend.unlock(&key, "t1").await.unwrap());
    backend.set(&created, bytes(b"again"), LONG).await.unwrap();
    assert!(backend.delete(&created).await.unwrap());

    // The end of the migration: the last key moves, then the slot.
    migrate(from, to, &stays);
    for node in cluster.nodes() {
        node.command_ok(&["CLUSTER", "SETSLOT", &slot, "NODE", &to_id])
            .unwrap();
    }
    assert_eq!(payload_bytes(&read(stays.clone()).await.unwrap()), b"stays");
    // Now MOVED; then every key, on every primary, still answers — no restart.
    for round in 0..3 {
        let read = backend
            .get(&key)
            .await
            .unwrap_or_else(|e| panic!("read {round} after the migration: {e}"));
        assert_eq!(payload_bytes(&read.unwrap()), b"swapped");
        for other in &others {
            let read = backend
                .get(other)
                .await
                .unwrap_or_else(|e| panic!("read of {other} after the migration: {e}"));
            assert_eq!(payload_bytes(&read.unwrap()), other.as_bytes());
        }
    }
    backend.set(&key, bytes(b"rewritten"), LONG).await.unwrap();
    assert_eq!(
        to.command_ok(&["EXISTS", &key]).unwrap(),
        Reply::Integer(1),
        "the write went to the new owner"
    );
}

/// Reads keys of every primary in a loop while primary 0 is killed; its replica is then
/// promoted. Reads of keys on primaries 1 and 2 never fail; the dead primary's keys are
/// served again after the promotion, without a restart, and move to the promoted replica's
/// failure domain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_costs_only_its_own_keys_until_its_replica_is_promoted() {
    let cluster = RedisCluster::start_with_replicas(3, 1).unwrap();
    let backend = common::connect(&cluster.url()).await;
    let prefix = unique_prefix("failover");
    // Twenty keys per primary, found by asking the nodes which one serves each.
    let mut keys: [Vec<String>; 3] = Default::default();
    let mut i = 0;
    while keys.iter().any(|k| k.len() < 20) {
        let key = format!("{prefix}:{i}");
        i += 1;
        let (owner, _) = owner_of(&cluster, &key);
        if keys[owner].len() < 20 {
            backend
                .set(&key, bytes(key.as_bytes()), LONG)
                .await
                .unwrap();
            keys[owner].push(key);
        }
    }
    // Replicas in sync before the kill, so no acknowledged write is lost.
    for node in cluster.nodes() {
        node.command_ok(&["WAIT", "1", "5000"]).unwrap();
    }
    // Domains: one per primary, and keys of one primary share theirs.
    let domains: Vec<u64> = keys.iter().map(|k| backend.failure_domain(&k[0])).collect();
    assert!(
        domains[0] != domains[1] && domains[1] != domains[2] && domains[0] != domains[2],
        "{domains:?}"
    );
    for (owner, owned) in keys.iter().enumerate() {
        assert!(
            owned
                .iter()
                .all(|k| backend.failure_domain(k) == domains[owner])
        );
    }

    let keys = Arc::new(keys);
    let stop = Arc::new(AtomicBool::new(false));
    let healthy_failures = Arc::new(AtomicU64::new(0));
    let healthy_reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (backend, keys, stop) = (backend.clone(), keys.clone(), stop.clone());
            let (failures, reads) = (healthy_failures.clone(), healthy_reads.clone());
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for owner in [1, 2] {
                        let key = &keys[owner][n % 20];
                        match backend.get(key).await {
                            Ok(Some(entry)) if payload_bytes(&entry) == key.as_bytes() => {}
                            other => {
                                eprintln!("healthy read of {key}: {other:?}");
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = Instant::now();
    cluster.nodes()[0].kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let replica = &cluster.replicas_of(0)[0];
    tokio::task::block_in_place(|| cluster.promote(replica)).unwrap();
    let promoted_at = killed_at.elapsed();

    // The dead primary's keys come back (bounded: a client that never recovers fails here).
    let mut recovered_at = None;
    for _ in 0..600 {
        let mut all = true;
        for key in &keys[0] {
            match backend.get(key).await {
                Ok(Some(entry)) if payload_bytes(&entry) == key.as_bytes() => {}
                _ => {
                    all = false;
                    break;
                }
            }
        }
        if all {
            recovered_at = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Keep reading the healthy primaries a little past the recovery.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    println!(
        "primary killed: replica promoted at +{promoted_at:?}, its keys served again at \
         +{recovered_at:?}; {} healthy reads, {} failed",
        healthy_reads.load(Ordering::Relaxed),
        healthy_failures.load(Ordering::Relaxed)
    );
    assert!(
        recovered_at.is_some(),
        "the dead primary's keys never came back"
    );
    assert!(healthy_reads.load(Ordering::Relaxed) > 0);
    assert_eq!(
        healthy_failures.load(Ordering::Relaxed),
        0,
        "reads of keys on healthy primaries failed"
    );
    // The promoted replica is the new domain of the dead primary's keys.
    let moved = backend.failure_domain(&keys[0][0]);
    assert!(moved != domains[0] && moved != domains[1] && moved != domains[2]);
}

//! A 3-primary cluster: conformance, invalidation on every primary, batches across slots,
//! locks on keys with braces.

mod common;

use std::time::Duration;

use cache_core::glob::escape;
use cache_core::testing::{run_all, unique_prefix};
use cache_core::{CacheBackend, LockOutcome, Payload};
use common::{bytes, count_on_node, payload_bytes};

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cluster() {
    let backend = common::clustered().await;
    run_all(&backend, &unique_prefix("conformance:cluster")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_invalidation_reaches_every_primary_and_nothing_else() {
    let backend = common::clustered().await;
    let prefix = unique_prefix("inval");
    let escaped = escape(&prefix);
    let matching: Vec<String> = (0..90).map(|i| format!("{prefix}:match:{i}")).collect();
    let keeping: Vec<String> = (0..90).map(|i| format!("{prefix}:keep:{i}")).collect();
    let entries: Vec<(&str, Payload, Duration)> = matching
        .iter()
        .chain(&keeping)
        .map(|k| (k.as_str(), bytes(k.as_bytes()), LONG))
        .collect();
    backend.set_many(&entries).await.unwrap();

    let match_glob = format!("{escaped}:match:*");
    let per_node: Vec<usize> = common::cluster()
        .nodes()
        .iter()
        .map(|n| count_on_node(n, &match_glob))
        .collect();
    assert_eq!(per_node.iter().sum::<usize>(), 90);
    assert!(
        per_node.iter().all(|&n| n > 0),
        "matching keys must be spread over every primary: {per_node:?}"
    );

    let removed = backend.invalidate_pattern(&match_glob).await.unwrap();
    assert_eq!(removed, 90);
    for node in common::cluster().nodes() {
        assert_eq!(
            count_on_node(node, &match_glob),
            0,
            "node {} kept matching keys",
            node.port()
        );
    }
    let kept: usize = common::cluster()
        .nodes()
        .iter()
        .map(|n| count_on_node(n, &format!("{escaped}:keep:*")))
        .sum();
    assert_eq!(kept, 90);
    let found = backend
        .get_many(&keeping.iter().map(String::as_str).collect::<Vec<_>>())
        .await
        .unwrap();
    for (key, entry) in keeping.iter().zip(found) {
        assert_eq!(payload_bytes(&entry.unwrap()), key.as_bytes());
    }
    assert_eq!(
        backend
            .invalidate_pattern(&format!("{escaped}:*"))
            .await
            .unwrap(),
        90
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_from_ids_with_glob_characters_match_only_that_id() {
    let backend = common::clustered().await;
    let prefix = unique_prefix("globids");
    let ids = ["4*", "4?", "[4]", "4", "42", "4x"];
    let key = |id: &str, n: usize| format!("{prefix}:id:{id}:{n}");
    for id in ids {
        for n in 0..12 {
            backend
                .set(&key(id, n), bytes(id.as_bytes()), LONG)
                .await
                .unwrap();
        }
    }
    let mut remaining: Vec<&str> = ids.to_vec();
    for id in ["4*", "4?", "[4]"] {
        let pattern = format!("{}:id:{}:*", escape(&prefix), escape(id));
        assert_eq!(
            backend.invalidate_pattern(&pattern).await.unwrap(),
            12,
            "pattern {pattern}"
        );
        remaining.retain(|r| *r != id);
        for other in ids {
            let present = backend.get(&key(other, 0)).await.unwrap().is_some();
            assert_eq!(
                present,
                remaining.contains(&other),
                "after removing {id:?}: {other:?} present={present}"
            );
        }
    }
    assert_eq!(
        backend
            .invalidate_pattern(&format!("{}:*", escape(&prefix)))
            .await
            .unwrap(),
        36
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_live_in_the_slot_of_keys_with_braces() {
    let backend = common::clustered().await;
    let prefix = unique_prefix("clusterlock");
    for suffix in ["plain", "{tag}x", "a}b", "{}x", "x{", "}{", "{{nested}}"] {
        let key = format!("{suffix}:{prefix}");
        assert_eq!(
            backend.try_lock(&key, "t1", LONG).await.unwrap(),
            LockOutcome::Acquired,
            "{key}"
        );
        assert_eq!(
            backend.try_lock(&key, "t2", LONG).await.unwrap(),
            LockOutcome::Held,
            "{key}"
        );
        // The waiter reads value and lock in one MGET: a lock in another slot would fail here.
        backend.set(&key, bytes(b"v"), LONG).await.unwrap();
        let entry = backend
            .wait_for_value(&key, Duration::from_secs(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(payload_bytes(&entry), b"v");
        assert!(backend.unlock(&key, "t1").await.unwrap(), "{key}");
        assert_eq!(
            backend.try_lock(&key, "t3", LONG).await.unwrap(),
            LockOutcome::Acquired,
            "{key}"
        );
        assert!(backend.unlock(&key, "t3").await.unwrap());
        assert!(backend.delete(&key).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_another_connection_gets_the_holders_value() {
    let holder = common::clustered().await;
    let waiter = common::clustered().await;
    let key = format!("a}}b:{}", unique_prefix("clusterwait"));
    assert_eq!(
        holder.try_lock(&key, "h", LONG).await.unwrap(),
        LockOutcome::Acquired
    );
    let waiting = {
        let (waiter, key) = (waiter.clone(), key.clone());
        tokio::spawn(async move { waiter.wait_for_value(&key, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    holder.set(&key, bytes(b"computed"), LONG).await.unwrap();
    assert!(holder.unlock(&key, "h").await.unwrap());
    let entry = waiting
        .await
        .unwrap()
        .unwrap()
        .expect("the waiter saw no value");
    assert_eq!(payload_bytes(&entry), b"computed");
    assert!(holder.delete(&key).await.unwrap());
}

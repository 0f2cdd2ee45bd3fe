//! Against a real Redis (a one-node cluster started by the harness): `SCAN MATCH` with each
//! pattern selects exactly the keys the in-process glob matcher selects and the factory means,
//! and every key of one id lands in one slot — the slot of its escaped id.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use cache_core::glob::matches;
use cache_keys::KeyFactory;
use common::{expected_tag, hostile_ids, id};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use redis_harness::{RedisCluster, RedisServer, Reply};
use serde_json::json;

fn text(reply: &Reply) -> String {
    reply
        .as_text()
        .unwrap_or_else(|| panic!("expected text, got {reply:?}"))
}

/// Every key matching `pattern`, by a full `SCAN` cursor loop.
fn scan(node: &RedisServer, pattern: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut cursor = "0".to_owned();
    loop {
        let reply = node
            .command_ok(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])
            .unwrap();
        let Reply::Array(Some(parts)) = reply else {
            panic!("SCAN answered {reply:?}")
        };
        let [next, Reply::Array(Some(keys))] = parts.as_slice() else {
            panic!("SCAN answered {parts:?}")
        };
        found.extend(keys.iter().map(text));
        cursor = text(next);
        if cursor == "0" {
            return found;
        }
    }
}

fn slot(node: &RedisServer, key: &str) -> i64 {
    match node.command_ok(&["CLUSTER", "KEYSLOT", key]).unwrap() {
        Reply::Integer(slot) => slot,
        other => panic!("CLUSTER KEYSLOT answered {other:?}"),
    }
}

#[test]
fn scan_match_agrees_with_the_patterns_and_one_id_is_one_slot() {
    let cluster = RedisCluster::start(1).unwrap();
    let node = &cluster.nodes()[0];

    let mut ids = hostile_ids();
    let mut runner = TestRunner::deterministic();
    let strategy = id();
    ids.extend((0..60).map(|_| strategy.new_tree(&mut runner).unwrap().current()));
    ids.sort();
    ids.dedup();

    let app = KeyFactory::new("app", 1).unwrap();
    let factories = [
        app.clone(),
        KeyFactory::new("app", 2).unwrap(),
        KeyFactory::new("app2", 1).unwrap(),
    ];
    let params = [
        json!(null),
        json!({"page": 1}),
        json!({"page": 2, "q": "4*"}),
    ];

    // key -> (factory index, entity, id index)
    let mut owners: BTreeMap<String, (usize, &str, usize)> = BTreeMap::new();
    for (f, factory) in factories.iter().enumerate() {
        for entity in ["user", "user2"] {
            for (i, id) in ids.iter().enumerate() {
                let keys: Vec<String> = params
                    .iter()
                    .map(|p| factory.key_with_params(entity, id, p).unwrap())
                    .collect();
                // One MSET per id: a cluster refuses it (CROSSSLOT) unless all keys share a slot.
                let mut args = vec!["MSET"];
                for key in &keys {
                    args.extend([key.as_str(), "1"]);
                }
                node.command_ok(&args).unwrap();
                for key in keys {
                    assert!(
                        owners.insert(key, (f, entity, i)).is_none(),
                        "duplicate key"
                    );
                }
            }
        }
    }
    assert_eq!(owners.len(), factories.len() * 2 * ids.len() * params.len());
    let all_keys: Vec<&String> = owners.keys().collect();

    let check = |pattern: &str, expected: &dyn Fn(usize, &str, usize) -> bool| {
        let by_redis = scan(node, pattern);
        let by_glob: BTreeSet<String> = all_keys
            .iter()
            .filter(|k| matches(pattern, k))
            .map(|k| k.to_string())
            .collect();
        let meant: BTreeSet<String> = owners
            .iter()
            .filter(|(_, (f, e, i))| expected(*f, e, *i))
            .map(|(k, _)| k.clone())
            .collect();
        assert!(
            !meant.is_empty(),
            "{pattern:?} is meant to select something"
        );
        assert_eq!(by_redis, meant, "SCAN MATCH {pattern:?}");
        assert_eq!(by_glob, meant, "glob::matches {pattern:?}");
    };

    for (i, id) in ids.iter().enumerate() {
        let pattern = app.id_pattern("user", id).unwrap();
        check(&pattern, &|f, e, j| f == 0 && e == "user" && j == i);
        let expected_slot = slot(node, &expected_tag(id));
        for p in &params {
            assert_eq!(
                slot(node, &app.key_with_params("user", id, p).unwrap()),
                expected_slot,
                "{id:?}"
            );
        }
    }
    check(&app.entity_pattern("user").unwrap(), &|f, e, _| {
        f == 0 && e == "user"
    });
    check(&app.version_pattern(), &|f, _, _| f == 0);
    check(&app.namespace_pattern(), &|f, _, _| f <= 1);
}

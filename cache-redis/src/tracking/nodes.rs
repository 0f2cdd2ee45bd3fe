//! Per-primary bookkeeping of the change feed: is tracking on for the current connection to
//! that primary, which canary key is this instance's there, what the canary should hold, and
//! how many canary writes were sent and how many of their invalidations came back.
//!
//! The counts are what makes a heartbeat a proof: canary writes go out on the tracking
//! connection itself, one after another, and each produces exactly one invalidation on it, in
//! order. So when `seen` reaches the `sent` count of a round's write, that round's invalidation
//! (and every earlier one from that primary) has been delivered. A new connection starts both
//! counts again under a new generation, and anything done for an older generation is ignored.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fred::types::cluster::ClusterRouting;
use fred::types::config::Server;

use crate::slot::key_slot;

/// Every instance's canary keys start with this (one key per instance and primary).
pub(crate) const CANARY_PREFIX: &str = "smartcache:canary:";

/// A primary: its address on a cluster; `None` for the one server of a standalone or sentinel
/// client (which fred may move to another address after a failover: still one node).
pub(crate) type NodeKey = Option<Server>;

/// Consecutive unconfirmed beats of a node after which the feed forces a reconnection, which
/// starts its counts again (a canary write that never executed would hold them apart forever).
pub(crate) const MISSED_BEFORE_RECONNECT: u32 = 3;

#[derive(Debug, Default)]
struct Node {
    generation: u64,
    /// Tracking is on for the current connection, and the canary baseline is written.
    enabled: bool,
    canary: Option<String>,
    sent: u64,
    seen: u64,
    /// Values the canary may hold now: the last write's nonce, plus those of writes whose
    /// outcome is unknown (timed out). Empty: no baseline yet.
    expected: Vec<String>,
    missed: u32,
}

/// One node as a beat sees it.
#[derive(Debug, Clone)]
pub(crate) struct NodeView {
    pub(crate) key: NodeKey,
    pub(crate) generation: u64,
    pub(crate) enabled: bool,
    pub(crate) canary: Option<String>,
}

/// What a canary's previous value says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Canary {
    /// It held what this instance wrote last: nothing flushed it.
    Intact,
    /// It held something else or nothing: flushed, expired, evicted or overwritten.
    Lost,
    /// The connection changed meanwhile; the answer means nothing.
    Stale,
}

/// The nodes of one feed.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    nodes: Mutex<HashMap<NodeKey, Node>>,
    generations: AtomicU64,
}

impl Nodes {
    fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keeps exactly the nodes in `keys`: new ones start disabled.
    pub(crate) fn retain(&self, keys: &[NodeKey]) {
        let mut nodes = self.lock();
        nodes.retain(|key, _| keys.contains(key));
        for key in keys {
            if !nodes.contains_key(key) {
                let generation = self.next_generation();
                nodes.insert(
                    key.clone(),
                    Node {
                        generation,
                        ..Node::default()
                    },
                );
            }
        }
    }

    /// `key` has a new connection (tracking off): a new generation, counts from zero.
    pub(crate) fn reset(&self, key: &NodeKey) {
        let generation = self.next_generation();
        let mut nodes = self.lock();
        let node = nodes.entry(key.clone()).or_default();
        node.generation = generation;
        node.enabled = false;
        node.sent = 0;
        node.seen = 0;
        node.missed = 0;
    }

    /// Every node has a new connection.
    pub(crate) fn reset_all(&self) {
        let keys: Vec<NodeKey> = self.lock().keys().cloned().collect();
        for key in &keys {
            self.reset(key);
        }
    }

    /// The nodes now.
    pub(crate) fn snapshot(&self) -> Vec<NodeView> {
        self.lock()
            .iter()
            .map(|(key, node)| NodeView {
                key: key.clone(),
                generation: node.generation,
                enabled: node.enabled,
                canary: node.canary.clone(),
            })
            .collect()
    }

    /// Counts a canary write about to be sent; the `seen` count its invalidation brings, or
    /// `None` if the connection changed.
    pub(crate) fn begin_write(&self, key: &NodeKey, generation: u64) -> Option<u64> {
        let mut nodes = self.lock();
        let node = nodes.get_mut(key).filter(|n| n.generation == generation)?;
        node.sent += 1;
        Some(node.sent)
    }

    /// A counted canary write was refused (it never ran: no invalidation will come).
    pub(crate) fn undo_write(&self, key: &NodeKey, generation: u64) {
        let mut nodes = self.lock();
        if let Some(node) = nodes.get_mut(key).filter(|n| n.generation == generation) {
            node.sent = node.sent.saturating_sub(1);
        }
    }

    /// A canary write timed out: the canary may now hold `nonce` too.
    pub(crate) fn write_unknown(&self, key: &NodeKey, generation: u64, nonce: String) {
        let mut nodes = self.lock();
        if let Some(node) = nodes.get_mut(key).filter(|n| n.generation == generation) {
            node.expected.push(nonce);
        }
    }

    /// Names `key`'s canary, before the first write to it (whose invalidation may come back
    /// before the write's reply); false if the connection was replaced meanwhile.
    pub(crate) fn set_canary(&self, key: &NodeKey, generation: u64, canary: String) -> bool {
        let mut nodes = self.lock();
        let Some(node) = nodes.get_mut(key).filter(|n| n.generation == generation) else {
            return false;
        };
        node.canary = Some(canary);
        true
    }

    /// Tracking and the canary baseline (`nonce`) are set on `key`'s connection of
    /// `generation`; false if that connection was replaced meanwhile.
    pub(crate) fn enabled(&self, key: &NodeKey, generation: u64, nonce: String) -> bool {
        let mut nodes = self.lock();
        let Some(node) = nodes.get_mut(key).filter(|n| n.generation == generation) else {
            return false;
        };
        node.enabled = true;
        node.expected = vec![nonce];
        true
    }

    /// A beat's canary write answered `previous`; the canary now holds `nonce`.
    pub(crate) fn check_canary(
        &self,
        key: &NodeKey,
        generation: u64,
        previous: Option<&str>,
        nonce: String,
    ) -> Canary {
        let mut nodes = self.lock();
        let Some(node) = nodes.get_mut(key).filter(|n| n.generation == generation) else {
            return Canary::Stale;
        };
        let intact = previous.is_some_and(|p| node.expected.iter().any(|e| e == p));
        node.expected = vec![nonce];
        if intact { Canary::Intact } else { Canary::Lost }
    }

    /// Whether the invalidation numbered `target` on `key`'s connection of `generation` came.
    pub(crate) fn confirmed(&self, key: &NodeKey, generation: u64, target: u64) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|n| n.generation == generation && n.enabled && n.seen >= target)
    }

    /// Records a beat's outcome for `key`; true when the node missed so many beats in a row
    /// that its connection should be replaced (then the count starts again, so that a server
    /// that stays down is not asked to reconnect on every beat).
    pub(crate) fn record_beat(&self, key: &NodeKey, confirmed: bool) -> bool {
        let mut nodes = self.lock();
        let Some(node) = nodes.get_mut(key) else {
            return false;
        };
        if confirmed {
            node.missed = 0;
            return false;
        }
        node.missed += 1;
        if node.missed < MISSED_BEFORE_RECONNECT {
            return false;
        }
        node.missed = 0;
        true
    }

    /// Counts an invalidation of `name` from `server`; true if it is one of this instance's
    /// canaries.
    pub(crate) fn saw(&self, name: &str, server: &NodeKey) -> bool {
        let mut nodes = self.lock();
        let Some(node) = nodes.get_mut(server) else {
            return false;
        };
        if node.canary.as_deref() != Some(name) {
            return false;
        }
        node.seen += 1;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeKey, Node>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// This instance's canary key on `server`: on a cluster, a name whose hash slot `server`
/// serves in `routing` (`None` if it serves none); else one fixed name.
pub(crate) fn canary_name(
    instance: &str,
    server: &NodeKey,
    routing: Option<&ClusterRouting>,
) -> Option<String> {
    let (Some(server), Some(routing)) = (server, routing) else {
        return Some(format!("{CANARY_PREFIX}{{{instance}}}"));
    };
    // About one name in (number of primaries) fits; 100 000 tries miss only a node serving
    // almost no slots.
    (0..100_000u32)
        .map(|i| format!("{CANARY_PREFIX}{{{instance}.{i}}}"))
        .find(|name| routing.get_server(key_slot(name.as_bytes())) == Some(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> NodeKey {
        Some(Server::new("127.0.0.1", 7000))
    }

    #[test]
    fn a_round_is_confirmed_only_by_its_own_invalidation_on_its_own_connection() {
        let nodes = Nodes::default();
        let k = key();
        nodes.retain(std::slice::from_ref(&k));
        let generation = nodes.snapshot()[0].generation;
        assert!(nodes.set_canary(&k, generation, "c".into()));
        assert!(nodes.enabled(&k, generation, "n0".into()));
        let first = nodes.begin_write(&k, generation).unwrap();
        let second = nodes.begin_write(&k, generation).unwrap();
        assert!(nodes.saw("c", &k));
        assert!(nodes.confirmed(&k, generation, first));
        assert!(
            !nodes.confirmed(&k, generation, second),
            "one push proves one write"
        );
        // Another server's push of the same name, or another name, counts nothing.
        assert!(!nodes.saw("c", &Some(Server::new("127.0.0.1", 7001))));
        assert!(!nodes.saw("other", &k));
        nodes.reset(&k);
        assert!(
            nodes.saw("c", &k),
            "the name still counts once enabled again"
        );
        assert!(
            !nodes.confirmed(&k, generation, first),
            "an old generation never confirms"
        );
        assert_eq!(nodes.begin_write(&k, generation), None);
    }

    #[test]
    fn the_canary_is_intact_only_with_a_value_this_instance_may_have_left() {
        let nodes = Nodes::default();
        let k = key();
        nodes.retain(std::slice::from_ref(&k));
        let g = nodes.snapshot()[0].generation;
        assert!(nodes.enabled(&k, g, "n0".into()));
        assert_eq!(
            nodes.check_canary(&k, g, Some("n0"), "n1".into()),
            Canary::Intact
        );
        nodes.write_unknown(&k, g, "n2".into());
        // After a timed-out write either value is fine.
        assert_eq!(
            nodes.check_canary(&k, g, Some("n2"), "n3".into()),
            Canary::Intact
        );
        assert_eq!(nodes.check_canary(&k, g, None, "n4".into()), Canary::Lost);
        assert_eq!(
            nodes.check_canary(&k, g, Some("n3"), "n5".into()),
            Canary::Lost
        );
        assert_eq!(
            nodes.check_canary(&k, g + 100, Some("n5"), "n6".into()),
            Canary::Stale
        );
    }

    #[test]
    fn missed_beats_ask_for_a_new_connection_after_the_limit() {
        let nodes = Nodes::default();
        let k = key();
        nodes.retain(std::slice::from_ref(&k));
        for _ in 1..MISSED_BEFORE_RECONNECT {
            assert!(!nodes.record_beat(&k, false));
        }
        assert!(nodes.record_beat(&k, false));
        assert!(!nodes.record_beat(&k, false), "counted again from zero");
        assert!(!nodes.record_beat(&k, true));
        assert!(!nodes.record_beat(&k, false));
    }

    #[test]
    fn cluster_canaries_hash_to_their_primary() {
        use fred::types::Value;
        // CLUSTER SLOTS of three primaries.
        let range = |start: i64, end: i64, port: i64| {
            Value::Array(vec![
                start.into(),
                end.into(),
                Value::Array(vec!["127.0.0.1".into(), port.into(), "id".into()]),
            ])
        };
        let routing = ClusterRouting::from_cluster_slots(
            Value::Array(vec![
                range(0, 5460, 7000),
                range(5461, 10922, 7001),
                range(10923, 16383, 7002),
            ]),
            "127.0.0.1",
        )
        .unwrap();
        let mut names = Vec::new();
        for port in [7000, 7001, 7002] {
            let server = Some(Server::new("127.0.0.1", port));
            let name = canary_name("abc", &server, Some(&routing)).unwrap();
            assert!(name.starts_with(CANARY_PREFIX));
            assert_eq!(
                routing.get_server(key_slot(name.as_bytes())),
                server.as_ref()
            );
            names.push(name);
        }
        names.dedup();
        assert_eq!(names.len(), 3);
        assert_eq!(
            canary_name("abc", &Some(Server::new("127.0.0.1", 9)), Some(&routing)),
            None
        );
        assert_eq!(
            canary_name("abc", &None, None).as_deref(),
            Some("smartcache:canary:{abc}")
        );
    }
}

//! Failure domains on a cluster: which primary serves each hash slot, from fred's cached
//! routing table, kept current as fred re-syncs it (after a failover, a `MOVED`, a reconnect).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use fred::types::cluster::ClusterRouting;
use fred::types::config::Server;

use crate::slot::{SLOTS, key_slot};

/// Slot → the domain of the primary serving it; empty off a cluster (every key: domain 0).
pub(crate) struct SlotDomains {
    owners: Box<[AtomicU64]>,
}

impl SlotDomains {
    /// A table for a cluster (every slot in domain 0 until the routing is known), or an empty
    /// one.
    pub(crate) fn new(clustered: bool) -> Self {
        let slots = if clustered { SLOTS } else { 0 };
        SlotDomains {
            owners: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The domain of `key`: its slot's primary, or 0 (standalone, sentinel, or no routing yet).
    /// One atomic load: this runs on every cache read.
    pub(crate) fn of(&self, key: &[u8]) -> u64 {
        if self.owners.is_empty() {
            return 0;
        }
        let slot = usize::from(key_slot(key));
        self.owners[slot].load(Ordering::Relaxed)
    }

    /// Records who serves each slot now.
    pub(crate) fn update(&self, routing: &ClusterRouting) {
        if self.owners.is_empty() {
            return;
        }
        for range in routing.slots() {
            let domain = domain_of(&range.primary);
            let last = usize::from(range.end).min(SLOTS - 1);
            for owner in self
                .owners
                .get(usize::from(range.start)..=last)
                .unwrap_or(&[])
            {
                owner.store(domain, Ordering::Relaxed);
            }
        }
    }
}

/// A primary's domain: a hash of its address, never 0 (0 is "unknown").
pub(crate) fn domain_of(server: &Server) -> u64 {
    let mut hasher = DefaultHasher::new();
    server.host.hash(&mut hasher);
    server.port.hash(&mut hasher);
    hasher.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_keys_share_domain_zero() {
        let domains = SlotDomains::new(false);
        assert_eq!(domains.of(b"a"), 0);
        assert_eq!(domains.of(b"b"), 0);
    }

    #[test]
    fn distinct_primaries_are_distinct_nonzero_domains() {
        let a = domain_of(&Server::new("127.0.0.1", 7000));
        let b = domain_of(&Server::new("127.0.0.1", 7001));
        assert!(a != 0 && b != 0 && a != b);
        assert_eq!(a, domain_of(&Server::new("127.0.0.1", 7000)));
    }
}

//! What a live run does: how many instances, which store, what load, which policy.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::error::SimError;
use crate::model::RecomputeTime;

/// The store the instances share.
#[derive(Clone, PartialEq, Eq)]
pub enum LiveBackend {
    /// One in-process `MemoryBackend` shared by every instance, with a shared in-process lock
    /// ([`SharedLockBackend`](crate::live::SharedLockBackend)) standing in for Redis's.
    Memory,
    /// A Redis server (feature `redis`); each instance opens its own client.
    Redis(String),
}

impl LiveBackend {
    /// A printable description; a Redis URL has its credentials removed.
    pub fn describe(&self) -> String {
        match self {
            LiveBackend::Memory => "memory".to_string(),
            LiveBackend::Redis(url) => redact_url(url),
        }
    }
}

// Never print a password: Debug and Serialize both go through the redacted form.
impl fmt::Debug for LiveBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Serialize for LiveBackend {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.describe())
    }
}

/// Parses `memory` or a `redis://` / `rediss://` URL.
impl FromStr for LiveBackend {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        if s == "memory" {
            Ok(LiveBackend::Memory)
        } else if s.starts_with("redis://") || s.starts_with("rediss://") {
            Ok(LiveBackend::Redis(s.to_string()))
        } else {
            Err(SimError::invalid(
                "--backend",
                redact_url(s),
                "memory or a redis:// URL",
            ))
        }
    }
}

/// Removes the user-info part (`user:password@`) of a URL.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("***@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

/// One live run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveConfig {
    /// K: `SmartCache` instances (processes of the fleet).
    pub instances: usize,
    /// The shared store.
    pub backend: LiveBackend,
    /// λ: reads per second over the whole fleet (open loop, Poisson), spread evenly at random.
    pub read_rate: f64,
    /// Δ: how long the compute takes (a tokio sleep).
    pub recompute: RecomputeTime,
    /// TTL in seconds.
    pub ttl: f64,
    /// Grace period in seconds (stale-while-revalidate window); 0 for none.
    pub grace: f64,
    /// X-Fetch β of every instance; 0 is plain TTL.
    pub beta: f64,
    /// Whether the instances take the fleet lock before computing.
    pub fleet_lock: bool,
    /// How long the load runs, in seconds.
    pub duration: f64,
    /// Seed of the arrivals, of the recompute times and of the instances' policies.
    pub seed: u64,
}

/// Most instances one run may start.
const MAX_INSTANCES: usize = 1024;
/// Most reads one run may issue.
const MAX_READS: f64 = 10_000_000.0;

impl LiveConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), SimError> {
        if !(1..=MAX_INSTANCES).contains(&self.instances) {
            return Err(SimError::invalid(
                "--instances",
                self.instances,
                "1 to 1024 instances",
            ));
        }
        if !(self.read_rate > 0.0 && self.read_rate.is_finite()) {
            return Err(SimError::invalid(
                "--lambda",
                self.read_rate,
                "a read rate > 0 per second",
            ));
        }
        if !(self.duration > 0.0 && self.read_rate * self.duration <= MAX_READS) {
            return Err(SimError::invalid(
                "--duration",
                self.duration,
                "a duration > 0 with at most 10 million reads",
            ));
        }
        // Cycles are told apart by gaps longer than half the TTL: the TTL must dwarf Δ.
        let delta = self.recompute.mean();
        if !(self.ttl >= 4.0 * delta && self.ttl <= 86_400.0) {
            return Err(SimError::invalid(
                "--ttl",
                self.ttl,
                "a TTL of at least 4 Δ and at most a day",
            ));
        }
        if !(0.0..=86_400.0).contains(&self.grace) {
            return Err(SimError::invalid(
                "--grace",
                self.grace,
                "a grace period in [0, 86400] seconds",
            ));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(SimError::invalid("--beta", self.beta, "a finite β ≥ 0"));
        }
        if delta > 60.0 {
            return Err(SimError::invalid(
                "--delta",
                delta,
                "a recompute time of at most 60 s",
            ));
        }
        self.recompute.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("redis://user:s3cret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact_url("rediss://:p@ss@h/1"), "rediss://***@h/1");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
        let backend: LiveBackend = "redis://u:hunter2@h:1".parse().unwrap();
        assert!(!format!("{backend:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&backend).unwrap().contains("hunter2"));
        let err = "http://u:hunter2@h".parse::<LiveBackend>().unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}

//! Helpers shared by the contracts: a namespaced view of the backend that panics with a clear
//! message on any error, and small payload utilities.

use std::time::Duration;

use crate::backend::{CacheBackend, Payload, StoredEntry};
use crate::glob::escape;

/// A backend seen through one contract's namespace: `{prefix}:{contract}`.
pub(crate) struct Scope<'a> {
    pub(crate) backend: &'a dyn CacheBackend,
    contract: &'static str,
    namespace: String,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(backend: &'a dyn CacheBackend, prefix: &str, contract: &'static str) -> Self {
        Scope {
            backend,
            contract,
            namespace: format!("{prefix}:{contract}"),
        }
    }

    /// A key inside this contract's namespace.
    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.namespace)
    }

    /// A pattern scoped to this contract's namespace: the namespace is escaped, `glob` is not.
    pub(crate) fn pattern(&self, glob: &str) -> String {
        format!("{}:{glob}", escape(&self.namespace))
    }

    /// Fails the contract.
    pub(crate) fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!(
            "conformance [{}] {}: {what}",
            self.backend.name(),
            self.contract
        )
    }

    /// Asserts `cond`, failing the contract with `what` otherwise.
    pub(crate) fn check(&self, cond: bool, what: impl FnOnce() -> String) {
        if !cond {
            self.fail(what())
        }
    }

    fn ok<T>(&self, op: &str, key: &str, result: crate::Result<T>) -> T {
        result
            .unwrap_or_else(|err| self.fail(format_args!("{op} {key:?} returned an error: {err}")))
    }

    pub(crate) async fn set(&self, key: &str, payload: Payload, lifetime: Duration) {
        let result = self.backend.set(key, payload, lifetime).await;
        self.ok("set", key, result)
    }

    pub(crate) async fn get(&self, key: &str) -> Option<StoredEntry> {
        let result = self.backend.get(key).await;
        self.ok("get", key, result)
    }

    pub(crate) async fn delete(&self, key: &str) -> bool {
        let result = self.backend.delete(key).await;
        self.ok("delete", key, result)
    }

    pub(crate) async fn invalidate(&self, pattern: &str) -> u64 {
        let result = self.backend.invalidate_pattern(pattern).await;
        self.ok("invalidate_pattern", pattern, result)
    }

    /// Reads `key` and fails unless it holds exactly `expected` as bytes.
    pub(crate) async fn expect_bytes(&self, key: &str, expected: &[u8]) -> StoredEntry {
        match self.get(key).await {
            Some(entry) => {
                let found = self.bytes_of(key, &entry);
                self.check(found == expected, || {
                    format!(
                        "get {key:?} returned {} bytes that differ from the {} bytes written",
                        found.len(),
                        expected.len()
                    )
                });
                entry
            }
            None => self.fail(format_args!("get {key:?} found nothing; expected a value")),
        }
    }

    /// Reads `key` and fails unless it is absent.
    pub(crate) async fn expect_absent(&self, key: &str, why: &str) {
        if let Some(entry) = self.get(key).await {
            self.fail(format_args!(
                "get {key:?} returned {:?}; expected nothing ({why})",
                entry.payload
            ))
        }
    }

    /// The bytes of a `Payload::Bytes` entry; fails on an object payload.
    pub(crate) fn bytes_of<'e>(&self, key: &str, entry: &'e StoredEntry) -> &'e [u8] {
        match &entry.payload {
            Payload::Bytes(bytes) => bytes,
            Payload::Object(_) => self.fail(format_args!(
                "get {key:?} returned an object for a value written as bytes"
            )),
        }
    }

    /// The remaining lifetime of an entry written with a lifetime; fails when it is `None`.
    pub(crate) fn remaining_of(&self, key: &str, entry: &StoredEntry) -> Duration {
        entry.remaining.unwrap_or_else(|| {
            self.fail(format_args!(
                "get {key:?} reported no expiry for a key written with a lifetime"
            ))
        })
    }

    /// Removes everything this contract wrote.
    pub(crate) async fn clean_up(&self) {
        self.invalidate(&self.pattern("*")).await;
    }
}

/// A bytes payload.
pub(crate) fn bytes(data: &[u8]) -> Payload {
    Payload::Bytes(bytes::Bytes::copy_from_slice(data))
}

/// `len` deterministic pseudo-random bytes (every byte value occurs; not valid UTF-8).
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    // xorshift64*: deterministic, dependency-free, good enough to make every byte position differ.
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Measures elapsed time on both clocks a backend may use (tokio's and the OS monotonic clock)
/// and reports the larger, so bounds hold whichever clock the backend runs on.
pub(crate) struct Stopwatch {
    tokio: tokio::time::Instant,
    std: std::time::Instant,
}

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Stopwatch {
            tokio: tokio::time::Instant::now(),
            std: std::time::Instant::now(),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.tokio.elapsed().max(self.std.elapsed())
    }
}

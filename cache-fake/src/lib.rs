//! A deterministic [`CacheBackend`](cache_core::CacheBackend) for tests.
//!
//! [`FakeBackend`] keeps entries in memory with lifetimes on **tokio's clock**, so
//! `tokio::time::pause()` and `advance()` drive expiry without real waiting. (A `SmartCache`
//! with an in-process store or L1 follows a paused clock from the first time it sees it paused:
//! pause before building the cache, as `#[tokio::test(start_paused = true)]` does.) On top of
//! a plain store it offers:
//!
//! - **fault injection**: fail the next N operations ([`FakeBackend::fail_next`]) or every
//!   operation ([`FakeBackend::fail_always`]), add latency ([`FakeBackend::set_latency`]),
//!   corrupt a stored entry ([`FakeBackend::corrupt`] with a [`Corruption`]);
//! - an **operation log** ([`FakeBackend::ops`], [`FakeBackend::count`]) to assert on what the
//!   code under test asked;
//! - a **codec round trip** option ([`FakeBackendBuilder::encode_values`]) that makes the cache
//!   encode every value, as it would for Redis;
//! - a **change feed** ([`FakeBackend::feed`]) for an L1 in front of the fake, which a test
//!   can delay, reorder, cut and reconnect;
//! - the **fleet refresh lock** (`try_lock`/`unlock` with token compare, lifetime on tokio's
//!   clock), so lock logic is testable without Redis.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use cache_core::{Bytes, CacheBackend, Payload};
//! use cache_fake::{FakeBackend, OpKind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! tokio::time::pause();
//! let fake = FakeBackend::new();
//! let backend: Arc<dyn CacheBackend> = Arc::new(fake.clone()); // the cache would own this one
//!
//! backend.set("user:1", Payload::Bytes(Bytes::from_static(b"ada")), Duration::from_secs(60)).await.unwrap();
//! tokio::time::advance(Duration::from_secs(61)).await;
//! assert!(backend.get("user:1").await.unwrap().is_none()); // expired on tokio's clock
//!
//! fake.fail_next(1);
//! assert!(backend.ping().await.is_err());
//! assert!(backend.ping().await.is_ok());
//! assert_eq!(fake.count(OpKind::Ping), 2);
//! # }
//! ```
#![warn(missing_docs)]

mod backend;
mod corruption;
mod faults;
mod feed;
mod ops;
mod store;

pub use backend::{FakeBackend, FakeBackendBuilder};
pub use corruption::Corruption;
pub use feed::FeedControl;
pub use ops::{Op, OpKind};

//! Compare-and-set / compare-and-delete with the fred adapter's scripts ([`crate::scripts`]):
//! one script per call, on the key alone (slot-safe in a cluster), comparing the stored
//! value's envelope bytes (after the frame header) with the expected ones.

use std::time::Duration;

use async_trait::async_trait;
use cache_core::{ConditionalWrites, Payload, Result};

use super::RedisRsBackend;

/// The conditional scripts (redis-rs sends `EVALSHA`, and the text on `NOSCRIPT`).
pub(crate) struct Scripts {
    compare_and_set: redis::Script,
    compare_and_delete: redis::Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            compare_and_set: redis::Script::new(crate::scripts::COMPARE_AND_SET),
            compare_and_delete: redis::Script::new(crate::scripts::COMPARE_AND_DELETE),
        }
    }
}

#[async_trait]
impl ConditionalWrites for RedisRsBackend {
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &Payload,
        payload: Payload,
        lifetime: Duration,
    ) -> Result<bool> {
        // This backend stores bytes only: an object never matches.
        let Payload::Bytes(expected) = expected else {
            return Ok(false);
        };
        self.ensure_clock().await?;
        let (stored, px) = self.framed(key, &payload, lifetime)?;
        let written: i64 = self
            .inner
            .scripts
            .compare_and_set
            .key(key)
            .arg(&expected[..])
            .arg(stored)
            .arg(px)
            .invoke_async(&mut self.connection().clone())
            .await
            .map_err(|e| self.failure("compare_and_set", &e))?;
        Ok(written == 1)
    }

    async fn compare_and_delete(&self, key: &str, expected: &Payload) -> Result<bool> {
        let Payload::Bytes(expected) = expected else {
            return Ok(false);
        };
        let removed: i64 = self
            .inner
            .scripts
            .compare_and_delete
            .key(key)
            .arg(&expected[..])
            .invoke_async(&mut self.connection().clone())
            .await
            .map_err(|e| self.failure("compare_and_delete", &e))?;
        Ok(removed == 1)
    }
}

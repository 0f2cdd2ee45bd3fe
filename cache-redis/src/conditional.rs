//! Compare-and-set / compare-and-delete on Redis: one Lua script per call, on the key alone
//! (slot-safe in a cluster), comparing the stored value's envelope bytes with the expected
//! ones. The scripts are in [`crate::scripts`].

use async_trait::async_trait;
use cache_core::{ConditionalWrites, Payload, Result};
use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{ClusterHash, CustomCommand};
use std::time::Duration;

use crate::backend::{RedisBackend, on_key};

/// The conditional scripts, with their SHA-1 for `EVALSHA`.
pub(crate) struct Scripts {
    compare_and_set: Script,
    compare_and_delete: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            compare_and_set: Script::from_lua(crate::scripts::COMPARE_AND_SET),
            compare_and_delete: Script::from_lua(crate::scripts::COMPARE_AND_DELETE),
        }
    }
}

impl RedisBackend {
    /// Runs `script` on `key` by its hash, sending its text once if the server does not know
    /// it yet (a new or restarted server, or another node of the cluster). `EVAL` rather than
    /// `SCRIPT LOAD` + `EVALSHA`: one round trip, routed by the key like the first attempt.
    ///
    /// Sent as custom commands routed by the key's slot (fred's typed `EVALSHA` exists only on
    /// clients, not on the pipeline that follows an `ASK`), through [`on_key`], so a script
    /// also follows a migrating slot and fails fast while the connection is down.
    pub(crate) async fn run_script(
        &self,
        script: &Script,
        key: &str,
        args: Vec<Value>,
    ) -> Result<i64, Error> {
        let slot = ClusterHash::Custom(crate::slot::key_slot(key.as_bytes()));
        let command = |name: &'static str| CustomCommand::new_static(name, slot.clone(), false);
        // EVAL[SHA] <script or hash> 1 <key> <args…>
        let with = |script: Value| {
            let mut all = Vec::with_capacity(3 + args.len());
            all.extend([script, Value::Integer(1), Value::from(key)]);
            all.extend(args.iter().cloned());
            all
        };
        let sha = Value::from(script.sha1().clone());
        match on_key!(self, key, |c| c
            .custom(command("EVALSHA"), with(sha.clone())))
        {
            Err(err) if err.details().starts_with("NOSCRIPT") => {
                let lua = Value::from(script.lua().cloned().unwrap_or_default());
                on_key!(self, key, |c| c.custom(command("EVAL"), with(lua.clone())))
            }
            other => other,
        }
    }
}

/// The envelope bytes a conditional write expects; `None` for an object payload, which this
/// backend never stores and so never matches.
fn expected_bytes(expected: &Payload) -> Option<Value> {
    match expected {
        Payload::Bytes(bytes) => Some(Value::Bytes(bytes.clone())),
        Payload::Object(_) => None,
    }
}

#[async_trait]
impl ConditionalWrites for RedisBackend {
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &Payload,
        payload: Payload,
        lifetime: Duration,
    ) -> Result<bool> {
        let Some(expected) = expected_bytes(expected) else {
            return Ok(false);
        };
        self.inner.ensure_clock().await?;
        let (stored, px) = self.framed(key, &payload, lifetime)?;
        let args = vec![expected, Value::Bytes(stored), Value::Integer(px)];
        let written = self
            .run_script(&self.inner.scripts.compare_and_set, key, args)
            .await
            .map_err(|e| self.failure("compare_and_set", &e))?;
        Ok(written == 1)
    }

    async fn compare_and_delete(&self, key: &str, expected: &Payload) -> Result<bool> {
        let Some(expected) = expected_bytes(expected) else {
            return Ok(false);
        };
        let removed = self
            .run_script(&self.inner.scripts.compare_and_delete, key, vec![expected])
            .await
            .map_err(|e| self.failure("compare_and_delete", &e))?;
        Ok(removed == 1)
    }
}

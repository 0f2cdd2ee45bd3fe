//! The feed's own fred client (RESP3, separate from the pool) and the commands it sends to one
//! primary: enabling tracking, and the canary write.

use std::time::Duration;

use cache_core::Result;
use fred::clients::WithOptions;
use fred::prelude::*;
use fred::types::config::Options;
use fred::types::{ClusterHash, CustomCommand, Expiration, RespVersion};

use super::nodes::NodeKey;
use crate::config::RedisConfig;
use crate::secret::Redactor;

/// Invalidations fred may buffer for the reader (fred's default, 32, lost an `MSET` of 200
/// keys); a reader that still falls behind drops everything and reconnects.
const CHANNEL_CAPACITY: usize = 16_384;

/// How long a canary lives without being rewritten: far longer than any heartbeat, so it
/// disappears only by a flush (or eviction: then one needless "drop everything").
const CANARY_LIFETIME_MS: i64 = 3_600_000;

/// The tracking client for `config`: RESP3 (push messages), a large invalidation channel,
/// one attempt per command and no redirections (a command sent to a node that no longer
/// serves the canary's slot must fail, not be followed elsewhere), and the first connection
/// reported rather than retried (the feed retries it, and tells a refusal from an outage).
pub(crate) fn build(config: &RedisConfig, redactor: &Redactor) -> Result<Client> {
    let mut builder = crate::connect::builder(config, redactor, false)?;
    builder
        .with_config(|c| c.version = RespVersion::RESP3)
        .with_performance_config(|p| p.broadcast_channel_capacity = CHANNEL_CAPACITY)
        .with_connection_config(|c| {
            c.max_command_attempts = 1;
            c.max_redirections = 0;
        });
    builder
        .build()
        .map_err(|e| crate::backend::connect_error(config, redactor, &e))
}

/// Commands to one primary on the tracking client: on its node's connection in a cluster,
/// failing at once while disconnected, within `timeout`.
pub(crate) fn on_node(client: &Client, key: &NodeKey, timeout: Duration) -> WithOptions<Client> {
    client.with_options(&Options {
        cluster_node: key.clone(),
        fail_fast: true,
        max_attempts: Some(1),
        max_redirections: Some(0),
        timeout: Some(timeout),
        ..Options::default()
    })
}

/// Turns tracking off, then on in broadcast mode for `prefixes` (all keys when empty): one
/// `CLIENT TRACKING ON BCAST` per connection, since a second one fails ("Prefix … overlaps").
pub(crate) async fn enable(node: &WithOptions<Client>, prefixes: &[String]) -> Result<(), Error> {
    let client = || CustomCommand::new_static("CLIENT", ClusterHash::Random, false);
    let _: Value = node.custom(client(), vec!["TRACKING", "OFF"]).await?;
    let mut args = vec!["TRACKING", "ON", "BCAST"];
    for prefix in prefixes {
        args.push("PREFIX");
        args.push(prefix);
    }
    let _: Value = node.custom(client(), args).await?;
    Ok(())
}

/// `SET canary nonce PX … GET`: writes the canary and returns what it held.
pub(crate) async fn write_canary(
    node: &WithOptions<Client>,
    canary: &str,
    nonce: &str,
) -> Result<Option<String>, Error> {
    node.set(
        canary,
        nonce,
        Some(Expiration::PX(CANARY_LIFETIME_MS)),
        None,
        true,
    )
    .await
}

/// Why the server can never give a feed, from an error it answered; `None` for an error that
/// may pass (an outage, a timeout, a moved slot).
pub(crate) fn refusal(err: &Error) -> Option<&'static str> {
    let text = err.details().to_ascii_uppercase();
    if text.contains("NOPERM") {
        Some("the Redis user may not run CLIENT TRACKING or SET (ACL)")
    } else if text.contains("HELLO") || text.contains("NOPROTO") {
        Some("the server refuses RESP3 (Redis ≥ 6 needed)")
    } else if text.contains("UNKNOWN COMMAND") || text.contains("UNKNOWN SUBCOMMAND") {
        Some("the server has no CLIENT TRACKING (Redis ≥ 6 needed)")
    } else if text.contains("SYNTAX ERROR") {
        Some("the server lacks SET … GET or CLIENT TRACKING BCAST (Redis ≥ 6.2 needed)")
    } else {
        None
    }
}

/// The prefixes to track: all keys when `configured` is empty; else those, plus the canaries'
/// prefix (the heartbeat must see its canary), without prefixes another one already covers
/// (Redis refuses overlapping prefixes).
pub(crate) fn prefixes(configured: &[String]) -> Vec<String> {
    if configured.is_empty() || configured.iter().any(String::is_empty) {
        return Vec::new();
    }
    let mut all: Vec<String> = configured.to_vec();
    all.push(super::nodes::CANARY_PREFIX.to_owned());
    all.sort();
    all.dedup();
    let covered = |p: &String, all: &[String]| all.iter().any(|q| q != p && p.starts_with(q));
    let kept: Vec<String> = all.iter().filter(|p| !covered(p, &all)).cloned().collect();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn prefixes_add_the_canary_and_drop_overlaps() {
        assert!(prefixes(&[]).is_empty(), "no prefix: every key");
        assert!(prefixes(&strings(&["app:", ""])).is_empty());
        assert_eq!(
            prefixes(&strings(&["app:", "app:users:", "b"])),
            strings(&["app:", "b", "smartcache:canary:"])
        );
        assert_eq!(
            prefixes(&strings(&["smartcache:"])),
            strings(&["smartcache:"])
        );
    }

    #[test]
    fn refusals_are_told_from_passing_errors() {
        let redis = |msg: &str| Error::new(ErrorKind::Unknown, msg.to_owned());
        assert!(
            refusal(&redis(
                "NOPERM User u has no permissions to run the 'client|tracking' command"
            ))
            .is_some()
        );
        assert!(refusal(&redis("ERR unknown command 'HELLO'")).is_some());
        assert!(refusal(&redis("ERR syntax error")).is_some());
        assert!(refusal(&redis("MOVED 3999 127.0.0.1:6381")).is_none());
        assert!(refusal(&Error::new(ErrorKind::Timeout, "Request timed out.")).is_none());
    }
}

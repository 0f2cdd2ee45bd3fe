//! A Redis Sentinel watching one primary.

use crate::error::HarnessError;
use crate::server::RedisServer;

/// A primary and one sentinel (quorum 1) that monitors it as `service`. Dropping it stops both.
#[derive(Debug)]
pub struct RedisSentinel {
    // The sentinel first: it is stopped before its primary.
    sentinel: RedisServer,
    primary: RedisServer,
    service: String,
}

impl RedisSentinel {
    /// Starts a primary and a sentinel monitoring it under the name `service`.
    pub fn start(service: &str) -> Result<Self, HarnessError> {
        if service.is_empty()
            || !service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(HarnessError::Command(format!(
                "service name {service:?}: use letters, digits, - and _"
            )));
        }
        let primary = RedisServer::start()?;
        let sentinel = RedisServer::builder()
            .sentinel(primary.port(), service)
            .start()?;
        Ok(RedisSentinel {
            sentinel,
            primary,
            service: service.to_owned(),
        })
    }

    /// `redis-sentinel://127.0.0.1:PORT/SERVICE`, the form `cache-redis` parses.
    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://{}/{}",
            self.sentinel.address(),
            self.service
        )
    }

    /// The monitored primary.
    pub fn primary(&self) -> &RedisServer {
        &self.primary
    }

    /// The sentinel process.
    pub fn sentinel(&self) -> &RedisServer {
        &self.sentinel
    }
}

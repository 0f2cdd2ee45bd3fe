//! Connection settings, from code, a URL or the environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use cache_core::config::{config_error, parse_bool, parse_duration_var, parse_number};
use cache_core::{CacheError, Result};

use crate::secret::Password;
use crate::url::{self, Topology};

/// How long to wait between reconnection attempts: exponential from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub min: Duration,
    /// Largest delay.
    pub max: Duration,
}

/// Everything needed to connect a [`RedisBackend`](crate::RedisBackend).
///
/// Build one with [`from_url`](Self::from_url) or [`from_env`](Self::from_env) and adjust the
/// public fields. Defaults suit a cache, which must fail fast rather than wait on a sick server:
///
/// | field | default | environment |
/// |---|---|---|
/// | topology, TLS, user, password, db | `redis://127.0.0.1:6379` | `REDIS_URL` (see [`crate::url`]) |
/// | [`pool_size`](Self::pool_size) | 2 | `REDIS_POOL_SIZE` |
/// | [`connect_timeout`](Self::connect_timeout) | 1 s | `REDIS_CONNECT_TIMEOUT` |
/// | [`command_timeout`](Self::command_timeout) | 250 ms | `REDIS_COMMAND_TIMEOUT` |
/// | [`tls_ca_file`](Self::tls_ca_file) | system roots | `REDIS_TLS_CA_FILE` |
/// | [`lazy_connect`](Self::lazy_connect) | `false` (connect fails if Redis is down) | `REDIS_LAZY_CONNECT` |
/// | [`reconnect`](Self::reconnect) | 50 ms → 500 ms, forever | — |
/// | [`tracking_prefixes`](Self::tracking_prefixes) | none (every key) | `REDIS_TRACKING_PREFIXES` (comma-separated) |
///
/// Durations in the environment read like `250ms`, `90s`, `5m`, `1h` or plain seconds, and
/// booleans like `true`/`false` (the rules of [`cache_core::CacheConfig`]). `Debug` never shows
/// the password.
#[derive(Clone)]
pub struct RedisConfig {
    /// Where the servers are.
    pub topology: Topology,
    /// Connect with TLS (`rediss://`).
    pub tls: bool,
    /// A PEM file of CA certificates to trust for TLS instead of the system's roots.
    pub tls_ca_file: Option<PathBuf>,
    /// ACL user name (`None`: the `default` user).
    pub username: Option<String>,
    /// Password (ACL user's, or `requirepass`).
    pub password: Option<Password>,
    /// Database number (standalone and sentinel only).
    pub database: Option<u8>,
    /// Connections in the pool; each one pipelines concurrent commands.
    pub pool_size: usize,
    /// How long connecting (TCP, TLS, AUTH) may take.
    pub connect_timeout: Duration,
    /// How long one command may take before it fails with [`CacheError::Timeout`].
    pub command_timeout: Duration,
    /// Delays between reconnection attempts after a connection drops (and, with
    /// [`lazy_connect`](Self::lazy_connect), between first attempts).
    pub reconnect: Backoff,
    /// Start without Redis: when the servers cannot be reached,
    /// [`RedisBackend::connect`](crate::RedisBackend::connect) still returns a backend, whose
    /// commands fail fast with [`CacheError::Unavailable`] until fred's background reconnection
    /// (with [`reconnect`](Self::reconnect)) succeeds. A misconfiguration that the first attempt
    /// can see (wrong password, TLS failure) still fails `connect`; one that shows up only later
    /// is logged and reported by [`RedisBackend::connection_error`](crate::RedisBackend::connection_error).
    /// Off by default: a library should say at once that its settings are wrong; a service
    /// that must start during a Redis restart turns it on.
    pub lazy_connect: bool,
    /// How often each client re-measures its offset to the server clock (see the crate docs).
    pub clock_sync_interval: Duration,
    /// The pub/sub channel on which a lock holder announces that it wrote its value.
    pub lock_channel: String,
    /// `COUNT` hint for each `SCAN` page of a pattern invalidation.
    pub scan_count: u32,
    /// Key prefixes the L1 change feed tracks (`CLIENT TRACKING … BCAST PREFIX …`): every
    /// write under them is pushed to every instance's feed. Empty: every key. Set it to the
    /// cache's key prefixes when the same Redis holds other busy data.
    pub tracking_prefixes: Vec<String>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            topology: Topology::Standalone {
                host: "127.0.0.1".into(),
                port: 6379,
            },
            tls: false,
            tls_ca_file: None,
            username: None,
            password: None,
            database: None,
            pool_size: 2,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_millis(250),
            reconnect: Backoff {
                min: Duration::from_millis(50),
                // A server that comes back is found within half a second (+ fred's jitter of
                // up to 100 ms), so hits resume within a second of it accepting connections;
                // a refused connect on a dead server costs nothing.
                max: Duration::from_millis(500),
            },
            lazy_connect: false,
            clock_sync_interval: Duration::from_secs(10),
            lock_channel: "smartcache:lock-released".into(),
            scan_count: 500,
            tracking_prefixes: Vec::new(),
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("tls_ca_file", &self.tls_ca_file)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("reconnect", &self.reconnect)
            .field("lazy_connect", &self.lazy_connect)
            .field("clock_sync_interval", &self.clock_sync_interval)
            .field("lock_channel", &self.lock_channel)
            .field("scan_count", &self.scan_count)
            .field("tracking_prefixes", &self.tracking_prefixes)
            .finish()
    }
}

impl RedisConfig {
    /// Settings for `url` (see [`crate::url`] for the forms), other fields at their defaults.
    pub fn from_url(url: &str) -> Result<Self> {
        let mut config = RedisConfig::default();
        config.apply_url(url, "url")?;
        Ok(config)
    }

    fn apply_url(&mut self, url: &str, variable: &str) -> Result<()> {
        let parsed = url::parse(url, variable)?;
        self.topology = parsed.topology;
        self.tls = parsed.tls;
        self.username = parsed.username;
        self.password = parsed.password;
        self.database = parsed.database;
        Ok(())
    }

    /// Reads `REDIS_URL`, `REDIS_POOL_SIZE`, `REDIS_CONNECT_TIMEOUT`, `REDIS_COMMAND_TIMEOUT`,
    /// `REDIS_TLS_CA_FILE`, `REDIS_LAZY_CONNECT` and `REDIS_TRACKING_PREFIXES` (comma-separated)
    /// from the process environment; other variables are ignored.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(std::env::vars())
    }

    /// Like [`from_env`](Self::from_env), from `(name, value)` pairs (tests need not touch the
    /// process environment). A malformed value is a [`CacheError::Config`] naming the variable;
    /// a URL is shown with its password redacted.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = RedisConfig::default();
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref().trim());
            match name {
                "REDIS_URL" => config.apply_url(value, name)?,
                "REDIS_POOL_SIZE" => {
                    config.pool_size = parse_number(name, value, "a number of connections ≥ 1")?;
                    if config.pool_size == 0 {
                        return Err(config_error(name, value, "a number of connections ≥ 1"));
                    }
                }
                "REDIS_CONNECT_TIMEOUT" => config.connect_timeout = positive(name, value)?,
                "REDIS_COMMAND_TIMEOUT" => config.command_timeout = positive(name, value)?,
                "REDIS_TLS_CA_FILE" if !value.is_empty() => config.tls_ca_file = Some(value.into()),
                "REDIS_LAZY_CONNECT" => config.lazy_connect = parse_bool(name, value)?,
                "REDIS_TRACKING_PREFIXES" => {
                    config.tracking_prefixes = value
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                _ => {}
            }
        }
        Ok(config)
    }

    /// The connection URL with the password replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        let scheme = match (&self.topology, self.tls) {
            (Topology::Standalone { .. }, false) => "redis",
            (Topology::Standalone { .. }, true) => "rediss",
            (Topology::Cluster { .. }, false) => "redis-cluster",
            (Topology::Cluster { .. }, true) => "rediss-cluster",
            (Topology::Sentinel { .. }, false) => "redis-sentinel",
            (Topology::Sentinel { .. }, true) => "rediss-sentinel",
        };
        let auth = match (&self.username, &self.password) {
            (None, None) => String::new(),
            (Some(user), None) => format!("{user}@"),
            (user, Some(_)) => format!("{}:***@", user.as_deref().unwrap_or("")),
        };
        let join = |nodes: &[(String, u16)]| {
            nodes
                .iter()
                .map(|(h, p)| host_port(h, *p))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (hosts, path) = match &self.topology {
            Topology::Standalone { host, port } => (host_port(host, *port), String::new()),
            Topology::Cluster { seeds } => (join(seeds), String::new()),
            Topology::Sentinel { sentinels, service } => (join(sentinels), format!("/{service}")),
        };
        let db = self.database.map(|d| format!("/{d}")).unwrap_or_default();
        format!("{scheme}://{auth}{hosts}{path}{db}")
    }

    /// Checks the settings that the URL parser cannot (called by `connect`).
    pub(crate) fn validate(&self) -> Result<()> {
        let bad =
            |field: &str, value: String, expected: &str| Err(config_error(field, &value, expected));
        if self.pool_size == 0 {
            return bad("pool_size", "0".into(), "a number of connections ≥ 1");
        }
        if self.command_timeout.is_zero() {
            return bad("command_timeout", "0s".into(), "a duration > 0");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "0s".into(), "a duration > 0");
        }
        if self.reconnect.min.is_zero() || self.reconnect.max < self.reconnect.min {
            return bad(
                "reconnect",
                format!("{:?}", self.reconnect),
                "0 < min ≤ max",
            );
        }
        let empty = match &self.topology {
            Topology::Standalone { .. } => false,
            Topology::Cluster { seeds } => seeds.is_empty(),
            Topology::Sentinel { sentinels, .. } => sentinels.is_empty(),
        };
        if empty {
            return bad("topology", "no hosts".into(), "at least one host");
        }
        if matches!(self.topology, Topology::Cluster { .. })
            && self.database.is_some_and(|d| d != 0)
        {
            return bad(
                "database",
                format!("{:?}", self.database),
                "none (a cluster has only database 0)",
            );
        }
        Ok(())
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn positive(name: &str, value: &str) -> Result<Duration, CacheError> {
    let d = parse_duration_var(name, value)?;
    if d.is_zero() {
        return Err(config_error(
            name,
            value,
            "a duration > 0 such as 250ms or 1s",
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_reads_the_redis_variables_and_ignores_others() {
        let c = RedisConfig::from_vars([
            ("REDIS_URL", "rediss://bob:s3cret@cache.internal:6380/2"),
            ("REDIS_POOL_SIZE", "4"),
            ("REDIS_CONNECT_TIMEOUT", "2s"),
            ("REDIS_COMMAND_TIMEOUT", "150ms"),
            ("REDIS_TLS_CA_FILE", "/etc/ca.pem"),
            ("REDIS_LAZY_CONNECT", "true"),
            ("REDIS_TRACKING_PREFIXES", "app:, sessions: ,,"),
            ("HOME", "/root"),
            ("REDIS_SOMETHING_ELSE", "???"),
        ])
        .unwrap();
        assert_eq!(
            c.topology,
            Topology::Standalone {
                host: "cache.internal".into(),
                port: 6380
            }
        );
        assert!(c.tls);
        assert_eq!(c.username.as_deref(), Some("bob"));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("s3cret"));
        assert_eq!(c.database, Some(2));
        assert_eq!(c.pool_size, 4);
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.command_timeout, Duration::from_millis(150));
        assert_eq!(c.tls_ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert!(c.lazy_connect);
        assert_eq!(c.tracking_prefixes, ["app:", "sessions:"]);

        let plain = RedisConfig::from_vars([
            ("REDIS_COMMAND_TIMEOUT", "1"),
            ("REDIS_CONNECT_TIMEOUT", "1h"),
        ])
        .unwrap();
        assert_eq!(plain.command_timeout, Duration::from_secs(1));
        assert_eq!(plain.connect_timeout, Duration::from_secs(3600));
        assert_eq!(plain.redacted_url(), "redis://127.0.0.1:6379");
        assert!(!plain.lazy_connect, "eager by default");
        assert!(plain.tracking_prefixes.is_empty(), "every key by default");
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (name, value) in [
            ("REDIS_POOL_SIZE", "many"),
            ("REDIS_POOL_SIZE", "0"),
            ("REDIS_CONNECT_TIMEOUT", "soon"),
            ("REDIS_COMMAND_TIMEOUT", "0ms"),
            ("REDIS_COMMAND_TIMEOUT", "-5s"),
            ("REDIS_LAZY_CONNECT", "maybe"),
        ] {
            match RedisConfig::from_vars([(name, value)]) {
                Err(CacheError::Config {
                    variable,
                    value: shown,
                    expected,
                }) => {
                    assert_eq!(variable, name);
                    assert_eq!(shown, value);
                    assert!(!expected.is_empty());
                }
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn password_stays_out_of_debug_and_errors() {
        let c = RedisConfig::from_url("redis://alice:hunter2@h:1").unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("redis://alice:***@h:1"), "{debug}");
        let err =
            RedisConfig::from_vars([("REDIS_URL", "redis://alice:hunter2@h:bad")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }

    #[test]
    fn redacted_url_round_trips_the_shape() {
        for url in [
            "redis-cluster://127.0.0.1:7000,127.0.0.1:7001",
            "rediss-sentinel://s1:26379,[::1]:26380/mymaster/1",
            "redis://u@h:1/0",
        ] {
            assert_eq!(RedisConfig::from_url(url).unwrap().redacted_url(), url);
        }
    }

    #[test]
    fn validation_catches_what_the_parser_cannot() {
        let mut c = RedisConfig::default();
        assert!(c.validate().is_ok());
        c.pool_size = 0;
        assert!(c.validate().is_err());
        let mut c = RedisConfig::from_url("redis-cluster://h:1").unwrap();
        c.database = Some(3);
        assert!(c.validate().is_err());
    }

    #[test]
    fn timeouts_read_humantime_and_reject_huge_or_malformed_values() {
        let c = RedisConfig::from_vars([
            ("REDIS_URL", "redis://h:1"),
            ("REDIS_CONNECT_TIMEOUT", "1m30s"),
            ("REDIS_COMMAND_TIMEOUT", "0.25"),
        ])
        .unwrap();
        assert_eq!(c.connect_timeout, Duration::from_secs(90));
        assert_eq!(c.command_timeout, Duration::from_millis(250));
        for bad in ["1000y", "-1s", "1h and a bit", "0"] {
            let err = RedisConfig::from_vars([
                ("REDIS_URL", "redis://h:1"),
                ("REDIS_CONNECT_TIMEOUT", bad),
            ])
            .unwrap_err()
            .to_string();
            assert!(err.contains("REDIS_CONNECT_TIMEOUT"), "{bad}: {err}");
        }
    }
}

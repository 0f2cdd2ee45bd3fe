//! Cache configuration, from code or from the environment.

use std::time::Duration;

use crate::error::{CacheError, Result};

/// Settings shared by every call of a [`SmartCache`](crate::SmartCache); per-call overrides live
/// in [`EntryOptions`](crate::EntryOptions).
///
/// [`CacheConfig::from_env`] reads these variables (all optional; durations accept `90s`,
/// `250ms`, `5m`, `1h`, `2d` or plain seconds such as `30` or `0.5`; booleans accept
/// `true/false/1/0/yes/no/on/off`):
///
/// | variable | field | default |
/// |---|---|---|
/// | `CACHE_ENABLED` | `enabled` | `true` |
/// | `CACHE_DEFAULT_TTL` | `default_ttl` | `300s` |
/// | `CACHE_GRACE` | `grace` | `60s` |
/// | `CACHE_XFETCH_BETA` | `xfetch_beta` | `1.0` |
/// | `CACHE_OP_TIMEOUT` | `op_timeout` | `250ms` |
/// | `CACHE_SOFT_TIMEOUT` | `soft_timeout` | none |
/// | `CACHE_HARD_TIMEOUT` | `hard_timeout` | `60s` |
/// | `CACHE_FAIL_SAFE` | `fail_safe` | `true` |
/// | `CACHE_FAIL_SAFE_TTL` | `fail_safe_ttl` | `30s` |
/// | `CACHE_STALE_WHILE_REVALIDATE` | `stale_while_revalidate` | `true` |
/// | `CACHE_FLEET_LOCK` | `fleet_lock` | `false` |
/// | `CACHE_LOCK_TTL` | `lock_ttl` | `10s` |
/// | `CACHE_LOCK_WAIT` | `lock_wait` | `5s` |
/// | `CACHE_BREAKER_THRESHOLD` | `breaker_threshold` | `5` |
/// | `CACHE_BREAKER_COOLDOWN` | `breaker_cooldown` | `500ms` |
/// | `CACHE_MAX_VALUE_BYTES` | `max_value_bytes` | `8388608` |
/// | `CACHE_L1_MAX_ENTRIES` | `l1` = [`L1Bound::Entries`] | none (no L1) |
/// | `CACHE_L1_MAX_BYTES` | `l1` = [`L1Bound::Bytes`] | none (no L1) |
/// | `CACHE_L1_HEARTBEAT` | `l1_heartbeat` | `500ms` |
/// | `CACHE_CLEAR_CHECK_INTERVAL` | `clear_check_interval` | `100ms` |
///
/// Variables that do not start with `CACHE_`, or that this table does not name, are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// When false every call computes and the backend is never called.
    pub enabled: bool,
    /// Logical lifetime of an entry unless the call says otherwise.
    pub default_ttl: Duration,
    /// How long an entry stays servable as stale after its TTL.
    pub grace: Duration,
    /// X-Fetch β used when the builder is given no policy (0 disables early refresh).
    pub xfetch_beta: f64,
    /// Timeout of each backend operation, for backends that do not bound their own latency
    /// (see [`CacheBackend::bounds_own_latency`](crate::CacheBackend::bounds_own_latency); the
    /// Redis adapter applies `REDIS_COMMAND_TIMEOUT` itself).
    pub op_timeout: Duration,
    /// With a stale value at hand, wait this long for a compute before serving the stale value
    /// (the compute goes on in the background).
    pub soft_timeout: Option<Duration>,
    /// Abort a compute after this long; each caller also stops waiting after its own hard
    /// timeout. Default 60 s, so a compute that never ends cannot hold its key forever; `None`
    /// lifts the limit (then such a compute blocks its key until it ends).
    pub hard_timeout: Option<Duration>,
    /// Serve the last good value when a compute fails.
    pub fail_safe: bool,
    /// How long a stale value served by fail-safe is kept (as fresh) before the next retry.
    pub fail_safe_ttl: Duration,
    /// Serve a stale entry at once while one background refresh runs.
    pub stale_while_revalidate: bool,
    /// Take the backend's fleet-wide refresh lock on a miss (backends without one ignore it).
    pub fleet_lock: bool,
    /// Lifetime of the fleet lock (a crashed holder blocks nobody longer than this).
    pub lock_ttl: Duration,
    /// How long a process that lost the lock waits for the winner's value before computing.
    pub lock_wait: Duration,
    /// Consecutive backend failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the open breaker suspends backend calls before a probe.
    pub breaker_cooldown: Duration,
    /// Values whose encoding exceeds this are returned but not stored.
    pub max_value_bytes: usize,
    /// The bound of an in-process L1 in front of the backend, when one is wanted. The core only
    /// carries the setting: whoever builds the cache builds the L1 store from it (the
    /// `smartcache` crate's `l1_store`, or [`SmartCacheBuilder::l1`](crate::SmartCacheBuilder::l1)
    /// with a store of your own).
    pub l1: Option<L1Bound>,
    /// How often the backend's change feed proves itself alive; an L1 hit never lags the
    /// backend by more than this plus one heartbeat round trip (see [`crate::coherence`]).
    pub l1_heartbeat: Duration,
    /// How long this process trusts the namespace version it read last (see
    /// [`SmartCache::clear`](crate::SmartCache::clear)): another instance's `clear()` is seen
    /// by this one within this interval plus the duration of one read of the store. Zero
    /// reads it on every hit (one more round trip per read on a remote store).
    pub clear_check_interval: Duration,
}

/// How an L1 is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L1Bound {
    /// At most this many entries.
    Entries(u64),
    /// At most this many bytes of encoded entries.
    Bytes(u64),
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            default_ttl: Duration::from_secs(300),
            grace: Duration::from_secs(60),
            xfetch_beta: 1.0,
            op_timeout: Duration::from_millis(250),
            soft_timeout: None,
            hard_timeout: Some(Duration::from_secs(60)),
            fail_safe: true,
            fail_safe_ttl: Duration::from_secs(30),
            stale_while_revalidate: true,
            fleet_lock: false,
            lock_ttl: Duration::from_secs(10),
            lock_wait: Duration::from_secs(5),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_millis(500),
            max_value_bytes: 8 * 1024 * 1024,
            l1: None,
            l1_heartbeat: Duration::from_millis(500),
            clear_check_interval: Duration::from_millis(100),
        }
    }
}

impl CacheConfig {
    /// Reads the configuration from the process environment (see the table above).
    pub fn from_env() -> Result<Self> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the configuration from `(name, value)` pairs; unknown names are ignored.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut c = CacheConfig::default();
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref().trim());
            if value.is_empty() {
                continue; // `CACHE_GRACE=` means "unset", as in most shells' idiom
            }
            match name {
                "CACHE_ENABLED" => c.enabled = parse_bool(name, value)?,
                "CACHE_DEFAULT_TTL" => c.default_ttl = parse_duration_var(name, value)?,
                "CACHE_GRACE" => c.grace = parse_duration_var(name, value)?,
                "CACHE_XFETCH_BETA" => c.xfetch_beta = parse_beta(name, value)?,
                "CACHE_OP_TIMEOUT" => c.op_timeout = parse_duration_var(name, value)?,
                "CACHE_SOFT_TIMEOUT" => c.soft_timeout = Some(parse_duration_var(name, value)?),
                "CACHE_HARD_TIMEOUT" => c.hard_timeout = Some(parse_duration_var(name, value)?),
                "CACHE_FAIL_SAFE" => c.fail_safe = parse_bool(name, value)?,
                "CACHE_FAIL_SAFE_TTL" => c.fail_safe_ttl = parse_duration_var(name, value)?,
                "CACHE_STALE_WHILE_REVALIDATE" => {
                    c.stale_while_revalidate = parse_bool(name, value)?
                }
                "CACHE_FLEET_LOCK" => c.fleet_lock = parse_bool(name, value)?,
                "CACHE_LOCK_TTL" => c.lock_ttl = parse_duration_var(name, value)?,
                "CACHE_LOCK_WAIT" => c.lock_wait = parse_duration_var(name, value)?,
                "CACHE_BREAKER_THRESHOLD" => {
                    c.breaker_threshold = parse_number(name, value, "a whole number ≥ 1")?
                }
                "CACHE_BREAKER_COOLDOWN" => c.breaker_cooldown = parse_duration_var(name, value)?,
                "CACHE_MAX_VALUE_BYTES" => {
                    c.max_value_bytes = parse_number(name, value, "a size in bytes")?
                }
                "CACHE_L1_MAX_ENTRIES" => {
                    c.l1 = Some(L1Bound::Entries(parse_number(
                        name,
                        value,
                        "a number of entries",
                    )?))
                }
                "CACHE_L1_MAX_BYTES" => {
                    c.l1 = Some(L1Bound::Bytes(parse_number(
                        name,
                        value,
                        "a size in bytes",
                    )?))
                }
                "CACHE_L1_HEARTBEAT" => c.l1_heartbeat = parse_duration_var(name, value)?,
                "CACHE_CLEAR_CHECK_INTERVAL" => {
                    c.clear_check_interval = parse_duration_var(name, value)?
                }
                _ => {}
            }
        }
        if c.breaker_threshold == 0 {
            return Err(config_error(
                "CACHE_BREAKER_THRESHOLD",
                "0",
                "a whole number ≥ 1",
            ));
        }
        Ok(c)
    }
}

/// Longest duration a setting accepts: 100 years is "forever" for a cache, and a bound keeps
/// every `Instant + duration` the cache computes far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600); // humantime's `100y`

/// Why a duration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

/// Parses a duration with [`humantime`] (`250ms`, `90s`, `5m`, `1h30m`, `2 days`, …), or plain
/// (possibly fractional) seconds as before (`30`, `0.5`). At most [`MAX_DURATION`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::config::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
/// assert!(parse_duration("soon").is_err());
/// assert!(parse_duration("1000y").is_err());
/// ```
pub fn parse_duration(text: &str) -> std::result::Result<Duration, DurationError> {
    let text = text.trim();
    let too_long = || {
        DurationError(format!(
            "longer than the maximum of {}",
            humantime::format_duration(MAX_DURATION)
        ))
    };
    let duration = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Plain seconds: humantime wants a unit, and `30` has always meant 30 s here.
        let seconds: f64 = text
            .parse()
            .map_err(|_| DurationError("not a number of seconds".to_owned()))?;
        Duration::try_from_secs_f64(seconds).map_err(|_| too_long())?
    } else {
        humantime::parse_duration(text).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(),
            other => DurationError(other.to_string()),
        })?
    };
    if duration > MAX_DURATION {
        return Err(too_long());
    }
    Ok(duration)
}

/// The error every config reader returns for a malformed value.
pub fn config_error(variable: &str, value: &str, expected: &str) -> CacheError {
    CacheError::Config {
        variable: variable.to_owned(),
        value: value.to_owned(),
        expected: expected.to_owned(),
    }
}

/// Parses a duration variable, naming it and saying what is wrong in the error.
pub fn parse_duration_var(name: &str, value: &str) -> Result<Duration> {
    parse_duration(value).map_err(|e| {
        config_error(
            name,
            value,
            &format!("a duration such as 250ms, 90s, 1h30m or plain seconds ({e})"),
        )
    })
}

/// Parses a boolean variable, naming it in the error.
pub fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(config_error(name, value, "true or false")),
    }
}

/// Parses an unsigned number variable, naming it in the error.
pub fn parse_number<N: std::str::FromStr>(name: &str, value: &str, expected: &str) -> Result<N> {
    value
        .parse()
        .map_err(|_| config_error(name, value, expected))
}

fn parse_beta(name: &str, value: &str) -> Result<f64> {
    match value.parse::<f64>() {
        Ok(b) if b.is_finite() && b >= 0.0 => Ok(b),
        _ => Err(config_error(
            name,
            value,
            "a number ≥ 0 (1.0 is the X-Fetch default, 0 disables early refresh)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_variables_and_ignores_the_rest() {
        let c = CacheConfig::from_vars([
            ("CACHE_ENABLED", "false"),
            ("CACHE_DEFAULT_TTL", "90s"),
            ("CACHE_GRACE", "1h"),
            ("CACHE_XFETCH_BETA", "1.5"),
            ("CACHE_OP_TIMEOUT", "250ms"),
            ("CACHE_LOCK_WAIT", "2"),
            ("PATH", "/usr/bin"),
            ("CACHE_SOMETHING_ELSE", "whatever"),
        ])
        .unwrap();
        assert!(!c.enabled);
        assert_eq!(c.default_ttl, Duration::from_secs(90));
        assert_eq!(c.grace, Duration::from_secs(3600));
        assert_eq!(c.xfetch_beta, 1.5);
        assert_eq!(c.op_timeout, Duration::from_millis(250));
        assert_eq!(c.lock_wait, Duration::from_secs(2));
    }

    #[test]
    fn malformed_values_name_variable_value_and_expectation() {
        for (var, value) in [
            ("CACHE_DEFAULT_TTL", "ten minutes"),
            ("CACHE_ENABLED", "maybe"),
            ("CACHE_XFETCH_BETA", "-1"),
            ("CACHE_BREAKER_THRESHOLD", "0"),
            ("CACHE_MAX_VALUE_BYTES", "1e9x"),
        ] {
            let err = CacheConfig::from_vars([(var, value)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(var) && err.contains(value) && err.contains("expected"),
                "{err}"
            );
        }
    }

    const VARIABLES: &[&str] = &[
        "CACHE_ENABLED",
        "CACHE_DEFAULT_TTL",
        "CACHE_GRACE",
        "CACHE_XFETCH_BETA",
        "CACHE_OP_TIMEOUT",
        "CACHE_SOFT_TIMEOUT",
        "CACHE_HARD_TIMEOUT",
        "CACHE_FAIL_SAFE",
        "CACHE_FAIL_SAFE_TTL",
        "CACHE_STALE_WHILE_REVALIDATE",
        "CACHE_FLEET_LOCK",
        "CACHE_LOCK_TTL",
        "CACHE_LOCK_WAIT",
        "CACHE_BREAKER_THRESHOLD",
        "CACHE_BREAKER_COOLDOWN",
        "CACHE_MAX_VALUE_BYTES",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, failure_persistence: None, ..Default::default() })]

        /// Any value of any variable: a config, or an error naming that variable — never a panic.
        #[test]
        fn any_value_gives_a_config_or_a_named_error(
            var in proptest::sample::select(VARIABLES),
            value in "[0-9.a-zA-Zµ +-]{0,12}|\\PC{0,12}",
        ) {
            if let Err(err) = CacheConfig::from_vars([(var, value.as_str())]) {
                proptest::prop_assert!(err.to_string().contains(var), "{}", err);
            }
            let _ = parse_duration(&value);
        }

        /// A whole number of any unit reads back (to what f64 arithmetic allows), up to
        /// `MAX_DURATION`; beyond it, an error.
        #[test]
        fn whole_numbers_of_every_unit_read_back(n in 0u64..=u64::from(u32::MAX), unit in 0usize..6) {
            let (suffix, want) = [
                ("", Duration::from_secs(n)),
                ("ms", Duration::from_millis(n)),
                ("s", Duration::from_secs(n)),
                ("m", Duration::from_secs(n * 60)),
                ("h", Duration::from_secs(n * 3600)),
                ("d", Duration::from_secs(n * 86_400)),
            ][unit];
            match parse_duration(&format!("{n}{suffix}")) {
                Ok(got) => {
                    let error = got.abs_diff(want).as_secs_f64();
                    proptest::prop_assert!(error <= want.as_secs_f64() * 1e-15 + 1e-9, "{n}{suffix}: {got:?}");
                }
                Err(e) => proptest::prop_assert!(want > MAX_DURATION, "{n}{suffix}: {e}"),
            }
        }
    }

    #[test]
    fn durations_accept_todays_forms_and_humantimes() {
        for (text, want) in [
            ("30", Duration::from_secs(30)),
            ("0.5", Duration::from_millis(500)),
            (" 90s ", Duration::from_secs(90)),
            ("250ms", Duration::from_millis(250)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("5m", Duration::from_secs(300)),
            ("5min", Duration::from_secs(300)),
            ("10 secs", Duration::from_secs(10)),
            ("1h", Duration::from_secs(3600)),
            ("2d", Duration::from_secs(172_800)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m 15s", Duration::from_secs(5415)),
            ("1.5h", Duration::from_secs(5400)),
            ("1week", Duration::from_secs(604_800)),
            ("0", Duration::ZERO),
            ("100y", MAX_DURATION),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_or_huge_durations_are_errors_never_panics() {
        for bad in [
            "",
            "s",
            "-1s",
            "-1",
            "1x",
            "1e400",
            "NaN",
            "inf",
            "1.2.3",
            "..",
            "soon",
            "1h-5m",
            "101y",
            "99999999999999999999",
            "18446744073709551615s",
            "18446744073709551616s",
            "184467440737095516160000000000000000000000000ns",
            "1000000000000000000000000000000000000000",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        let err = CacheConfig::from_vars([("CACHE_GRACE", "1000y")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CACHE_GRACE") && err.contains("maximum"),
            "{err}"
        );
        let err = CacheConfig::from_vars([("CACHE_GRACE", "1hour and a bit")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CACHE_GRACE") && err.contains("1hour and a bit"),
            "{err}"
        );
    }
}

//! Start-up settings from the environment and an optional `.env` file.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `BIND_ADDR` | listen address, `host:port` or just `host` | `127.0.0.1:8080` |
//! | `PORT` | listen port (with `BIND_ADDR` holding only a host, or alone) | `8080` |
//! | `REDIS_URL` | use Redis (`redis://`, `rediss://`, ...) with the fleet lock; unset: in-process memory | unset |
//! | `REDIS_LAZY_CONNECT` | with `REDIS_URL`: start even if Redis is down (answers bypass the store until it is up); `false`: exit instead | `true` |
//! | `BRAIN_DATA_CSV` | football-data CSV to load; unset: the built-in synthetic league | unset |
//! | `BRAIN_SEED`, `BRAIN_COMPETITIONS`, `BRAIN_TEAMS`, `BRAIN_SEASONS` | synthetic league shape (teams per competition) | `2025`, `2`, `24`, `4` |
//! | `BRAIN_MEMORY_MAX_ENTRIES` | bound of the in-memory backend | `100000` |
//! | `CACHE_*` | the cache itself, see [`CacheConfig`] | `CACHE_DEFAULT_TTL=60s`; `CACHE_FLEET_LOCK=true` with Redis |
//! | `RUST_LOG` | log filter | `info` |
//!
//! The process environment wins over `.env`; variables that neither this table nor
//! [`CacheConfig`] names are ignored.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cache_core::CacheConfig;

use crate::domain::SyntheticLeagueConfig;

/// Where the matches come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// The seeded synthetic league.
    Synthetic(SyntheticLeagueConfig),
    /// A football-data CSV file.
    Csv(PathBuf),
}

/// A Redis URL, which may hold a password: `Debug` and `Display` redact the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The full URL, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// `scheme://user:secret@host/…?query` → `scheme://user:***@host/…?***`: the form the Redis
/// adapter's own messages use (`cache_redis::url::redact`), so a log never shows two.
///
/// Written here rather than calling the adapter's function because a password may hold `/`,
/// `?`, `#` or `@`: the user info ends at the *last* `@`, and nothing from a `password=` query
/// parameter on is looked at, so its value can reach neither the host nor the tail. Only a
/// plain user name (letters, digits, `-_.`) is shown; any other user info is `***` whole.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned(); // not a URL: it may be anything, a bare password included
    };
    let (rest, cut_at_password) = match rest.find("password=") {
        Some(at) => (&rest[..at], true),
        None => (rest, false),
    };
    let (user_info, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let user = user_info.map(|info| match info.split_once(':') {
        Some((user, _))
            if user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            format!("{user}:***@")
        }
        _ => "***@".to_owned(),
    });
    let (address, had_query) = match after.find(['?', '#']) {
        Some(cut) => (&after[..cut], true),
        None => (after, false),
    };
    let tail = if had_query || cut_at_password {
        "?***"
    } else {
        ""
    };
    format!("{scheme}://{}{address}{tail}", user.unwrap_or_default())
}

/// Everything the binary needs to start. `Debug` lists the names of `vars`, never their
/// values (one may be a password).
#[derive(Clone)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// Redis, when set; otherwise the in-memory backend.
    pub redis_url: Option<RedisUrl>,
    /// Where the matches come from.
    pub data: DataSource,
    /// The cache configuration.
    pub cache: CacheConfig,
    /// Entry bound of the in-memory backend.
    pub memory_max_entries: u64,
    /// Every variable read, for adapters that read their own (`REDIS_*`).
    pub vars: HashMap<String, String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("redis_url", &self.redis_url)
            .field("data", &self.data)
            .field("cache", &self.cache)
            .field("memory_max_entries", &self.memory_max_entries)
            .field("vars", &names)
            .finish()
    }
}

/// A variable with an unusable value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SettingsError {
    /// `name` holds something unusable.
    #[error("invalid {name}={value:?}: expected {expected}")]
    Invalid {
        /// Variable name.
        name: String,
        /// Its value.
        value: String,
        /// What would be accepted.
        expected: String,
    },
    /// A `CACHE_*` variable was rejected by the cache.
    #[error(transparent)]
    Cache(#[from] cache_core::CacheError),
    /// The `.env` file is malformed.
    #[error(".env line {line}: {message}")]
    DotEnv {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn invalid(name: &str, value: &str, expected: &str) -> SettingsError {
    SettingsError::Invalid {
        name: name.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

impl Settings {
    /// Reads settings from `(name, value)` pairs (later pairs win).
    pub fn from_vars<I, K, V>(vars: I) -> Result<Settings, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let port = match get("PORT") {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| invalid("PORT", p, "a port number 0-65535"))?,
            None => 8080,
        };
        let bind = match get("BIND_ADDR") {
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            Some(b) => match (b.parse::<SocketAddr>(), b.parse::<IpAddr>()) {
                (Ok(addr), _) => addr,
                (_, Ok(ip)) => SocketAddr::new(ip, port),
                _ => {
                    return Err(invalid(
                        "BIND_ADDR",
                        b,
                        "host:port or an IP address, e.g. 0.0.0.0:8080",
                    ));
                }
            },
        };
        let redis_url = get("REDIS_URL").map(|u| RedisUrl(u.to_owned()));
        let number = |name: &str, default: u64| -> Result<u64, SettingsError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| invalid(name, v, "a whole number")),
            }
        };
        let data = match get("BRAIN_DATA_CSV") {
            Some(path) => DataSource::Csv(PathBuf::from(path)),
            None => {
                let default = SyntheticLeagueConfig::default();
                let teams = number("BRAIN_TEAMS", default.teams as u64)?;
                if teams < 2 || teams % 2 != 0 || teams > 200 {
                    return Err(invalid(
                        "BRAIN_TEAMS",
                        &teams.to_string(),
                        "an even number from 2 to 200",
                    ));
                }
                let seasons = number("BRAIN_SEASONS", default.seasons as u64)?;
                if !(1..=20).contains(&seasons) {
                    return Err(invalid(
                        "BRAIN_SEASONS",
                        &seasons.to_string(),
                        "a number from 1 to 20",
                    ));
                }
                let competitions = number("BRAIN_COMPETITIONS", 2)?;
                if !(1..=8).contains(&competitions) {
                    return Err(invalid(
                        "BRAIN_COMPETITIONS",
                        &competitions.to_string(),
                        "a number from 1 to 8",
                    ));
                }
                DataSource::Synthetic(SyntheticLeagueConfig {
                    seed: number("BRAIN_SEED", default.seed)?,
                    competitions: competitions as usize,
                    teams: teams as usize,
                    seasons: seasons as usize,
                    ..default
                })
            }
        };
        let mut cache = CacheConfig::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        if get("CACHE_DEFAULT_TTL").is_none() {
            cache.default_ttl = Duration::from_secs(60);
        }
        if redis_url.is_some() && get("CACHE_FLEET_LOCK").is_none() {
            cache.fleet_lock = true;
        }
        let memory_max_entries = number("BRAIN_MEMORY_MAX_ENTRIES", 100_000)?;
        if memory_max_entries == 0 {
            return Err(invalid("BRAIN_MEMORY_MAX_ENTRIES", "0", "at least 1"));
        }
        Ok(Settings {
            bind,
            redis_url,
            data,
            cache,
            memory_max_entries,
            vars,
        })
    }
}

/// The process environment over the `.env` file of the working directory (if any).
pub fn load_environment() -> Result<Vec<(String, String)>, SettingsError> {
    let mut vars = match std::fs::read_to_string(Path::new(".env")) {
        Ok(text) => parse_dotenv(&text)?,
        Err(_) => Vec::new(),
    };
    vars.extend(std::env::vars());
    Ok(vars)
}

/// Parses `.env` text: `NAME=value` lines, optional `export `, `#` comments, blank lines, values
/// optionally in single quotes (literal) or double quotes (with `\n`, `\"`, `\\` escapes).
///
/// Written here rather than with `dotenvy`: dotenvy expands `$NAME` in unquoted and
/// double-quoted values (a Redis password holding `$` would silently change), and its parse
/// errors quote the whole offending line (which may hold that password) where ours give only
/// the line number.
///
/// ```
/// let vars = brain_integration::settings::parse_dotenv("# comment\nexport PORT=9000\nREDIS_URL=\"redis://127.0.0.1:6379\" # local\n").unwrap();
/// assert_eq!(vars, [("PORT".to_owned(), "9000".to_owned()), ("REDIS_URL".to_owned(), "redis://127.0.0.1:6379".to_owned())]);
/// ```
pub fn parse_dotenv(text: &str) -> Result<Vec<(String, String)>, SettingsError> {
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let err = |message: &str| SettingsError::DotEnv {
            line: i + 1,
            message: message.to_owned(),
        };
        let Some((name, value)) = line.split_once('=') else {
            return Err(err("expected NAME=value"));
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(err("a variable name is letters, digits and underscores"));
        }
        let value = value.trim();
        let value = if let Some(rest) = value.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = rest.chars();
            loop {
                match chars.next() {
                    None => return Err(err("unterminated double quote")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(c) => out.push(c),
                        None => return Err(err("unterminated double quote")),
                    },
                    Some(c) => out.push(c),
                }
            }
            out
        } else if let Some(rest) = value.strip_prefix('\'') {
            match rest.find('\'') {
                Some(end) => rest[..end].to_owned(),
                None => return Err(err("unterminated single quote")),
            }
        } else {
            // Unquoted: a ` #` starts a comment.
            value.split(" #").next().unwrap_or("").trim_end().to_owned()
        };
        vars.push((name.to_owned(), value));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_with_nothing_set() {
        let s = Settings::from_vars(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert!(s.redis_url.is_none());
        assert_eq!(
            s.data,
            DataSource::Synthetic(SyntheticLeagueConfig {
                competitions: 2,
                ..SyntheticLeagueConfig::default()
            })
        );
        assert_eq!(s.cache.default_ttl, Duration::from_secs(60));
        assert!(!s.cache.fleet_lock);
    }

    #[test]
    fn addresses_redis_and_overrides() {
        let s = Settings::from_vars([
            ("PORT", "9001"),
            ("BIND_ADDR", "0.0.0.0"),
            ("REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0"),
            ("CACHE_DEFAULT_TTL", "5m"),
            ("UNRELATED", "whatever"),
            ("BRAIN_TEAMS", "8"),
        ])
        .unwrap();
        assert_eq!(s.bind.to_string(), "0.0.0.0:9001");
        assert_eq!(s.cache.default_ttl, Duration::from_secs(300));
        assert!(s.cache.fleet_lock, "Redis turns the fleet lock on");
        assert!(!format!("{s:?}").contains("hunter2"));
        let url = s.redis_url.unwrap();
        assert!(!format!("{url} {url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "redis://:hunter2@127.0.0.1:6379/0");
        assert!(matches!(
            s.data,
            DataSource::Synthetic(SyntheticLeagueConfig { teams: 8, .. })
        ));
        let s = Settings::from_vars([("BIND_ADDR", "[::1]:7000"), ("PORT", "1")]).unwrap();
        assert_eq!(s.bind.to_string(), "[::1]:7000");
        let s = Settings::from_vars([("BRAIN_DATA_CSV", "/data/E0.csv")]).unwrap();
        assert_eq!(s.data, DataSource::Csv("/data/E0.csv".into()));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("BIND_ADDR", "localhost:80:80"),
            ("BRAIN_TEAMS", "7"),
            ("BRAIN_COMPETITIONS", "0"),
            ("BRAIN_SEED", "-1"),
            ("CACHE_DEFAULT_TTL", "soon"),
        ] {
            let err = Settings::from_vars([(name, value)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn dotenv_forms_and_errors() {
        let vars =
            parse_dotenv("A=1\n\n  # c\nB='x # y'\nC=\"q\\\"z\\n\"\nD=plain # trailing\nE=\n")
                .unwrap();
        let want = [
            ("A", "1"),
            ("B", "x # y"),
            ("C", "q\"z\n"),
            ("D", "plain"),
            ("E", ""),
        ];
        assert_eq!(vars, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
        for (text, line) in [
            ("A=1\nnovalue\n", 2),
            ("A=\"open\n", 1),
            ("=1\n", 1),
            ("B='x\n", 1),
        ] {
            match parse_dotenv(text) {
                Err(SettingsError::DotEnv { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("redis://user:pw@host:6379/1"),
            "redis://user:***@host:6379/1"
        );
        assert_eq!(redact_url("rediss://host:6380"), "rediss://host:6380");
        assert_eq!(
            redact_url("redis://host/0?password=pw"),
            "redis://host/0?***"
        );
        assert_eq!(redact_url("redis://a@b@host"), "redis://***@host");
        assert_eq!(redact_url("hunter2"), "***");
    }

    #[test]
    fn redaction_has_the_redis_adapters_form() {
        for url in [
            "redis://app:s3cret@cache.internal:6379/0",
            "rediss://:s3cret@h:6380",
            "redis://h:1",
            "redis://h:1/2?password=s3cret",
            "redis+sentinel://app:s3cret@s1:26379/mymaster",
            "not a url",
        ] {
            assert_eq!(redact_url(url), cache_redis::url::redact(url), "{url}");
        }
    }

    #[test]
    fn redaction_hides_passwords_holding_url_delimiters() {
        for (url, shown) in [
            ("redis://:pa/ss@h:1", "redis://:***@h:1"),
            ("redis://u:pa?ss@h:1", "redis://u:***@h:1"),
            ("redis://:pa#ss@h:1/0", "redis://:***@h:1/0"),
            ("redis://:pa@ss@h:1/0", "redis://:***@h:1/0"),
            ("redis://h:1/0?password=pa@ss", "redis://h:1/0?***"),
            ("redis://:password=pa@h:1", "redis://:?***"),
            ("redis://u/x:pa@h:1", "redis://***@h:1"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            let printed = RedisUrl(url.to_owned());
            let printed = format!("{printed} {printed:?}");
            assert!(!printed.contains("pa"), "{printed}");
        }
    }
}

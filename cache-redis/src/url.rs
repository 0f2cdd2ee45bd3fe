//! Redis URLs: parsing, and printing without the password.
//!
//! | form | meaning |
//! |---|---|
//! | `redis://[user[:password]@]host[:port][/db]` | one server (port 6379 by default) |
//! | `rediss://…` | the same over TLS |
//! | `redis-cluster://[user:password@]h1:p1,h2:p2,…` | a cluster; every host is a seed node |
//! | `redis-sentinel://[user:password@]s1:p1,s2:p2/service[/db]` | the primary of `service`, found through sentinels (port 26379 by default) |
//!
//! `rediss-cluster://` and `rediss-sentinel://` add TLS. User and password are percent-decoded
//! (`%40` for `@`). IPv6 hosts go in brackets: `[::1]:6379`.

use cache_core::CacheError;

use crate::secret::Password;

/// Where the servers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server.
    Standalone {
        /// Host name or IP address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Redis Cluster, discovered from any of the seed nodes.
    Cluster {
        /// Seed nodes `(host, port)`.
        seeds: Vec<(String, u16)>,
    },
    /// The primary of a sentinel-managed service.
    Sentinel {
        /// Sentinel nodes `(host, port)`.
        sentinels: Vec<(String, u16)>,
        /// The monitored service (master) name.
        service: String,
    },
}

/// The parts of a Redis URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedUrl {
    pub(crate) topology: Topology,
    pub(crate) tls: bool,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Password>,
    pub(crate) database: Option<u8>,
}

const DEFAULT_PORT: u16 = 6379;
const DEFAULT_SENTINEL_PORT: u16 = 26379;
const EXPECTED: &str = "a URL like redis://[user:password@]host:port[/db], rediss://… for TLS, \
     redis-cluster://host1:port1,host2:port2 or redis-sentinel://host:port/service";

/// Parses `url`; errors name `variable` and show the URL with its password redacted.
pub(crate) fn parse(url: &str, variable: &str) -> Result<ParsedUrl, CacheError> {
    let fail = |why: &str| CacheError::Config {
        variable: variable.to_owned(),
        value: redact(url),
        expected: format!("{EXPECTED} ({why})"),
    };
    let (scheme, rest) = url
        .trim()
        .split_once("://")
        .ok_or_else(|| fail("no scheme"))?;
    let (tls, kind) = match scheme.to_ascii_lowercase().as_str() {
        "redis" => (false, Kind::Standalone),
        "rediss" => (true, Kind::Standalone),
        "redis-cluster" => (false, Kind::Cluster),
        "rediss-cluster" => (true, Kind::Cluster),
        "redis-sentinel" => (false, Kind::Sentinel),
        "rediss-sentinel" => (true, Kind::Sentinel),
        _ => return Err(fail("unknown scheme")),
    };
    if rest.contains(['?', '#']) {
        return Err(fail(
            "query parameters are not supported; set the RedisConfig fields instead",
        ));
    }
    // The userinfo ends at the last `@`, so an unencoded `@` in a password still parses.
    let (userinfo, location) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, pass) = match info.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (info, None),
            };
            let user = percent_decode(user)
                .ok_or_else(|| fail("bad percent-encoding in the user name"))?;
            let pass = pass
                .map(|p| {
                    percent_decode(p).ok_or_else(|| fail("bad percent-encoding in the password"))
                })
                .transpose()?;
            (
                Some(user).filter(|u| !u.is_empty()),
                pass.filter(|p| !p.is_empty()).map(Password::new),
            )
        }
    };
    let (hosts, path) = match location.find('/') {
        Some(slash) => (&location[..slash], &location[slash + 1..]),
        None => (location, ""),
    };
    let default_port = if kind == Kind::Sentinel {
        DEFAULT_SENTINEL_PORT
    } else {
        DEFAULT_PORT
    };
    let nodes = hosts
        .split(',')
        .map(|h| parse_host(h.trim(), default_port).ok_or_else(|| fail("bad host:port")))
        .collect::<Result<Vec<_>, _>>()?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let parse_db = |text: &str| {
        text.parse::<u8>()
            .map_err(|_| fail("the database must be a number from 0 to 255"))
    };
    let (topology, database) = match kind {
        Kind::Standalone => {
            let [(host, port)] = <[_; 1]>::try_from(nodes)
                .map_err(|_| fail("use redis-cluster:// for several hosts"))?;
            let database = match segments.as_slice() {
                [] => None,
                [db] => Some(parse_db(db)?),
                _ => return Err(fail("the path holds only a database number")),
            };
            (Topology::Standalone { host, port }, database)
        }
        Kind::Cluster => {
            let database = match segments.as_slice() {
                [] => None,
                ["0"] => Some(0),
                _ => return Err(fail("a cluster has only database 0")),
            };
            (Topology::Cluster { seeds: nodes }, database)
        }
        Kind::Sentinel => {
            let (service, database) = match segments.as_slice() {
                [service] => (service, None),
                [service, db] => (service, Some(parse_db(db)?)),
                _ => {
                    return Err(fail(
                        "a sentinel URL needs a service name: redis-sentinel://host:port/service",
                    ));
                }
            };
            let service = percent_decode(service)
                .ok_or_else(|| fail("bad percent-encoding in the service name"))?;
            (
                Topology::Sentinel {
                    sentinels: nodes,
                    service,
                },
                database,
            )
        }
    };
    Ok(ParsedUrl {
        topology,
        tls,
        username,
        password,
        database,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Standalone,
    Cluster,
    Sentinel,
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_host(text: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return None;
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0)?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

/// The URL with its password replaced by `***` (and a user-only userinfo kept), and any
/// query or fragment (which may carry `?password=…`) replaced by `?***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: it may be anything, including a bare password.
        return "***".to_owned();
    };
    if let Some(at) = rest.rfind('@') {
        let info = &rest[..at];
        let (user, has_password) = match info.split_once(':') {
            Some((user, _)) => (user, true),
            None => (info, false),
        };
        // A `?` or `#` before the user name ends means the `@` sits in a query, not userinfo.
        if !user.contains(['?', '#']) {
            let shown = if has_password {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            return format!("{scheme}://{shown}@{}", without_query(&rest[at + 1..]));
        }
    }
    format!("{scheme}://{}", without_query(rest))
}

/// `text` cut at its first `?` or `#`, with `?***` in place of what was cut.
fn without_query(text: &str) -> String {
    match text.find(['?', '#']) {
        Some(cut) => format!("{}?***", &text[..cut]),
        None => text.to_owned(),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever surrounds a password in a URL, parsing gives a config or an error and neither
        /// the error nor the redacted URL shows the password.
        #[test]
        fn a_password_never_shows(
            scheme in prop::sample::select(&["redis", "rediss", "redis-cluster", "rediss-sentinel", "http"][..]),
            before in "[a-z:@/?#%0-9,\\[\\]]{0,8}|\\PC{0,8}",
            after in "[a-z:@/?#%0-9,\\[\\]]{0,12}|\\PC{0,12}",
        ) {
            const SECRET: &str = "Pw0rdXyzzy";
            let url = format!("{scheme}://{before}:{SECRET}@{after}");
            prop_assert!(!redact(&url).contains(SECRET), "{}", redact(&url));
            match parse(&url, "REDIS_URL") {
                Ok(parsed) => {
                    let shown = format!("{:?}", parsed.password);
                    prop_assert!(!shown.contains(SECRET), "{}", shown);
                }
                Err(err) => prop_assert!(!err.to_string().contains(SECRET), "{}", err),
            }
            let _ = parse(&before, "REDIS_URL");
            let _ = parse(&after, "REDIS_URL");
        }
    }

    fn ok(url: &str) -> ParsedUrl {
        parse(url, "REDIS_URL").unwrap()
    }

    #[test]
    fn standalone_forms() {
        let p = ok("redis://localhost");
        assert_eq!(
            p.topology,
            Topology::Standalone {
                host: "localhost".into(),
                port: 6379
            }
        );
        assert!(!p.tls && p.username.is_none() && p.password.is_none() && p.database.is_none());

        let p = ok("rediss://alice:p%40ss%3Aw@10.0.0.1:6380/3");
        assert!(p.tls);
        assert_eq!(
            p.topology,
            Topology::Standalone {
                host: "10.0.0.1".into(),
                port: 6380
            }
        );
        assert_eq!(p.username.as_deref(), Some("alice"));
        assert_eq!(p.password.as_ref().map(Password::expose), Some("p@ss:w"));
        assert_eq!(p.database, Some(3));

        let p = ok("redis://:only-pass@[::1]:7000");
        assert_eq!(
            p.topology,
            Topology::Standalone {
                host: "::1".into(),
                port: 7000
            }
        );
        assert_eq!(p.username, None);
        assert_eq!(p.password.as_ref().map(Password::expose), Some("only-pass"));

        // An unencoded `@` in the password: the last `@` ends the userinfo.
        let p = ok("redis://u:a@b@host:1");
        assert_eq!(p.password.as_ref().map(Password::expose), Some("a@b"));
    }

    #[test]
    fn cluster_and_sentinel_forms() {
        let p = ok("redis-cluster://127.0.0.1:7000, 127.0.0.1:7001,127.0.0.1:7002");
        assert_eq!(
            p.topology,
            Topology::Cluster {
                seeds: vec![
                    ("127.0.0.1".into(), 7000),
                    ("127.0.0.1".into(), 7001),
                    ("127.0.0.1".into(), 7002)
                ]
            }
        );
        let p = ok("rediss-sentinel://u:pw@s1,s2:26380/mymaster/2");
        assert!(p.tls);
        assert_eq!(
            p.topology,
            Topology::Sentinel {
                sentinels: vec![("s1".into(), 26379), ("s2".into(), 26380)],
                service: "mymaster".into()
            }
        );
        assert_eq!(p.database, Some(2));
    }

    #[test]
    fn bad_urls_name_the_variable_and_hide_the_password() {
        for bad in [
            "localhost:6379",
            "http://h",
            "redis://u:hunter2@h:notaport",
            "redis://u:hunter2@h:1/999",
            "redis://u:hunter2@h1,h2",
            "redis-cluster://u:hunter2@h:1/2",
            "redis-sentinel://u:hunter2@h:1",
            "redis://u:hunter2@h:1?timeout=1",
            "redis://u:hun%zzter2@h:1",
            "redis://u:hunter2@:1",
        ] {
            let err = parse(bad, "REDIS_URL").unwrap_err();
            let text = err.to_string();
            assert!(text.contains("REDIS_URL"), "{text}");
            assert!(
                !text.contains("hunter2") && !text.contains("hun%zzter2"),
                "{text}"
            );
            assert!(matches!(err, CacheError::Config { .. }));
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://:secret@h"), "redis://:***@h");
        assert_eq!(redact("redis://u:a@b@h"), "redis://u:***@h");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(redact("secret"), "***");
    }

    #[test]
    fn redaction_hides_query_and_fragment() {
        assert_eq!(redact("redis://h:1?password=hunter2"), "redis://h:1?***");
        assert_eq!(redact("redis://h:1/0#hunter2"), "redis://h:1/0?***");
        assert_eq!(redact("redis://h?password=a@b"), "redis://h?***");
        assert_eq!(redact("redis://h?password=a:b@c"), "redis://h?***");
        assert_eq!(
            redact("redis://u:pw@h:1?password=hunter2"),
            "redis://u:***@h:1?***"
        );
        let err = parse("redis://h:1?password=hunter2", "REDIS_URL")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("redis://h:1?***"), "{err}");
    }
}

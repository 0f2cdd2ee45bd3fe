//! Turning a [`RedisConfig`] into connected fred clients.

#[cfg(feature = "tls")]
use std::sync::Arc;

use cache_core::{CacheError, Result};
use fred::prelude::*;
use fred::types::config::ClusterDiscoveryPolicy;
#[cfg(feature = "tls")]
use fred::types::config::{TlsConfig, TlsConnector, TlsHostMapping};

use crate::config::RedisConfig;
use crate::secret::Redactor;
use crate::url::Topology;

/// Redirects followed per command: a slot in migration costs one `ASK`, or one `MOVED` once
/// moved, and a failover one `MOVED`; a margin for both at once.
const MAX_REDIRECTIONS: u32 = 3;

/// The fred builder for `config` (pool size, timeouts and backoff applied). With
/// `retry_first_connection`, a failed first connection is retried with the backoff, as a
/// dropped one is (lazy start); otherwise it is reported to `init`.
pub(crate) fn builder(
    config: &RedisConfig,
    redactor: &Redactor,
    retry_first_connection: bool,
) -> Result<Builder> {
    let server = match &config.topology {
        Topology::Standalone { host, port } => ServerConfig::new_centralized(host.as_str(), *port),
        Topology::Cluster { seeds } => ServerConfig::Clustered {
            hosts: seeds
                .iter()
                .map(|(h, p)| Server::new(h.as_str(), *p))
                .collect(),
            policy: ClusterDiscoveryPolicy::default(),
        },
        Topology::Sentinel { sentinels, service } => ServerConfig::Sentinel {
            hosts: sentinels
                .iter()
                .map(|(h, p)| Server::new(h.as_str(), *p))
                .collect(),
            service_name: service.clone(),
        },
    };
    #[cfg(feature = "tls")]
    let tls = if config.tls {
        Some(tls_config(config, redactor)?)
    } else {
        None
    };
    #[cfg(not(feature = "tls"))]
    {
        // Only the TLS setup's errors quote what the redactor cleans.
        let _ = redactor;
        if config.tls {
            return Err(tls_not_built(config));
        }
    }
    let fred_config = Config {
        server,
        username: config.username.clone(),
        password: config.password.as_ref().map(|p| p.expose().to_owned()),
        database: config.database,
        #[cfg(feature = "tls")]
        tls,
        // Eager start: a bad password or an unreachable server is reported, not retried forever.
        fail_fast: !retry_first_connection,
        ..Config::default()
    };
    let mut builder = Builder::from_config(fred_config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = config.connect_timeout;
            c.internal_command_timeout = config.connect_timeout;
            // A cache command that failed is not worth retrying (the caller computes instead),
            // but a cluster redirect must be followed: each `MOVED`/`ASK` re-send spends an
            // attempt in fred, and with a single attempt an `ASK` failed and ended fred's
            // connection task. Commands run with `fail_fast`, so a dropped connection still
            // fails them at once rather than re-sending them after a reconnect.
            c.max_command_attempts = 1 + MAX_REDIRECTIONS;
            c.max_redirections = MAX_REDIRECTIONS;
            c.reconnect_on_auth_error = false;
            c.tcp.nodelay = Some(true);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = config.command_timeout;
        })
        .set_policy(ReconnectPolicy::new_exponential(
            0, // forever: the cache keeps serving computed values meanwhile
            millis(config.reconnect.min),
            millis(config.reconnect.max),
            2,
        ));
    Ok(builder)
}

fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// A TLS URL in a build without TLS: a clear error naming the feature, never a plain-text
/// connection to a server that expects TLS.
#[cfg(not(feature = "tls"))]
fn tls_not_built(config: &RedisConfig) -> CacheError {
    CacheError::Config {
        variable: "REDIS_URL".into(),
        value: config.redacted_url(),
        expected: "a redis:// URL: this build has no TLS (enable the `tls` feature of \
                   cache-redis, `redis-tls` of smartcache)"
            .into(),
    }
}

/// A rustls connector (ring provider) trusting the configured CA file, or the system roots.
#[cfg(feature = "tls")]
fn tls_config(config: &RedisConfig, redactor: &Redactor) -> Result<TlsConfig> {
    use fred::rustls::pki_types::CertificateDer;
    use fred::rustls::pki_types::pem::PemObject;
    use fred::rustls::{ClientConfig, RootCertStore};

    let tls_error = |what: String| CacheError::Config {
        variable: "tls_ca_file".into(),
        value: config
            .tls_ca_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        expected: redactor.clean(&what),
    };
    let mut roots = RootCertStore::empty();
    match &config.tls_ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| tls_error(format!("a readable PEM file of CA certificates ({e})")))?;
            for cert in certs {
                let cert = cert.map_err(|e| tls_error(format!("PEM certificates ({e})")))?;
                roots
                    .add(cert)
                    .map_err(|e| tls_error(format!("valid CA certificates ({e})")))?;
            }
            if roots.is_empty() {
                return Err(tls_error("at least one CA certificate in the file".into()));
            }
        }
        None => {
            let found = fred::rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system root rustls cannot parse is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(fred::rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("a TLS setup rustls supports ({e})")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConfig {
        connector: TlsConnector::from(client),
        hostnames: TlsHostMapping::None,
    })
}

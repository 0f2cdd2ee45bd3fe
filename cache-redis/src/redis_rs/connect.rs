//! Opening redis-rs connections from a [`RedisConfig`] (a URL, the environment, or code).

use cache_core::{CacheError, Result};
use redis::aio::ConnectionManagerConfig;
use redis::cluster::ClusterClientBuilder;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use super::RedisRsBackend;
use super::backend::NAME;
use super::connection::Connection;
use super::options::RedisRsOptions;
use crate::config::RedisConfig;
use crate::secret::Redactor;
use crate::url::Topology;

/// Connects with `config`: standalone (`ConnectionManager`) or cluster (`ClusterConnection`),
/// then measures the server clocks.
pub(crate) async fn connect(config: RedisConfig) -> Result<RedisRsBackend> {
    config.validate()?;
    let redactor = Redactor::for_password(config.password.as_ref());
    let fail = |err: redis::RedisError| {
        let hint = match err.kind() {
            redis::ErrorKind::AuthenticationFailed => " (check the user name and password)",
            _ if err.code() == Some("NOAUTH") || err.code() == Some("WRONGPASS") => {
                " (check the user name and password)"
            }
            _ => "",
        };
        CacheError::Unavailable {
            backend: NAME,
            message: redactor.clean(&format!(
                "cannot connect to {}: {err}{hint}",
                config.redacted_url()
            )),
        }
    };
    let (connection, notifications) = match &config.topology {
        Topology::Standalone { host, port } => {
            let client = client_for(&config, host, *port)?;
            let manager_config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(config.connect_timeout))
                .set_response_timeout(Some(config.command_timeout))
                .set_min_delay(config.reconnect.min)
                .set_max_delay(config.reconnect.max);
            let manager = client
                .get_connection_manager_with_config(manager_config)
                .await
                .map_err(fail)?;
            (Connection::Standalone(manager), client)
        }
        Topology::Cluster { seeds } => {
            let nodes = seeds
                .iter()
                .map(|(host, port)| connection_info(&config, host, *port))
                .collect::<Result<Vec<_>>>()?;
            let mut builder = ClusterClientBuilder::new(nodes)
                .connection_timeout(config.connect_timeout)
                .response_timeout(config.command_timeout);
            builder = cluster_tls(builder, &config)?;
            let cluster = builder
                .build()
                .map_err(fail)?
                .get_async_connection()
                .await
                .map_err(fail)?;
            // Releases are broadcast to every node: any seed will do for the subscriber.
            let (host, port) = seeds.first().cloned().unwrap_or_default();
            (
                Connection::Cluster(cluster),
                client_for(&config, &host, port)?,
            )
        }
        Topology::Sentinel { .. } => {
            return Err(CacheError::Unsupported(
                "sentinel URLs with the redis-rs adapter (use the fred adapter, or build a \
                 ConnectionManager from redis-rs' sentinel client)",
            ));
        }
    };
    let options = RedisRsOptions {
        lock_channel: config.lock_channel.clone(),
        scan_count: config.scan_count,
        clock_sync_interval: config.clock_sync_interval,
        notifications: Some(notifications),
    };
    let backend = RedisRsBackend::build(
        connection,
        options,
        config.redacted_url(),
        redactor.clone(),
        Some(config.command_timeout),
    );
    backend.sync_clock().await?;
    tracing::debug!(url = %config.redacted_url(), "connected to redis (redis-rs)");
    Ok(backend)
}

/// Address, database and credentials of one node.
fn connection_info(config: &RedisConfig, host: &str, port: u16) -> Result<ConnectionInfo> {
    let addr = if config.tls {
        ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_owned(), port)
    };
    let mut redis = RedisConnectionInfo::default().set_db(i64::from(config.database.unwrap_or(0)));
    if let Some(user) = &config.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &config.password {
        redis = redis.set_password(password.expose());
    }
    let info = addr
        .into_connection_info()
        .map_err(|e| CacheError::Config {
            variable: "url".into(),
            value: config.redacted_url(),
            expected: format!("an address redis-rs accepts ({e})"),
        })?;
    Ok(info.set_redis_settings(redis))
}

/// A client for one node (TLS with the configured CA when asked).
fn client_for(config: &RedisConfig, host: &str, port: u16) -> Result<redis::Client> {
    let info = connection_info(config, host, port)?;
    let invalid = |e: redis::RedisError| CacheError::Config {
        variable: "url".into(),
        value: config.redacted_url(),
        expected: format!("settings redis-rs accepts ({e})"),
    };
    if config.tls {
        tls_client(config, info).map_err(invalid)
    } else {
        redis::Client::open(info).map_err(invalid)
    }
}

#[cfg(feature = "redis-rs-tls")]
fn tls_client(config: &RedisConfig, info: ConnectionInfo) -> redis::RedisResult<redis::Client> {
    match read_ca(config)? {
        Some(root_cert) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            },
        ),
        None => redis::Client::open(info),
    }
}

#[cfg(not(feature = "redis-rs-tls"))]
fn tls_client(_: &RedisConfig, _: ConnectionInfo) -> redis::RedisResult<redis::Client> {
    Err(redis::RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "TLS (rediss://) needs the cache-redis feature `redis-rs-tls`",
    )))
}

#[cfg(feature = "redis-rs-tls")]
fn cluster_tls(
    builder: ClusterClientBuilder,
    config: &RedisConfig,
) -> Result<ClusterClientBuilder> {
    if !config.tls {
        return Ok(builder);
    }
    let builder = builder.tls(redis::TlsMode::Secure);
    Ok(
        match read_ca(config).map_err(|e| CacheError::Config {
            variable: "tls_ca_file".into(),
            value: format!("{:?}", config.tls_ca_file),
            expected: e.to_string(),
        })? {
            Some(root_cert) => builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            }),
            None => builder,
        },
    )
}

#[cfg(not(feature = "redis-rs-tls"))]
fn cluster_tls(
    builder: ClusterClientBuilder,
    config: &RedisConfig,
) -> Result<ClusterClientBuilder> {
    if config.tls {
        return Err(CacheError::Config {
            variable: "url".into(),
            value: config.redacted_url(),
            expected: "redis-cluster:// (TLS needs the cache-redis feature `redis-rs-tls`)".into(),
        });
    }
    Ok(builder)
}

/// The PEM bytes of the configured CA file, if any.
#[cfg(feature = "redis-rs-tls")]
fn read_ca(config: &RedisConfig) -> redis::RedisResult<Option<Vec<u8>>> {
    let Some(path) = &config.tls_ca_file else {
        return Ok(None);
    };
    std::fs::read(path).map(Some).map_err(|e| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "cannot read the TLS CA file",
            format!("{}: {e}", path.display()),
        ))
    })
}

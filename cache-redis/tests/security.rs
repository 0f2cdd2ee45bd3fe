//! TLS, ACL users, and passwords kept out of errors and `Debug`.

mod common;

use std::time::Duration;

use cache_core::CacheBackend;
use cache_redis::{RedisBackend, RedisConfig};
use common::{bytes, payload_bytes};
use redis_harness::RedisServer;

async fn round_trip(backend: &RedisBackend, key: &str) {
    backend
        .set(key, bytes(b"secret value"), Duration::from_secs(30))
        .await
        .unwrap();
    let entry = backend.get(key).await.unwrap().unwrap();
    assert_eq!(payload_bytes(&entry), b"secret value");
    backend.ping().await.unwrap();
    assert_eq!(backend.invalidate_pattern(key).await.unwrap(), 1);
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_round_trip_with_the_test_ca() {
    let server = RedisServer::builder().tls().start().unwrap();
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    assert!(config.tls);
    config.tls_ca_file = Some(server.ca_cert().unwrap().to_owned());
    let backend = RedisBackend::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    round_trip(&backend, "tls:key").await;

    // Without trusting the test CA the handshake fails, and says so.
    let err = RedisBackend::from_url(&server.url())
        .await
        .unwrap_err()
        .to_string();
    println!("untrusted certificate: {err}");
    assert!(
        err.contains("cannot connect to rediss://127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("TLS"),
        "{err}"
    );

    // Plain text to a TLS-only port does not work either.
    let plain = server.url().replacen("rediss://", "redis://", 1);
    let mut config = RedisConfig::from_url(&plain).unwrap();
    config.connect_timeout = Duration::from_millis(300);
    assert!(RedisBackend::connect(config).await.is_err());
}

/// Without the `tls` feature a TLS URL is refused at connect with an error naming the feature
/// (never a plain-text connection to a server that expects TLS), and no password in it.
#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn a_tls_url_in_a_build_without_tls_names_the_feature() {
    for url in [
        "rediss://app:hunter2@127.0.0.1:6390",
        "rediss-cluster://app:hunter2@127.0.0.1:7000,127.0.0.1:7001",
        "rediss-sentinel://app:hunter2@127.0.0.1:26379/mymaster",
    ] {
        let config = RedisConfig::from_url(url).unwrap();
        assert!(config.tls);
        let err = RedisBackend::connect(config).await.unwrap_err();
        assert!(
            matches!(err, cache_core::CacheError::Config { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("`tls` feature") && text.contains("redis-tls"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_round_trip_and_wrong_password() {
    let password = "s3cret:p@ss/word";
    let server = RedisServer::builder()
        .requirepass("default-secret-pw")
        .acl_user("alice", password)
        .start()
        .unwrap();
    let backend = RedisBackend::from_url(&server.url_with_auth("alice", password))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    round_trip(&backend, "acl:key").await;
    let whoami: String = {
        use fred::prelude::*;
        let cmd =
            fred::types::CustomCommand::new_static("ACL", fred::types::ClusterHash::Random, false);
        backend
            .fred_pool()
            .next()
            .custom(cmd, vec!["WHOAMI"])
            .await
            .unwrap()
    };
    assert_eq!(whoami, "alice");
    let debug = format!("{backend:?} {:?}", backend.config());
    assert!(
        !debug.contains("s3cret") && !debug.contains("s3cret%3A"),
        "{debug}"
    );

    let wrong = "wrong-Pa55:word";
    let url = server.url_with_auth("alice", wrong);
    let err = RedisBackend::from_url(&url).await.unwrap_err();
    let text = format!("{err} {err:?}");
    println!("wrong password: {err}");
    assert!(
        !text.contains("wrong-Pa55") && !text.contains(&url),
        "{text}"
    );
    assert!(
        text.contains("WRONGPASS") || text.to_lowercase().contains("auth"),
        "{text}"
    );
    assert!(text.contains("alice:***@127.0.0.1"), "{text}");

    // No password at all for a server that requires one.
    let err = RedisBackend::from_url(&server.url())
        .await
        .unwrap_err()
        .to_string();
    println!("no password: {err}");
    assert!(
        err.contains("NOAUTH") || err.to_lowercase().contains("auth"),
        "{err}"
    );
}

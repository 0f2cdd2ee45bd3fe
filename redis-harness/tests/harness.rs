//! The harness against real redis-server processes.

use redis_harness::{RedisCluster, RedisServer, Reply};

fn text(reply: Reply) -> String {
    reply
        .as_text()
        .unwrap_or_else(|| panic!("not text: {reply:?}"))
}

#[test]
fn standalone_answers_and_survives_kill_restart() {
    let server = RedisServer::start().unwrap();
    assert_ne!(server.port(), 6379);
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    server.command_ok(&["SET", "k", "v"]).unwrap();
    assert_eq!(text(server.command_ok(&["GET", "k"]).unwrap()), "v");
    let save = server.command_ok(&["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(
        save,
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"save".to_vec())),
            Reply::Bulk(Some(vec![]))
        ]))
    );

    let port = server.port();
    server.kill();
    assert!(!server.is_running());
    assert!(
        server.command(&["PING"]).is_err(),
        "a killed server must not answer"
    );
    server.restart().unwrap();
    assert!(server.is_running());
    assert_eq!(server.port(), port);
    assert_eq!(
        server.command_ok(&["GET", "k"]).unwrap(),
        Reply::Bulk(None),
        "no persistence"
    );
}

#[test]
fn pid_is_the_servers_own_and_gone_after_kill() {
    let server = RedisServer::start().unwrap();
    let pid = server.pid().expect("a running server has a pid");
    let info = text(server.command_ok(&["INFO", "server"]).unwrap());
    assert!(
        info.contains(&format!("process_id:{pid}\r\n")),
        "INFO names another process: {info}"
    );
    server.kill();
    assert_eq!(server.pid(), None);
    server.restart().unwrap();
    assert!(server.pid().is_some_and(|p| p != pid), "a new process");
}

#[test]
fn drop_stops_the_process_and_removes_the_dir() {
    let server = RedisServer::start().unwrap();
    let port = server.port();
    let dir = server.dir().to_owned();
    assert!(dir.exists());
    drop(server);
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn drop_during_a_panic_stops_the_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let server = RedisServer::start().unwrap();
        tx.send((server.port(), server.dir().to_owned())).unwrap();
        panic!("test failure while the server runs");
    })
    .join();
    assert!(result.is_err());
    let (port, dir) = rx.recv().unwrap();
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn password_and_acl_user() {
    let server = RedisServer::builder()
        .requirepass("defaultpw")
        .acl_user("alice", "s3cret")
        .start()
        .unwrap();
    // The harness authenticates its admin commands itself.
    server.command_ok(&["SET", "k", "v"]).unwrap();
    let users = text(server.command_ok(&["ACL", "WHOAMI"]).unwrap());
    assert_eq!(users, "default");
    let Reply::Array(Some(rules)) = server.command_ok(&["ACL", "LIST"]).unwrap() else {
        panic!("ACL LIST")
    };
    let rules: Vec<String> = rules.into_iter().map(text).collect();
    assert!(
        rules.iter().any(|r| r.starts_with("user alice on ")),
        "{rules:?}"
    );
    assert_eq!(
        server.url_with_auth("alice", "s3:cret"),
        format!("redis://alice:s3%3Acret@127.0.0.1:{}", server.port())
    );
    assert!(!format!("{server:?}").contains("defaultpw"));
}

#[test]
fn tls_server_has_certificates_and_a_tls_url() {
    let server = RedisServer::builder().tls().start().unwrap();
    assert!(server.url().starts_with("rediss://127.0.0.1:"));
    assert_ne!(server.port(), server.plain_port());
    let ca = server.tls_files().unwrap().ca_pem().unwrap();
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let reply = server.command_ok(&["CONFIG", "GET", "tls-port"]).unwrap();
    let expected = Reply::Array(Some(vec![
        Reply::Bulk(Some(b"tls-port".to_vec())),
        Reply::Bulk(Some(server.port().to_string().into_bytes())),
    ]));
    assert_eq!(reply, expected);
}

#[test]
fn three_primary_cluster_is_up() {
    let cluster = RedisCluster::start(3).unwrap();
    assert_eq!(cluster.nodes().len(), 3);
    let url = cluster.url();
    assert!(url.starts_with("redis-cluster://127.0.0.1:"));
    assert_eq!(url.matches(',').count(), 2);
    for node in cluster.nodes() {
        let info = text(node.command_ok(&["CLUSTER", "INFO"]).unwrap());
        assert!(info.contains("cluster_state:ok"), "{info}");
        assert!(info.contains("cluster_size:3"), "{info}");
    }
    // A key lands on exactly one node: the others redirect.
    let answers: Vec<Reply> = cluster
        .nodes()
        .iter()
        .map(|n| n.command(&["SET", "foo", "bar"]).unwrap())
        .collect();
    let owners = answers
        .iter()
        .filter(|r| matches!(r, Reply::Status(s) if s == "OK"))
        .count();
    let moved = answers
        .iter()
        .filter(|r| matches!(r, Reply::Error(e) if e.starts_with("MOVED")))
        .count();
    assert_eq!((owners, moved), (1, 2), "{answers:?}");
}

#[test]
fn cluster_with_replicas_fails_over_a_dead_primary() {
    let cluster = RedisCluster::start_with_replicas(3, 1).unwrap();
    assert_eq!((cluster.nodes().len(), cluster.replicas().len()), (3, 3));
    assert_eq!(cluster.url().matches(',').count(), 5);
    for (i, primary) in cluster.nodes().iter().enumerate() {
        let id = redis_harness::node_id(primary).unwrap();
        let [replica] = cluster.replicas_of(i) else {
            panic!("one replica per primary")
        };
        let info = text(replica.command_ok(&["INFO", "replication"]).unwrap());
        assert!(info.contains("role:slave"), "{info}");
        let nodes = text(replica.command_ok(&["CLUSTER", "NODES"]).unwrap());
        let myself = nodes.lines().find(|l| l.contains("myself")).unwrap();
        assert!(myself.contains(&format!("slave {id}")), "{myself}");
    }
    assert!(cluster.replicas_of(3).is_empty());

    // Node 0 owns slot 0 ("{06S}" hashes to slot 0); once it dies, its replica takes over.
    let primary = &cluster.nodes()[0];
    primary.command_ok(&["SET", "{06S}k", "v"]).unwrap();
    // Replication is asynchronous: wait until the replica holds the write before the kill.
    // `WAIT` alone was not enough: in about one run in four it counted an acknowledgement
    // while the replica promoted next held nothing (offset 0 once promoted).
    primary.command_ok(&["WAIT", "1", "5000"]).unwrap();
    let replica = &cluster.replicas_of(0)[0];
    let copied = std::time::Instant::now();
    while replica.command(&["DBSIZE"]).unwrap() != Reply::Integer(1) {
        assert!(
            copied.elapsed() < std::time::Duration::from_secs(10),
            "the replica never received the write"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    primary.kill();
    cluster.promote(replica).unwrap();
    let info = text(replica.command_ok(&["INFO", "replication"]).unwrap());
    assert!(info.contains("role:master"), "{info}");
    assert_eq!(
        replica.command(&["GET", "{06S}k"]).unwrap(),
        Reply::Bulk(Some(b"v".to_vec()))
    );
}

#[test]
fn tls_cluster_with_acl_users() {
    let (user, password) = ("app", "p@ss:word");
    let cluster = RedisCluster::builder(3)
        .replicas(1)
        .tls()
        .acl_user(user, password)
        .start()
        .unwrap();
    assert!(cluster.url().starts_with("rediss-cluster://127.0.0.1:"));
    assert!(
        cluster
            .url_with_auth(user, password)
            .starts_with("rediss-cluster://app:p%40ss%3Aword@127.0.0.1:")
    );
    let ca = cluster.ca_cert().unwrap();
    let all: Vec<&RedisServer> = cluster.nodes().iter().chain(cluster.replicas()).collect();
    for node in &all {
        assert_eq!(node.ca_cert(), Some(ca), "one CA for every node");
        for setting in ["tls-cluster", "tls-replication"] {
            let reply = node.command_ok(&["CONFIG", "GET", setting]).unwrap();
            let expected = Reply::Array(Some(vec![
                Reply::Bulk(Some(setting.as_bytes().to_vec())),
                Reply::Bulk(Some(b"yes".to_vec())),
            ]));
            assert_eq!(reply, expected);
        }
    }
    // Bus and replication run over TLS: the cluster is up and every replica in sync, or
    // `start` would have failed.
    for replica in cluster.replicas() {
        let info = text(replica.command_ok(&["INFO", "replication"]).unwrap());
        assert!(info.contains("master_link_status:up"), "{info}");
    }
    // A TLS client logs in as the ACL user, is told the TLS port of every node, and follows
    // the redirect of a key on another node.
    let cli = |port: u16, args: &[&str]| {
        let output = std::process::Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(ca)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "--user",
                user,
                "--pass",
                password,
                "--no-auth-warning",
                "-c",
            ])
            .args(args)
            .output()
            .expect("redis-cli (apt-get install redis-tools)");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let first = cluster.nodes()[0].port();
    let last = cluster.nodes()[2].port();
    let nodes = cli(first, &["CLUSTER", "NODES"]);
    for node in &all {
        assert!(
            nodes.contains(&format!("127.0.0.1:{}@", node.port())),
            "{nodes}"
        );
        assert!(
            !nodes.contains(&format!("127.0.0.1:{}@", node.plain_port())),
            "{nodes}"
        );
    }
    // "{06S}" hashes to slot 0, on node 0.
    assert_eq!(cli(last, &["SET", "{06S}k", "over-tls"]), "OK");
    assert_eq!(cli(first, &["GET", "{06S}k"]), "over-tls");
    assert_eq!(cli(last, &["ACL", "WHOAMI"]), user);
}

#[test]
fn zero_primaries_is_an_error() {
    assert!(RedisCluster::start(0).is_err());
}

/// A test process that ends without dropping its server (a `static`, `process::exit`, a
/// crash) must not leak it: the watchdog stops it and removes its dir.
#[test]
fn watchdog_cleans_up_after_the_test_process_exits() {
    const CHILD_VAR: &str = "REDIS_HARNESS_WATCHDOG_CHILD";
    if std::env::var_os(CHILD_VAR).is_some() {
        let server = RedisServer::start().unwrap();
        println!("SERVER {} {}", server.port(), server.dir().display());
        std::mem::forget(server);
        std::process::exit(0);
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "watchdog_cleans_up_after_the_test_process_exits",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("SERVER ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("{stdout}"));
    let (port, dir) = line.split_once(' ').unwrap();
    let (port, dir): (u16, std::path::PathBuf) = (port.parse().unwrap(), dir.into());
    // Poll until the watchdog has acted; a leak makes this loop run out and fail.
    for _ in 0..100 {
        if !dir.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "server on port {port} (dir {}) outlived its test process",
        dir.display()
    );
}

#[test]
fn sentinel_knows_its_primary() {
    let setup = redis_harness::RedisSentinel::start("mymaster").unwrap();
    let reply = setup
        .sentinel()
        .command_ok(&["SENTINEL", "get-master-addr-by-name", "mymaster"])
        .unwrap();
    let expected = Reply::Array(Some(vec![
        Reply::Bulk(Some(b"127.0.0.1".to_vec())),
        Reply::Bulk(Some(setup.primary().port().to_string().into_bytes())),
    ]));
    assert_eq!(reply, expected);
    assert_eq!(
        setup.url(),
        format!(
            "redis-sentinel://127.0.0.1:{}/mymaster",
            setup.sentinel().port()
        )
    );
    assert!(redis_harness::RedisSentinel::start("bad name").is_err());
}

//! The L1 change feed (`watch_changes`) on real servers: standalone and a 3-primary cluster with
//! replicas. A recording sink checks what the feed promises, as orderings of events:
//!
//! - a write by another client reaches `changed(key)`, and before any `alive(as_of)` whose
//!   `as_of` is later than the write;
//! - a flush, a killed connection, a failover give `changed_all()` before any such `alive`,
//!   and tracking works again afterwards;
//! - while the server is frozen or dead, no `alive` vouches for a moment after the fault;
//! - a user without `CLIENT` gives `FeedState::Unavailable` and never `alive`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{CacheBackend, ChangeSink, FeedHandle, FeedOptions, FeedState};
use cache_redis::{RedisBackend, RedisConfig};
use redis_harness::{RedisCluster, RedisServer, Reply};
use tokio::time::Instant;

/// Generous: the machine is shared, and these are bounds on waiting, not on the feed.
const EVENT_WAIT: Duration = Duration::from_secs(30);
const HEARTBEAT: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Changed(String),
    All,
    Alive(Instant),
}

/// A sink that records every call, in order; `slow` makes each `changed` take that long (a
/// reader falling behind the writes).
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    slow: Option<Duration>,
}

impl ChangeSink for Recorder {
    fn changed(&self, key: &str) {
        if let Some(pause) = self.slow {
            std::thread::sleep(pause);
        }
        self.push(Event::Changed(key.to_owned()));
    }
    fn changed_all(&self) {
        self.push(Event::All);
    }
    fn alive(&self, as_of: Instant) {
        self.push(Event::Alive(as_of));
    }
}

impl Recorder {
    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// Waits until an event from index `from` on matches; its index.
    async fn wait_for(&self, from: usize, what: &str, matches: impl Fn(&Event) -> bool) -> usize {
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            if let Some(i) = self.events().iter().skip(from).position(&matches) {
                return from + i;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {EVENT_WAIT:?}; events: {:?}",
                self.tail(from)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn wait_changed(&self, from: usize, key: &str) -> usize {
        self.wait_for(from, &format!("changed({key})"), |e| {
            *e == Event::Changed(key.to_owned())
        })
        .await
    }

    async fn wait_all(&self, from: usize) -> usize {
        self.wait_for(from, "changed_all", |e| *e == Event::All)
            .await
    }

    /// Waits for an `alive` vouching for a moment after `after`.
    async fn wait_alive_after(&self, from: usize, after: Instant) -> usize {
        self.wait_for(
            from,
            "alive after the mark",
            |e| matches!(e, Event::Alive(as_of) if *as_of > after),
        )
        .await
    }

    /// The first `alive` vouching for a moment after `after`, if any.
    fn first_alive_after(&self, after: Instant) -> Option<usize> {
        self.events()
            .iter()
            .position(|e| matches!(e, Event::Alive(as_of) if *as_of > after))
    }

    fn tail(&self, from: usize) -> Vec<Event> {
        let events = self.events();
        let start = from.max(events.len().saturating_sub(40));
        events[start.min(events.len())..].to_vec()
    }
}

struct Feed {
    backend: RedisBackend,
    sink: Arc<Recorder>,
    handle: FeedHandle,
}

async fn feed(url: &str) -> Feed {
    feed_with(RedisConfig::from_url(url).unwrap()).await
}

async fn feed_with(config: RedisConfig) -> Feed {
    feed_into(config, Recorder::default()).await
}

async fn feed_into(config: RedisConfig, sink: Recorder) -> Feed {
    let backend = RedisBackend::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sink = Arc::new(sink);
    let handle = backend
        .watch_changes(sink.clone(), FeedOptions::with_heartbeat(HEARTBEAT))
        .unwrap();
    // Live: tracking on, `changed_all` given, and a beat confirmed.
    let all = sink.wait_all(0).await;
    sink.wait_for(all, "first alive", |e| matches!(e, Event::Alive(_)))
        .await;
    wait_state(&handle, FeedState::Live).await;
    Feed {
        backend,
        sink,
        handle,
    }
}

/// Waits until the feed reports `state` (a loaded machine may miss a beat now and then, so a
/// state is awaited rather than read once).
async fn wait_state(handle: &FeedHandle, state: FeedState) {
    let deadline = Instant::now() + EVENT_WAIT;
    while handle.state() != state {
        assert!(
            Instant::now() < deadline,
            "not {state:?} within {EVENT_WAIT:?}: {:?}",
            handle.state()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The feed's promise for one write done by `write` (by another client): `changed(key)` comes,
/// and no `alive` vouches for a moment after the write before it.
async fn assert_write_seen(
    sink: &Recorder,
    key: &str,
    write: impl std::future::Future<Output = ()>,
) {
    let from = sink.len();
    write.await;
    let written = Instant::now();
    let changed = sink.wait_changed(from, key).await;
    let alive = sink.wait_alive_after(from, written).await;
    assert!(
        changed < alive,
        "alive vouched for a moment after the write of {key} before changed({key}): {:?}",
        sink.tail(from)
    );
}

fn ok(server: &RedisServer, args: &[&str]) -> Reply {
    server
        .command_ok(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn signal(server: &RedisServer, signal: &str) {
    let pid = server.pid().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(status.success());
    if signal == "-STOP" {
        // Stopped for sure (state `T`) before the test takes its time mark.
        let stat = format!("/proc/{pid}/stat");
        while std::fs::read_to_string(&stat)
            .unwrap_or_default()
            .split(' ')
            .nth(2)
            != Some("T")
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_writes_deletes_and_expiries_by_others_reach_changed() {
    let server = RedisServer::start().unwrap();
    let f = feed(&server.url()).await;
    assert_eq!(
        f.handle.staleness_bound(),
        HEARTBEAT + f.backend.config().command_timeout
    );
    assert_write_seen(&f.sink, "t:set", async {
        ok(&server, &["SET", "t:set", "1"]);
    })
    .await;
    ok(&server, &["SET", "t:gone", "1"]);
    assert_write_seen(&f.sink, "t:gone", async {
        ok(&server, &["DEL", "t:gone"]);
    })
    .await;
    ok(&server, &["SET", "t:exp", "1"]);
    assert_write_seen(&f.sink, "t:exp", async {
        ok(&server, &["EXPIRE", "t:exp", "100"]);
    })
    .await;
    // Many keys in one command: each one, none lost (fred's default channel lost these).
    let keys: Vec<String> = (0..500).map(|i| format!("t:m:{i}")).collect();
    let mut mset = vec!["MSET"];
    for key in &keys {
        mset.push(key);
        mset.push("v");
    }
    let from = f.sink.len();
    ok(&server, &mset);
    for key in &keys {
        f.sink.wait_changed(from, key).await;
    }
    // The backend's own writes are heard too (no NOLOOP).
    assert_write_seen(&f.sink, "t:own", async {
        f.backend
            .set("t:own", common::bytes(b"1"), Duration::from_secs(60))
            .await
            .unwrap();
    })
    .await;
}

/// Writes by another client while the heartbeat runs: for every one, `changed(key)` comes
/// before any `alive` vouching for a moment after the write was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_alive_ever_vouches_for_a_write_not_yet_delivered() {
    let server = RedisServer::start().unwrap();
    let f = feed(&server.url()).await;
    let from = f.sink.len();
    let beats = |sink: &Recorder| {
        sink.events()[from..]
            .iter()
            .filter(|e| matches!(e, Event::Alive(_)))
            .count()
    };
    // Unique keys, so each `changed` belongs to one write; written across several beats.
    let writes = tokio::task::block_in_place(|| {
        let mut writes = Vec::new();
        while writes.len() < 1_000 || (beats(&f.sink) < 3 && writes.len() < 100_000) {
            let key = format!("t:w:{}", writes.len());
            ok(&server, &["SET", &key, "1"]);
            writes.push((key, Instant::now()));
        }
        writes
    });
    assert!(beats(&f.sink) >= 3, "the writes spanned no beats");
    let last = writes.last().unwrap().1;
    f.sink.wait_alive_after(from, last).await;
    let events = f.sink.events();
    for (key, written) in &writes {
        let alive = f.sink.first_alive_after(*written).unwrap();
        assert!(
            events[from..alive].contains(&Event::Changed(key.clone())),
            "{key}: alive (event {alive}) vouched for a moment after its write before changed"
        );
    }
}

/// The same, with a reader far behind the writes (each `changed` takes 1 ms): a beat's reply
/// comes long before the invalidations queued ahead of its canary are delivered, and `alive`
/// must wait for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alive_waits_for_a_reader_that_fell_behind() {
    let server = RedisServer::start().unwrap();
    let slow = Recorder {
        slow: Some(Duration::from_millis(1)),
        ..Recorder::default()
    };
    let f = feed_into(RedisConfig::from_url(&server.url()).unwrap(), slow).await;
    let from = f.sink.len();
    let writes = tokio::task::block_in_place(|| {
        (0..400)
            .map(|i| {
                let key = format!("t:s:{i}");
                ok(&server, &["SET", &key, "1"]);
                (key, Instant::now())
            })
            .collect::<Vec<_>>()
    });
    let last = writes.last().unwrap().1;
    f.sink.wait_alive_after(from, last).await;
    let events = f.sink.events();
    for (key, written) in &writes {
        let alive = f.sink.first_alive_after(*written).unwrap();
        assert!(
            events[from..alive].contains(&Event::Changed(key.clone())),
            "{key}: alive (event {alive}) vouched for a moment after its write before changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_narrow_what_is_pushed_and_the_heartbeat_still_works() {
    let server = RedisServer::start().unwrap();
    let mut config = RedisConfig::from_url(&server.url()).unwrap();
    config.tracking_prefixes = vec!["app:".into(), "app:users:".into()];
    let f = feed_with(config).await;
    let from = f.sink.len();
    ok(&server, &["SET", "other:x", "1"]);
    assert_write_seen(&f.sink, "app:users:1", async {
        ok(&server, &["SET", "app:users:1", "1"]);
    })
    .await;
    assert!(
        !f.sink.events()[from..].contains(&Event::Changed("other:x".into())),
        "a key outside the prefixes was pushed: {:?}",
        f.sink.tail(from)
    );
    // Flushes are still seen: the canaries are tracked whatever the prefixes.
    let from = f.sink.len();
    ok(&server, &["FLUSHALL"]);
    let flushed = Instant::now();
    let all = f.sink.wait_all(from).await;
    assert!(all < f.sink.wait_alive_after(from, flushed).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_flushall_drops_everything_before_the_next_alive() {
    let server = RedisServer::start().unwrap();
    let f = feed(&server.url()).await;
    for flush in [["FLUSHALL", ""], ["FLUSHDB", "ASYNC"]] {
        let from = f.sink.len();
        let args: Vec<&str> = flush.iter().copied().filter(|a| !a.is_empty()).collect();
        ok(&server, &args);
        let flushed = Instant::now();
        let all = f.sink.wait_all(from).await;
        let alive = f.sink.wait_alive_after(from, flushed).await;
        assert!(all < alive, "{flush:?}: {:?}", f.sink.tail(from));
    }
    // Still tracking.
    assert_write_seen(&f.sink, "t:after", async {
        ok(&server, &["SET", "t:after", "1"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_killed_connections_are_tracked_again() {
    let server = RedisServer::start().unwrap();
    let f = feed(&server.url()).await;
    for _ in 0..2 {
        let from = f.sink.len();
        ok(&server, &["CLIENT", "KILL", "TYPE", "normal"]);
        let killed = Instant::now();
        let all = f.sink.wait_all(from).await;
        let alive = f.sink.wait_alive_after(from, killed).await;
        assert!(all < alive, "{:?}", f.sink.tail(from));
        assert_write_seen(&f.sink, "t:after-kill", async {
            ok(&server, &["SET", "t:after-kill", "1"]);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_alive_stops_while_the_server_is_frozen_or_dead() {
    let server = RedisServer::start().unwrap();
    let f = feed(&server.url()).await;

    // Frozen: nothing vouches for a moment after the freeze, the feed goes down.
    signal(&server, "-STOP");
    let frozen = Instant::now();
    wait_state(&f.handle, FeedState::Down).await;
    tokio::time::sleep(HEARTBEAT * 5).await;
    let thawed = Instant::now();
    assert_eq!(
        f.sink.first_alive_after(frozen),
        None,
        "alive while frozen: {:?}",
        f.sink.tail(0)
    );
    let from = f.sink.len();
    signal(&server, "-CONT");
    f.sink.wait_alive_after(from, thawed).await;
    wait_state(&f.handle, FeedState::Live).await;

    // Dead, then restarted empty: dropped, and tracked again.
    server.kill();
    let killed = Instant::now();
    wait_state(&f.handle, FeedState::Down).await;
    tokio::time::sleep(HEARTBEAT * 5).await;
    assert_eq!(f.sink.first_alive_after(killed), None);
    let from = f.sink.len();
    server.restart().unwrap();
    let restarted = Instant::now();
    let all = f.sink.wait_all(from).await;
    let alive = f.sink.wait_alive_after(from, restarted).await;
    assert!(all < alive);
    assert_write_seen(&f.sink, "t:after-restart", async {
        ok(&server, &["SET", "t:after-restart", "1"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_client_gives_an_unavailable_feed_and_no_alive() {
    let server = RedisServer::start().unwrap();
    ok(
        &server,
        &[
            "ACL",
            "SETUSER",
            "nocl",
            "on",
            ">pw-secret",
            "~*",
            "&*",
            "+@all",
            "-client",
        ],
    );
    let backend = RedisBackend::connect(
        RedisConfig::from_url(&server.url_with_auth("nocl", "pw-secret")).unwrap(),
    )
    .await
    .unwrap();
    let sink = Arc::new(Recorder::default());
    let handle = backend
        .watch_changes(sink.clone(), FeedOptions::with_heartbeat(HEARTBEAT))
        .unwrap();
    let deadline = Instant::now() + EVENT_WAIT;
    let reason = loop {
        match handle.state() {
            FeedState::Unavailable(reason) => break reason,
            FeedState::Starting => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(reason.contains("ACL"), "{reason}");
    assert!(!reason.contains("pw-secret"), "{reason}");
    ok(&server, &["SET", "t:x", "1"]);
    tokio::time::sleep(HEARTBEAT * 5).await;
    assert!(
        !sink.events().iter().any(|e| matches!(e, Event::Alive(_))),
        "{:?}",
        sink.events()
    );
    assert!(matches!(handle.state(), FeedState::Unavailable(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_or_closing_the_backend_stops_the_feed() {
    let server = RedisServer::start().unwrap();
    // Connections with the tracking flag (`t`) in `CLIENT LIST`.
    let clients = |server: &RedisServer| {
        let list = ok(server, &["CLIENT", "LIST"]).as_text().unwrap();
        list.lines()
            .filter(|line| {
                line.split(' ')
                    .any(|field| field.starts_with("flags=") && field.contains('t'))
            })
            .count()
    };
    let f = feed(&server.url()).await;
    assert_eq!(clients(&server), 1, "one tracking connection");
    drop(f.handle);
    let deadline = Instant::now() + EVENT_WAIT;
    while clients(&server) != 0 {
        assert!(Instant::now() < deadline, "tracking connection still open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let from = f.sink.len();
    ok(&server, &["SET", "t:late", "1"]);
    tokio::time::sleep(HEARTBEAT * 3).await;
    assert_eq!(f.sink.len(), from, "{:?}", f.sink.tail(from));

    let g = feed(&server.url()).await;
    assert_eq!(clients(&server), 1);
    g.backend.close().await.unwrap();
    while clients(&server) != 0 {
        assert!(Instant::now() < deadline, "tracking connection still open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(g.handle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_sentinel_the_primary_is_tracked() {
    let sentinel = redis_harness::RedisSentinel::start("feed").unwrap();
    let f = feed(&sentinel.url()).await;
    let primary = sentinel.primary();
    assert_write_seen(&f.sink, "t:sentinel", async {
        ok(primary, &["SET", "t:sentinel", "1"]);
    })
    .await;
    let from = f.sink.len();
    ok(primary, &["CLIENT", "KILL", "TYPE", "normal"]);
    let killed = Instant::now();
    let all = f.sink.wait_all(from).await;
    assert!(all < f.sink.wait_alive_after(from, killed).await);
    assert_write_seen(&f.sink, "t:sentinel-after", async {
        ok(primary, &["SET", "t:sentinel-after", "1"]);
    })
    .await;
}

// ---- cluster ----

/// A key that `node` serves (the others answer MOVED), found by asking it.
fn key_on(node: &RedisServer, prefix: &str) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}:{i}"))
        .find(|key| matches!(node.command(&["EXISTS", key]), Ok(Reply::Integer(_))))
        .unwrap_or_else(|| panic!("{} serves no key", node.port()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_every_primary_is_tracked_flushes_kills_and_failovers_too() {
    let cluster = RedisCluster::start_with_replicas(3, 1).unwrap();
    let f = feed(&cluster.url()).await;

    // Writes on each primary, by another client.
    for (i, node) in cluster.nodes().iter().enumerate() {
        let key = key_on(node, &format!("c{i}"));
        assert_write_seen(&f.sink, &key, async {
            ok(node, &["SET", &key, "1"]);
        })
        .await;
    }

    // A flush of one primary only.
    let from = f.sink.len();
    ok(&cluster.nodes()[2], &["FLUSHALL"]);
    let flushed = Instant::now();
    let all = f.sink.wait_all(from).await;
    assert!(all < f.sink.wait_alive_after(from, flushed).await);

    // Connections killed on one primary: tracked again there.
    let from = f.sink.len();
    ok(&cluster.nodes()[1], &["CLIENT", "KILL", "TYPE", "normal"]);
    let killed = Instant::now();
    let all = f.sink.wait_all(from).await;
    assert!(all < f.sink.wait_alive_after(from, killed).await);
    let key = key_on(&cluster.nodes()[1], "after-kill");
    assert_write_seen(&f.sink, &key, async {
        ok(&cluster.nodes()[1], &["SET", &key, "1"]);
    })
    .await;

    // Failover: the promoted replica is tracked, and everything dropped first. A forced
    // failover leaves the old primary accepting writes until gossip tells it that it was
    // replaced (the whole cluster's view, the pool's too): the promise starts from there.
    let replica = &cluster.replicas_of(0)[0];
    let old = &cluster.nodes()[0];
    let from = f.sink.len();
    tokio::task::block_in_place(|| cluster.promote(replica)).unwrap();
    let deadline = Instant::now() + EVENT_WAIT;
    while !ok(old, &["INFO", "replication"])
        .as_text()
        .is_some_and(|info| info.contains("role:slave"))
    {
        assert!(Instant::now() < deadline, "old primary never stepped down");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let demoted = Instant::now();
    let all = f.sink.wait_all(from).await;
    let alive = f.sink.wait_alive_after(from, demoted).await;
    assert!(all < alive, "{:?}", f.sink.tail(from));
    let key = key_on(replica, "promoted");
    assert_write_seen(&f.sink, &key, async {
        ok(replica, &["SET", &key, "1"]);
    })
    .await;
    wait_state(&f.handle, FeedState::Live).await;
}

//! `/metrics` passes `promtool check metrics` (Debian package `prometheus`; `.ci/run` installs
//! it). Without promtool this test fails: a format check that silently skips checks nothing.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use cache_memory::MemoryBackend;
use common::{TestService, predictions, small_store, test_cache_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_check_metrics() {
    let svc = TestService::start(
        small_store(&[]),
        Arc::new(MemoryBackend::new(1_000)),
        test_cache_config(),
    )
    .await;
    let mut c = svc.client();
    // Something in every family: a miss, a hit, a 404, a 405, a bypass.
    svc.miss(&mut c, "1", "").await;
    c.get(&predictions("1")).await;
    c.get(&predictions("999")).await;
    c.get(&format!("{}?cache=bypass", predictions("2"))).await;
    c.get("/v1/results").await;
    let metrics = c.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("smartcache_hits_total{cache=\"predictions\"} 1"),
        "{text}"
    );
    svc.stop().await;

    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "promtool is needed to check the /metrics format and could not be run ({e}): \
             install it with `apt-get install prometheus` (`.ci/run` does)"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool exits 0 with lint warnings too ("counter metrics should have _total"): none allowed.
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool: {report}\n{text}"
    );
}

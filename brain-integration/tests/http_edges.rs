//! HTTP edge cases: oversized bodies, wrong methods, over-long ids (in-memory backend).

mod common;

use std::sync::Arc;

use cache_memory::MemoryBackend;
use common::{TestService, json, predictions, small_store, test_cache_config};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn service() -> TestService {
    TestService::start(
        small_store(&[]),
        Arc::new(MemoryBackend::new(1_000)),
        test_cache_config(),
    )
    .await
}

/// Status line, headers and body of one response read off a raw connection.
fn parse_response(raw: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete response head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, head.to_ascii_lowercase(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_post_is_a_413_with_a_json_body() {
    let svc = service().await;
    let size = 50 * 1024 * 1024;
    let stream = TcpStream::connect(svc.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/results HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    // The body is sent while the answer is read: the server answers before it has it all.
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..50 {
            writer.write_all(&chunk).await?;
        }
        writer.shutdown().await
    });
    let mut raw = Vec::new();
    // The connection may be reset once the answer is out; what was read is enough.
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if raw.windows(4).any(|w| w == b"\r\n\r\n") && raw.ends_with(b"}}") {
            break;
        }
    }
    let (status, _, body) = parse_response(&raw);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "body_too_large");
    assert_eq!(body["error"]["parameter"], "body");
    sender.abort();
    // A body under the limit that is not JSON is still a 400.
    let mut c = svc.client();
    let r = c.post("/v1/results", &json!("x".repeat(1000))).await;
    assert_eq!(r.status, 400, "{}", r.text());
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_405_with_a_json_body_and_allow() {
    let svc = service().await;
    let mut c = svc.client();
    for (method, path, allow) in [
        ("POST", predictions("1"), "GET,HEAD,DELETE"),
        ("PUT", "/v1/matches".to_owned(), "GET,HEAD"),
        ("GET", "/v1/results".to_owned(), "POST"),
    ] {
        let r = brain_integration::load::Connection::new(svc.addr)
            .send(method, &path, None)
            .await
            .unwrap();
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = json(&r);
        assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(method),
            "{body}"
        );
        let mut allowed: Vec<&str> = r.header("allow").unwrap().split(',').collect();
        let mut want: Vec<&str> = allow.split(',').collect();
        allowed.sort_unstable();
        want.sort_unstable();
        assert_eq!(allowed, want, "{method} {path}");
    }
    // Existing routes still answer their own methods.
    assert_eq!(c.get("/v1/matches").await.status, 200);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_8_kb_id_is_never_echoed_whole() {
    let svc = service().await;
    let mut c = svc.client();
    let id = "7".repeat(8 * 1024);
    let check = |r: &brain_integration::load::HttpResponse, status: u16| {
        assert_eq!(r.status, status, "{}", r.text());
        assert!(r.body.len() < 1024, "{} bytes: {}", r.body.len(), r.text());
        let body = json(r);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("truncated, 8192 bytes in all"),
            "{message}"
        );
        assert!(message.contains(&id[..64]), "the start of the id is shown");
    };
    check(&c.get(&predictions(&id)).await, 404);
    check(&c.delete(&predictions(&id)).await, 404);
    check(
        &c.post(
            "/v1/results",
            &json!({"match_id": id, "home_goals": 1, "away_goals": 0}),
        )
        .await,
        404,
    );
    // A long value and a long parameter name: both cut, the expectation kept.
    let r = c.get(&format!("{}?max_goals={id}", predictions("1"))).await;
    check(&r, 400);
    assert!(
        json(&r)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expected")
    );
    let r = c.get(&format!("{}?{id}=1", predictions("1"))).await;
    check(&r, 400);
    let parameter = json(&r)["error"]["parameter"].as_str().unwrap().to_owned();
    assert!(
        parameter.len() < 200 && parameter.contains("truncated"),
        "{parameter}"
    );
    // A short id is shown whole.
    let r = c.get(&predictions("999")).await;
    assert_eq!(
        json(&r)["error"]["message"],
        "no fixture has the id \"999\""
    );
    svc.stop().await;
}

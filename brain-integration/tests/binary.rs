//! The `brain-integration` binary as a deployment runs it: output piped to a collector.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

/// Kills the child when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn piped_log_output_has_no_colour_codes() {
    let child = Command::new(env!("CARGO_BIN_EXE_brain-integration"))
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("BRAIN_TEAMS", "6")
        .env("BRAIN_SEASONS", "1")
        .env("RUST_LOG", "info")
        .env("REDIS_URL", "redis://app:s3cret@127.0.0.1:1/0")
        .env("REDIS_CONNECT_TIMEOUT", "200ms")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.contains("try: curl");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.join("\n");
    assert!(
        text.contains("INFO") && text.contains("listening"),
        "no log line: {text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in piped output: {text:?}"
    );
    // The URL shows in the one redacted form, user kept, password never.
    assert!(text.contains("redis://app:***@127.0.0.1:1/0"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

/// Issue 9: a wrong password at start. The service says, once and at ERROR, that Redis rejects
/// its settings, names the URL in its redacted form, never the password, promises no serving,
/// and exits 1 — a setting to fix is not retried forever.
#[test]
fn a_wrong_password_stops_the_start_with_a_redacted_error() {
    let server = redis_harness::RedisServer::builder()
        .acl_user("app", "right-password")
        .start()
        .unwrap();
    let url = server.url_with_auth("app", "wr0ng-s3cret");
    let child = Command::new(env!("CARGO_BIN_EXE_brain-integration"))
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("BRAIN_TEAMS", "6")
        .env("BRAIN_SEASONS", "1")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("REDIS_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut running = Running(child);
    // Bounded: a service that keeps running instead of exiting fails the test, not hangs it.
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = running.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = status.expect("the service did not exit on a wrong password");
    let mut output = String::new();
    for pipe in [
        running
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read>),
        running
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut pipe = pipe;
        pipe.read_to_string(&mut output).unwrap();
    }
    assert_eq!(status.code(), Some(1), "{output}");
    let redacted = format!("redis://app:***@{}", server.address());
    assert!(output.contains(&redacted), "{output}");
    assert!(
        output.contains("ERROR redis rejects the connection: check the settings"),
        "{output}"
    );
    assert!(output.contains("WRONGPASS"), "{output}");
    assert!(!output.contains("serving without the store"), "{output}");
    assert!(!output.contains("listening"), "{output}");
    assert!(!output.contains("wr0ng-s3cret"), "{output}");
    assert!(!output.contains("right-password"), "{output}");
}

//! The `brain-integration` binary as a deployment runs it: output piped to a collector.

use std::io::{BufRead, BufReader};
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

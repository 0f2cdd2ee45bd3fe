//! Operating-system plumbing: finding executables, temp dirs, free ports, and a reaper that
//! stops servers whose test process died without running destructors.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::HarnessError;

/// The port of a developer's own Redis: never used, whatever the OS hands out.
const RESERVED_PORT: u16 = 6379;

/// Finds `tool` on `PATH`.
pub(crate) fn find_tool(
    tool: &'static str,
    install: &'static str,
) -> Result<PathBuf, HarnessError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .ok_or(HarnessError::MissingTool { tool, install })
}

/// A loopback port that was free a moment ago (bind to port 0, read it, release it). The caller
/// retries when a server then fails to bind it.
pub(crate) fn free_port() -> Result<u16, HarnessError> {
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        if port != RESERVED_PORT {
            return Ok(port);
        }
    }
}

/// A directory of its own under the system temp dir, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(label: &str) -> Result<Self, HarnessError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "redis-harness-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path)?;
        Ok(TempDir { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Name of the file in a server's dir that holds its current pid, read by the reaper.
pub(crate) const PID_FILE: &str = "server.pid";

/// Starts a watchdog shell that, once this process is gone (even killed, or a static never
/// dropped), kills the server whose pid is in `dir/server.pid` and removes `dir`. It ignores
/// Ctrl-C so that it can still clean up after one.
pub(crate) fn spawn_reaper(dir: &Path) -> Result<Child, HarnessError> {
    const SCRIPT: &str = r#"trap '' INT TERM HUP
while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
if [ -f "$2/server.pid" ]; then kill -9 "$(cat "$2/server.pid")" 2>/dev/null; fi
rm -rf "$2""#;
    Command::new("sh")
        .args(["-c", SCRIPT, "redis-harness-reaper"])
        .arg(std::process::id().to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(HarnessError::Io)
}

/// Stops a child process and reaps it. Errors are ignored: it may already be gone.
pub(crate) fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `lines` lines of a text file, or an empty string.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable_and_not_reserved() {
        let port = free_port().unwrap();
        assert_ne!(port, RESERVED_PORT);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn missing_tool_says_how_to_install() {
        let err =
            find_tool("no-such-redis-server-xyz", "apt-get install redis-server").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("no-such-redis-server-xyz")
                && text.contains("apt-get install redis-server"),
            "{text}"
        );
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("t").unwrap();
        let path = dir.path().to_owned();
        std::fs::write(path.join("f"), "x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}

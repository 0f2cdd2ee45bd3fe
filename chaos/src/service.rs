//! The prediction service (`brain-integration`) as a child process on a free loopback port,
//! its log lines read as they come so the suite can count the warnings of each fault.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brain_integration::load::Connection;

use crate::error::ChaosError;

/// How long a service may take to answer `/healthz` after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Redis command and cache operation timeout given to every instance; the latency bound of the
/// scenarios is built on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

/// A small league (10 teams, 2 seasons): a fit costs a few milliseconds even in a debug build,
/// so when every request computes during an outage the suite measures the cache, not the CPU.
const LEAGUE: [(&str, &str); 2] = [("BRAIN_TEAMS", "10"), ("BRAIN_SEASONS", "2")];

/// One log line at WARN level or above, with the time it was read.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// When the suite read it.
    pub at: Instant,
    /// The text.
    pub text: String,
}

/// A running `brain-integration` process, killed on drop.
#[derive(Debug)]
pub struct Service {
    name: String,
    addr: SocketAddr,
    child: Child,
    warnings: Arc<Mutex<Vec<LogLine>>>,
    /// Working directory with the full log; removed on drop unless `CHAOS_KEEP_LOGS` is set.
    workdir: PathBuf,
    /// Kills the service if the suite dies without dropping it (e.g. killed by a timeout).
    reaper: Option<Child>,
}

/// The `brain-integration` binary: `CHAOS_SERVICE_BIN`, or the one next to this executable
/// (`cargo xtask chaos` builds both into the same target directory).
pub fn service_binary() -> Result<PathBuf, ChaosError> {
    if let Some(path) = std::env::var_os("CHAOS_SERVICE_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let sibling = exe
        .parent()
        .map(|dir| dir.join("brain-integration"))
        .filter(|p| p.is_file());
    sibling.ok_or_else(|| {
        ChaosError::Setup(
            "brain-integration binary not found next to chaos; run `cargo build -p \
             brain-integration` or set CHAOS_SERVICE_BIN"
                .into(),
        )
    })
}

impl Service {
    /// Starts an instance named `name` with `env` on top of the suite's defaults (small league,
    /// 250 ms timeouts, no colours), in an empty working directory (no stray `.env`), and waits
    /// until it answers `/healthz`.
    pub async fn start(name: &str, env: &[(&str, String)]) -> Result<Service, ChaosError> {
        let binary = service_binary()?;
        let port = free_port()?;
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let workdir = std::env::temp_dir().join(format!("chaos-{}-{n}-{name}", std::process::id()));
        std::fs::create_dir_all(&workdir)?;
        let timeout = format!("{}ms", COMMAND_TIMEOUT.as_millis());
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BIND_ADDR", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("REDIS_COMMAND_TIMEOUT", &timeout)
            .env("CACHE_OP_TIMEOUT", &timeout)
            .envs(LEAGUE)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| ChaosError::Setup(format!("cannot start {}: {e}", binary.display())))?;
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let log_path = workdir.join("service.log");
        let log = Arc::new(Mutex::new(std::fs::File::create(&log_path)?));
        if let Some(out) = child.stdout.take() {
            read_lines(out, warnings.clone(), log.clone());
        }
        if let Some(err) = child.stderr.take() {
            read_lines(err, warnings.clone(), log);
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut service = Service {
            name: name.to_owned(),
            addr,
            child,
            warnings,
            workdir: workdir.clone(),
            reaper: None,
        };
        service.reaper = spawn_reaper(service.child.id()).ok();
        service.wait_ready(&log_path).await?;
        Ok(service)
    }

    async fn wait_ready(&self, log_path: &std::path::Path) -> Result<(), ChaosError> {
        let started = Instant::now();
        let mut conn = Connection::new(self.addr);
        loop {
            if let Ok(Ok(r)) =
                tokio::time::timeout(Duration::from_secs(1), conn.get("/healthz")).await
            {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                return Err(ChaosError::Setup(format!(
                    "service {} not ready within {READY_TIMEOUT:?}; its log:\n{log}",
                    self.name
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// WARN and ERROR lines read at or after `since`.
    pub fn warnings_since(&self, since: Instant) -> Vec<LogLine> {
        let lines = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().filter(|l| l.at >= since).cloned().collect()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reaper) = self.reaper.as_mut() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        if std::env::var_os("CHAOS_KEEP_LOGS").is_some() {
            eprintln!(
                "chaos: {} log kept in {}",
                self.name,
                self.workdir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

/// A watchdog shell that kills `child` once this process is gone (killed, or exited without
/// running destructors), like the Redis harness does for its servers. It only kills when this
/// process is gone, so it never signals a pid that the service freed and another process took.
fn spawn_reaper(child: u32) -> std::io::Result<Child> {
    const SCRIPT: &str = r#"trap '' INT TERM HUP
while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done
if ! kill -0 "$1" 2>/dev/null; then kill -9 "$2" 2>/dev/null; fi"#;
    Command::new("sh")
        .args(["-c", SCRIPT, "chaos-service-reaper"])
        .arg(std::process::id().to_string())
        .arg(child.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Copies a child's output into its log file, keeping the WARN/ERROR lines with their time.
fn read_lines(
    pipe: impl Read + Send + 'static,
    warnings: Arc<Mutex<Vec<LogLine>>>,
    log: Arc<Mutex<std::fs::File>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let at = Instant::now();
            if is_warning(&line) {
                warnings
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(LogLine {
                        at,
                        text: line.clone(),
                    });
            }
            use std::io::Write;
            let _ = writeln!(log.lock().unwrap_or_else(|p| p.into_inner()), "{line}");
        }
    });
}

/// Whether a `tracing` fmt line is at WARN or ERROR level (the level is the second field).
pub fn is_warning(line: &str) -> bool {
    matches!(line.split_whitespace().nth(1), Some("WARN" | "ERROR"))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16, ChaosError> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::is_warning;

    #[test]
    fn warning_lines_are_recognised_by_level() {
        assert!(is_warning(
            "2026-12-02T01:00:00.000000Z  WARN redis connection lost"
        ));
        assert!(is_warning("2026-12-02T01:00:00.000000Z ERROR boom"));
        assert!(!is_warning(
            "2026-12-02T01:00:00.000000Z  INFO WARN in a message"
        ));
        assert!(!is_warning("brain-integration listening on http://..."));
    }
}

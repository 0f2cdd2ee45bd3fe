//! One `redis-server` process on a free loopback port.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::HarnessError;
use crate::process::{PID_FILE, TempDir, find_tool, free_port, spawn_reaper, stop, tail};
use crate::resp::{Connection, Reply};
use crate::tls::TlsFiles;

const INSTALL_HINT: &str = "apt-get install redis-server";
const SENTINEL_CONF: &str = "sentinel.conf";
/// How many fresh ports to try when another process grabs the one we picked.
const PORT_ATTEMPTS: usize = 8;
/// How long a server may take to answer PING after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// An ACL user the server is started with (all keys, all channels, all commands).
#[derive(Clone)]
struct AclUser {
    name: String,
    password: String,
}

/// Options for [`RedisServer::builder`].
#[derive(Default, Clone)]
pub struct RedisServerBuilder {
    tls: bool,
    /// Certificates to serve TLS with instead of generating them (a cluster's shared CA).
    tls_files: Option<TlsFiles>,
    requirepass: Option<String>,
    users: Vec<AclUser>,
    cluster: bool,
    /// Sentinel mode: `(primary port, service name)`.
    sentinel: Option<(u16, String)>,
    extra_args: Vec<String>,
}

impl fmt::Debug for RedisServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServerBuilder")
            .field("tls", &self.tls)
            .field("requirepass", &self.requirepass.as_ref().map(|_| "***"))
            .field(
                "users",
                &self.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
            .field("cluster", &self.cluster)
            .field("extra_args", &self.extra_args)
            .finish()
    }
}

impl RedisServerBuilder {
    /// Serves TLS only (on [`RedisServer::port`]), with a CA and certificate made at start.
    /// The harness keeps a plaintext loopback port of its own for admin commands.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Serves TLS only, like [`tls`](Self::tls), with these files instead of new ones: the
    /// nodes of a TLS cluster share one CA, so they trust each other and a client trusts them
    /// all with one CA file.
    pub fn tls_with(mut self, files: TlsFiles) -> Self {
        self.tls = true;
        self.tls_files = Some(files);
        self
    }

    /// Requires `password` for the `default` user (`requirepass`).
    pub fn requirepass(mut self, password: impl Into<String>) -> Self {
        self.requirepass = Some(password.into());
        self
    }

    /// Adds an ACL user allowed every key, channel and command.
    pub fn acl_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push(AclUser {
            name: name.into(),
            password: password.into(),
        });
        self
    }

    /// Adds raw `redis-server` arguments, e.g. `["--maxmemory", "10mb"]`.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn sentinel(mut self, primary_port: u16, service: &str) -> Self {
        self.sentinel = Some((primary_port, service.to_owned()));
        self
    }

    pub(crate) fn cluster(mut self) -> Self {
        self.cluster = true;
        self
    }

    /// Starts the server and waits until it answers PING.
    pub fn start(self) -> Result<RedisServer, HarnessError> {
        RedisServer::launch(self)
    }
}

/// The ports a server listens on.
#[derive(Debug, Clone, Copy)]
struct Ports {
    /// Plaintext port (clients, or harness-only when TLS is on).
    plain: u16,
    /// TLS port, when TLS is on.
    tls: Option<u16>,
    /// Cluster bus port, in cluster mode.
    bus: Option<u16>,
}

/// A `redis-server` process owned by a test.
///
/// It listens on loopback only, on ports picked free at start, in a temp dir of its own, with
/// persistence off. Dropping it (also while a test panics) kills the process and removes the
/// dir; if the test process dies without unwinding, a small watchdog does the same within a
/// second. It never touches a server it did not start (in particular not one on port 6379).
///
/// All methods block (std processes and sockets); call them from tests freely, including
/// from inside a tokio runtime, where a start costs a few milliseconds.
pub struct RedisServer {
    ports: Ports,
    args: Vec<String>,
    binary: PathBuf,
    tls: Option<TlsFiles>,
    requirepass: Option<String>,
    users: Vec<AclUser>,
    child: Mutex<Option<Child>>,
    reaper: Option<Child>,
    // Last field: dropped after the process is stopped.
    dir: TempDir,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl RedisServer {
    /// Starts a plain standalone server (no password, no TLS).
    ///
    /// Fails with an install hint when `redis-server` is not on `PATH`.
    pub fn start() -> Result<Self, HarnessError> {
        Self::builder().start()
    }

    /// Options for a TLS server, ACL users, a password.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    fn launch(options: RedisServerBuilder) -> Result<Self, HarnessError> {
        let binary = find_tool("redis-server", INSTALL_HINT)?;
        let dir = TempDir::new(if options.cluster {
            "cluster-node"
        } else {
            "server"
        })?;
        let tls = match (&options.tls_files, options.tls) {
            (Some(files), _) => Some(files.clone()),
            (None, true) => Some(TlsFiles::generate(dir.path())?),
            (None, false) => None,
        };
        if let Some((primary_port, service)) = &options.sentinel {
            // Sentinel needs a config file it can rewrite.
            std::fs::write(
                dir.path().join(SENTINEL_CONF),
                format!("sentinel monitor {service} 127.0.0.1 {primary_port} 1\n"),
            )?;
        }
        let reaper = Some(spawn_reaper(dir.path())?);
        let mut server = RedisServer {
            ports: Ports {
                plain: 0,
                tls: None,
                bus: None,
            },
            args: Vec::new(),
            binary,
            tls,
            requirepass: options.requirepass.clone(),
            users: options.users.clone(),
            child: Mutex::new(None),
            reaper,
            dir,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let plain = free_port()?;
            let tls_port = if options.tls {
                Some(distinct_port(&[plain])?)
            } else {
                None
            };
            let bus = if options.cluster {
                Some(distinct_port(&[plain, tls_port.unwrap_or(plain)])?)
            } else {
                None
            };
            server.ports = Ports {
                plain,
                tls: tls_port,
                bus,
            };
            server.args = server.build_args(&options);
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(err @ HarnessError::Startup { .. })
                    if err.to_string().contains("Address already in use") =>
                {
                    last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| HarnessError::Startup {
            message: "no free port found".into(),
            log_tail: String::new(),
        }))
    }

    fn build_args(&self, options: &RedisServerBuilder) -> Vec<String> {
        let dir = self.dir.path().display().to_string();
        let mut args: Vec<String> = Vec::new();
        if options.sentinel.is_some() {
            args.push(self.dir.path().join(SENTINEL_CONF).display().to_string());
            args.push("--sentinel".into());
        }
        args.extend(
            [
                "--bind",
                "127.0.0.1",
                "--port",
                &self.ports.plain.to_string(),
                "--dir",
                &dir,
                "--logfile",
                "redis.log",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        if let (Some(port), Some(files)) = (self.ports.tls, &self.tls) {
            for (flag, value) in [
                ("--tls-port", port.to_string()),
                ("--tls-cert-file", files.server_cert.display().to_string()),
                ("--tls-key-file", files.server_key.display().to_string()),
                ("--tls-ca-cert-file", files.ca_cert.display().to_string()),
                ("--tls-auth-clients", "no".to_string()),
            ] {
                args.push(flag.into());
                args.push(value);
            }
        }
        if let Some(bus) = self.ports.bus {
            for (flag, value) in [
                ("--cluster-enabled", "yes".to_string()),
                ("--cluster-config-file", "nodes.conf".to_string()),
                ("--cluster-node-timeout", "5000".to_string()),
                ("--cluster-port", bus.to_string()),
            ] {
                args.push(flag.into());
                args.push(value);
            }
            if self.tls.is_some() {
                // The bus and replication over TLS too, and the TLS port announced to
                // clients (in `CLUSTER SLOTS`, `MOVED`): a TLS cluster has no plaintext path
                // but the harness's admin port.
                for flag in ["--tls-cluster", "--tls-replication"] {
                    args.extend([flag.to_owned(), "yes".to_owned()]);
                }
            }
        }
        if let Some(password) = &options.requirepass {
            args.push("--requirepass".into());
            args.push(password.clone());
        }
        for user in &options.users {
            args.extend([
                "--user".into(),
                user.name.clone(),
                "on".into(),
                format!(">{}", user.password),
            ]);
            args.extend(["~*".into(), "&*".into(), "+@all".into()]);
        }
        args.extend(options.extra_args.iter().cloned());
        args
    }

    fn lock_child(&self) -> MutexGuard<'_, Option<Child>> {
        // A panic while holding this lock leaves the child as it was: keep using it.
        self.child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spawn_and_wait(&self) -> Result<(), HarnessError> {
        let mut child = Command::new(&self.binary)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        std::fs::write(self.dir.path().join(PID_FILE), child.id().to_string())?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                let log_tail = [stderr.trim(), &tail(&self.log_path(), 20)]
                    .join("\n")
                    .trim()
                    .to_owned();
                return Err(HarnessError::Startup {
                    message: format!("redis-server exited with {status}"),
                    log_tail,
                });
            }
            if self.answers_ping() {
                // Nothing is read from stderr any more (the server logs to its file).
                drop(child.stderr.take());
                *self.lock_child() = Some(child);
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                stop(&mut child);
                return Err(HarnessError::Startup {
                    message: format!("no PONG within {READY_TIMEOUT:?}"),
                    log_tail: tail(&self.log_path(), 20),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn answers_ping(&self) -> bool {
        matches!(self.command(&["PING"]), Ok(Reply::Status(ref s)) if s == "PONG")
    }

    /// Runs one command on the server's plaintext admin port (authenticated when the server
    /// has a password) and returns the raw reply.
    pub fn command(&self, args: &[&str]) -> Result<Reply, HarnessError> {
        let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
        self.command_bytes(&args)
    }

    /// [`command`](Self::command) with binary arguments (a value's exact bytes).
    pub fn command_bytes(&self, args: &[&[u8]]) -> Result<Reply, HarnessError> {
        let mut conn = Connection::open(self.ports.plain, Duration::from_secs(5))?;
        if let Some(password) = &self.requirepass {
            if let Reply::Error(e) = conn.call(&[b"AUTH", password.as_bytes()])? {
                return Err(HarnessError::Command(format!("AUTH: {e}")));
            }
        }
        conn.call(args)
    }

    /// Like [`command`](Self::command), but a Redis error reply becomes an `Err`.
    pub fn command_ok(&self, args: &[&str]) -> Result<Reply, HarnessError> {
        match self.command(args)? {
            Reply::Error(e) => Err(HarnessError::Command(format!("{}: {e}", args.join(" ")))),
            reply => Ok(reply),
        }
    }

    /// The port clients use (the TLS port on a TLS server).
    pub fn port(&self) -> u16 {
        self.ports.tls.unwrap_or(self.ports.plain)
    }

    /// The plaintext loopback port (the harness's admin port on a TLS server).
    pub fn plain_port(&self) -> u16 {
        self.ports.plain
    }

    /// `host:port` for clients.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// The URL clients connect to, without credentials: `redis://127.0.0.1:PORT`, or
    /// `rediss://127.0.0.1:PORT` on a TLS server (trust [`ca_cert`](Self::ca_cert)).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.address())
    }

    /// The URL with credentials: `redis://USER:PASSWORD@127.0.0.1:PORT` (percent-encoded; the
    /// user may be empty for `requirepass`).
    pub fn url_with_auth(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{}:{}@{}",
            self.scheme(),
            percent_encode(user),
            percent_encode(password),
            self.address()
        )
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        }
    }

    /// The CA certificate that signed a TLS server's certificate (`None` without TLS).
    pub fn ca_cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_cert.as_path())
    }

    /// The TLS files of a TLS server.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The server's working directory (log, cluster config).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }

    /// Whether the process is running (it is, unless [`kill`](Self::kill)ed).
    pub fn is_running(&self) -> bool {
        let mut child = self.lock_child();
        match child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                *child = None;
                false
            }
            None => false,
        }
    }

    /// The process id of the running server (`None` after [`kill`](Self::kill)), e.g. to
    /// freeze it with `SIGSTOP` in a fault test.
    pub fn pid(&self) -> Option<u32> {
        self.lock_child().as_ref().map(Child::id)
    }

    /// Kills the server at once (SIGKILL), to simulate an outage. Connected clients see their
    /// connections drop. Does nothing if it is not running.
    pub fn kill(&self) {
        if let Some(mut child) = self.lock_child().take() {
            stop(&mut child);
            let _ = std::fs::remove_file(self.dir.path().join(PID_FILE));
        }
    }

    /// Starts the server again on the same ports (after [`kill`](Self::kill); kills it first
    /// if it is running), so clients reconnect to the same address. The data is gone.
    pub fn restart(&self) -> Result<(), HarnessError> {
        self.kill();
        self.spawn_and_wait()
    }

    /// The password-free description of the users this server accepts, for messages.
    pub fn acl_users(&self) -> Vec<&str> {
        self.users.iter().map(|u| u.name.as_str()).collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(reaper) = self.reaper.as_mut() {
            stop(reaper);
        }
    }
}

/// A free port different from `taken`.
fn distinct_port(taken: &[u16]) -> Result<u16, HarnessError> {
    loop {
        let port = free_port()?;
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        assert_eq!(percent_encode("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(percent_encode("p@ss:w/rd%"), "p%40ss%3Aw%2Frd%25");
    }
}

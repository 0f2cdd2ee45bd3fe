//! The harness's error type.

use std::fmt;

/// Why a Redis test server could not be started or controlled.
#[derive(Debug)]
pub enum HarnessError {
    /// `redis-server` (or `redis-cli`, `openssl`) is not installed.
    MissingTool {
        /// The executable that was not found.
        tool: &'static str,
        /// How to install it.
        install: &'static str,
    },
    /// The server did not start or did not become ready.
    Startup {
        /// What went wrong.
        message: String,
        /// The last lines of the server's log, if any.
        log_tail: String,
    },
    /// A command sent to the server failed.
    Command(String),
    /// An operating-system error (temp dir, process, socket).
    Io(std::io::Error),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::MissingTool { tool, install } => write!(
                f,
                "`{tool}` was not found on PATH: the Redis tests need a real server. Install it with `{install}`"
            ),
            HarnessError::Startup { message, log_tail } if log_tail.is_empty() => {
                write!(f, "redis-server did not start: {message}")
            }
            HarnessError::Startup { message, log_tail } => {
                write!(
                    f,
                    "redis-server did not start: {message}\n--- server log (tail) ---\n{log_tail}"
                )
            }
            HarnessError::Command(message) => write!(f, "redis command failed: {message}"),
            HarnessError::Io(err) => write!(f, "redis harness I/O error: {err}"),
        }
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HarnessError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for HarnessError {
    fn from(err: std::io::Error) -> Self {
        HarnessError::Io(err)
    }
}

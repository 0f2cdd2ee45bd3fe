//! `ASK` redirects, followed by the adapter itself.
//!
//! While a slot migrates, its old owner answers `ASK <slot> <host:port>` for each key it no
//! longer holds (moved already, or never written); the client must then send `ASKING` and the
//! command to that node, back to back on one connection (`ASKING` admits only the next
//! command). fred 10.1 sends `ASKING` but then routes the command by slot to the old owner
//! again, which answers `ASK` again, until fred gives up ("Too many redirections"). So on that
//! error the backend sends the command once more on its direct connection to the key's
//! primary ([`crate::direct`]), which surfaces the `ASK` as an error, and then sends `ASKING`
//! and the command as one pipeline on the direct connection to the named node: fred writes a
//! pipeline's commands together, so no other command comes between them.
//!
//! The [`on_key`](crate::backend::on_key) macro does this for every keyed command.

use fred::clients::{Client, Pipeline, WithOptions};
use fred::error::{Error, ErrorKind};
use fred::prelude::*;
use fred::types::config::Server;
use fred::types::{ClusterHash, CustomCommand};

/// Whether fred gave up following redirects for a command: the slot is migrating and the
/// command needs `ASKING` on the importing node.
pub(crate) fn redirects_ran_out(err: &Error) -> bool {
    *err.kind() == ErrorKind::Routing && err.details().starts_with("Too many redirections")
}

/// The node an `ASK` error names; `None` for any other error.
pub(crate) fn asked_node(err: &Error) -> Option<Server> {
    if !err.is_ask() {
        return None;
    }
    // `ASK <slot> <host:port>`; the host may be an IPv6 address, the port follows the last ':'.
    let address = err.details().split(' ').nth(2)?;
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| Server::new(host, port))
}

/// A pipeline on `target` that starts with `ASKING`; the caller queues its one command and
/// sends both with [`Pipeline::last`], which answers that command's reply.
pub(crate) async fn asking(target: WithOptions<Client>) -> Pipeline<WithOptions<Client>> {
    let pipeline = Pipeline::from(target);
    // Queuing only: it cannot fail (no arguments to convert), and the reply is not read.
    let _: Result<Value, Error> = pipeline
        .custom(
            CustomCommand::new_static("ASKING", ClusterHash::Random, false),
            Vec::<Value>::new(),
        )
        .await;
    pipeline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asked_node_is_read_from_the_error() {
        let ask = Error::new(ErrorKind::Cluster, "ASK 3999 127.0.0.1:30002");
        assert_eq!(asked_node(&ask), Some(Server::new("127.0.0.1", 30002)));
        let ipv6 = Error::new(ErrorKind::Cluster, "ASK 1 ::1:7000");
        assert_eq!(asked_node(&ipv6), Some(Server::new("::1", 7000)));
        for other in [
            Error::new(ErrorKind::Cluster, "MOVED 3999 127.0.0.1:30002"),
            Error::new(ErrorKind::Cluster, "ASK 3999 :30002"),
            Error::new(ErrorKind::Cluster, "ASK 3999"),
            Error::new(ErrorKind::Unknown, "ASK 3999 127.0.0.1:30002"),
        ] {
            assert_eq!(asked_node(&other), None, "{other:?}");
        }
    }

    #[test]
    fn only_exhausted_redirects_count() {
        assert!(redirects_ran_out(&Error::new(
            ErrorKind::Routing,
            "Too many redirections."
        )));
        assert!(!redirects_ran_out(&Error::new(ErrorKind::Timeout, "")));
        assert!(!redirects_ran_out(&Error::new(
            ErrorKind::Routing,
            "no connection"
        )));
    }
}

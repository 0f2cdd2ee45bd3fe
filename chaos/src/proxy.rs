//! A TCP proxy between a service instance and Redis that the suite steers: pass bytes through,
//! stall them (a partition that drops packets: connections hang, nothing is refused), cut every
//! connection (a partition that resets), or delay every reply.
//!
//! Written here rather than taken from a crate: the faults need control of each byte's timing
//! on live connections (toxiproxy does this, but as a Go server to install), and a proxy is
//! simpler and more portable than network namespaces, which need root.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the proxy does to traffic right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Bytes flow both ways.
    Pass,
    /// Nothing is forwarded and new connections wait: a black-holed link.
    Stall,
    /// Every connection is closed, and new ones are closed at once.
    Cut,
    /// Every byte from Redis reaches the client this much later.
    DelayReplies(Duration),
}

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (mode, watcher) = watch::channel(ProxyMode::Pass);
        let task = tokio::spawn(accept_loop(listener, upstream, watcher));
        Ok(FaultProxy { addr, mode, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode; it applies to live connections at once.
    pub fn set(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<ProxyMode>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        // Finished connections are reaped as new ones arrive, so the set stays small.
        while connections.try_join_next().is_some() {}
        connections.spawn(serve(client, upstream, mode.clone()));
    }
}

/// One client connection: waits out a stall, refuses under a cut, then pumps both ways until
/// either side closes or the proxy is cut.
async fn serve(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<ProxyMode>) {
    let Ok(current) = mode.wait_for(|m| *m != ProxyMode::Stall).await.map(|m| *m) else {
        return;
    };
    if current == ProxyMode::Cut {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let requests = pump(client_read, server_write, mode.clone(), false);
    let replies = pump(server_read, client_write, mode.clone(), true);
    tokio::select! {
        _ = async { tokio::join!(requests, replies) } => {}
        _ = mode.wait_for(|m| *m == ProxyMode::Cut) => {}
    }
    // Dropping the halves closes both sockets.
}

/// Copies `from` to `to`, obeying the mode: a stall holds bytes (read or not) until it ends;
/// with `delayable`, bytes read under [`ProxyMode::DelayReplies`] are written that much later,
/// in order, without slowing the bytes behind them.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mode: watch::Receiver<ProxyMode>,
    delayable: bool,
) {
    let (queue, mut queued) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let mut reader_mode = mode.clone();
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if reader_mode
                .wait_for(|m| *m != ProxyMode::Stall)
                .await
                .is_err()
            {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let delay = match *reader_mode.borrow() {
                ProxyMode::DelayReplies(d) if delayable => d,
                _ => Duration::ZERO,
            };
            if queue
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    let mut writer_mode = mode;
    let writer = async move {
        while let Some((due, bytes)) = queued.recv().await {
            tokio::time::sleep_until(due).await;
            if writer_mode
                .wait_for(|m| *m != ProxyMode::Stall)
                .await
                .is_err()
            {
                return;
            }
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(text).await?;
        let mut out = vec![0u8; text.len()];
        stream.read_exact(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn passes_stalls_delays_and_cuts() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut conn, b"ping").await.unwrap(), b"ping");

        proxy.set(ProxyMode::Stall);
        let stalled =
            tokio::time::timeout(Duration::from_millis(200), round_trip(&mut conn, b"a")).await;
        assert!(stalled.is_err(), "a stalled link must not answer");
        proxy.set(ProxyMode::Pass);
        let mut late = [0u8; 1];
        conn.read_exact(&mut late).await.unwrap();
        assert_eq!(&late, b"a", "bytes held by a stall arrive after it");

        proxy.set(ProxyMode::DelayReplies(Duration::from_millis(150)));
        let started = std::time::Instant::now();
        assert_eq!(round_trip(&mut conn, b"slow").await.unwrap(), b"slow");
        // A lower bound only: `sleep_until` never wakes early, so this cannot flake.
        assert!(started.elapsed() >= Duration::from_millis(150));

        proxy.set(ProxyMode::Cut);
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut byte))
            .await
            .expect("a cut closes live connections");
        assert!(matches!(read, Ok(0) | Err(_)));
    }
}

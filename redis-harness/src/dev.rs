//! `cargo xtask redis [--cluster]`: local servers for development.

use crate::cluster::RedisCluster;
use crate::error::HarnessError;
use crate::server::RedisServer;

/// Starts a standalone server (or a 3-primary cluster with `cluster`), prints the URLs and
/// `export REDIS_URL=...`, then blocks until the process is interrupted (Ctrl-C).
///
/// Ctrl-C stops the servers with the process; the harness's watchdog removes their temp dirs.
pub fn run(cluster: bool) -> Result<(), HarnessError> {
    // Kept alive (not dropped) until the process ends.
    let (_guard, url): (Box<dyn std::any::Any>, String) = if cluster {
        let cluster = RedisCluster::start(3)?;
        for (i, node) in cluster.nodes().iter().enumerate() {
            println!("node {i}: {} (dir {})", node.url(), node.dir().display());
        }
        let url = cluster.url();
        (Box::new(cluster), url)
    } else {
        let server = RedisServer::start()?;
        println!("server: {} (dir {})", server.url(), server.dir().display());
        let url = server.url();
        (Box::new(server), url)
    };
    println!("export REDIS_URL={url}");
    println!("Press Ctrl-C to stop.");
    loop {
        std::thread::park();
    }
}

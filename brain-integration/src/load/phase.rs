//! One measured phase: N keep-alive clients until a deadline, with a progress line.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::http::Connection;
use super::stats::{Percentiles, PhaseReport, SERVED_FROM_CACHE};
use super::workload::Workload;

#[derive(Default)]
struct Live {
    ok: AtomicU64,
    hits: AtomicU64,
    errors: AtomicU64,
}

struct ClientResult {
    latencies: Vec<u64>,
    hit_latencies: Vec<u64>,
    sources: BTreeMap<&'static str, u64>,
    errors: u64,
}

/// One phase of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Name in the report.
    pub name: String,
    /// The service.
    pub addr: SocketAddr,
    /// Concurrent clients.
    pub concurrency: usize,
    /// How long.
    pub duration: Duration,
    /// Ask the service to bypass the cache (`&cache=bypass`).
    pub bypass: bool,
    /// RNG seed.
    pub seed: u64,
    /// Print a progress line every second.
    pub progress: bool,
}

/// Runs one phase: `concurrency` clients for `duration`.
pub async fn run_phase(phase: &Phase, workload: Arc<Workload>) -> PhaseReport {
    let Phase {
        ref name,
        addr,
        concurrency,
        duration,
        bypass,
        seed,
        progress,
    } = *phase;
    let name = name.as_str();
    let live = Arc::new(Live::default());
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = Vec::with_capacity(concurrency);
    for c in 0..concurrency {
        let (workload, live) = (workload.clone(), live.clone());
        clients.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(
                seed.wrapping_add(c as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut conn = Connection::new(addr);
            let mut out = ClientResult {
                latencies: Vec::new(),
                hit_latencies: Vec::new(),
                sources: BTreeMap::new(),
                errors: 0,
            };
            let mut path = String::new();
            while Instant::now() < deadline {
                path.clear();
                path.push_str(workload.sample(&mut rng));
                if bypass {
                    path.push_str("&cache=bypass");
                }
                let t0 = Instant::now();
                match conn.probe(&path).await {
                    Ok(r) if r.status == 200 => {
                        let nanos = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        let source = r.x_cache.unwrap_or("none");
                        let hit = SERVED_FROM_CACHE.contains(&source);
                        out.latencies.push(nanos);
                        if hit {
                            out.hit_latencies.push(nanos);
                            live.hits.fetch_add(1, Relaxed);
                        }
                        *out.sources.entry(source).or_default() += 1;
                        live.ok.fetch_add(1, Relaxed);
                    }
                    Ok(_) | Err(_) => {
                        out.errors += 1;
                        live.errors.fetch_add(1, Relaxed);
                        // Do not spin on a dead server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            out
        }));
    }
    let done = Arc::new(AtomicBool::new(false));
    let printer = progress.then(|| {
        let (live, done, name) = (live.clone(), done.clone(), name.to_owned());
        tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            while !done.load(Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let (ok, hits, errors) = (live.ok.load(Relaxed), live.hits.load(Relaxed), live.errors.load(Relaxed));
                let now = Instant::now();
                let rate = (ok - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                last = (now, ok);
                let ratio = if ok == 0 { 0.0 } else { 100.0 * hits as f64 / ok as f64 };
                eprint!(
                    "\r[{name}] {:>5.1}s  {ok:>9} ok  {rate:>9.0} req/s  hit {ratio:>6.2}%  errors {errors}   ",
                    started.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().flush();
            }
        })
    });
    let mut latencies = Vec::new();
    let mut hit_latencies = Vec::new();
    let mut sources: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors = 0;
    for client in clients {
        match client.await {
            Ok(r) => {
                latencies.extend(r.latencies);
                hit_latencies.extend(r.hit_latencies);
                for (k, v) in r.sources {
                    *sources.entry(k.to_owned()).or_default() += v;
                }
                errors += r.errors;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Relaxed);
    if let Some(p) = printer {
        let _ = p.await;
        eprintln!();
    }
    PhaseReport {
        name: name.to_owned(),
        elapsed,
        ok: latencies.len() as u64,
        errors,
        sources,
        latency: Percentiles::from_nanos(&mut latencies),
        hit_latency: Percentiles::from_nanos(&mut hit_latencies),
    }
}

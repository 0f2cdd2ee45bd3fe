//! Paired rounds: each round measures every subject once, one after the other (the order rotated
//! from round to round), so that load drifting across a run weighs on every subject alike. A
//! subject is compared with its floor round by round and the median of those ratios is
//! reported, beside the median of each subject's own figures.
//!
//! Two figures per subject and round:
//! - one task: the p50 of the time per read, over timed batches of `batch` reads (a batch keeps
//!   the clock's own ~20 ns small next to a sub-microsecond read);
//! - 64 tasks: reads per second of `tasks` spawned tasks reading concurrently.
//!
//! With `SMARTCACHE_BENCH_OUT` set, every comparison is also appended to that file as one
//! tab-separated line (`cargo xtask bench` prints its table from it).

use std::future::Future;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Runtime;

/// Something read in the benchmark: a raw store, or smartcache over it.
pub trait Subject: Copy + Send + Sync + 'static {
    /// What every read needs (the stores, the keys).
    type Setup: Send + Sync + 'static;
    /// Short name, for the printed results.
    fn name(self) -> &'static str;
    /// One read of key number `i` (modulo the number of keys). Panics on a miss: every key was
    /// written before measuring.
    fn read(self, setup: &Self::Setup, i: usize) -> impl Future<Output = ()> + Send;
}

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Measured rounds (one unmeasured warm-up round comes first).
    pub rounds: usize,
    /// Reads per timed batch in the one-task measurement.
    pub batch: usize,
    /// Timed batches per round in the one-task measurement.
    pub batches: usize,
    /// Concurrent tasks in the throughput measurement.
    pub tasks: usize,
    /// Reads per task in the throughput measurement.
    pub reads_per_task: usize,
}

impl Plan {
    /// This plan, or a shorter one when the benchmark was started with `--quick`.
    pub fn or_quick(self) -> Plan {
        if std::env::args().any(|a| a == "--quick") {
            Plan {
                rounds: (self.rounds / 4).max(5),
                batches: (self.batches / 2).max(10),
                ..self
            }
        } else {
            self
        }
    }
}

/// `--profile <subject> [reads]` on the command line, if given: the benchmark then only reads
/// with that subject (see [`profile`]), for a profiler to watch.
pub fn profile_requested<S: Subject>(subjects: &[S], default_reads: usize) -> Option<(S, usize)> {
    let args: Vec<String> = std::env::args().collect();
    let mut after = args.iter().skip_while(|a| *a != "--profile").skip(1);
    let name = after.next()?;
    let found = subjects.iter().find(|s| s.name() == name);
    let subject = *found.unwrap_or_else(|| panic!("--profile: no subject named {name:?}"));
    let reads = after.next().and_then(|n| n.parse().ok());
    Some((subject, reads.unwrap_or(default_reads)))
}

/// `reads` reads with `subject`, nothing measured: what a profiler such as `valgrind
/// --tool=callgrind` or `perf` should see (the setup before it is a small share once `reads`
/// is large). From one task, or spread over `--tasks <n>` tasks when the command line says so
/// (the contended path the throughput figure measures).
pub fn profile<S: Subject>(runtime: &Runtime, setup: &Arc<S::Setup>, subject: S, reads: usize) {
    let args: Vec<String> = std::env::args().collect();
    let tasks = args
        .iter()
        .skip_while(|a| *a != "--tasks")
        .nth(1)
        .map(|n| n.parse::<usize>().expect("--tasks <n>"));
    runtime.block_on(async {
        let Some(tasks) = tasks else {
            for i in 0..reads {
                subject.read(setup, i).await;
            }
            return;
        };
        let per_task = reads / tasks.max(1);
        let spawned: Vec<_> = (0..tasks)
            .map(|task| {
                let setup = Arc::clone(setup);
                tokio::spawn(async move {
                    let first = task * 7_919;
                    for i in first..first + per_task {
                        subject.read(&setup, i).await;
                    }
                })
            })
            .collect();
        for task in spawned {
            task.await.expect("a profiled task panicked");
        }
    });
}

/// Every round's figures of one subject.
pub struct Measured {
    pub name: &'static str,
    /// Per round: p50 of the time per read, in microseconds.
    pub latency_us: Vec<f64>,
    /// Per round: reads per second under `tasks` tasks.
    pub throughput: Vec<f64>,
}

/// Runs `plan` over `subjects` on `runtime`.
pub fn run<S: Subject>(
    runtime: &Runtime,
    setup: &Arc<S::Setup>,
    subjects: &[S],
    plan: Plan,
) -> Vec<Measured> {
    let mut measured: Vec<Measured> = subjects
        .iter()
        .map(|s| Measured {
            name: s.name(),
            latency_us: Vec::new(),
            throughput: Vec::new(),
        })
        .collect();
    for round in 0..=plan.rounds {
        for offset in 0..subjects.len() {
            let index = (round + offset) % subjects.len();
            let subject = subjects[index];
            let latency = runtime.block_on(one_task(subject, setup, plan));
            let throughput = runtime.block_on(many_tasks(subject, setup, plan));
            if round > 0 {
                measured[index].latency_us.push(latency);
                measured[index].throughput.push(throughput);
            }
        }
    }
    measured
}

async fn one_task<S: Subject>(subject: S, setup: &S::Setup, plan: Plan) -> f64 {
    let mut per_read = Vec::with_capacity(plan.batches);
    let mut i = 0;
    for _ in 0..plan.batches {
        let started = Instant::now();
        for _ in 0..plan.batch {
            subject.read(setup, i).await;
            i += 1;
        }
        per_read.push(started.elapsed().as_secs_f64() * 1e6 / plan.batch as f64);
    }
    median(per_read)
}

async fn many_tasks<S: Subject>(subject: S, setup: &Arc<S::Setup>, plan: Plan) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..plan.tasks)
        .map(|task| {
            let setup = Arc::clone(setup);
            tokio::spawn(async move {
                // Each task starts on another key, so tasks do not read in lockstep.
                let first = task * 7_919;
                for i in first..first + plan.reads_per_task {
                    subject.read(&setup, i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a benchmark task panicked");
    }
    black_box((plan.tasks * plan.reads_per_task) as f64 / started.elapsed().as_secs_f64())
}

/// One line of the summary: `subject` against `floor`.
pub struct Row {
    /// Stable id (the summary's targets are keyed by it).
    pub id: &'static str,
    /// What the line measures, for people.
    pub path: &'static str,
    pub subject: &'static str,
    pub floor: &'static str,
}

/// Prints every subject's medians and each row's ratios; appends the rows to
/// `SMARTCACHE_BENCH_OUT` when set.
pub fn report(title: &str, measured: &[Measured], rows: &[Row]) {
    let rounds = measured.first().map_or(0, |m| m.latency_us.len());
    println!("\n{title}: {rounds} paired rounds, medians");
    println!(
        "  {:<28} {:>12} {:>16}",
        "subject", "p50, 1 task", "64 tasks"
    );
    for m in measured {
        println!(
            "  {:<28} {:>9.3} µs {:>10.0} ops/s",
            m.name,
            median(m.latency_us.clone()),
            median(m.throughput.clone())
        );
    }
    let find = |name: &str| {
        measured
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no subject named {name}"))
    };
    let mut lines = String::new();
    println!("  ratios to the floor, median over rounds:");
    for row in rows {
        let (subject, floor) = (find(row.subject), find(row.floor));
        for (metric, mine, theirs) in [
            ("p50_us", &subject.latency_us, &floor.latency_us),
            ("ops_per_s", &subject.throughput, &floor.throughput),
        ] {
            let ratio = median(mine.iter().zip(theirs).map(|(a, b)| a / b).collect());
            println!(
                "  {:<44} {metric:<10} {:>6.2}x  ({} vs {})",
                row.path, ratio, row.subject, row.floor
            );
            lines += &format!(
                "{}\t{metric}\t{}\t{}\t{}\t{}\t{}\t{ratio}\n",
                row.id,
                row.path,
                row.floor,
                median(mine.clone()),
                median(theirs.clone()),
                rounds,
            );
        }
    }
    if let Some(path) = std::env::var_os("SMARTCACHE_BENCH_OUT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.to_string_lossy()));
        file.write_all(lines.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.to_string_lossy()));
    }
}

/// The median (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "no measurement");
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

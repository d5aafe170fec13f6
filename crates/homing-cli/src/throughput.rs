//! `homing bench`'s throughput suite: every Homing figure beside a bare Redis Streams loop run
//! in the same invocation, on the same Redis, with the same batching and the same processes
//! (see baseline.rs). Workloads:
//! - push only: pipelined batches of the push script, against pipelined XADD batches;
//! - drain: a preloaded queue run by the layout's workers;
//! - end to end: one producer pushing batches while the workers run;
//! - push ingress and e2e ingress: the same through the ingress list (LPUSH batches);
//! - paced: jobs pushed one by one at `--rate`, p50/p99 from push to handler start.
//!
//! Each layout (workers × concurrency) runs with affinity on and off. Results print as a
//! table, or as JSON with `--json`.

use crate::baseline::{self, Bare};
use anyhow::Context;
use homing_client::{Producer, ProducerOptions};
use homing_core::{AffinityMode, QueueSettings};
use homing_worker::{HandlerError, Job, Worker, WorkerConfig};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Workers × concurrency, written `8x1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub workers: usize,
    pub concurrency: u32,
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("layout {s:?} must be <workers>x<concurrency>, e.g. 8x1 or 2x64");
        let (w, c) = s.split_once('x').ok_or_else(bad)?;
        let (workers, concurrency) = (w.parse().map_err(|_| bad())?, c.parse().map_err(|_| bad())?);
        if workers == 0 || concurrency == 0 {
            return Err(bad());
        }
        Ok(Self { workers, concurrency })
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.workers, self.concurrency)
    }
}

/// The suite's sizes.
#[derive(Clone, Debug)]
pub struct Suite {
    pub jobs: usize,
    pub sessions: usize,
    pub batch: usize,
    pub payload: usize,
    pub layouts: Vec<Layout>,
    pub rate: u32,
    pub seconds: u64,
    pub prefix: String,
}

/// One measured figure: Homing with affinity on and off, the bare loop, and the ratios.
#[derive(Debug, Serialize)]
pub struct Row {
    pub workload: &'static str,
    pub layout: Option<Layout>,
    /// What the numbers are: `jobs/s` or `ms`.
    pub unit: &'static str,
    pub on: f64,
    pub off: f64,
    pub bare: f64,
    /// p99 push → handler start (ms) with affinity on and off, and for the bare loop.
    pub p99_ms: Option<[f64; 3]>,
    /// Redis CPU, seconds per second, for on, off and bare.
    pub redis_cpu: [f64; 3],
}

impl Row {
    fn ratio(&self, x: f64) -> f64 {
        x / self.bare.max(f64::MIN_POSITIVE)
    }
}

/// Runs every workload and prints the table (or JSON).
pub async fn run(url: &str, suite: &Suite, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        suite.jobs >= 1 && suite.sessions >= 1 && suite.batch >= 1,
        "--jobs, --sessions, --batch must be >= 1"
    );
    anyhow::ensure!(!suite.layouts.is_empty(), "--layouts needs at least one layout, e.g. 8x1");
    let mut c = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
    let mut rows = Vec::new();
    eprintln!("bench: push only ...");
    rows.extend(push_only(url, suite, &mut c).await.context("push only")?);
    for &layout in &suite.layouts {
        for workload in [Workload::Drain, Workload::EndToEnd, Workload::Ingress] {
            eprintln!("bench: {} {layout} ...", workload.name());
            rows.push(
                throughput(url, suite, layout, workload, &mut c)
                    .await
                    .with_context(|| format!("{} {layout}", workload.name()))?,
            );
        }
    }
    let paced_layout = Layout { workers: 8, concurrency: 1 };
    eprintln!("bench: paced {} jobs/s at {paced_layout} ...", suite.rate);
    rows.extend(paced(url, suite, paced_layout, &mut c).await.context("paced")?);
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print(suite, &rows);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Drain,
    EndToEnd,
    /// End to end with the producer sending through the ingress list.
    Ingress,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Drain => "drain",
            Workload::EndToEnd => "end to end",
            Workload::Ingress => "e2e ingress",
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn new_queue(tag: &str) -> String {
    format!("bench-{tag}-{:06x}", fastrand::u32(..0xff_ffff))
}

fn jobs_list(suite: &Suite) -> Vec<(String, Vec<u8>)> {
    (0..suite.jobs).map(|i| (format!("s{}", i % suite.sessions), vec![b'x'; suite.payload])).collect()
}

/// Redis CPU seconds so far.
async fn redis_cpu(c: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<f64> {
    Ok(crate::fleet::redis_counters(c).await?.1)
}

/// In-process Homing workers with a no-op handler that counts starts and records each job's
/// wait (push → start, ms, Redis clock against ours: same machine) or, when paced, takes the
/// push time in µs from the payload.
struct Fleet {
    stop: watch::Sender<bool>,
    running: Vec<tokio::task::JoinHandle<Result<homing_worker::ShutdownReport, homing_worker::Error>>>,
    started: Arc<AtomicU64>,
    waits: Arc<Mutex<Vec<f64>>>,
    producer: Producer,
}

impl Fleet {
    async fn start(
        url: &str,
        suite: &Suite,
        queue: &str,
        layout: Layout,
        affinity: AffinityMode,
        paced_base: Option<Instant>,
    ) -> anyhow::Result<Self> {
        let settings = QueueSettings { affinity, ..QueueSettings::default() };
        let started = Arc::new(AtomicU64::new(0));
        let waits: Arc<Mutex<Vec<f64>>> = Arc::default();
        let mut workers = Vec::new();
        for i in 0..layout.workers {
            let config = WorkerConfig {
                redis_url: url.to_string(),
                queue: queue.to_string(),
                prefix: suite.prefix.clone(),
                name: format!("bench{i}"),
                concurrency: layout.concurrency,
                queue_settings: settings.clone(),
                ..Default::default()
            };
            let (started, waits) = (started.clone(), waits.clone());
            let handler = move |job: Job| {
                let wait = match paced_base {
                    Some(base) => {
                        let pushed: u64 =
                            std::str::from_utf8(&job.payload).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
                        (base.elapsed().as_micros() as u64).saturating_sub(pushed) as f64 / 1000.0
                    }
                    None => now_ms().saturating_sub(job.enqueued_at_ms) as f64,
                };
                waits.lock().expect("not poisoned").push(wait);
                started.fetch_add(1, Ordering::Relaxed);
                async { Ok::<_, HandlerError>(()) }
            };
            workers.push(Worker::new(config, handler).await.context("cannot start a bench worker")?);
        }
        let options = ProducerOptions { prefix: suite.prefix.clone(), ..Default::default() };
        let producer = Producer::connect_with(url, queue, options).await?;
        Ok(Self { stop: watch::channel(false).0, running: Vec::new(), started, waits, producer }.with(workers))
    }

    fn with(mut self, workers: Vec<Worker<impl homing_worker::Handler>>) -> Self {
        for w in workers {
            let mut stop = self.stop.subscribe();
            self.running.push(tokio::spawn(w.run(async move {
                let _ = stop.wait_for(|s| *s).await;
            })));
        }
        self
    }

    /// Waits until `n` jobs started and every stream of the queue is empty (completion
    /// deletes entries; the overflow keeps its last-delivered entry, see keys.rs).
    async fn until_done(&self, c: &mut redis::aio::MultiplexedConnection, n: usize) -> anyhow::Result<()> {
        let keys = self.producer.keys();
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if self.started.load(Ordering::Relaxed) as usize >= n {
                let workers: Vec<String> =
                    redis::cmd("ZRANGE").arg(keys.workers()).arg(0).arg(-1).query_async(c).await?;
                let mut pipe = redis::pipe();
                pipe.cmd("XLEN").arg(keys.overflow()).cmd("SCARD").arg(keys.overflow_kept());
                for w in &workers {
                    pipe.cmd("XLEN").arg(keys.inbox(w));
                }
                let lens: Vec<u64> = pipe.query_async(c).await?;
                if lens[0] == lens[1] && lens[2..].iter().all(|l| *l == 0) {
                    return Ok(());
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "jobs not finished after 10 minutes");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn stop(self, url: &str) -> anyhow::Result<Vec<f64>> {
        let _ = self.stop.send(true);
        for r in self.running {
            r.await??;
        }
        crate::local_redis::remove_queue(&homing_core::connect::RedisTarget::new(url), self.producer.keys()).await;
        Ok(sorted(std::mem::take(&mut *self.waits.lock().expect("not poisoned"))))
    }
}

async fn push_all(producer: &Producer, jobs: &[(String, Vec<u8>)], batch: usize) -> anyhow::Result<()> {
    for chunk in jobs.chunks(batch) {
        for r in producer.push_many_raw(chunk).await? {
            r?;
        }
    }
    Ok(())
}

async fn ingress_all(producer: &Producer, jobs: &[(String, Vec<u8>)], batch: usize) -> anyhow::Result<()> {
    for chunk in jobs.chunks(batch) {
        producer.ingress_many_raw(chunk).await?;
    }
    Ok(())
}

/// Jobs/s and Redis CPU of pushing every job into a fresh queue no worker reads (so only the
/// pushes are measured), through the push script or the ingress list.
async fn push_rate(
    url: &str,
    suite: &Suite,
    c: &mut redis::aio::MultiplexedConnection,
    affinity: AffinityMode,
    ingress: bool,
) -> anyhow::Result<(f64, f64)> {
    let jobs = jobs_list(suite);
    let queue = new_queue("push");
    homing_cli_init(url, suite, &queue, affinity).await?;
    let options = ProducerOptions { prefix: suite.prefix.clone(), ..Default::default() };
    let producer = Producer::connect_with(url, &queue, options).await?;
    let cpu0 = redis_cpu(c).await?;
    let t = Instant::now();
    if ingress {
        ingress_all(&producer, &jobs, suite.batch).await?;
    } else {
        push_all(&producer, &jobs, suite.batch).await?;
    }
    let took = t.elapsed().as_secs_f64();
    let cpu = (redis_cpu(c).await? - cpu0) / took;
    crate::local_redis::remove_queue(&homing_core::connect::RedisTarget::new(url), producer.keys()).await;
    Ok((suite.jobs as f64 / took, cpu))
}

/// Push only: pipelined push-script batches, and LPUSH batches to the ingress list (affinity
/// plays no part until the mover routes them), against pipelined XADD.
async fn push_only(url: &str, suite: &Suite, c: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<Vec<Row>> {
    let bare = Bare::new(url, "push").await?;
    let cpu0 = redis_cpu(c).await?;
    let t = Instant::now();
    bare.push_all(&jobs_list(suite), suite.batch).await?;
    let took = t.elapsed().as_secs_f64();
    let (bare_rate, bare_cpu) = (suite.jobs as f64 / took, (redis_cpu(c).await? - cpu0) / took);
    bare.remove().await?;
    let mut rows = Vec::new();
    for (workload, ingress) in [("push only", false), ("push ingress", true)] {
        let (on, on_cpu) = push_rate(url, suite, c, AffinityMode::On, ingress).await?;
        let (off, off_cpu) = push_rate(url, suite, c, AffinityMode::Off, ingress).await?;
        rows.push(Row {
            workload,
            layout: None,
            unit: "jobs/s",
            on,
            off,
            bare: bare_rate,
            p99_ms: None,
            redis_cpu: [on_cpu, off_cpu, bare_cpu],
        });
    }
    Ok(rows)
}

/// Writes the queue's settings as a worker would, so a queue can be pushed to without one.
async fn homing_cli_init(url: &str, suite: &Suite, queue: &str, affinity: AffinityMode) -> anyhow::Result<()> {
    let keys = homing_core::Keys::new(&suite.prefix, &homing_core::QueueName::new(queue)?)?;
    let mut c = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
    let settings = QueueSettings { affinity, ..QueueSettings::default() };
    homing_core::scripts::init(&mut c, &keys, homing_core::scripts::InitMode::Create, &settings).await?;
    Ok(())
}

async fn throughput(
    url: &str,
    suite: &Suite,
    layout: Layout,
    workload: Workload,
    c: &mut redis::aio::MultiplexedConnection,
) -> anyhow::Result<Row> {
    let jobs = jobs_list(suite);
    let mut rates = [0.0; 3];
    let mut cpu = [0.0; 3];
    let mut p99 = [0.0; 3];
    for (i, affinity) in [AffinityMode::On, AffinityMode::Off].into_iter().enumerate() {
        let queue = new_queue("run");
        // The workers start stopped for a drain: push first, then run them.
        let (took, cpu_used, waits) = match workload {
            Workload::Drain => {
                homing_cli_init(url, suite, &queue, affinity).await?;
                let producer = Producer::connect_with(
                    url,
                    &queue,
                    ProducerOptions { prefix: suite.prefix.clone(), ..Default::default() },
                )
                .await?;
                push_all(&producer, &jobs, suite.batch).await?;
                let cpu0 = redis_cpu(c).await?;
                let t = Instant::now();
                let fleet = Fleet::start(url, suite, &queue, layout, affinity, None).await?;
                fleet.until_done(c, suite.jobs).await?;
                let took = t.elapsed().as_secs_f64();
                let cpu_used = redis_cpu(c).await? - cpu0;
                (took, cpu_used, fleet.stop(url).await?)
            }
            Workload::EndToEnd | Workload::Ingress => {
                let fleet = Fleet::start(url, suite, &queue, layout, affinity, None).await?;
                let cpu0 = redis_cpu(c).await?;
                let t = Instant::now();
                if workload == Workload::Ingress {
                    ingress_all(&fleet.producer, &jobs, suite.batch).await?;
                } else {
                    push_all(&fleet.producer, &jobs, suite.batch).await?;
                }
                fleet.until_done(c, suite.jobs).await?;
                let took = t.elapsed().as_secs_f64();
                let cpu_used = redis_cpu(c).await? - cpu0;
                (took, cpu_used, fleet.stop(url).await?)
            }
        };
        rates[i] = suite.jobs as f64 / took;
        cpu[i] = cpu_used / took;
        p99[i] = percentile(&waits, 0.99);
    }
    let bare = Bare::new(url, "run").await?;
    let (took, cpu_used, waits) = match workload {
        Workload::Drain => {
            bare.push_all(&jobs, suite.batch).await?;
            let cpu0 = redis_cpu(c).await?;
            let t = Instant::now();
            let mut consumers = bare.consume(layout, None).await?;
            consumers.until(suite.jobs).await?;
            let took = t.elapsed().as_secs_f64();
            (took, redis_cpu(c).await? - cpu0, consumers.stop().await?)
        }
        Workload::EndToEnd | Workload::Ingress => {
            let mut consumers = bare.consume(layout, None).await?;
            let cpu0 = redis_cpu(c).await?;
            let t = Instant::now();
            bare.push_all(&jobs, suite.batch).await?;
            consumers.until(suite.jobs).await?;
            let took = t.elapsed().as_secs_f64();
            (took, redis_cpu(c).await? - cpu0, consumers.stop().await?)
        }
    };
    bare.remove().await?;
    rates[2] = suite.jobs as f64 / took;
    cpu[2] = cpu_used / took;
    p99[2] = percentile(&waits, 0.99);
    Ok(Row {
        workload: workload.name(),
        layout: Some(layout),
        unit: "jobs/s",
        on: rates[0],
        off: rates[1],
        bare: rates[2],
        p99_ms: Some(p99),
        redis_cpu: cpu,
    })
}

/// Jobs pushed one at a time at `rate` for `seconds`; p50 and p99 push → handler start.
async fn paced(
    url: &str,
    suite: &Suite,
    layout: Layout,
    c: &mut redis::aio::MultiplexedConnection,
) -> anyhow::Result<Vec<Row>> {
    let n = (suite.rate as u64 * suite.seconds).max(1) as usize;
    let period = Duration::from_secs_f64(1.0 / suite.rate.max(1) as f64);
    let mut p50 = [0.0; 3];
    let mut p99 = [0.0; 3];
    let mut cpu = [0.0; 3];
    for (i, affinity) in [AffinityMode::On, AffinityMode::Off].into_iter().enumerate() {
        let base = Instant::now();
        let fleet = Fleet::start(url, suite, &new_queue("paced"), layout, affinity, Some(base)).await?;
        // Let the workers settle into their blocking reads.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cpu0 = redis_cpu(c).await?;
        let t = Instant::now();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for j in 0..n {
            tick.tick().await;
            let payload = (base.elapsed().as_micros() as u64).to_string();
            fleet.producer.push_raw(&format!("s{}", j % suite.sessions), payload.as_bytes()).await?;
        }
        fleet.until_done(c, n).await?;
        cpu[i] = (redis_cpu(c).await? - cpu0) / t.elapsed().as_secs_f64();
        let waits = fleet.stop(url).await?;
        p50[i] = percentile(&waits, 0.5);
        p99[i] = percentile(&waits, 0.99);
    }
    let bare = Bare::new(url, "paced").await?;
    let base = Instant::now();
    let mut consumers = bare.consume(layout, Some(base)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu0 = redis_cpu(c).await?;
    let t = Instant::now();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..n {
        tick.tick().await;
        let payload = (base.elapsed().as_micros() as u64).to_string();
        bare.push_one(payload.as_bytes()).await?;
    }
    consumers.until(n).await?;
    cpu[2] = (redis_cpu(c).await? - cpu0) / t.elapsed().as_secs_f64();
    let waits = consumers.stop().await?;
    bare.remove().await?;
    p50[2] = percentile(&waits, 0.5);
    p99[2] = percentile(&waits, 0.99);
    let row = |workload, v: [f64; 3]| Row {
        workload,
        layout: Some(layout),
        unit: "ms",
        on: v[0],
        off: v[1],
        bare: v[2],
        p99_ms: None,
        redis_cpu: cpu,
    };
    Ok(vec![row("paced p50", p50), row("paced p99", p99)])
}

fn print(suite: &Suite, rows: &[Row]) {
    println!(
        "jobs {}  sessions {}  batch {}  payload {} B  paced {} jobs/s for {} s  (bare = XADD → XREADGROUP → XACK+XDEL, {})",
        suite.jobs,
        suite.sessions,
        suite.batch,
        suite.payload,
        suite.rate,
        suite.seconds,
        baseline::DESCRIBED
    );
    println!(
        "{:<12} {:<6} {:>10} {:>10} {:>10} {:>7} {:>7} {:>7}  {:>19}  {:>17}",
        "workload",
        "layout",
        "on",
        "off",
        "bare",
        "on/bare",
        "off/bare",
        "on/off",
        "p99 ms on/off/bare",
        "Redis CPU on/off/bare"
    );
    for r in rows {
        let layout = r.layout.map_or("-".to_string(), |l| l.to_string());
        let p99 = r.p99_ms.map_or("-".to_string(), |p| format!("{:.1}/{:.1}/{:.1}", p[0], p[1], p[2]));
        let cpu =
            format!("{:.0}%/{:.0}%/{:.0}%", r.redis_cpu[0] * 100.0, r.redis_cpu[1] * 100.0, r.redis_cpu[2] * 100.0);
        let (on, off, bare) = if r.unit == "ms" {
            (format!("{:.2} ms", r.on), format!("{:.2} ms", r.off), format!("{:.2} ms", r.bare))
        } else {
            (format!("{:.0}", r.on), format!("{:.0}", r.off), format!("{:.0}", r.bare))
        };
        println!(
            "{:<12} {:<6} {:>10} {:>10} {:>10} {:>7.2} {:>8.2} {:>7.2}  {:>19}  {:>17}",
            r.workload,
            layout,
            on,
            off,
            bare,
            r.ratio(r.on),
            r.ratio(r.off),
            r.on / r.off.max(f64::MIN_POSITIVE),
            p99,
            cpu
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_and_refuse_with_the_form() {
        assert_eq!("2x64".parse::<Layout>(), Ok(Layout { workers: 2, concurrency: 64 }));
        let e = "8".parse::<Layout>().unwrap_err();
        assert_eq!(e, "layout \"8\" must be <workers>x<concurrency>, e.g. 8x1 or 2x64");
        assert!("0x4".parse::<Layout>().is_err());
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.99), percentile(&v, 1.0)), (50.0, 99.0, 100.0));
    }
}

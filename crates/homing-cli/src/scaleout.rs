//! `homing bench --scale-out 1,3`: a partitioned queue on a local Redis Cluster of M masters
//! (no replicas), for each M given, with M partitions placed one per master, against the
//! same workload on one master with one partition and with M partitions. The workload is end
//! to end: producers `push_many` `--jobs` jobs over `--sessions` sessions while in-process
//! workers (the first `--layouts` entry) run a no-op handler. Each row reports jobs/s, the
//! Redis CPU per job summed over the masters, the busiest master's share, and this process's
//! CPU per job (producers and workers), from which it estimates a cluster of 16 masters.
//!
//! The cluster is `redis-server --cluster-enabled yes` processes from PATH on free loopback
//! ports, each given an equal range of slots (`CLUSTER ADDSLOTSRANGE`) and joined with
//! `CLUSTER MEET`: no `redis-cli` needed. Partition k's slot is the CRC16 of its hash tag, so
//! the bench picks a queue name whose partitions fall on distinct masters, as an operator
//! would choose partitions and slot ranges (or a queue name) so that they spread.

use anyhow::{bail, ensure, Context};
use homing_client::{Producer, ProducerOptions};
use homing_core::{Keys, QueueName, QueueSettings};
use homing_worker::{HandlerError, Job, Worker, WorkerConfig};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The shape of one scale-out run.
pub struct Shape {
    pub jobs: usize,
    pub sessions: usize,
    pub batch: usize,
    pub payload: usize,
    pub workers: usize,
    pub concurrency: u32,
}

/// A throwaway cluster of `masters` nodes, killed when dropped.
struct LocalCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.kill();
            let _ = n.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free now, drawn below Linux's ephemeral range (32768 and up), where no outgoing
/// connection can take it before the node binds it.
fn free_port() -> anyhow::Result<u16> {
    for _ in 0..1000 {
        let port = fastrand::u16(20000..32000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port in 20000-31999 on 127.0.0.1")
}

impl LocalCluster {
    async fn start(masters: usize) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("homing-scaleout-{}-{masters}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut cluster = Self { nodes: Vec::new(), ports: Vec::new(), dir };
        let mut buses = Vec::new();
        for _ in 0..masters {
            let (port, bus) = (free_port()?, free_port()?);
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-port", &bus.to_string()])
                .arg("--cluster-config-file")
                .arg(cluster.dir.join(format!("nodes-{port}.conf")))
                .arg("--dir")
                .arg(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn();
            match child {
                Ok(c) => cluster.nodes.push(c),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    bail!(
                        "redis-server is not on PATH: install it (Debian/Ubuntu: `sudo apt-get install redis-server`)"
                    )
                }
                Err(e) => return Err(e).context("cannot start redis-server"),
            }
            cluster.ports.push(port);
            buses.push(bus);
        }
        let mut conns = Vec::new();
        for &port in &cluster.ports {
            conns.push(node(port).await?);
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let (lo, hi) = (16384 * i / masters, 16384 * (i + 1) / masters - 1);
            let _: () = redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(lo).arg(hi).query_async(c).await?;
        }
        for (&port, &bus) in cluster.ports.iter().zip(&buses).skip(1) {
            let _: () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(port)
                .arg(bus)
                .query_async(&mut conns[0])
                .await?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut ready = true;
            for c in &mut conns {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(c).await?;
                let known = format!("cluster_known_nodes:{masters}");
                ready &= info.contains("cluster_state:ok") && info.lines().any(|l| l.trim() == known);
            }
            if ready {
                return Ok(cluster);
            }
            ensure!(Instant::now() < deadline, "the local cluster of {masters} masters did not form within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self) -> String {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    /// Which master serves `slot`: slots are split evenly, in port order.
    fn master_of(&self, slot: u16) -> usize {
        (slot as usize * self.ports.len()) / 16384
    }

    /// Redis CPU seconds so far on each master.
    async fn cpu(&self) -> anyhow::Result<Vec<f64>> {
        let mut out = Vec::new();
        for &port in &self.ports {
            out.push(crate::fleet::redis_counters(&mut node(port).await?).await?.1);
        }
        Ok(out)
    }
}

async fn node(port: u16) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            if redis::cmd("PING").query_async::<String>(&mut c).await.is_ok() {
                return Ok(c);
            }
        }
        ensure!(Instant::now() < deadline, "redis-server on port {port} did not answer PING within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One row of the table.
#[derive(serde::Serialize)]
pub struct Row {
    masters: usize,
    partitions: u32,
    jobs_per_s: f64,
    /// Redis CPU µs per job, all masters together.
    redis_us_per_job: f64,
    /// The busiest master's share of that CPU.
    busiest_master_share: f64,
    /// This process's CPU µs per job (producers and workers).
    client_us_per_job: f64,
}

pub async fn run(masters: &[usize], prefix: &str, shape: &Shape, json: bool) -> anyhow::Result<()> {
    let mut plan: Vec<(usize, u32)> = Vec::new();
    for &m in masters {
        ensure!((1..=16).contains(&m), "--scale-out takes master counts from 1 to 16, got {m}");
        if m > 1 && !plan.contains(&(1, m as u32)) {
            plan.push((1, m as u32));
        }
        plan.push((m, m as u32));
    }
    plan.sort();
    plan.dedup();
    let mut rows = Vec::new();
    for (m, partitions) in plan {
        let cluster = LocalCluster::start(m).await?;
        let row = one(&cluster, prefix, partitions, shape).await?;
        if !json {
            eprintln!("scale-out: {m} master(s), {partitions} partition(s): {:.0} jobs/s", row.jobs_per_s);
        }
        rows.push(row);
        drop(cluster);
    }
    if json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    println!(
        "scale-out, end to end: {} jobs of {} B over {} sessions, {} worker(s) x concurrency {}, pushes of {}",
        shape.jobs, shape.payload, shape.sessions, shape.workers, shape.concurrency, shape.batch
    );
    println!("| masters | partitions | jobs/s | Redis CPU per job | busiest master's share | client CPU per job |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.1} µs | {:.0}% | {:.1} µs |",
            r.masters,
            r.partitions,
            r.jobs_per_s,
            r.redis_us_per_job,
            r.busiest_master_share * 100.0,
            r.client_us_per_job
        );
    }
    if let Some(widest) = rows.iter().filter(|r| r.masters == r.partitions as usize).max_by_key(|r| r.masters) {
        // Each of 16 masters serves one partition: each is bounded by one core, at the Redis
        // CPU one job cost here; producers and workers scale out by adding processes.
        let per_master = 1e6 / widest.redis_us_per_job;
        println!(
            "estimate, 16 masters with 16 partitions: Redis-bound near 16 x {per_master:.0} = {:.0} jobs/s \
             (one core per master at {:.1} µs of Redis CPU per job), needing about {:.0} client cores \
             (workers and producers) at {:.1} µs per job",
            16.0 * per_master,
            widest.redis_us_per_job,
            16.0 * per_master * widest.client_us_per_job / 1e6,
            widest.client_us_per_job
        );
    }
    Ok(())
}

/// A queue name whose `partitions` partitions fall on distinct masters (all on the one when
/// there is one master).
fn spread_queue(cluster: &LocalCluster, prefix: &str, partitions: u32) -> anyhow::Result<String> {
    let want = partitions.min(cluster.ports.len() as u32) as usize;
    for _ in 0..10_000 {
        let name = format!("scale-{:06x}", fastrand::u32(..0xff_ffff));
        let keys = Keys::new(prefix, &QueueName::new(name.as_str())?)?;
        let mut on: Vec<usize> = keys.partitions(partitions).iter().map(|k| cluster.master_of(k.slot())).collect();
        on.sort();
        on.dedup();
        if on.len() == want {
            return Ok(name);
        }
    }
    bail!("found no queue name whose {partitions} partitions fall on distinct masters")
}

async fn one(cluster: &LocalCluster, prefix: &str, partitions: u32, shape: &Shape) -> anyhow::Result<Row> {
    let queue = spread_queue(cluster, prefix, partitions)?;
    let settings = QueueSettings { partitions, ..QueueSettings::default() };
    let started = Arc::new(AtomicU64::new(0));
    let (stop, _) = watch::channel(false);
    let mut running = Vec::new();
    for i in 0..shape.workers {
        let config = WorkerConfig {
            redis_url: cluster.url(),
            redis_cluster: true,
            queue: queue.clone(),
            prefix: prefix.to_string(),
            name: format!("scale{i}"),
            concurrency: shape.concurrency,
            queue_settings: settings.clone(),
            ..Default::default()
        };
        let counted = started.clone();
        let handler = move |_job: Job| {
            counted.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, HandlerError>(()) }
        };
        let worker = Worker::new(config, handler).await.context("cannot start a scale-out worker")?;
        let mut halt = stop.subscribe();
        running.push(tokio::spawn(worker.run(async move {
            let _ = halt.wait_for(|s| *s).await;
        })));
    }
    let options = ProducerOptions { prefix: prefix.to_string(), redis_cluster: true, ..Default::default() };
    let producer = Producer::connect_with(&cluster.url(), &queue, options).await?;
    ensure!(
        producer.partitions() == partitions,
        "the producer sees {} partitions, not {partitions}",
        producer.partitions()
    );
    let jobs: Vec<(String, Vec<u8>)> =
        (0..shape.jobs).map(|i| (format!("s{}", i % shape.sessions), vec![b'x'; shape.payload])).collect();

    let cpu0 = cluster.cpu().await?;
    let own0 = crate::fleet::own_cpu();
    let t0 = Instant::now();
    // Two producers, each pushing its half in batches, so a push's round trip overlaps another.
    let halves: Vec<Vec<(String, Vec<u8>)>> = jobs.chunks(jobs.len().div_ceil(2).max(1)).map(<[_]>::to_vec).collect();
    let mut pushing = Vec::new();
    for half in halves {
        let producer = producer.clone();
        let batch = shape.batch;
        pushing.push(tokio::spawn(async move {
            for chunk in half.chunks(batch) {
                producer.push_many_raw(chunk).await?;
            }
            Ok::<_, homing_core::Error>(())
        }));
    }
    for p in pushing {
        p.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while (started.load(Ordering::Relaxed) as usize) < shape.jobs {
        ensure!(Instant::now() < deadline, "jobs not finished after 10 minutes");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let own = crate::fleet::own_cpu() - own0;
    let cpu: Vec<f64> = cluster.cpu().await?.iter().zip(&cpu0).map(|(a, b)| a - b).collect();
    let _ = stop.send(true);
    for r in running {
        r.await??;
    }
    let total: f64 = cpu.iter().sum();
    let n = shape.jobs as f64;
    Ok(Row {
        masters: cluster.ports.len(),
        partitions,
        jobs_per_s: n / elapsed,
        redis_us_per_job: total * 1e6 / n,
        busiest_master_share: cpu.iter().cloned().fold(0.0, f64::max) / total.max(f64::EPSILON),
        client_us_per_job: own * 1e6 / n,
    })
}

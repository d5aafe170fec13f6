//! `homing bench`: raw throughput on one Redis. Pushes `--jobs` jobs over `--sessions` sessions
//! in pipelined batches, then starts `--workers` in-process workers with a no-op handler and
//! times until every job is completed. Prints jobs/s for both phases.

use crate::args::Global;
use crate::local_redis::LocalRedis;
use anyhow::Context;
use clap::Args;
use homing_client::{Producer, ProducerOptions};
use homing_worker::{HandlerError, Job, Worker, WorkerConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The benchmark's size.
#[derive(Args, Debug)]
pub struct BenchCmd {
    /// Jobs to push and run.
    #[arg(long, default_value_t = 50_000)]
    pub jobs: usize,
    /// Distinct sessions.
    #[arg(long, default_value_t = 1_000)]
    pub sessions: usize,
    /// Jobs per pipelined push.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// In-process workers.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Concurrency of each worker.
    #[arg(long, default_value_t = 256)]
    pub concurrency: u32,
    /// Payload bytes per job.
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Instead: the fleet workload, for each of these worker counts (e.g. 8,64,256,1000): Redis
    /// commands/s and CPU idle and at `--rate`, and p99 push → start (see fleet.rs).
    #[arg(long, value_delimiter = ',')]
    pub fleet: Vec<usize>,
    /// Jobs per second pushed in the fleet workload's paced phase.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Seconds each fleet phase is measured.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Instead: Redis memory per pinned session, queued job, worker and dead letter (sizing.rs).
    #[arg(long)]
    pub sizing: bool,
}

pub async fn run(global: &Global, cmd: BenchCmd) -> anyhow::Result<()> {
    if cmd.sizing {
        let (local, target) = LocalRedis::unless_given(global).await?;
        let result = crate::sizing::run(&target).await;
        drop(local);
        return result;
    }
    if !cmd.fleet.is_empty() {
        let (local, target) = LocalRedis::unless_given(global).await?;
        let result = crate::fleet::run(&target, &global.prefix, &cmd.fleet, cmd.rate, cmd.seconds).await;
        drop(local);
        return result;
    }
    anyhow::ensure!(cmd.jobs >= 1 && cmd.sessions >= 1 && cmd.batch >= 1 && cmd.workers >= 1, "sizes must be >= 1");
    let (local, target) = LocalRedis::unless_given(global).await?;
    let queue = format!("bench-{:06x}", fastrand::u32(..0xff_ffff));
    let options = ProducerOptions { prefix: global.prefix.clone(), ..Default::default() }.with_redis_target(&target);
    // The first worker writes the queue settings; create it before pushing.
    let done = Arc::new(AtomicU64::new(0));
    let config = |i: usize| {
        WorkerConfig {
            queue: queue.clone(),
            prefix: global.prefix.clone(),
            name: format!("bench{i}"),
            concurrency: cmd.concurrency,
            ..Default::default()
        }
        .with_redis_target(target.clone())
    };
    let mut workers = Vec::new();
    for i in 0..cmd.workers {
        let done = done.clone();
        let handler = move |_job: Job| {
            let done = done.clone();
            async move {
                done.fetch_add(1, Ordering::Relaxed);
                Ok::<_, HandlerError>(())
            }
        };
        workers.push(Worker::new(config(i), handler).await.context("cannot start a bench worker")?);
    }
    let producer = Producer::connect_with(&target.url, &queue, options).await?;
    let payload = vec![b'x'; cmd.payload];
    let jobs: Vec<(String, &[u8])> =
        (0..cmd.jobs).map(|i| (format!("s{}", i % cmd.sessions), payload.as_slice())).collect();
    let started = Instant::now();
    for chunk in jobs.chunks(cmd.batch) {
        for r in producer.push_many_raw(chunk).await? {
            r?;
        }
    }
    let pushed = started.elapsed();

    let mut c = crate::connect::connect_to(&target).await?;
    let (_, cpu_before) = crate::fleet::redis_counters(&mut c).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let mut running = Vec::new();
    for w in workers {
        let mut stop = stop_rx.clone();
        running.push(tokio::spawn(w.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    }
    let (overflow, kept) = (producer.keys().overflow(), producer.keys().overflow_kept());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        // The overflow keeps its last-delivered entry, acked, for the group lag (keys.rs).
        let (len, kept): (u64, u64) =
            redis::pipe().cmd("XLEN").arg(&overflow).cmd("SCARD").arg(&kept).query_async(&mut c).await?;
        if len == kept && done.load(Ordering::Relaxed) as usize >= cmd.jobs {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "jobs not finished after 10 minutes");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drained = started.elapsed();
    let (_, cpu_after) = crate::fleet::redis_counters(&mut c).await?;
    let redis_cpu = (cpu_after - cpu_before) / drained.as_secs_f64();
    let _ = stop_tx.send(true);
    for r in running {
        r.await??;
    }
    crate::local_redis::remove_queue(&target, producer.keys()).await;
    drop(local);
    let rate = |d: Duration| cmd.jobs as f64 / d.as_secs_f64();
    println!(
        "jobs {}  sessions {}  batch {}  workers {} x concurrency {}",
        cmd.jobs, cmd.sessions, cmd.batch, cmd.workers, cmd.concurrency
    );
    println!("push (pipelined push script): {:>9.0} jobs/s  ({:.2?})", rate(pushed), pushed);
    println!("run  (fetch + no-op + complete): {:>6.0} jobs/s  ({:.2?})", rate(drained), drained);
    println!(
        "Redis CPU while running: {:.0}% of a core, so one core would sustain about {:.0} jobs/s",
        redis_cpu * 100.0,
        rate(drained) / redis_cpu.max(0.01)
    );
    Ok(())
}

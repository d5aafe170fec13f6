//! `homing bench --fleet 8,64,256,1000`: what a fleet of W idle workers costs Redis, and what
//! it does to latency. For each W it starts W in-process workers of concurrency 1 (the default
//! timings), lets them settle, then measures Redis over `--seconds` twice: idle, and with jobs
//! pushed at `--rate` per second. It reports Redis commands/s (the `INFO commandstats` delta,
//! script-internal commands included), Redis CPU (the `used_cpu_*` delta), the CPU of this
//! process (the workers and the producer; on a shared host Redis waits for it) and the p99 from
//! push to handler start, each also as a ratio to the first W.

use anyhow::Context;
use homing_client::{Producer, ProducerOptions};
use homing_core::RedisTarget;
use homing_worker::{HandlerError, Job, Worker, WorkerConfig};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What one fleet size measured.
struct Row {
    workers: usize,
    idle_cmds: f64,
    idle_cpu: f64,
    busy_cmds: f64,
    busy_cpu: f64,
    own_idle_cpu: f64,
    own_busy_cpu: f64,
    p99_ms: f64,
}

/// Redis's command count and CPU seconds so far.
pub(crate) async fn redis_counters(c: &mut impl redis::aio::ConnectionLike) -> anyhow::Result<(f64, f64)> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(c).await?;
    let calls: f64 =
        info.lines().filter_map(|l| l.split_once("calls=")?.1.split(',').next()?.parse::<f64>().ok()).sum();
    let cpu_info: String = redis::cmd("INFO").arg("cpu").query_async(c).await?;
    let cpu: f64 = cpu_info
        .lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| l.split_once(':')?.1.trim().parse::<f64>().ok())
        .sum();
    Ok((calls, cpu))
}

/// CPU seconds this process has used (user and system), from `/proc/self/stat`; 0 where there
/// is none (not Linux).
pub(crate) fn own_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and
    // 13th, in clock ticks of USER_HZ, which Linux fixes at 100 for user space.
    let Some((_, rest)) = stat.rsplit_once(") ") else { return 0.0 };
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// What one measured period gave, per second.
struct Period {
    cmds: f64,
    redis_cpu: f64,
    own_cpu: f64,
}

/// Commands/s and CPU share of Redis, and this process's CPU share, over `secs` while `during`
/// runs.
async fn measure<F: std::future::Future<Output = anyhow::Result<()>>>(
    c: &mut homing_core::RedisConnection,
    secs: f64,
    during: F,
) -> anyhow::Result<Period> {
    let (calls0, cpu0) = redis_counters(c).await?;
    let own0 = own_cpu();
    let started = Instant::now();
    during.await?;
    let elapsed = started.elapsed().as_secs_f64().max(secs);
    let own1 = own_cpu();
    let (calls1, cpu1) = redis_counters(c).await?;
    // The two INFO calls of the second snapshot are ours, not the fleet's.
    Ok(Period {
        cmds: (calls1 - calls0 - 2.0) / elapsed,
        redis_cpu: (cpu1 - cpu0) / elapsed,
        own_cpu: (own1 - own0) / elapsed,
    })
}

pub async fn run(target: &RedisTarget, prefix: &str, sizes: &[usize], rate: u32, secs: u64) -> anyhow::Result<()> {
    anyhow::ensure!(!sizes.is_empty() && sizes.iter().all(|w| *w >= 1), "--fleet takes sizes >= 1, e.g. 8,64,256,1000");
    anyhow::ensure!(rate >= 1 && secs >= 1, "--rate and --seconds must be >= 1");
    let mut c = crate::connect::connect_to(target).await?;
    let mut rows = Vec::new();
    for &w in sizes {
        eprintln!("fleet: {w} workers ...");
        rows.push(one(target, prefix, w, rate, secs, &mut c).await.with_context(|| format!("fleet of {w}"))?);
    }
    print(&rows, rate, secs);
    Ok(())
}

async fn one(
    target: &RedisTarget,
    prefix: &str,
    w: usize,
    rate: u32,
    secs: u64,
    c: &mut homing_core::RedisConnection,
) -> anyhow::Result<Row> {
    let queue = format!("fleet-{w}-{:06x}", fastrand::u32(..0xff_ffff));
    let base = Instant::now();
    // (route, ms from push to handler start) of every job.
    let waits: Arc<Mutex<Vec<(String, f64)>>> = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut running = Vec::new();
    for i in 0..w {
        let config = WorkerConfig {
            queue: queue.clone(),
            prefix: prefix.to_string(),
            name: format!("fleet{i}"),
            concurrency: 1,
            ..Default::default()
        }
        .with_redis_target(target.clone());
        let waits = waits.clone();
        // The payload is the push time in µs since `base`: the same clock, so no skew.
        let handler = move |job: Job| {
            let pushed: u64 = std::str::from_utf8(&job.payload).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
            let now = base.elapsed().as_micros() as u64;
            let route = job.route.clone().unwrap_or_default();
            waits.lock().expect("not poisoned").push((route, now.saturating_sub(pushed) as f64 / 1000.0));
            async { Ok::<_, HandlerError>(()) }
        };
        let worker = Worker::new(config, handler).await.context("cannot start a fleet worker")?;
        let mut stop = stop_rx.clone();
        running.push(tokio::spawn(worker.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    }
    let producer =
        Producer::connect_with(&target.url, &queue, ProducerOptions::default().with_redis_target(target)).await?;
    let keys = producer.keys().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: usize = redis::cmd("ZCARD").arg(keys.workers()).query_async(c).await?;
        if n == w {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {n} of {w} workers registered after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let start-up traffic (registration, the first lease) pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let period = Duration::from_secs(secs);
    let idle = measure(c, secs as f64, async {
        tokio::time::sleep(period).await;
        Ok(())
    })
    .await?;
    let total = rate as u64 * secs;
    let busy = measure(c, secs as f64, async {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        for i in 0..total {
            tick.tick().await;
            let pushed = base.elapsed().as_micros().to_string();
            producer.push_raw(&format!("s{}", i % 1000), pushed.as_bytes()).await?;
        }
        Ok(())
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while (waits.lock().expect("not poisoned").len() as u64) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    for r in running {
        r.await??;
    }
    crate::local_redis::remove_queue(target, &keys).await;
    let routed = std::mem::take(&mut *waits.lock().expect("not poisoned"));
    anyhow::ensure!(routed.len() as u64 >= total, "only {} of {total} jobs ran", routed.len());
    // By route: a job routed to an idle owner's inbox and one taken from the overflow (that
    // every idle worker is blocked on) take different paths through Redis.
    let mut by_route: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for (route, wait) in &routed {
        by_route.entry(route.clone()).or_default().push(*wait);
    }
    for (route, mut waits) in by_route {
        waits.sort_by(f64::total_cmp);
        let (p50, p99) = (quantile(&waits, 0.5), quantile(&waits, 0.99));
        eprintln!("fleet: {w} workers, route {route}: {} jobs, p50 {p50:.2} ms, p99 {p99:.2}", waits.len());
    }
    let mut waits: Vec<f64> = routed.into_iter().map(|(_, wait)| wait).collect();
    waits.sort_by(f64::total_cmp);
    let at = |q: f64| quantile(&waits, q);
    let p99_ms = at(0.99);
    eprintln!(
        "fleet: {w} workers: push -> start p50 {:.2} ms, p90 {:.2}, p99 {:.2}, max {:.2}",
        at(0.5),
        at(0.9),
        p99_ms,
        waits[waits.len() - 1]
    );
    Ok(Row {
        workers: w,
        idle_cmds: idle.cmds,
        idle_cpu: idle.redis_cpu,
        busy_cmds: busy.cmds,
        busy_cpu: busy.redis_cpu,
        own_idle_cpu: idle.own_cpu,
        own_busy_cpu: busy.own_cpu,
        p99_ms,
    })
}

/// The `q` quantile of `sorted` (ascending, not empty).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn print(rows: &[Row], rate: u32, secs: u64) {
    let base = &rows[0];
    println!("fleet: W workers of concurrency 1, default timings; idle and at {rate} jobs/s, {secs} s each");
    println!(
        "{:>6} {:>12} {:>10} {:>9} {:>12} {:>9} {:>10} {:>10} {:>9}   ratios to W={}: idle cmds, busy cmds, p99",
        "W",
        "idle cmd/s",
        "per worker",
        "idle CPU",
        "busy cmd/s",
        "busy CPU",
        "wk idle",
        "wk busy",
        "p99 ms",
        base.workers
    );
    for r in rows {
        println!(
            "{:>6} {:>12.0} {:>10.2} {:>8.1}% {:>12.0} {:>8.1}% {:>9.1}% {:>9.1}% {:>9.2}   {:.2}x {:.2}x {:.2}x",
            r.workers,
            r.idle_cmds,
            r.idle_cmds / r.workers as f64,
            r.idle_cpu * 100.0,
            r.busy_cmds,
            r.busy_cpu * 100.0,
            r.own_idle_cpu * 100.0,
            r.own_busy_cpu * 100.0,
            r.p99_ms,
            r.idle_cmds / base.idle_cmds,
            r.busy_cmds / base.busy_cmds,
            r.p99_ms / base.p99_ms,
        );
    }
}

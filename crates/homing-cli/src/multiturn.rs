//! `homing bench --multi-turn`: the workload affinity exists for. S sessions each hold a
//! conversation of T turns (a turn's next one is pushed when its reply arrives, with
//! `Producer::request`), served by W in-process `sim` workers of concurrency 1 (a turn costs
//! 45 ms cold, 1 ms warm). It reports the makespan, the mean and p99 turn latency (push →
//! reply), the hit ratio (warm turns / turns, from the sim's cache), and the first turns that
//! waited (push → handler start) longer than `max_wait`; and the same figures for the ideal
//! schedule, computed here (see [`ideal`]). `--sweep` runs W ∈ {2,4,8,16} × T ∈ {2,4,8,16,32}
//! with S = 32·W, the per-worker load of the 256 × 8 × 8 case.

use crate::sim::{Sim, SimArgs, Temperature};
use anyhow::Context;
use homing_client::{Producer, ProducerOptions, PushOptions};
use homing_worker::{Handler, HandlerError, Job, QueueSettings, Worker, WorkerConfig};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One run's shape.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub sessions: usize,
    pub turns: usize,
    pub workers: usize,
}

/// The sim's costs, as `homing worker sim` defaults them.
const COLD: Duration = Duration::from_millis(45);
const WARM: Duration = Duration::from_millis(1);
/// Sessions per worker in the sweep.
const SWEEP_LOAD: usize = 32;

/// One served turn.
struct Turn {
    first: bool,
    warm: bool,
    /// Push → handler start.
    wait: Duration,
    /// The handler's own time.
    run: Duration,
    /// Push → reply.
    latency: Duration,
}

/// Makespan and latency figures of a run or of the ideal schedule.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    pub makespan: Duration,
    pub mean: Duration,
    pub p99: Duration,
}

/// What one run measured, with its ideal.
struct Outcome {
    shape: Shape,
    run: Figures,
    hit: f64,
    late_first: usize,
    cold_run: Duration,
    warm_run: Duration,
    ideal: Figures,
}

/// The `sim` handler, answering `<warm|cold> <wait µs> <run µs>`; the payload is the push time
/// in µs since `base` (one clock on both sides, so no skew).
struct Timed {
    sim: Sim,
    base: Instant,
}

impl Handler for Timed {
    async fn handle(&self, job: Job) -> Result<Vec<u8>, HandlerError> {
        let pushed: u64 = std::str::from_utf8(&job.payload).ok().and_then(|p| p.parse().ok()).unwrap_or(0);
        let start = self.base.elapsed();
        let temperature = self.sim.serve(&job.session).await;
        let run = self.base.elapsed() - start;
        let wait = (start.as_micros() as u64).saturating_sub(pushed);
        Ok(format!("{} {wait} {}", temperature.as_str(), run.as_micros()).into_bytes())
    }
}

pub async fn run(url: &str, prefix: &str, shape: Shape, sweep: bool, settings: QueueSettings) -> anyhow::Result<()> {
    anyhow::ensure!(
        shape.sessions >= 1 && shape.turns >= 1 && shape.workers >= 1,
        "--sessions, --turns and --workers must be at least 1"
    );
    println!(
        "multi-turn: a turn costs {COLD:?} cold, {WARM:?} warm; workers of concurrency 1; max_waiting {}, max_wait {:?}, affinity {}",
        settings.max_waiting, settings.max_wait, settings.affinity
    );
    if !sweep {
        let o = one(url, prefix, shape, &settings).await?;
        print_one(&o);
        return Ok(());
    }
    let mut rows = Vec::new();
    for workers in [2, 4, 8, 16] {
        for turns in [2, 4, 8, 16, 32] {
            let shape = Shape { sessions: SWEEP_LOAD * workers, turns, workers };
            eprintln!("multi-turn: W {workers}, T {turns}, S {} ...", shape.sessions);
            rows.push(one(url, prefix, shape, &settings).await?);
        }
    }
    print_sweep(&rows);
    Ok(())
}

async fn one(url: &str, prefix: &str, shape: Shape, settings: &QueueSettings) -> anyhow::Result<Outcome> {
    let queue = format!("multiturn-{:06x}", fastrand::u32(..0xff_ffff));
    let base = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut running = Vec::new();
    for i in 0..shape.workers {
        let config = WorkerConfig {
            redis_url: url.to_string(),
            queue: queue.clone(),
            prefix: prefix.to_string(),
            name: format!("turns{i}"),
            concurrency: 1,
            queue_settings: settings.clone(),
            ..Default::default()
        };
        let sim = Sim::new(SimArgs { cold: COLD, warm: WARM, idle_ttl: Duration::from_secs(600), capacity: 100_000 });
        let worker = Worker::new(config, Timed { sim, base }).await.context("cannot start a multi-turn worker")?;
        let mut stop = stop_rx.clone();
        running.push(tokio::spawn(worker.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    }
    let options = ProducerOptions { prefix: prefix.to_string(), ..Default::default() };
    let producer = Producer::connect_with(url, &queue, options).await?;
    let keys = producer.keys().clone();
    let mut c = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: usize = redis::cmd("ZCARD").arg(keys.workers()).query_async(&mut c).await?;
        if n == shape.workers {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {n} of {} workers registered after 30 s", shape.workers);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let mut conversations = tokio::task::JoinSet::new();
    for s in 0..shape.sessions {
        let producer = producer.clone();
        conversations.spawn(async move {
            let session = format!("c{s}");
            let mut turns = Vec::with_capacity(shape.turns);
            for t in 0..shape.turns {
                let asked = Instant::now();
                let pushed = base.elapsed().as_micros().to_string();
                let out = producer
                    .request_raw_with(&session, pushed.as_bytes(), PushOptions::default(), Duration::from_secs(120))
                    .await?;
                let latency = asked.elapsed();
                let out = String::from_utf8_lossy(&out).into_owned();
                let mut parts = out.split(' ');
                let warm = parts.next() == Some(Temperature::Warm.as_str());
                let mut micros = || Duration::from_micros(parts.next().and_then(|p| p.parse().ok()).unwrap_or(0));
                let (wait, run) = (micros(), micros());
                turns.push(Turn { first: t == 0, warm, wait, run, latency });
            }
            Ok::<_, homing_client::Error>(turns)
        });
    }
    let mut turns = Vec::with_capacity(shape.sessions * shape.turns);
    while let Some(done) = conversations.join_next().await {
        turns.extend(done.context("a conversation task panicked")??);
    }
    let makespan = started.elapsed();
    let _ = stop_tx.send(true);
    for r in running {
        r.await??;
    }
    crate::local_redis::remove_queue(&homing_core::connect::RedisTarget::new(url), &keys).await;

    let mean_run = |warm: bool, nominal: Duration| {
        let runs: Vec<Duration> = turns.iter().filter(|t| t.warm == warm).map(|t| t.run).collect();
        if runs.is_empty() {
            nominal
        } else {
            runs.iter().sum::<Duration>() / runs.len() as u32
        }
    };
    let (cold_run, warm_run) = (mean_run(false, COLD), mean_run(true, WARM));
    let mut latencies: Vec<Duration> = turns.iter().map(|t| t.latency).collect();
    Ok(Outcome {
        shape,
        run: Figures { makespan, mean: mean(&latencies), p99: p99(&mut latencies) },
        hit: turns.iter().filter(|t| t.warm).count() as f64 / turns.len() as f64,
        late_first: turns.iter().filter(|t| t.first && t.wait > settings.max_wait).count(),
        cold_run,
        warm_run,
        ideal: ideal(shape, cold_run, warm_run),
    })
}

/// The ideal schedule: every session's first turn cold and every later one warm, sessions dealt
/// round-robin to the W workers (so ⌈S/W⌉ on the busiest), each worker serving what is ready in
/// arrival order (FIFO) with no queue overhead at all, a turn ready the instant the previous
/// one ends. No worker ever idles while it has sessions left, so
/// `makespan = ⌈S/W⌉ · (cold + (T−1) · warm)`; latencies are push → end in that schedule.
/// `cold` and `warm` are the sim's measured mean run times in the same run (a timer sleep
/// overshoots its nominal 45 ms / 1 ms), so the ideal charges the handler what it really cost.
pub fn ideal(shape: Shape, cold: Duration, warm: Duration) -> Figures {
    let mut latencies = Vec::with_capacity(shape.sessions * shape.turns);
    let mut makespan = Duration::ZERO;
    for w in 0..shape.workers {
        let mine = (w..shape.sessions).step_by(shape.workers).count();
        // FIFO by ready time; ties by session. (ready, session, turn)
        let mut ready: std::collections::BTreeSet<(Duration, usize, usize)> =
            (0..mine).map(|s| (Duration::ZERO, s, 0)).collect();
        let mut now = Duration::ZERO;
        while let Some((at, s, t)) = ready.pop_first() {
            let start = now.max(at);
            let end = start + if t == 0 { cold } else { warm };
            latencies.push(end - at);
            now = end;
            if t + 1 < shape.turns {
                ready.insert((end, s, t + 1));
            }
        }
        makespan = makespan.max(now);
    }
    Figures { makespan, mean: mean(&latencies), p99: p99(&mut latencies) }
}

fn mean(d: &[Duration]) -> Duration {
    if d.is_empty() {
        return Duration::ZERO;
    }
    d.iter().sum::<Duration>() / d.len() as u32
}

fn p99(d: &mut [Duration]) -> Duration {
    d.sort();
    d.get((d.len() * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print_one(o: &Outcome) {
    let Shape { sessions, turns, workers } = o.shape;
    println!(
        "{sessions} sessions × {turns} turns, {workers} workers; measured runs: cold {:.1} ms, warm {:.2} ms",
        ms(o.cold_run),
        ms(o.warm_run)
    );
    println!("{:<8} {:>10} {:>10} {:>10} {:>6} {:>26}", "", "makespan", "mean", "p99", "hit", "first turns > max_wait");
    println!(
        "{:<8} {:>8.0}ms {:>8.1}ms {:>8.0}ms {:>6.3} {:>26}",
        "homing",
        ms(o.run.makespan),
        ms(o.run.mean),
        ms(o.run.p99),
        o.hit,
        o.late_first
    );
    let ideal_hit = (turns - 1) as f64 / turns as f64;
    println!(
        "{:<8} {:>8.0}ms {:>8.1}ms {:>8.0}ms {:>6.3} {:>26}",
        "ideal",
        ms(o.ideal.makespan),
        ms(o.ideal.mean),
        ms(o.ideal.p99),
        ideal_hit,
        0
    );
    println!(
        "{:<8} {:>9.2}x {:>9.2}x {:>9.2}x",
        "ratio",
        ms(o.run.makespan) / ms(o.ideal.makespan),
        ms(o.run.mean) / ms(o.ideal.mean),
        ms(o.run.p99) / ms(o.ideal.p99)
    );
    println!("ideal makespan = ceil(S/W) × (cold + (T-1) × warm); ideal latencies from that schedule served FIFO");
}

fn print_sweep(rows: &[Outcome]) {
    println!(
        "{:>3} {:>3} {:>5} {:>6} {:>11} {:>10} {:>6} {:>9} {:>9} {:>6} {:>10}",
        "W", "T", "S", "hit", "ideal hit", "makespan", "ideal", "vs ideal", "p99", "ideal", "late first"
    );
    for o in rows {
        let Shape { sessions, turns, workers } = o.shape;
        println!(
            "{workers:>3} {turns:>3} {sessions:>5} {:>6.3} {:>11.3} {:>8.0}ms {:>4.0}ms {:>8.2}x {:>7.0}ms {:>4.0}ms {:>10}",
            o.hit,
            (turns - 1) as f64 / turns as f64,
            ms(o.run.makespan),
            ms(o.ideal.makespan),
            ms(o.run.makespan) / ms(o.ideal.makespan),
            ms(o.run.p99),
            ms(o.ideal.p99),
            o.late_first
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ideal_makespan_is_the_busiest_workers_work() {
        let shape = Shape { sessions: 10, turns: 3, workers: 4 };
        let f = ideal(shape, Duration::from_millis(45), Duration::from_millis(1));
        // 3 sessions on the busiest worker: 3 × (45 + 2 × 1) ms.
        assert_eq!(f.makespan, Duration::from_millis(141));
    }

    #[test]
    fn the_ideal_serves_ready_turns_in_arrival_order() {
        // One worker, two sessions of two turns: c0 t0 0–45, c1 t0 45–90, c0 t1 (ready at 45) 90–91,
        // c1 t1 (ready at 90) 91–92. Latencies 45, 90, 46, 2.
        let f = ideal(Shape { sessions: 2, turns: 2, workers: 1 }, Duration::from_millis(45), Duration::from_millis(1));
        assert_eq!(f.makespan, Duration::from_millis(92));
        assert_eq!(f.mean, Duration::from_micros(45_750));
        assert_eq!(f.p99, Duration::from_millis(90));
    }
}

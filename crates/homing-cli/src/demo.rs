//! `homing demo`: a producer and two `sim` workers on a local redis-server. Each session holds
//! a multi-turn conversation (one request at a time); the demo prints which worker served each
//! turn and whether it was warm, once with affinity on and once off, then compares them.

use crate::args::Global;
use crate::local_redis::LocalRedis;
use crate::sim::{Sim, SimArgs};
use anyhow::Context;
use clap::Args;
use homing_client::{Producer, PushOptions};
use homing_core::RedisTarget;
use homing_worker::{AffinityMode, Handler, HandlerError, Job, QueueSettings, Worker, WorkerConfig};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The demo's size and costs.
#[derive(Args, Debug)]
pub struct DemoCmd {
    /// Conversations running at once.
    #[arg(long, default_value_t = 6)]
    pub sessions: usize,
    /// Turns per conversation.
    #[arg(long, default_value_t = 5)]
    pub turns: usize,
    /// Jobs each of the two workers runs at once.
    #[arg(long, default_value_t = 2)]
    pub concurrency: u32,
    /// Cost of a turn on a worker that does not hold the conversation.
    #[arg(long, default_value = "45ms", value_parser = humantime::parse_duration)]
    pub cold: Duration,
    /// Cost of a turn on the worker that holds it.
    #[arg(long, default_value = "1ms", value_parser = humantime::parse_duration)]
    pub warm: Duration,
}

const NAMES: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
const WORKERS: &[&str] = &["w1", "w2"];

/// One served turn.
struct Turn {
    worker: String,
    warm: bool,
    latency: Duration,
}

/// The `sim` handler, answering `<worker name> <warm|cold>` so the producer sees who served it.
struct Labelled {
    name: &'static str,
    sim: Sim,
}

impl Handler for Labelled {
    async fn handle(&self, job: Job) -> Result<Vec<u8>, HandlerError> {
        let t = self.sim.serve(&job.session).await;
        Ok(format!("{} {}", self.name, t.as_str()).into_bytes())
    }
}

struct Outcome {
    mode: AffinityMode,
    sessions: Vec<(String, Vec<Turn>)>,
    elapsed: Duration,
}

pub async fn run(global: &Global, cmd: DemoCmd) -> anyhow::Result<()> {
    anyhow::ensure!(cmd.sessions >= 1 && cmd.turns >= 1, "--sessions and --turns must be at least 1");
    let (_local, target) = LocalRedis::unless_given(global).await?;
    println!(
        "Homing demo on {}: {} conversations of {} turns, workers {} (concurrency {} each), a turn costs {:?} cold, {:?} warm\n",
        target.shown_url(),
        cmd.sessions,
        cmd.turns,
        WORKERS.join(" and "), cmd.concurrency, cmd.cold, cmd.warm
    );
    let mut outcomes = Vec::new();
    for mode in [AffinityMode::On, AffinityMode::Off] {
        let outcome = run_mode(global, &target, &cmd, mode).await?;
        print_turns(&outcome);
        outcomes.push(outcome);
    }
    print_table(&outcomes);
    Ok(())
}

async fn run_mode(global: &Global, target: &RedisTarget, cmd: &DemoCmd, mode: AffinityMode) -> anyhow::Result<Outcome> {
    let queue = format!("demo-{mode}-{:06x}", fastrand::u32(..0xff_ffff));
    let settings = QueueSettings { affinity: mode, ..Default::default() };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    for name in WORKERS {
        let config = WorkerConfig {
            queue: queue.clone(),
            prefix: global.prefix.clone(),
            name: name.to_string(),
            concurrency: cmd.concurrency,
            idle_block: Duration::from_millis(200),
            queue_settings: settings.clone(),
            ..Default::default()
        }
        .with_redis_target(target.clone());
        let sim =
            Sim::new(SimArgs { cold: cmd.cold, warm: cmd.warm, idle_ttl: Duration::from_secs(600), capacity: 1000 });
        let worker = Worker::new(config, Labelled { name, sim })
            .await
            .with_context(|| format!("cannot start worker {name} on {}", target.shown_url()))?;
        let mut stop = stop_rx.clone();
        workers.push(tokio::spawn(worker.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
    }
    let options = homing_client::ProducerOptions { prefix: global.prefix.clone(), ..Default::default() }
        .with_redis_target(target);
    let producer = Producer::connect_with(&target.url, &queue, options)
        .await
        .with_context(|| format!("cannot connect a producer to {}", target.shown_url()))?;
    // Drawn on stderr, and only on a terminal.
    let progress = indicatif::ProgressBar::new((cmd.sessions * cmd.turns) as u64).with_style(
        indicatif::ProgressStyle::with_template("affinity {prefix:>3} [{bar:40}] {pos}/{len} turns")
            .expect("a valid template"),
    );
    progress.set_prefix(mode.as_str());
    let started = Instant::now();
    let mut conversations = tokio::task::JoinSet::new();
    for i in 0..cmd.sessions {
        let session = NAMES.get(i).map_or_else(|| format!("user{i}"), |n| n.to_string());
        let (producer, turns, progress) = (producer.clone(), cmd.turns, progress.clone());
        conversations.spawn(async move {
            let mut served = Vec::with_capacity(turns);
            for t in 0..turns {
                let asked = Instant::now();
                let payload = format!("turn {t}");
                let out = producer
                    .request_raw_with(&session, payload.as_bytes(), PushOptions::default(), Duration::from_secs(30))
                    .await?;
                let out = String::from_utf8_lossy(&out).into_owned();
                let (worker, temp) = out.split_once(' ').unwrap_or((out.as_str(), ""));
                served.push(Turn { worker: worker.to_string(), warm: temp == "warm", latency: asked.elapsed() });
                progress.inc(1);
            }
            Ok::<_, homing_client::Error>((i, session, served))
        });
    }
    let mut sessions = Vec::new();
    while let Some(done) = conversations.join_next().await {
        let (i, session, turns) = done.context("a conversation task panicked")??;
        sessions.push((i, session, turns));
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    sessions.sort_by_key(|(i, _, _)| *i);
    let _ = stop_tx.send(true);
    for w in workers {
        w.await.context("a worker task panicked")??;
    }
    crate::local_redis::remove_queue(target, producer.keys()).await;
    Ok(Outcome { mode, sessions: sessions.into_iter().map(|(_, s, t)| (s, t)).collect(), elapsed })
}

fn print_turns(o: &Outcome) {
    println!("affinity {}: who served each turn", o.mode);
    let width = o.sessions.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    for (session, turns) in &o.sessions {
        let line: Vec<String> =
            turns.iter().map(|t| format!("{} {}", t.worker, if t.warm { "warm" } else { "COLD" })).collect();
        println!("  {session:<width$}  {}", line.join(" | "));
    }
    println!();
}

fn print_table(outcomes: &[Outcome]) {
    println!("{:<10} {:>10} {:>14} {:>14} {:>10}", "affinity", "warm turns", "mean latency", "p99 latency", "turns/s");
    for o in outcomes {
        let mut latencies: Vec<Duration> = o.sessions.iter().flat_map(|(_, t)| t.iter().map(|t| t.latency)).collect();
        latencies.sort();
        let n = latencies.len().max(1);
        let warm = o.sessions.iter().flat_map(|(_, t)| t).filter(|t| t.warm).count();
        let mean = latencies.iter().sum::<Duration>() / n as u32;
        let p99 = latencies.get((n * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or_default();
        println!(
            "{:<10} {:>9.0}% {:>12.1}ms {:>12.1}ms {:>10.0}",
            o.mode.as_str(),
            100.0 * warm as f64 / n as f64,
            mean.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            latencies.len() as f64 / o.elapsed.as_secs_f64()
        );
    }
    println!("\nThe first turn of a conversation is always cold; with affinity on, later turns go home to the worker that holds it.");
}

//! `homing bench`: the project's benchmark. By default the throughput suite (throughput.rs):
//! push only, drain, end to end and paced latency, at each layout, affinity on and off, each
//! beside a bare Redis Streams loop run in the same invocation (baseline.rs). `--fleet` and
//! `--sizing` run the fleet-scale and memory workloads instead.

use crate::args::Global;
use crate::local_redis::LocalRedis;
use crate::throughput::Suite;
use clap::Args;

/// The benchmark's size.
#[derive(Args, Debug)]
pub struct BenchCmd {
    /// Jobs per throughput run.
    #[arg(long, default_value_t = 30_000)]
    pub jobs: usize,
    /// Distinct sessions [default: 1000; 256 with --multi-turn].
    #[arg(long)]
    pub sessions: Option<usize>,
    /// Jobs per pipelined push.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Layouts (in-process workers x concurrency of each) the drain and end-to-end workloads run at.
    #[arg(long, value_delimiter = ',', default_value = "1x8,8x1,2x64,1x256")]
    pub layouts: Vec<crate::throughput::Layout>,
    /// Payload bytes per job.
    #[arg(long, default_value_t = 256)]
    pub payload: usize,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Instead: the fleet workload, for each of these worker counts (e.g. 8,64,256,1000): Redis
    /// commands/s and CPU idle and at `--rate`, and p99 push → start (see fleet.rs).
    #[arg(long, value_delimiter = ',')]
    pub fleet: Vec<usize>,
    /// Jobs per second of the paced workload [default: 1000; 200 with --fleet].
    #[arg(long)]
    pub rate: Option<u32>,
    /// Seconds the paced workload (and each fleet phase) runs [default: 5; 10 with --fleet].
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Instead: Redis memory per pinned session, queued job, worker and dead letter (sizing.rs).
    #[arg(long)]
    pub sizing: bool,
    /// Instead: `--jobs` through the `http` handler against a trivial local app and through an
    /// echo handler, one worker x concurrency 64 each, and their ratio (bench_http.rs).
    #[arg(long)]
    pub http: bool,
    /// Instead: the multi-turn affinity workload (multiturn.rs): `--sessions` conversations of
    /// `--turns` turns on `--workers` sim workers of concurrency 1, against the ideal.
    #[arg(long)]
    pub multi_turn: bool,
    /// Sim workers (concurrency 1) of the multi-turn workload.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Turns per conversation in the multi-turn workload.
    #[arg(long, default_value_t = 8)]
    pub turns: usize,
    /// With `--multi-turn`: W = 2,4,8,16 × T = 2,4,8,16,32 with 32 sessions per worker, as a table.
    #[arg(long)]
    pub sweep: bool,
    /// Instead: a partitioned queue on a local Redis Cluster of each of these master counts
    /// (e.g. 1,3), M partitions one per master, against one master with 1 and with M
    /// partitions (scaleout.rs). End to end at the first of `--layouts`.
    #[arg(long, value_delimiter = ',')]
    pub scale_out: Vec<usize>,
    /// Queue settings of the multi-turn workload (unset: the defaults).
    #[command(flatten)]
    pub settings: crate::args::SettingsArgs,
}

/// The throughput, multi-turn and http workloads connect by URL alone; refuse the other Redis
/// options rather than ignore them.
fn url_only(target: &homing_core::connect::RedisTarget) -> anyhow::Result<&str> {
    let extra = target.ca_file.is_some()
        || target.client_cert.is_some()
        || target.username.is_some()
        || target.password.is_some();
    anyhow::ensure!(
        !extra,
        "this bench workload takes only --redis-url: put the user and password in the URL, and run it against a Redis without TLS files (--fleet and --sizing take them all)"
    );
    Ok(&target.url)
}

pub async fn run(global: &Global, cmd: BenchCmd) -> anyhow::Result<()> {
    if cmd.sizing {
        let (local, target) = LocalRedis::unless_given(global).await?;
        let result = crate::sizing::run(&target).await;
        drop(local);
        return result;
    }
    if cmd.http {
        let (local, target) = LocalRedis::unless_given(global).await?;
        let result = crate::bench_http::run(url_only(&target)?, &global.prefix, cmd.jobs, 64).await;
        drop(local);
        return result.map(drop);
    }
    if cmd.multi_turn {
        let (local, target) = LocalRedis::unless_given(global).await?;
        let shape =
            crate::multiturn::Shape { sessions: cmd.sessions.unwrap_or(256), turns: cmd.turns, workers: cmd.workers };
        let settings = cmd.settings.apply(homing_worker::QueueSettings::default());
        let result = crate::multiturn::run(url_only(&target)?, &global.prefix, shape, cmd.sweep, settings).await;
        drop(local);
        return result;
    }
    if !cmd.scale_out.is_empty() {
        anyhow::ensure!(
            global.redis_url.is_none(),
            "--scale-out starts its own local clusters: drop --redis-url / REDIS_URL"
        );
        let layout = cmd.layouts.first().copied().unwrap_or(crate::throughput::Layout { workers: 2, concurrency: 64 });
        let shape = crate::scaleout::Shape {
            jobs: cmd.jobs,
            sessions: cmd.sessions.unwrap_or(1000),
            batch: cmd.batch,
            payload: cmd.payload,
            workers: layout.workers,
            concurrency: layout.concurrency,
        };
        return crate::scaleout::run(&cmd.scale_out, &global.prefix, &shape, cmd.json).await;
    }
    if !cmd.fleet.is_empty() {
        let (local, target) = LocalRedis::unless_given(global).await?;
        let (rate, seconds) = (cmd.rate.unwrap_or(200), cmd.seconds.unwrap_or(10));
        let result = crate::fleet::run(&target, &global.prefix, &cmd.fleet, rate, seconds).await;
        drop(local);
        return result;
    }
    let suite = Suite {
        jobs: cmd.jobs,
        sessions: cmd.sessions.unwrap_or(1000),
        batch: cmd.batch,
        payload: cmd.payload,
        layouts: cmd.layouts,
        rate: cmd.rate.unwrap_or(1000),
        seconds: cmd.seconds.unwrap_or(5),
        prefix: global.prefix.clone(),
    };
    anyhow::ensure!(suite.rate >= 1 && suite.seconds >= 1, "--rate and --seconds must be >= 1");
    let (local, target) = LocalRedis::unless_given(global).await?;
    let result = crate::throughput::run(url_only(&target)?, &suite, cmd.json).await;
    drop(local);
    result
}

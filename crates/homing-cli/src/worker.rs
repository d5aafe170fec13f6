//! `homing worker`: flags → [`WorkerConfig`], a built-in handler, `run` until SIGTERM/ctrl-c.

use crate::args::{Global, SettingsArgs};
use crate::sim::{Sim, SimArgs};
use anyhow::Context;
use clap::{Args, Subcommand};
use homing_worker::{Handler, HandlerError, Job, QueueSettings, Worker, WorkerConfig};
use std::time::Duration;

/// Worker flags, then the handler to run.
#[derive(Args, Debug)]
pub struct WorkerCmd {
    #[command(flatten)]
    pub options: WorkerArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub handler: HandlerCmd,
}

/// The worker's own settings (see `WorkerConfig` for why each default).
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Worker name; its id is `<name>-<random suffix>`. Defaults to $HOSTNAME (the pod name).
    #[arg(long, env = "HOMING_WORKER_NAME")]
    pub name: Option<String>,
    /// Jobs run at once.
    #[arg(long, env = "HOMING_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u32,
    /// How often the worker renews its liveness deadline.
    #[arg(long, env = "HOMING_HEARTBEAT_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,
    /// How long after its last heartbeat a worker counts as dead.
    #[arg(long, env = "HOMING_LIVENESS_TTL", default_value = "3s", value_parser = humantime::parse_duration)]
    pub liveness_ttl: Duration,
    /// The longest one job may run before it is cancelled and retried.
    #[arg(long, env = "HOMING_JOB_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub job_timeout: Duration,
    /// How long an idle worker's blocking wait on its bells (BLPOP) lasts before it waits again; new jobs wake it at once.
    #[arg(long, env = "HOMING_IDLE_BLOCK", default_value = "10s", value_parser = humantime::parse_duration)]
    pub idle_block: Duration,
    /// How often maintenance (promoting due delayed jobs) runs.
    #[arg(long, env = "HOMING_MAINTENANCE_INTERVAL", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub maintenance_interval: Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics, and the probes /healthz and /readyz
    /// (e.g. 0.0.0.0:9464). [default: off]
    #[arg(long, env = "HOMING_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How long a draining worker lets in-flight jobs finish before handing them back (exit
    /// 75 then). Keep it below the pod's terminationGracePeriodSeconds.
    #[arg(long, env = "HOMING_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
    /// The queue partitions this worker serves, comma-separated (e.g. 0,2), to pin a fleet to
    /// the partitions on some masters. [default: every partition of the queue]
    #[arg(long, env = "HOMING_SERVE_PARTITIONS", value_delimiter = ',')]
    pub serve_partitions: Option<Vec<u32>>,
}

/// The built-in handlers.
#[derive(Subcommand, Debug)]
pub enum HandlerCmd {
    /// A warm-cache simulation: a cached session costs `--warm`, any other `--cold`.
    Sim(SimArgs),
    /// Returns the payload as the result; a payload starting with `fail:` is retried and one
    /// starting with `fatal:` is dead-lettered at once (for trying the failure paths).
    Echo,
    /// Runs a command per job: payload on stdin, stdout is the result; exit 0 completes, the
    /// `--fatal-exit-code` dead-letters at once, any other exit retries.
    Exec(crate::exec::ExecArgs),
    /// POSTs each job to an app beside the worker (sidecar mode): 2xx completes, 4xx is fatal,
    /// 5xx and timeouts retry.
    Http(crate::http::HttpArgs),
    /// Appends `<job id> <session> <attempt> <worker name>` to a file for every job it finishes,
    /// and to `<file>.starts` for every job it starts (for fault tests); a payload `sleep:<ms>`
    /// runs that long, others run `--sleep`.
    Record(RecordArgs),
}

/// Where and how the `record` handler records.
#[derive(Args, Debug, Clone)]
pub struct RecordArgs {
    /// The file to append to.
    #[arg(long)]
    pub file: std::path::PathBuf,
    /// How long a job runs unless its payload says `sleep:<ms>`.
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    pub sleep: Duration,
}

impl WorkerArgs {
    /// The library config for these flags.
    pub fn config(&self, global: &Global, settings: QueueSettings) -> WorkerConfig {
        let name = self.name.clone().or_else(|| std::env::var("HOSTNAME").ok()).unwrap_or_else(|| "worker".into());
        WorkerConfig {
            queue: global.queue.clone(),
            prefix: global.prefix.clone(),
            name,
            concurrency: self.concurrency,
            heartbeat_interval: self.heartbeat_interval,
            liveness_ttl: self.liveness_ttl,
            job_timeout: self.job_timeout,
            idle_block: self.idle_block,
            maintenance_interval: self.maintenance_interval,
            shutdown_grace: self.shutdown_grace,
            queue_settings: settings,
            serve_partitions: self.serve_partitions.clone(),
            ..WorkerConfig::default()
        }
        .with_redis_target(global.target())
    }
}

pub async fn run(global: &Global, cmd: WorkerCmd) -> anyhow::Result<()> {
    let (health_tx, health) = tokio::sync::watch::channel(None);
    if let Some(addr) = cmd.options.metrics_addr {
        crate::endpoints::serve(addr, health).await?;
    }
    let config = cmd.options.config(global, cmd.settings.apply(QueueSettings::default()));
    match cmd.handler {
        HandlerCmd::Sim(args) => serve(config, Sim::new(args), health_tx).await,
        HandlerCmd::Record(args) => {
            let name = config.name.clone();
            serve(config, move |job: Job| record(args.clone(), name.clone(), job), health_tx).await
        }
        HandlerCmd::Exec(args) => serve(config, crate::exec::Exec(args), health_tx).await,
        HandlerCmd::Http(args) => serve(config, crate::http::Http::new(args)?, health_tx).await,
        HandlerCmd::Echo => serve(config, echo, health_tx).await,
    }
}

/// The exit code of a worker whose shutdown_grace ran out before its jobs finished, so they
/// were handed back: EX_TEMPFAIL, "try again later" (they run again elsewhere).
pub const CUT_SHORT_EXIT: u8 = 75;

/// The worker left with jobs cut short; `main` exits with [`CUT_SHORT_EXIT`].
#[derive(Debug)]
pub struct CutShort(homing_worker::ShutdownReport);

impl std::fmt::Display for CutShort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shutdown_grace ran out: {} jobs were cut short and handed back", self.0.cut_short)
    }
}

impl std::error::Error for CutShort {}

/// Starts a worker with `handler` and runs it until SIGTERM or ctrl-c.
async fn serve<H: Handler>(
    config: WorkerConfig,
    handler: H,
    health: tokio::sync::watch::Sender<Option<homing_worker::Health>>,
) -> anyhow::Result<()> {
    // Listening before the worker registers: a SIGTERM from then on is a clean shutdown.
    let stop = crate::shutdown::listen();
    let at = format!("queue {:?} at {}", config.queue, config.redis_target().shown_url());
    let worker = Worker::new(config, handler).await.with_context(|| format!("cannot start a worker on {at}"))?;
    let _ = health.send(Some(worker.health()));
    let report = worker.run(stop).await?;
    if !report.drained() {
        return Err(CutShort(report).into());
    }
    Ok(())
}

async fn echo(job: Job) -> Result<Vec<u8>, HandlerError> {
    if job.payload.starts_with(b"fail:") {
        return Err(HandlerError::retry(String::from_utf8_lossy(&job.payload[5..])));
    }
    if job.payload.starts_with(b"fatal:") {
        return Err(HandlerError::fatal(String::from_utf8_lossy(&job.payload[6..])));
    }
    Ok(job.payload)
}

async fn record(args: RecordArgs, name: String, job: Job) -> Result<(), HandlerError> {
    use std::io::Write;
    let sleep = std::str::from_utf8(&job.payload)
        .ok()
        .and_then(|p| p.strip_prefix("sleep:"))
        .and_then(|ms| ms.parse().ok())
        .map_or(args.sleep, Duration::from_millis);
    let line = format!("{} {} {} {}\n", job.id, job.session, job.attempt, name);
    // One short append per line: O_APPEND keeps lines from concurrent jobs whole.
    let append = |path: &std::path::Path| {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(HandlerError::retry)?;
        file.write_all(line.as_bytes()).map_err(HandlerError::retry)
    };
    let mut starts = args.file.clone().into_os_string();
    starts.push(".starts");
    append(std::path::Path::new(&starts))?;
    tokio::time::sleep(sleep).await;
    append(&args.file)
}

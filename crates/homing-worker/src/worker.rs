//! The worker: connects, writes or reads the queue settings, and `run(shutdown)` drives the
//! fetch loop, heartbeats and maintenance until shutdown, then hands back what it holds.

use crate::config::WorkerConfig;
use crate::connections::Connections;
use crate::context::Ctx;
use crate::error::Error;
use crate::handler::Handler;
use crate::health::Health;
use crate::{fetch, heartbeat, ingress, maintenance, renew};
use homing_core::scripts::{self, HandBackPhase, InitMode};
use homing_core::{Keys, QueueName, QueueSettings, WorkerId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, warn, Instrument};

/// A worker of one queue. Build it with [`Worker::new`], then `run(shutdown).await`.
pub struct Worker<H: Handler> {
    /// One per partition served, in the order served.
    parts: Vec<Arc<Ctx<H>>>,
}

impl<H: Handler> std::fmt::Debug for Worker<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.parts[0].id)
            .field("queue", self.parts[0].keys.queue())
            .field("partitions", &self.partitions())
            .finish()
    }
}

impl<H: Handler> Worker<H> {
    /// Validates `config`, connects, and writes the queue settings if the queue has none
    /// (first writer wins), in every partition. Fails with a clear error when Redis is
    /// unreachable or speaks another protocol version, or `serve_partitions` lists a partition
    /// the queue does not have.
    pub async fn new(config: WorkerConfig, handler: H) -> Result<Self, Error> {
        config.validate()?;
        let keys = Keys::new(&config.prefix, &QueueName::new(config.queue.as_str())?)?;
        let id = WorkerId::generate(&config.name)?;
        let target = config.redis_target();
        let conns = Connections::new(&target, config.idle_block)?;
        let mut conn = conns.shared().await?;
        let init = scripts::init_partitions(&mut conn, &keys, InitMode::Create, &config.queue_settings)
            .await
            .map_err(|e| target.explain(e))?;
        if !init.written && init.settings != config.queue_settings {
            warn!(queue = %keys.queue(), stored = ?init.settings, "queue settings differ from this worker's; using the stored ones (change them with `homing queue init --update`)");
        }
        let partitions = init.settings.partitions;
        let served = served(&config, keys.queue().as_str(), partitions)?;
        if (config.concurrency as usize) < served.len() {
            warn!(queue = %keys.queue(), concurrency = config.concurrency, partitions = served.len(), "concurrency is below the partitions served: an idle partition keeps a slot through its wait, so some partition's jobs may wait up to idle_block here; raise concurrency or serve fewer partitions");
        }
        conns.serve(served.len());
        let (conns, handler) = (Arc::new(conns), Arc::new(handler));
        let slots = Arc::new(Semaphore::new(config.concurrency as usize));
        let health = Health::new(config.heartbeat_interval, config.liveness_ttl);
        let parts = served
            .into_iter()
            .map(|k| {
                let keys = keys.partition(k);
                let span = match partitions {
                    1 => tracing::Span::none(),
                    _ => tracing::info_span!("partition", partition = k),
                };
                Arc::new(Ctx {
                    health: health.clone(),
                    inbox: keys.inbox(id.as_str()),
                    overflow: keys.overflow(),
                    id: id.clone(),
                    keys,
                    config: config.clone(),
                    conns: conns.clone(),
                    handler: handler.clone(),
                    slots: slots.clone(),
                    partitions,
                    span,
                    settings: init.settings.clone(),
                    in_flight: Mutex::new(HashMap::new()),
                    bad_setting: Default::default(),
                    completer: Default::default(),
                    maintainer: watch::channel(false).0,
                })
            })
            .collect();
        Ok(Self { parts })
    }

    /// This incarnation's id, `<name>-<suffix>`.
    pub fn id(&self) -> &WorkerId {
        &self.parts[0].id
    }

    /// The partitions this worker serves, in order: each has its own registration, inbox and
    /// fetch loop once `run` starts.
    pub fn partitions(&self) -> Vec<u32> {
        self.parts.iter().map(|c| c.keys.partition_index()).collect()
    }

    /// The queue settings in force (as stored in `Q:meta`).
    pub fn settings(&self) -> &QueueSettings {
        &self.parts[0].settings
    }

    /// A probe view of this worker (live, ready, draining) for health endpoints; it stays
    /// valid while and after `run` runs.
    pub fn health(&self) -> Health {
        self.parts[0].health.clone()
    }

    /// Registers, then fetches and runs jobs until `shutdown` resolves. Then it drains: it stops
    /// fetching, sets its capacity to 0 and hands its unstarted inbox jobs to the overflow at
    /// once, and keeps heartbeating and renewing its jobs' leases while they finish, for up to
    /// `shutdown_grace` from the signal: a draining worker is alive to the queue, so no job runs
    /// twice because of a shutdown. Jobs still running when the grace ends are cancelled and
    /// handed back (one attempt later) to run elsewhere at once. Then it leaves `Q:workers`.
    /// The report says which of the two happened. A worker serving several partitions does all
    /// of this in each, on the one signal, and reports their sum.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<ShutdownReport, Error> {
        for ctx in &self.parts {
            register(ctx).instrument(ctx.span.clone()).await?;
        }
        let (stop, stopped) = watch::channel(false);
        let mut parts = JoinSet::new();
        for ctx in &self.parts {
            parts.spawn(serve(ctx.clone(), stopped.clone()).instrument(ctx.span.clone()));
        }
        tokio::pin!(shutdown);
        // A partition ends before the signal only if its fetch loop died: the others drain too.
        let mut ended = tokio::select! {
            _ = &mut shutdown => None,
            ended = parts.join_next() => ended,
        };
        let _ = stop.send(true);
        let mut total = ShutdownReport { in_flight: 0, cut_short: 0, handed_back: 0 };
        let mut failed = None;
        loop {
            let report = match ended.take() {
                Some(r) => r,
                None => match parts.join_next().await {
                    Some(r) => r,
                    None => break,
                },
            };
            match report.map_err(|e| Error::Config(format!("fetch loop panicked: {e}"))).and_then(|r| r) {
                Ok(r) => {
                    total.in_flight += r.in_flight;
                    total.cut_short += r.cut_short;
                    total.handed_back += r.handed_back;
                }
                Err(e) => failed = Some(e),
            }
        }
        self.parts[0].health.left();
        match failed {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

/// The first heartbeat in one partition (registering the worker there) and its streams' groups.
async fn register<H>(ctx: &Ctx<H>) -> Result<(), Error> {
    let first = heartbeat::beat(ctx).await?;
    ctx.ensure_groups().await?;
    info!(worker = %ctx.id, queue = %ctx.keys.queue(), deadline_ms = first.deadline_ms, concurrency = ctx.config.concurrency, "worker registered");
    Ok(())
}

/// One partition's tasks, from registration until the worker leaves the partition.
async fn serve<H: Handler>(ctx: Arc<Ctx<H>>, mut shutdown: watch::Receiver<bool>) -> Result<ShutdownReport, Error> {
    // Two stop signals. `work` ends fetching, maintenance and ingress at the first sign of
    // shutdown; `life` ends heartbeats and lease renewal only when the worker leaves.
    let (stop_work, work) = watch::channel(false);
    let (stop_life, life) = watch::channel(false);
    let span = ctx.span.clone();
    let beats = tokio::spawn(heartbeat::run(ctx.clone(), life.clone()).instrument(span.clone()));
    let leases = tokio::spawn(renew::run(ctx.clone(), life).instrument(span.clone()));
    let upkeep = tokio::spawn(maintenance::run(ctx.clone(), work.clone()).instrument(span.clone()));
    let envelopes = tokio::spawn(ingress::run(ctx.clone(), work.clone()).instrument(span.clone()));
    let mut fetching = tokio::spawn(fetch::run(ctx.clone(), work).instrument(span));

    let early = tokio::select! {
        _ = shutdown.wait_for(|stop| *stop) => None,
        ended = &mut fetching => Some(ended),
    };
    let grace_ends = tokio::time::Instant::now() + ctx.config.shutdown_grace;
    ctx.health.set_draining();
    let _ = stop_work.send(true);
    info!(worker = %ctx.id, grace = ?ctx.config.shutdown_grace, "draining: capacity 0, unstarted jobs handed back, in-flight jobs may finish within shutdown_grace");
    hand_back(&ctx, HandBackPhase::Drain).await;

    let mut tasks = match early {
        Some(ended) => ended.map_err(|e| Error::Config(format!("fetch loop panicked: {e}")))?,
        None => fetching.await.map_err(|e| Error::Config(format!("fetch loop panicked: {e}")))?,
    };
    // A job routed here before capacity 0 was written may have arrived since; it goes too.
    hand_back(&ctx, HandBackPhase::Drain).await;
    let _ = upkeep.await;
    let _ = envelopes.await;

    // Jobs that ended while the loop waited for a slot are not in flight.
    while tasks.try_join_next().is_some() {}
    let in_flight = tasks.len();
    let settled = tokio::time::timeout_at(grace_ends, async { while tasks.join_next().await.is_some() {} }).await;
    let cut_short = if settled.is_err() { tasks.len() } else { 0 };
    if cut_short > 0 {
        warn!(worker = %ctx.id, cut_short, grace = ?ctx.config.shutdown_grace, "shutdown_grace ended with jobs still running: cancelling them and handing them back");
        tasks.shutdown().await;
    }
    // Stop heartbeats only now: the worker stays alive to the queue until it leaves.
    let _ = stop_life.send(true);
    let _ = beats.await;
    let _ = leases.await;
    let handed_back = hand_back(&ctx, HandBackPhase::Leave).await;
    let report = ShutdownReport { in_flight, cut_short, handed_back: handed_back.unwrap_or(0) };
    if report.drained() {
        info!(worker = %ctx.id, in_flight, "worker left: drained, every in-flight job settled");
    } else {
        warn!(worker = %ctx.id, in_flight, cut_short, handed_back = report.handed_back, "worker left: shutdown_grace ran out, unfinished jobs handed back to run elsewhere now");
    }
    Ok(report)
}

/// The partitions `config` serves of a queue of `partitions`, checked against it.
fn served(config: &WorkerConfig, queue: &str, partitions: u32) -> Result<Vec<u32>, Error> {
    let Some(list) = &config.serve_partitions else { return Ok((0..partitions).collect()) };
    if let Some(missing) = list.iter().find(|k| **k >= partitions) {
        let (has, fix) = match partitions {
            1 => ("1 partition (0)".to_string(), "list only partition 0".to_string()),
            n => (format!("{n} partitions (0-{})", n - 1), format!("list partitions from 0 to {}", n - 1)),
        };
        return Err(Error::Config(format!(
            "serve_partitions lists {missing}, but queue {queue} has {has}: {fix} or leave serve_partitions unset to serve all"
        )));
    }
    Ok(list.clone())
}

/// How a worker's shutdown ended: drained (every in-flight job settled within
/// `shutdown_grace`) or cut short (the grace ended first, and the unfinished jobs were handed
/// back to run elsewhere at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs running when the fetch loop stopped.
    pub in_flight: usize,
    /// Of those, jobs still running when `shutdown_grace` ended, cancelled and handed back.
    pub cut_short: usize,
    /// Entries the last hand-back moved to the overflow: the cut-short jobs (one attempt later)
    /// and any job routed here too late to be started.
    pub handed_back: u64,
}

impl ShutdownReport {
    /// True when every in-flight job settled within `shutdown_grace`.
    pub fn drained(&self) -> bool {
        self.cut_short == 0
    }
}

/// One hand-back phase, retried for a while: a worker that cannot reach Redis to leave is
/// reaped by the others instead.
async fn hand_back<H>(ctx: &Ctx<H>, phase: HandBackPhase) -> Option<u64> {
    with_retries(ctx, "hand_back", Patience::For(Duration::from_secs(10)), |mut c| async move {
        Ok(scripts::hand_back(&mut c, &ctx.keys, ctx.id.as_str(), phase).await?)
    })
    .await
}

/// How long [`with_retries`] keeps trying.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Patience {
    /// Until the call succeeds or fails for a reason other than the connection: a finished
    /// job's result must reach Redis, or the job would be reclaimed and run again.
    UntilDone,
    /// About this long.
    For(Duration),
}

/// Runs a Redis call on the shared connection, retrying connection errors with backoff (50 ms
/// doubling to 2 s) as long as `patience` allows; returns `None` (after logging) if it never
/// succeeded.
pub(crate) async fn with_retries<H, T, F, Fut>(
    ctx: &Ctx<H>,
    op: &'static str,
    patience: Patience,
    mut call: F,
) -> Option<T>
where
    F: FnMut(homing_core::RedisConnection) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let give_up = match patience {
        Patience::UntilDone => None,
        Patience::For(limit) => Some(tokio::time::Instant::now() + limit),
    };
    let mut delay = Duration::from_millis(50);
    let mut failing = false;
    loop {
        let result = match ctx.conns.shared().await {
            Ok(conn) => call(conn).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                // Every call made through here runs a script that reads the settings.
                ctx.bad_setting.clear(&ctx.id);
                if failing {
                    info!(worker = %ctx.id, op, "redis call went through after retries");
                }
                return Some(v);
            }
            Err(e) => {
                metrics::counter!(crate::metrics::REDIS_ERRORS, "op" => op).increment(1);
                ctx.conns.reset_shared_on(&e);
                // A bad setting is fixed by an operator; until then the call waits, like for Redis.
                let bad_setting = ctx.bad_setting.seen(&ctx.id, &e);
                let out_of_time = give_up.is_some_and(|t| tokio::time::Instant::now() + delay > t);
                if out_of_time || !(e.is_retryable() || bad_setting) {
                    warn!(worker = %ctx.id, op, error = %e, "redis call failed; giving up");
                    return None;
                }
                if !failing && !bad_setting {
                    warn!(worker = %ctx.id, op, error = %e, "redis call failed; retrying with backoff");
                    failing = true;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

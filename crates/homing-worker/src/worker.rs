//! The worker: connects, writes or reads the queue settings, and `run(shutdown)` drives the
//! fetch loop, heartbeats and maintenance until shutdown, then hands back what it holds.

use crate::config::WorkerConfig;
use crate::connections::Connections;
use crate::error::Error;
use crate::handler::Handler;
use crate::{fetch, heartbeat, ingress, maintenance, renew};
use homing_core::scripts::{self, HandBackPhase, InitMode};
use homing_core::{Keys, QueueName, QueueSettings, WorkerId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Where a job was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The worker's own inbox: the job was routed to it as its session's owner.
    Inbox,
    /// The shared overflow.
    Overflow,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Inbox => "inbox",
            Source::Overflow => "overflow",
        }
    }
}

/// What every task of one worker shares.
pub(crate) struct Ctx<H> {
    pub(crate) id: WorkerId,
    pub(crate) keys: Keys,
    pub(crate) inbox: String,
    pub(crate) overflow: String,
    pub(crate) config: WorkerConfig,
    pub(crate) conns: Connections,
    pub(crate) handler: H,
    /// Set once shutdown began: heartbeats then report capacity 0, so nothing new is routed here.
    pub(crate) draining: AtomicBool,
    /// The queue settings read at start (`visibility_timeout` sets the lease renewal period).
    pub(crate) settings: QueueSettings,
    /// True while this worker holds the maintenance lease (and so also routes ingress).
    pub(crate) maintainer: AtomicBool,
    /// Entries this worker is running, by entry id, whose leases it renews.
    pub(crate) in_flight: Mutex<HashMap<String, Source>>,
}

impl<H> Ctx<H> {
    pub(crate) fn stream(&self, source: Source) -> &str {
        match source {
            Source::Inbox => &self.inbox,
            Source::Overflow => &self.overflow,
        }
    }

    pub(crate) fn capacity(&self) -> u32 {
        if self.draining.load(Ordering::Relaxed) {
            0
        } else {
            self.config.concurrency
        }
    }

    /// Creates the consumer groups of the inbox and the overflow. Groups start at `0` so jobs
    /// pushed before any worker existed are delivered too.
    pub(crate) async fn ensure_groups(&self) -> Result<(), Error> {
        let mut conn = self.conns.shared().await?;
        for stream in [&self.inbox, &self.overflow] {
            let r: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream)
                .arg(homing_core::keys::GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            match r {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other?,
            }
        }
        Ok(())
    }
}

/// A worker of one queue. Build it with [`Worker::new`], then `run(shutdown).await`.
pub struct Worker<H: Handler> {
    ctx: Arc<Ctx<H>>,
}

impl<H: Handler> std::fmt::Debug for Worker<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("id", &self.ctx.id).field("queue", self.ctx.keys.queue()).finish()
    }
}

impl<H: Handler> Worker<H> {
    /// Validates `config`, connects, and writes the queue settings if the queue has none
    /// (first writer wins). Fails with a clear error when Redis is unreachable or speaks
    /// another protocol version.
    pub async fn new(config: WorkerConfig, handler: H) -> Result<Self, Error> {
        config.validate()?;
        let keys = Keys::new(&config.prefix, &QueueName::new(config.queue.as_str())?)?;
        let id = WorkerId::generate(&config.name)?;
        let conns = Connections::new(&config.redis_url, config.idle_block)?;
        let mut conn = conns.shared().await?;
        let init = scripts::init(&mut conn, &keys, InitMode::Create, &config.queue_settings).await?;
        if !init.written && init.settings != config.queue_settings {
            warn!(queue = %keys.queue(), stored = ?init.settings, "queue settings differ from this worker's; using the stored ones (change them with `homing queue init --update`)");
        }
        let ctx = Ctx {
            inbox: keys.inbox(id.as_str()),
            overflow: keys.overflow(),
            id,
            keys,
            config,
            conns,
            handler,
            draining: AtomicBool::new(false),
            settings: init.settings,
            in_flight: Mutex::new(HashMap::new()),
            maintainer: AtomicBool::new(false),
        };
        Ok(Self { ctx: Arc::new(ctx) })
    }

    /// This incarnation's id, `<name>-<suffix>`.
    pub fn id(&self) -> &WorkerId {
        &self.ctx.id
    }

    /// The queue settings in force (as stored in `Q:meta`).
    pub fn settings(&self) -> &QueueSettings {
        &self.ctx.settings
    }

    /// Registers, then fetches and runs jobs until `shutdown` resolves. Then it stops fetching,
    /// sets its capacity to 0 and hands its unstarted inbox jobs to the overflow at once,
    /// waits up to `shutdown_grace` for in-flight jobs, hands back whatever is left and
    /// leaves `Q:workers`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let ctx = self.ctx;
        let first = heartbeat::beat(&ctx).await?;
        ctx.ensure_groups().await?;
        info!(worker = %ctx.id, queue = %ctx.keys.queue(), deadline_ms = first.deadline_ms, concurrency = ctx.config.concurrency, "worker registered");

        let (stop_tx, stop_rx) = watch::channel(false);
        let beats = tokio::spawn(heartbeat::run(ctx.clone(), stop_rx.clone()));
        let upkeep = tokio::spawn(maintenance::run(ctx.clone(), stop_rx.clone()));
        let leases = tokio::spawn(renew::run(ctx.clone(), stop_rx.clone()));
        let envelopes = tokio::spawn(ingress::run(ctx.clone(), stop_rx.clone()));
        let mut fetching = tokio::spawn(fetch::run(ctx.clone(), stop_rx));

        tokio::pin!(shutdown);
        let early = tokio::select! {
            _ = &mut shutdown => None,
            ended = &mut fetching => Some(ended),
        };
        ctx.draining.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        info!(worker = %ctx.id, "shutting down: handing back unstarted jobs");
        with_retries(&ctx, "hand_back", |mut c| {
            let ctx = ctx.clone();
            async move { Ok(scripts::hand_back(&mut c, &ctx.keys, ctx.id.as_str(), HandBackPhase::Drain).await?) }
        })
        .await;

        let mut tasks = match early {
            Some(ended) => ended.map_err(|e| Error::Config(format!("fetch loop panicked: {e}")))?,
            None => fetching.await.map_err(|e| Error::Config(format!("fetch loop panicked: {e}")))?,
        };
        let in_flight = tasks.len();
        let finished =
            tokio::time::timeout(ctx.config.shutdown_grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            warn!(worker = %ctx.id, left = tasks.len(), grace = ?ctx.config.shutdown_grace, "in-flight jobs outlived shutdown_grace; handing them back");
            tasks.shutdown().await;
        }
        let _ = beats.await;
        let _ = upkeep.await;
        let _ = leases.await;
        let _ = envelopes.await;
        let moved = with_retries(&ctx, "hand_back", |mut c| {
            let ctx = ctx.clone();
            async move { Ok(scripts::hand_back(&mut c, &ctx.keys, ctx.id.as_str(), HandBackPhase::Leave).await?) }
        })
        .await;
        info!(worker = %ctx.id, in_flight, handed_back = moved.unwrap_or(0), "worker left");
        Ok(())
    }
}

/// Runs a Redis call on the shared connection, retrying connection errors with backoff for up
/// to about 10 s; returns `None` (after logging) if it never succeeded.
pub(crate) async fn with_retries<H, T, F, Fut>(ctx: &Ctx<H>, op: &'static str, mut call: F) -> Option<T>
where
    F: FnMut(redis::aio::MultiplexedConnection) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut delay = Duration::from_millis(50);
    for attempt in 0..8 {
        let result = match ctx.conns.shared().await {
            Ok(conn) => call(conn).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => return Some(v),
            Err(e) => {
                metrics::counter!(crate::metrics::REDIS_ERRORS, "op" => op).increment(1);
                ctx.conns.reset_shared_on(&e);
                if attempt == 7 || !e.is_retryable() {
                    warn!(worker = %ctx.id, op, error = %e, "redis call failed");
                    return None;
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    None
}

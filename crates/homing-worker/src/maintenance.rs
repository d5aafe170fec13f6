//! Maintenance passes on their own task and connection, never on the job path, run by one
//! worker at a time under the lease `Q:lease:maintenance`:
//! - promote: due delayed jobs (retries, scheduled pushes) through the route;
//! - reap: every job of a worker whose liveness deadline passed back through the route;
//! - reclaim: entries whose worker stopped renewing their lease for `visibility_timeout`;
//! - steal: undelivered inbox entries older than `max_wait` to the overflow;
//! - ingress runs on its own faster tick (`ingress.rs`) while this worker holds the lease.
//!
//! Reap and reclaim judge other workers by what they wrote to Redis, and after an outage every
//! heartbeat and lease renewal is stale at once. So reap waits until this worker's heartbeats
//! have reached Redis without a failure for `liveness_ttl` (since its start, or since an outage ended), and
//! reclaim for `liveness_ttl` after an outage: the live workers heartbeat, and retry their lease
//! renewals, every `heartbeat_interval`, at most half of that. A worker never reaps itself.
//!
//! Each pass is one atomic script per call, so a lease lost mid-pass (a holder that paused
//! past the lease) cannot move a job twice: the next holder's scripts see the moved state.

use crate::connections::Dedicated;
use crate::context::Ctx;
use crate::error::Error;
use crate::metrics::{
    DEAD, DELAYED, INBOX_BACKLOG, INGRESS_BACKLOG, JOBS_PROMOTED, JOBS_RECLAIMED, OVERFLOW_BACKLOG, PINS_RELEASED,
    WORKERS_ALIVE, WORKERS_REAPED,
};
use crate::periodic::Periodic;
use homing_core::scripts;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{info, warn};

/// Jobs moved per script call; more wait for the next call, keeping each script short.
const LIMIT: u32 = 500;
/// Calls per pass per stream at most, so one tick never runs long.
const CALLS: usize = 20;

/// The lease outlives several ticks, so a holder keeps it through a slow tick, and a crashed
/// holder is replaced within one lease period and two heartbeats (the others ask in every other
/// heartbeat, one `GET`): at least 1 s, or five ticks.
pub(crate) fn lease_ttl(tick: Duration) -> Duration {
    (tick * 5).max(Duration::from_secs(1))
}

/// Runs the passes while this worker holds the maintenance lease (its heartbeat took it), and
/// does nothing else: a worker that does not hold it costs Redis nothing here.
pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let mut task = Periodic::new("maintenance", ctx.config.maintenance_interval);
    let ttl = lease_ttl(ctx.config.maintenance_interval);
    let mut holding = false;
    let mut judging = false;
    let mut reported = HashSet::new();
    let mut due = Due::new(ctx.config.maintenance_interval, ctx.settings.visibility_timeout);
    while task.next(&mut stop).await {
        if !ctx.is_maintainer() {
            if holding {
                info!(worker = %ctx.id, "lost the maintenance lease");
                holding = false;
            }
            if !ctx.until_maintainer(&mut stop).await {
                break;
            }
            continue;
        }
        // Judge others only once every live worker has had liveness_ttl to re-assert itself,
        // as this worker's heartbeats see Redis: an outage long enough to make a deadline
        // stale outlasts a heartbeat interval, so they see it even while this worker did not
        // hold the lease.
        let liveness = ctx.config.liveness_ttl;
        let judge = Judge {
            reap: ctx.health.connected_for() >= liveness,
            reclaim: ctx.health.recovered_for().is_none_or(|t| t >= liveness),
        };
        if judge.reap != judging {
            info!(worker = %ctx.id, settled = judge.reap, "reap and reclaim {}", if judge.reap { "resumed" } else { "held back until workers re-assert themselves" });
        }
        judging = judge.reap;
        let result = async {
            let c = task.conn(&ctx).await?;
            let held = scripts::lease(&mut *c, &ctx.keys, "maintenance", ctx.id.as_str(), ttl).await?;
            if !held {
                ctx.maintainer.send_replace(false);
                return Ok(());
            }
            if !holding {
                info!(worker = %ctx.id, "running maintenance");
                holding = true;
            }
            passes(&ctx, c, judge, &mut due, &mut reported).await?;
            // The passes' scripts read every setting: they are valid.
            ctx.bad_setting.clear(&ctx.id);
            Ok(())
        }
        .await;
        if task.outcome(&ctx, result).is_none() {
            // Unsure whether the lease is still ours: stop routing ingress until the heartbeat
            // finds it ours again.
            ctx.maintainer.send_replace(false);
        }
    }
    // Stopping on purpose: hand the lease on now rather than after it expires.
    if ctx.maintainer.send_replace(false) {
        if let Ok(c) = task.conn(&ctx).await {
            let _ = scripts::release_lease(&mut *c, &ctx.keys, "maintenance", ctx.id.as_str()).await;
        }
    }
}

/// Which passes that judge other workers may run now (see the module docs).
#[derive(Clone, Copy)]
struct Judge {
    reap: bool,
    reclaim: bool,
}

/// One round of every pass; reap and reclaim only as `judge` allows.
async fn passes<H>(
    ctx: &Ctx<H>,
    c: &mut Dedicated,
    judge: Judge,
    due: &mut Due,
    reported: &mut HashSet<String>,
) -> Result<(), Error> {
    let keys = &ctx.keys;
    for _ in 0..CALLS {
        let moved = scripts::promote(&mut *c, keys, LIMIT).await?;
        metrics::counter!(JOBS_PROMOTED).increment(moved);
        if moved < u64::from(LIMIT) {
            break;
        }
    }
    // Reap reads the heartbeat index: one call finds the next dead worker, if any.
    for _ in 0..if judge.reap { CALLS } else { 0 } {
        let reaped = scripts::reap(&mut *c, keys, ctx.id.as_str(), LIMIT).await?;
        let Some(worker) = reaped.worker else { break };
        metrics::counter!(JOBS_RECLAIMED, "reason" => "dead").increment(reaped.moved);
        if reaped.done {
            metrics::counter!(WORKERS_REAPED).increment(1);
            warn!(reaper = %ctx.id, dead = %worker, moved = reaped.moved, "reaped a dead worker");
        }
    }
    // Steal reads the waiting index: only inboxes where a job may have waited max_wait.
    for _ in 0..CALLS {
        let stolen = scripts::steal(&mut *c, keys, LIMIT).await?;
        metrics::counter!(JOBS_RECLAIMED, "reason" => "wait").increment(stolen.moved);
        if stolen.moved < u64::from(LIMIT) && stolen.looked < u64::from(LIMIT) {
            break;
        }
    }
    let now = Instant::now();
    if judge.reclaim && now >= due.reclaim {
        due.reclaim = now + due.reclaim_every;
        // Every live inbox and the overflow in one round trip; a stream that filled its limit
        // is asked again, up to CALLS times.
        let mut streams: Vec<String> = workers(keys, c).await?.iter().map(|w| keys.inbox(w)).collect();
        streams.push(keys.overflow());
        for _ in 0..CALLS {
            let reclaimed = scripts::reclaim(&mut *c, keys, &streams, LIMIT).await?;
            for (stream, r) in streams.iter().zip(&reclaimed) {
                metrics::counter!(PINS_RELEASED, "reason" => "stalled").increment(r.released);
                if r.moved > 0 {
                    metrics::counter!(JOBS_RECLAIMED, "reason" => "stalled").increment(r.moved);
                    warn!(reaper = %ctx.id, %stream, moved = r.moved, "reclaimed jobs of a stalled worker");
                }
            }
            streams = full(streams, reclaimed.iter().map(|r| r.moved));
            if streams.is_empty() {
                break;
            }
        }
    }
    if now >= due.gauges {
        due.gauges = now + due.gauges_every;
        let workers = workers(keys, c).await?;
        gauges(ctx, &workers, c, reported).await?;
    }
    Ok(())
}

/// The workers listed in `Q:workers`, for the passes that look at every one.
async fn workers(keys: &homing_core::Keys, c: &mut Dedicated) -> Result<Vec<String>, Error> {
    Ok(redis::cmd("ZRANGE").arg(keys.workers()).arg(0).arg(-1).query_async(&mut *c).await?)
}

/// When the passes that look at every worker run next. They are paced, not run every tick, so
/// maintenance costs Redis what changed (promote, reap and steal read indexes) plus, for these
/// two, one command per worker per period.
struct Due {
    reclaim: Instant,
    /// Half of `visibility_timeout` (at least a tick): a stalled job is reclaimed within
    /// `visibility_timeout` plus this plus a tick.
    reclaim_every: Duration,
    gauges: Instant,
    /// Fifty ticks (5 s by default): scrapes come every 15-60 s, and one `XLEN` per worker
    /// every 5 s keeps a thousand-worker fleet's maintenance far below its heartbeats.
    gauges_every: Duration,
}

impl Due {
    fn new(tick: Duration, visibility_timeout: Duration) -> Self {
        let now = Instant::now();
        Self { reclaim: now, reclaim_every: (visibility_timeout / 2).max(tick), gauges: now, gauges_every: tick * 50 }
    }
}

/// The items whose call moved a full `LIMIT`, so more may be waiting.
fn full(items: Vec<String>, moved: impl Iterator<Item = u64>) -> Vec<String> {
    items.into_iter().zip(moved).filter(|(_, n)| *n >= u64::from(LIMIT)).map(|(item, _)| item).collect()
}

/// The queue-wide gauges, in one pipelined round trip. Only the lease holder sets them, so a
/// dashboard takes `max by (queue)` across pods. `reported` holds the workers whose inbox
/// backlog this worker exported: one gone from `Q:workers` is set to 0, not left at its last
/// value (the exporter drops idle series later). On a queue of several partitions each
/// partition's holder sets its own, labelled `partition`.
async fn gauges<H>(
    ctx: &Ctx<H>,
    workers: &[String],
    c: &mut Dedicated,
    reported: &mut HashSet<String>,
) -> Result<(), Error> {
    let keys = &ctx.keys;
    let mut pipe = redis::pipe();
    pipe.cmd("XLEN").arg(keys.overflow()).cmd("ZCARD").arg(keys.delayed()).cmd("XLEN").arg(keys.dead());
    pipe.cmd("SCARD").arg(keys.overflow_kept()).cmd("LLEN").arg(keys.ingress());
    for w in workers {
        pipe.cmd("XLEN").arg(keys.inbox(w));
    }
    let lens: Vec<u64> = pipe.query_async(&mut *c).await?;
    let partition = ctx.partition_label();
    metrics::gauge!(OVERFLOW_BACKLOG, partition.clone()).set(lens[0].saturating_sub(lens[3]) as f64);
    metrics::gauge!(INGRESS_BACKLOG, partition.clone()).set(lens[4] as f64);
    metrics::gauge!(DELAYED, partition.clone()).set(lens[1] as f64);
    metrics::gauge!(DEAD, partition.clone()).set(lens[2] as f64);
    metrics::gauge!(WORKERS_ALIVE, partition.clone()).set(workers.len() as f64);
    let inbox = |w: &str| {
        let mut labels = vec![metrics::Label::new("worker", w.to_string())];
        labels.extend(partition.iter().cloned());
        metrics::gauge!(INBOX_BACKLOG, labels)
    };
    for (w, n) in workers.iter().zip(&lens[5..]) {
        inbox(w).set(*n as f64);
    }
    let listed: HashSet<String> = workers.iter().cloned().collect();
    for gone in reported.difference(&listed) {
        inbox(gone).set(0.0);
    }
    *reported = listed;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::lease_ttl;
    use std::time::Duration;

    #[test]
    fn the_lease_lasts_five_ticks_and_at_least_a_second() {
        assert_eq!(lease_ttl(Duration::from_millis(10)), Duration::from_secs(1));
        assert_eq!(lease_ttl(Duration::from_millis(200)), Duration::from_secs(1));
        assert_eq!(lease_ttl(Duration::from_millis(300)), Duration::from_millis(1500));
        assert_eq!(lease_ttl(Duration::from_secs(2)), Duration::from_secs(10));
    }
}

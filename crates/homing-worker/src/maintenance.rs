//! Maintenance passes on their own task and connection, never on the job path, run by one
//! worker at a time under the lease `Q:lease:maintenance`:
//! - promote: due delayed jobs (retries, scheduled pushes) through the route;
//! - reap: every job of a worker whose liveness deadline passed back through the route;
//! - reclaim: entries whose worker stopped renewing their lease for `visibility_timeout`;
//! - steal: undelivered inbox entries older than `max_wait` to the overflow;
//! - ingress runs on its own faster tick (`ingress.rs`) while this worker holds the lease.
//!
//! Reap and reclaim judge other workers by what they wrote to Redis, and after an outage every
//! heartbeat and lease renewal is stale at once. So reap waits until this worker has reached
//! Redis without a failure for `liveness_ttl` (since its start, or since an outage ended), and
//! reclaim for `liveness_ttl` after an outage: the live workers heartbeat, and retry their lease
//! renewals, every `heartbeat_interval`, at most half of that. A worker never reaps itself.
//!
//! Each pass is one atomic script per call, so a lease lost mid-pass (a holder that paused
//! past the lease) cannot move a job twice: the next holder's scripts see the moved state.

use crate::context::Ctx;
use crate::error::Error;
use crate::metrics::{
    DEAD, DELAYED, INBOX_BACKLOG, INGRESS_BACKLOG, JOBS_PROMOTED, JOBS_RECLAIMED, OVERFLOW_BACKLOG, PINS_RELEASED,
    WORKERS_ALIVE, WORKERS_REAPED,
};
use crate::periodic::Periodic;
use deadpool_redis::Connection;
use homing_core::scripts;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Jobs moved per script call; more wait for the next call, keeping each script short.
const LIMIT: u32 = 500;
/// Calls per pass per stream at most, so one tick never runs long.
const CALLS: usize = 20;

/// The lease outlives several ticks, so a holder keeps it through a slow tick, and a crashed
/// holder is replaced within one lease period: at least 1 s, or five ticks.
pub(crate) fn lease_ttl(tick: Duration) -> Duration {
    (tick * 5).max(Duration::from_secs(1))
}

pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let mut task = Periodic::new("maintenance", ctx.config.maintenance_interval);
    let ttl = lease_ttl(ctx.config.maintenance_interval);
    let mut holding = false;
    let mut judging = false;
    let mut reported = HashSet::new();
    while task.next(&mut stop).await {
        // Judge others only once every live worker has had liveness_ttl to re-assert itself.
        let liveness = ctx.config.liveness_ttl;
        let judge =
            Judge { reap: task.healthy_for() >= liveness, reclaim: task.recovered_for().is_none_or(|t| t >= liveness) };
        if judge.reap != judging && holding {
            info!(worker = %ctx.id, settled = judge.reap, "reap and reclaim {}", if judge.reap { "resumed" } else { "held back until workers re-assert themselves" });
        }
        judging = judge.reap;
        let result = async {
            let c = task.conn(&ctx).await?;
            let held = scripts::lease(&mut *c, &ctx.keys, "maintenance", ctx.id.as_str(), ttl).await?;
            ctx.maintainer.store(held, std::sync::atomic::Ordering::Relaxed);
            if held != holding {
                info!(worker = %ctx.id, held, "maintenance lease changed hands");
                holding = held;
            }
            if held {
                passes(&ctx, c, judge, &mut reported).await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        if task.outcome(&ctx, result).is_none() {
            // Unsure whether the lease is still ours: stop routing ingress until it is renewed.
            ctx.maintainer.store(false, std::sync::atomic::Ordering::Relaxed);
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
    c: &mut Connection,
    judge: Judge,
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
    for _ in 0..if judge.reap { CALLS } else { 0 } {
        let reaped = scripts::reap(&mut *c, keys, ctx.id.as_str(), LIMIT).await?;
        let Some(worker) = reaped.worker else { break };
        metrics::counter!(JOBS_RECLAIMED, "reason" => "dead").increment(reaped.moved);
        if reaped.done {
            metrics::counter!(WORKERS_REAPED).increment(1);
            warn!(reaper = %ctx.id, dead = %worker, moved = reaped.moved, "reaped a dead worker");
        }
    }
    let workers: Vec<String> = redis::cmd("ZRANGE").arg(keys.workers()).arg(0).arg(-1).query_async(&mut *c).await?;
    // Every live inbox and the overflow in one round trip; a stream that filled its limit is
    // asked again, up to CALLS times.
    let mut streams: Vec<String> = workers.iter().map(|w| keys.inbox(w)).chain([keys.overflow()]).collect();
    for _ in 0..if judge.reclaim { CALLS } else { 0 } {
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
    gauges(keys, &workers, c, reported).await?;
    let mut slow = workers;
    for _ in 0..CALLS {
        let stolen = scripts::steal(&mut *c, keys, &slow, LIMIT).await?;
        metrics::counter!(JOBS_RECLAIMED, "reason" => "wait").increment(stolen.iter().sum());
        slow = full(slow, stolen.into_iter());
        if slow.is_empty() {
            break;
        }
    }
    Ok(())
}

/// The items whose call moved a full `LIMIT`, so more may be waiting.
fn full(items: Vec<String>, moved: impl Iterator<Item = u64>) -> Vec<String> {
    items.into_iter().zip(moved).filter(|(_, n)| *n >= u64::from(LIMIT)).map(|(item, _)| item).collect()
}

/// The queue-wide gauges, in one pipelined round trip. Only the lease holder sets them, so a
/// dashboard takes `max by (queue)` across pods. `reported` holds the workers whose inbox
/// backlog this worker exported: one gone from `Q:workers` is set to 0, not left at its last
/// value (the exporter drops idle series later).
async fn gauges(
    keys: &homing_core::Keys,
    workers: &[String],
    c: &mut Connection,
    reported: &mut HashSet<String>,
) -> Result<(), Error> {
    let mut pipe = redis::pipe();
    pipe.cmd("XLEN").arg(keys.overflow()).cmd("ZCARD").arg(keys.delayed()).cmd("XLEN").arg(keys.dead());
    pipe.cmd("SCARD").arg(keys.overflow_kept()).cmd("LLEN").arg(keys.ingress());
    for w in workers {
        pipe.cmd("XLEN").arg(keys.inbox(w));
    }
    let lens: Vec<u64> = pipe.query_async(&mut *c).await?;
    metrics::gauge!(OVERFLOW_BACKLOG).set(lens[0].saturating_sub(lens[3]) as f64);
    metrics::gauge!(INGRESS_BACKLOG).set(lens[4] as f64);
    metrics::gauge!(DELAYED).set(lens[1] as f64);
    metrics::gauge!(DEAD).set(lens[2] as f64);
    metrics::gauge!(WORKERS_ALIVE).set(workers.len() as f64);
    for (w, n) in workers.iter().zip(&lens[5..]) {
        metrics::gauge!(INBOX_BACKLOG, "worker" => w.clone()).set(*n as f64);
    }
    let listed: HashSet<String> = workers.iter().cloned().collect();
    for gone in reported.difference(&listed) {
        metrics::gauge!(INBOX_BACKLOG, "worker" => gone.clone()).set(0.0);
    }
    *reported = listed;
    Ok(())
}

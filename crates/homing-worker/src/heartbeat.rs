//! Heartbeats on their own task and connection: a worker whose deadline passes counts as dead,
//! so nothing else may delay them. A worker that finds itself unregistered (reaped while it
//! could not reach Redis) registers again and recreates its inbox. A worker that does not hold
//! the maintenance lease asks for it in every other heartbeat (one `GET` inside the same call),
//! so an idle worker costs Redis its heartbeat and its blocking read, nothing more, and a
//! crashed holder is replaced within a lease period and two heartbeats.

use crate::context::Ctx;
use crate::error::Error;
use crate::maintenance::lease_ttl;
use crate::periodic::Periodic;
use homing_core::scripts::{self, Beat, Heartbeat};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{info, warn};

/// One heartbeat on a fresh dedicated connection, registering the worker and asking for the
/// maintenance lease; used at start.
pub(crate) async fn beat<H>(ctx: &Ctx<H>) -> Result<Heartbeat, Error> {
    let mut conn = ctx.conns.dedicated().await?;
    let beat = Beat {
        worker: ctx.id.as_str(),
        liveness_ttl: ctx.config.liveness_ttl,
        capacity: ctx.capacity(),
        write_capacity: true,
        lease_ttl: Some(lease_ttl(ctx.config.maintenance_interval)),
    };
    let hb = scripts::heartbeat_with(&mut conn, &ctx.keys, &beat).await?;
    ctx.health.beat_attempted(true);
    if hb.lease {
        take_lease(ctx);
    }
    Ok(hb)
}

/// The heartbeat won the maintenance lease: the maintenance task takes it from here.
fn take_lease<H>(ctx: &Ctx<H>) {
    if !ctx.maintainer.send_replace(true) {
        info!(worker = %ctx.id, "took the maintenance lease");
    }
}

pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    // The start beat just ran. The next comes at a random point of the first interval, so
    // workers started together (a rollout, a scale-up, a bench) do not beat in step: a thousand
    // beats in one burst would delay the jobs behind them in Redis.
    let every = ctx.config.heartbeat_interval;
    let mut task = Periodic::starting_after("heartbeat", every, every.mul_f64(fastrand::f64()));
    let lease = lease_ttl(ctx.config.maintenance_interval);
    // The capacity the last beat wrote (the first one, at start, wrote the concurrency).
    let mut written = Some(ctx.config.concurrency);
    let mut beats: u64 = 0;
    while task.next(&mut stop).await {
        let capacity = ctx.capacity();
        beats += 1;
        let ask = beats.is_multiple_of(2) && !ctx.is_maintainer() && !ctx.health.is_draining();
        let beat = Beat {
            worker: ctx.id.as_str(),
            liveness_ttl: ctx.config.liveness_ttl,
            capacity,
            write_capacity: written != Some(capacity),
            lease_ttl: ask.then_some(lease),
        };
        let result = async {
            let c = task.conn(&ctx).await?;
            Ok(scripts::heartbeat_with(c, &ctx.keys, &beat).await?)
        }
        .await;
        ctx.health.beat_attempted(result.is_ok());
        written = result.is_ok().then_some(capacity);
        if let Some(hb) = task.outcome(&ctx, result) {
            if hb.lease {
                take_lease(&ctx);
            }
            if !hb.known {
                warn!(worker = %ctx.id, "worker was deregistered while away; registered again");
                if let Err(e) = ctx.ensure_groups().await {
                    warn!(worker = %ctx.id, error = %e, "could not recreate consumer groups");
                }
            }
        }
    }
}

//! Heartbeats on their own task and connection: a worker whose deadline passes counts as dead,
//! so nothing else may delay them. A worker that finds itself unregistered (reaped while it
//! could not reach Redis) registers again and recreates its inbox.

use crate::error::Error;
use crate::worker::Ctx;
use homing_core::scripts::{self, Heartbeat};
use tokio::sync::watch;
use tracing::{info, warn};

/// One heartbeat on a fresh dedicated connection; used at start.
pub(crate) async fn beat<H>(ctx: &Ctx<H>) -> Result<Heartbeat, Error> {
    let mut conn = ctx.conns.dedicated().await?;
    let ttl = ctx.config.liveness_ttl;
    Ok(scripts::heartbeat(&mut conn, &ctx.keys, ctx.id.as_str(), ttl, ctx.capacity()).await?)
}

pub(crate) async fn run<H>(ctx: std::sync::Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(ctx.config.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = None;
    let mut healthy = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let result = async {
            if conn.is_none() {
                conn = Some(ctx.conns.dedicated().await?);
            }
            let c = conn.as_mut().expect("just set");
            Ok::<_, Error>(
                scripts::heartbeat(c, &ctx.keys, ctx.id.as_str(), ctx.config.liveness_ttl, ctx.capacity()).await?,
            )
        }
        .await;
        match result {
            Ok(hb) => {
                if !healthy {
                    info!(worker = %ctx.id, "heartbeat restored");
                    healthy = true;
                }
                if !hb.known {
                    warn!(worker = %ctx.id, "worker was deregistered while away; registered again");
                    if let Err(e) = ctx.ensure_groups().await {
                        warn!(worker = %ctx.id, error = %e, "could not recreate consumer groups");
                    }
                }
            }
            Err(e) => {
                metrics::counter!(crate::metrics::REDIS_ERRORS, "op" => "heartbeat").increment(1);
                conn = None;
                if healthy {
                    warn!(worker = %ctx.id, error = %e, "heartbeat failed; retrying every heartbeat_interval");
                    healthy = false;
                }
            }
        }
    }
}

//! Heartbeats on their own task and connection: a worker whose deadline passes counts as dead,
//! so nothing else may delay them. A worker that finds itself unregistered (reaped while it
//! could not reach Redis) registers again and recreates its inbox.

use crate::context::Ctx;
use crate::error::Error;
use crate::periodic::Periodic;
use homing_core::scripts::{self, Heartbeat};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::warn;

/// One heartbeat on a fresh dedicated connection; used at start.
pub(crate) async fn beat<H>(ctx: &Ctx<H>) -> Result<Heartbeat, Error> {
    let mut conn = ctx.conns.dedicated().await?;
    let ttl = ctx.config.liveness_ttl;
    let hb = scripts::heartbeat(&mut conn, &ctx.keys, ctx.id.as_str(), ttl, ctx.capacity()).await?;
    ctx.health.beat_attempted(true);
    Ok(hb)
}

pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let mut task = Periodic::new("heartbeat", ctx.config.heartbeat_interval);
    while task.next(&mut stop).await {
        let result = async {
            let c = task.conn(&ctx).await?;
            Ok(scripts::heartbeat(c, &ctx.keys, ctx.id.as_str(), ctx.config.liveness_ttl, ctx.capacity()).await?)
        }
        .await;
        ctx.health.beat_attempted(result.is_ok());
        if result.is_ok() {
            // The heartbeat script reads every setting: they are valid.
            ctx.bad_setting.clear(&ctx.id);
        }
        if let Some(hb) = task.outcome(&ctx, result) {
            if !hb.known {
                warn!(worker = %ctx.id, "worker was deregistered while away; registered again");
                if let Err(e) = ctx.ensure_groups().await {
                    warn!(worker = %ctx.id, error = %e, "could not recreate consumer groups");
                }
            }
        }
    }
}

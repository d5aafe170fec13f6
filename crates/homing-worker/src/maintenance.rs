//! Periodic passes on their own task and connection, never on the job path: promote moves due
//! delayed jobs (retries, scheduled pushes) through the route. Promote is one atomic script, so
//! workers running it at once cannot move a job twice.

use crate::error::Error;
use crate::worker::Ctx;
use homing_core::scripts;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::warn;

/// Jobs moved per promote call; more wait for the next tick, keeping each script short.
const PROMOTE_LIMIT: u32 = 500;

pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(ctx.config.maintenance_interval);
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
            loop {
                let moved = scripts::promote(c, &ctx.keys, PROMOTE_LIMIT).await?;
                metrics::counter!(crate::metrics::JOBS_PROMOTED).increment(moved);
                if moved < u64::from(PROMOTE_LIMIT) {
                    return Ok::<_, Error>(());
                }
            }
        }
        .await;
        match result {
            Ok(()) => healthy = true,
            Err(e) => {
                metrics::counter!(crate::metrics::REDIS_ERRORS, "op" => "maintenance").increment(1);
                conn = None;
                if healthy {
                    warn!(worker = %ctx.id, error = %e, "maintenance pass failed; retrying next tick");
                    healthy = false;
                }
            }
        }
    }
}

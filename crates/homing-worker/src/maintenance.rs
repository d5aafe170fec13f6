//! Periodic passes on their own task and connection, never on the job path: promote moves due
//! delayed jobs (retries, scheduled pushes) through the route. Promote is one atomic script, so
//! workers running it at once cannot move a job twice.

use crate::error::Error;
use crate::periodic::Periodic;
use crate::worker::Ctx;
use homing_core::scripts;
use std::sync::Arc;
use tokio::sync::watch;

/// Jobs moved per promote call; more wait for the next call, keeping each script short.
const PROMOTE_LIMIT: u32 = 500;

pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let mut task = Periodic::new("maintenance", ctx.config.maintenance_interval);
    while task.next(&mut stop).await {
        let result = async {
            let c = task.conn(&ctx).await?;
            loop {
                let moved = scripts::promote(c, &ctx.keys, PROMOTE_LIMIT).await?;
                metrics::counter!(crate::metrics::JOBS_PROMOTED).increment(moved);
                if moved < u64::from(PROMOTE_LIMIT) {
                    return Ok::<_, Error>(());
                }
            }
        }
        .await;
        task.outcome(&ctx, result);
    }
}

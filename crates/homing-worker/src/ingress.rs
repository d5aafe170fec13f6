//! The ingress pass: envelopes `LPUSH`ed to `Q:ingress` by producers with only a Redis client
//! are routed by the worker holding the maintenance lease, on a tick of its own so they start
//! within milliseconds (the maintenance tick is 100 ms).

use crate::context::Ctx;
use crate::error::Error;
use crate::metrics::{INGRESS_BACKLOG, INGRESS_ENVELOPES};
use crate::periodic::Periodic;
use homing_core::scripts;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::warn;

/// How often the lease holder looks at `Q:ingress`. 5 ms: an empty list costs one short script
/// call, 200 a second on one worker only, and an envelope waits at most this long.
pub(crate) const TICK: Duration = Duration::from_millis(5);
/// Envelopes per script call.
const LIMIT: u32 = 500;

pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let mut task = Periodic::new("ingress", TICK);
    while task.next(&mut stop).await {
        if !ctx.is_maintainer() {
            if !ctx.until_maintainer(&mut stop).await {
                break;
            }
            continue;
        }
        let result = async {
            let c = task.conn(&ctx).await?;
            // A plain LLEN first: an empty list, the usual case, costs one command, not a script.
            let waiting: u64 = redis::cmd("LLEN").arg(ctx.keys.ingress()).query_async(&mut *c).await?;
            metrics::gauge!(INGRESS_BACKLOG, ctx.partition_label()).set(waiting as f64);
            if waiting == 0 {
                return Ok(());
            }
            loop {
                let done = scripts::ingress(&mut *c, &ctx.keys, LIMIT).await?;
                metrics::counter!(INGRESS_ENVELOPES, "outcome" => "routed").increment(done.routed);
                metrics::counter!(INGRESS_ENVELOPES, "outcome" => "duplicate").increment(done.duplicates);
                if done.dead > 0 {
                    metrics::counter!(INGRESS_ENVELOPES, "outcome" => "malformed").increment(done.dead);
                    warn!(worker = %ctx.id, count = done.dead, "malformed ingress envelopes dead-lettered");
                }
                if done.taken() < u64::from(LIMIT) {
                    return Ok::<_, Error>(());
                }
            }
        }
        .await;
        if task.outcome(&ctx, result).is_some() {
            ctx.bad_setting.clear(&ctx.id);
        }
    }
}

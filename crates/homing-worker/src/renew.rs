//! Lease renewal: every third of `visibility_timeout`, the worker resets the idle time of the
//! entries it is running (`XCLAIM ... JUSTID` to itself), so `reclaim` takes jobs only from a
//! worker that really stopped, never from a healthy one running a long job.

use crate::context::{Ctx, Source};
use crate::error::Error;
use crate::periodic::Periodic;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Ids per `XCLAIM`, keeping each command short.
const CHUNK: usize = 1000;

pub(crate) async fn run<H>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) {
    let every = ctx.settings.visibility_timeout / 3;
    let mut task = Periodic::new("renew", ctx.config.heartbeat_interval.min(every));
    let mut renewed = Instant::now();
    let mut failed = false;
    while task.next(&mut stop).await {
        if !failed && renewed.elapsed() < every {
            continue;
        }
        let held: Vec<(String, Source)> =
            ctx.in_flight.lock().expect("not poisoned").iter().map(|(id, s)| (id.clone(), *s)).collect();
        if held.is_empty() {
            renewed = Instant::now();
            failed = false;
            continue;
        }
        let result = async {
            // One pipeline: every chunk of both streams in one round trip.
            let mut pipe = redis::pipe();
            for source in [Source::Inbox, Source::Overflow] {
                let ids: Vec<&str> = held.iter().filter(|(_, s)| *s == source).map(|(id, _)| id.as_str()).collect();
                for chunk in ids.chunks(CHUNK) {
                    pipe.cmd("XCLAIM")
                        .arg(ctx.stream(source))
                        .arg(homing_core::keys::GROUP)
                        .arg(ctx.id.as_str())
                        .arg(0)
                        .arg(chunk)
                        .arg("JUSTID")
                        .ignore();
                }
            }
            let c = task.conn(&ctx).await?;
            let _: () = pipe.query_async(c).await?;
            Ok::<_, Error>(())
        }
        .await;
        failed = task.outcome(&ctx, result).is_none();
        if !failed {
            renewed = Instant::now();
        }
    }
}

//! The fetch loop: with `free` slots, claim inbox and overflow entries in one script call,
//! the stream read first alternating at every call so that neither starves (a full inbox of
//! cheap warm jobs would otherwise keep new sessions waiting in the overflow); when both are
//! empty, one blocking `BLPOP` on both streams' bells on a dedicated connection, and the
//! script again only when a bell rang, so an idle worker costs Redis one command per
//! `idle_block`. Each entry runs as its own task under a concurrency permit. At shutdown a
//! blocking wait is dropped, not awaited: a bell Redis handed to it in that instant is lost,
//! and the maintenance holder's next steal pass rings again (lua/steal.lua).

use crate::connections::{detach, Dedicated};
use crate::context::{Ctx, Source};
use crate::error::Error;
use crate::execute;
use crate::handler::Handler;
use homing_core::scripts::{self, FetchFirst};
use homing_core::stream::StreamEntry;
use homing_core::Keys;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Runs until `stop` turns true; returns the in-flight job tasks for `run` to await.
/// A fetch script is never cancelled half-way: an entry it claimed is always run.
pub(crate) async fn run<H: Handler>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) -> JoinSet<()> {
    let slots = Arc::new(Semaphore::new(ctx.config.concurrency as usize));
    let mut tasks = JoinSet::new();
    let mut blocking: Option<Dedicated> = None;
    // True after a wait ran out without a bell: nothing was added, so wait again at once.
    let mut idle = false;
    let mut failing = false;
    let mut delay = Duration::from_millis(50);
    let mut first = FetchFirst::Overflow;
    loop {
        while tasks.try_join_next().is_some() {}
        if *stop.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = stop.changed() => break,
        };
        let free = 1 + slots.available_permits() as u32;
        let claimed = if idle {
            Ok(Vec::new())
        } else {
            first = first.other();
            claim(&ctx, free, first).await
        };
        let batch = match claimed {
            // Nothing to take: wait for a bell; when one rings, fetch again (with the permit
            // taken anew).
            Ok(entries) if entries.is_empty() => tokio::select! {
                rung = wait(&ctx, &mut blocking) => rung.map(|rung| {
                    idle = !rung;
                    entries
                }),
                _ = stop.changed() => {
                    // Drop the blocked read's connection, not back to the pool: a reply may
                    // still be on its way.
                    if let Some(conn) = blocking.take() {
                        drop(detach(conn));
                    }
                    break;
                }
            },
            other => other,
        };
        match batch {
            Ok(entries) => {
                if failing {
                    info!(worker = %ctx.id, "fetching again");
                    failing = false;
                }
                delay = Duration::from_millis(50);
                let mut permit = Some(permit);
                for (source, entry) in entries {
                    let permit = match permit.take() {
                        Some(p) => p,
                        None => slots.clone().acquire_owned().await.expect("the semaphore is never closed"),
                    };
                    tasks.spawn(execute::run(ctx.clone(), source, entry, permit));
                }
            }
            Err(e) => {
                idle = false;
                drop(permit);
                metrics::counter!(crate::metrics::REDIS_ERRORS, "op" => "fetch").increment(1);
                blocking = None;
                ctx.conns.reset_shared_on(&e);
                if !failing {
                    warn!(worker = %ctx.id, error = %e, "fetch failed; retrying with backoff");
                    failing = true;
                }
                if is_nogroup(&e) {
                    let _ = ctx.ensure_groups().await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => break,
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    tasks
}

fn is_nogroup(e: &Error) -> bool {
    matches!(e, Error::Core(homing_core::Error::Redis(r)) if r.code() == Some("NOGROUP"))
}

/// Up to `free` entries from the fetch script, `first` read first; none when both streams are
/// empty.
async fn claim<H>(ctx: &Ctx<H>, free: u32, first: FetchFirst) -> Result<Vec<(Source, StreamEntry)>, Error> {
    let mut conn = ctx.conns.shared().await?;
    let fetched = scripts::fetch_with(&mut conn, &ctx.keys, ctx.id.as_str(), free, first).await?;
    let inbox = fetched.inbox.into_iter().map(|e| (Source::Inbox, e));
    Ok(inbox.chain(fetched.overflow.into_iter().map(|e| (Source::Overflow, e))).collect())
}

/// Blocks up to `idle_block` on the bells of both streams (`BLPOP`, on a dedicated
/// connection); true when one rang, and the caller fetches. A wait that runs out is followed
/// by another, without a fetch, so an idle worker costs Redis one command per `idle_block`.
/// The bells are lists because Redis serves a list element to one blocked client, while every
/// `XADD` to a stream walks all the clients blocked on it: a thousand idle workers blocked on
/// the overflow made each overflow job cost Redis about 0.5 ms (ARCHITECTURE.md, "Bells").
async fn wait<H>(ctx: &Ctx<H>, blocking: &mut Option<Dedicated>) -> Result<bool, Error> {
    if blocking.is_none() {
        *blocking = Some(ctx.conns.dedicated().await?);
    }
    let conn = blocking.as_mut().expect("just set");
    let rung: Option<(String, String)> = redis::cmd("BLPOP")
        .arg(Keys::bell(&ctx.inbox))
        .arg(Keys::bell(&ctx.overflow))
        .arg(ctx.config.idle_block.as_secs_f64())
        .query_async(conn)
        .await?;
    Ok(rung.is_some())
}

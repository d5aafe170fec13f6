//! The fetch loop: with `free` slots, claim inbox and overflow entries in one script call,
//! the stream read first alternating at every call so that neither starves (a full inbox of
//! cheap warm jobs would otherwise keep new sessions waiting in the overflow). When a claim
//! finds nothing, the next one is pipelined behind a `BLPOP` on both streams' bells, on a
//! dedicated connection: Redis runs it the moment a bell rings or the wait runs out, so a woken
//! worker gets its entries in one round trip and an idle one costs Redis a `BLPOP` and a fetch
//! per `idle_block`. Each entry runs as its own task under a concurrency permit (the worker's,
//! shared by the partitions it serves). At shutdown a blocking wait is dropped, not awaited:
//! an entry that fetch claimed in that instant stays pending to this worker, and the hand-back
//! returns it (one attempt later).

use crate::connections::{detach, Dedicated};
use crate::context::{Ctx, Source};
use crate::error::Error;
use crate::execute::{self, InFlight};
use crate::handler::Handler;
use homing_core::scripts::{self, FetchFirst};
use homing_core::stream::StreamEntry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn, Instrument};

/// Runs until `stop` turns true; returns the in-flight job tasks for `run` to await.
/// A claim is never cancelled half-way: an entry it claimed is always run. Only an idle wait
/// is dropped at shutdown, and what its queued fetch claimed the hand-back returns.
///
/// The slots are the worker's, shared with the fetch loops of its other partitions. A busy
/// loop holds a slot for every entry it claims. An idle loop holds one through its wait on the
/// bells, as with one partition, so that what a bell wakes it to has a slot: the bell went to
/// this worker, not to one with room. It claims `1 + free` as it did, and when the other
/// partitions took those slots meanwhile, an entry past the first waits here for one, in flight
/// (its lease renewed) from the claim. The cost: each idle partition keeps one slot, so with
/// `concurrency` below the partitions served some loop waits for a slot, not on its bells, and
/// its partition's jobs start within `idle_block` (or move on after `max_wait`). Keep
/// `concurrency` at least the partitions served (the worker warns otherwise).
pub(crate) async fn run<H: Handler>(ctx: Arc<Ctx<H>>, mut stop: watch::Receiver<bool>) -> JoinSet<()> {
    let slots = ctx.slots.clone();
    let mut tasks = JoinSet::new();
    let mut blocking: Option<Dedicated> = None;
    // True after a fetch found nothing: the next one waits for a bell first.
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
        // A busy loop holds every slot it counts; an idle one holds one through its wait.
        let mut held = vec![permit];
        if !idle {
            while let Ok(more) = slots.clone().try_acquire_owned() {
                held.push(more);
            }
        }
        let free = held.len() as u32 + if idle { slots.available_permits() as u32 } else { 0 };
        first = first.other();
        let batch = if idle {
            tokio::select! {
                fetched = wait_then_claim(&ctx, &mut blocking, free, first) => fetched,
                _ = stop.changed() => {
                    // Drop the blocked wait's connection, not back to the pool: a reply may
                    // still be on its way.
                    if let Some(conn) = blocking.take() {
                        drop(detach(conn));
                    }
                    break;
                }
            }
        } else {
            claim(&ctx, free, first).await
        };
        match batch {
            Ok(entries) => {
                idle = entries.is_empty();
                if failing {
                    info!(worker = %ctx.id, "fetching again");
                    failing = false;
                }
                delay = Duration::from_millis(50);
                let claimed: Vec<_> = entries
                    .into_iter()
                    .map(|(source, entry)| (InFlight::new(&ctx, &entry.id, source), entry))
                    .collect();
                for (in_flight, entry) in claimed {
                    let permit = match held.pop().or_else(|| slots.clone().try_acquire_owned().ok()) {
                        Some(p) => p,
                        None => slots.clone().acquire_owned().await.expect("the semaphore is never closed"),
                    };
                    // Boxed: tokio copies a task's future into the task when it spawns and its
                    // stage when it ends, so a large future costs a memcpy of its size twice per
                    // job; boxed, the task holds a pointer (ARCHITECTURE.md, "Throughput levers").
                    let job = Box::pin(execute::run(ctx.clone(), in_flight, entry, permit));
                    tasks.spawn(job.instrument(ctx.span.clone()));
                }
            }
            Err(e) => {
                idle = false;
                held.clear();
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
    Ok(sourced(fetched))
}

/// Waits up to `idle_block` for a bell of either stream, then claims as [`claim`] does, in one
/// round trip on a dedicated connection (`scripts::wait_then_fetch`). The bells are lists
/// because Redis serves a list element to one blocked client, while every `XADD` to a stream
/// walks all the clients blocked on it: a thousand idle workers blocked on the overflow made
/// each overflow job cost Redis about 0.5 ms (ARCHITECTURE.md, "Bells").
async fn wait_then_claim<H>(
    ctx: &Ctx<H>,
    blocking: &mut Option<Dedicated>,
    free: u32,
    first: FetchFirst,
) -> Result<Vec<(Source, StreamEntry)>, Error> {
    if blocking.is_none() {
        *blocking = Some(ctx.conns.dedicated().await?);
    }
    let conn = blocking.as_mut().expect("just set");
    let fetched =
        scripts::wait_then_fetch(&mut *conn, &ctx.keys, ctx.id.as_str(), ctx.config.idle_block, free, first).await?;
    Ok(sourced(fetched))
}

fn sourced(fetched: scripts::Fetched) -> Vec<(Source, StreamEntry)> {
    let inbox = fetched.inbox.into_iter().map(|e| (Source::Inbox, e));
    inbox.chain(fetched.overflow.into_iter().map(|e| (Source::Overflow, e))).collect()
}

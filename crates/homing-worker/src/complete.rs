//! Batched completion: a finished job joins the worker's completion queue, and one flush task
//! at a time sends everything queued in one `complete` script call (up to
//! [`homing_core::scripts::COMPLETE_MAX_BATCH`]). While a call is on its way, more jobs finish
//! and queue, so under load each call carries many jobs; alone, a job's call leaves at once.
//! The script handles each job exactly as a single completion would, in queue order.

use crate::context::{Ctx, Source};
use crate::handler::Handler;
use crate::worker::{with_retries, Patience};
use homing_core::scripts::{self, Completion, Finished};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// One finished job waiting for its completion call.
pub(crate) struct Done {
    pub(crate) source: Source,
    pub(crate) entry_id: String,
    pub(crate) job_id: String,
    pub(crate) session: String,
    pub(crate) reply_to: Option<String>,
    pub(crate) output: Vec<u8>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Done, oneshot::Sender<Completion>)>,
    flushing: bool,
}

/// The worker's completion queue.
#[derive(Default)]
pub(crate) struct Completer(Mutex<Queue>);

/// Completes `done`; `None` when Redis refused it for good (logged by `with_retries`).
pub(crate) async fn complete<H: Handler>(ctx: &Arc<Ctx<H>>, done: Done) -> Option<Completion> {
    let (tx, rx) = oneshot::channel();
    let start_flush = {
        let mut q = ctx.completer.0.lock().expect("not poisoned");
        q.waiting.push((done, tx));
        !std::mem::replace(&mut q.flushing, true)
    };
    if start_flush {
        // A task of its own: the flush outlives a job task cancelled at shutdown, so the other
        // jobs in its batch still complete.
        tokio::spawn(flush(ctx.clone()));
    }
    rx.await.ok()
}

/// Sends queued completions until the queue is empty.
async fn flush<H: Handler>(ctx: Arc<Ctx<H>>) {
    loop {
        let batch: Vec<_> = {
            let mut q = ctx.completer.0.lock().expect("not poisoned");
            if q.waiting.is_empty() {
                q.flushing = false;
                return;
            }
            let n = q.waiting.len().min(scripts::COMPLETE_MAX_BATCH);
            q.waiting.drain(..n).collect()
        };
        let finished: Vec<(Finished<'_>, &[u8])> = batch
            .iter()
            .map(|(d, _)| {
                let finished = Finished {
                    stream: ctx.stream(d.source),
                    entry_id: &d.entry_id,
                    job_id: &d.job_id,
                    session: &d.session,
                    reply_to: d.reply_to.as_deref(),
                };
                (finished, d.output.as_slice())
            })
            .collect();
        let (keys, inbox, worker, jobs) = (&ctx.keys, ctx.inbox.as_str(), ctx.id.as_str(), finished.as_slice());
        let done = with_retries(&ctx, "complete", Patience::UntilDone, |mut c| async move {
            Ok(scripts::complete_many(&mut c, keys, inbox, worker, jobs).await?)
        })
        .await;
        drop(finished);
        // Given up: the senders drop and each waiting job reports it was not completed.
        let Some(done) = done else { continue };
        for ((_, tx), completion) in batch.into_iter().zip(done) {
            let _ = tx.send(completion);
        }
    }
}

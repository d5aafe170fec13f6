//! Running one job: decode it, call the handler under `job_timeout` in its own task (a panic
//! is a retryable failure, never the worker's death), then complete or fail it in Redis.

use crate::context::{Ctx, Source};
use crate::handler::{Handler, HandlerError};
use crate::metrics::{JOBS_FINISHED, JOBS_STARTED, JOBS_WARM, JOB_RUN_SECONDS, JOB_WAIT_SECONDS, PINS_STAMPED};
use crate::worker::{with_retries, Patience};
use homing_core::scripts::{self, Failure};
use homing_core::stream::StreamEntry;
use homing_core::Job;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

/// Why a job did not complete.
enum Failed {
    Handler(HandlerError),
    Malformed(String),
}

/// Aborts the handler's task if the job task itself is cancelled (shutdown past its grace).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps an entry in the worker's in-flight set, whose leases it renews, from its claim until
/// the job ends (including a wait for a slot).
pub(crate) struct InFlight<H> {
    ctx: Arc<Ctx<H>>,
    entry_id: String,
    source: Source,
}

impl<H> InFlight<H> {
    pub(crate) fn new(ctx: &Arc<Ctx<H>>, entry_id: &str, source: Source) -> Self {
        ctx.in_flight.lock().expect("not poisoned").insert(entry_id.to_string(), source);
        Self { ctx: ctx.clone(), entry_id: entry_id.to_string(), source }
    }
}

impl<H> Drop for InFlight<H> {
    fn drop(&mut self) {
        self.ctx.in_flight.lock().expect("not poisoned").remove(&self.entry_id);
    }
}

/// Runs one claimed entry to its end. The permit frees the slot as soon as the handler returns:
/// the slot counts handlers, so the next fetch goes out beside this job's completion (on the
/// shared connection the two share a round trip) instead of after it.
pub(crate) async fn run<H: Handler>(
    ctx: Arc<Ctx<H>>,
    lease: InFlight<H>,
    entry: StreamEntry,
    slot: OwnedSemaphorePermit,
) {
    let source = lease.source;
    let _lease = lease;
    let job = match Job::from_fields(&entry.fields) {
        Ok(job) => job,
        Err(e) => {
            warn!(worker = %ctx.id, entry = %entry.id, source = source.as_str(), error = %e, "malformed entry: dead-lettering it");
            finish(&ctx, source, &entry.id, None, Err(Failed::Malformed(e.to_string()))).await;
            return;
        }
    };
    let span = tracing::info_span!("job", queue = %ctx.keys.queue(), job_id = %job.id, session = %job.session,
        attempt = job.attempt, route = job.route.as_deref().unwrap_or(""), source = source.as_str());
    run_job(ctx, source, entry.id, job, slot).instrument(span).await
}

async fn run_job<H: Handler>(ctx: Arc<Ctx<H>>, source: Source, entry_id: String, job: Job, slot: OwnedSemaphorePermit) {
    metrics::counter!(JOBS_STARTED, "source" => source.as_str()).increment(1);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    metrics::histogram!(JOB_WAIT_SECONDS).record(now_ms.saturating_sub(job.enqueued_at_ms) as f64 / 1000.0);
    // The handler takes the job; finishing needs only its id, session and reply-to, so keep a
    // copy without the payload (up to max_payload bytes) instead of cloning it.
    let mut handed = job;
    let payload = std::mem::take(&mut handed.payload);
    let kept = handed.clone();
    handed.payload = payload;
    let started = Instant::now();
    let outcome = call_handler(&ctx, handed).await.map_err(Failed::Handler);
    drop(slot);
    metrics::histogram!(JOB_RUN_SECONDS).record(started.elapsed().as_secs_f64());
    finish(&ctx, source, &entry_id, Some(&kept), outcome).await;
}

async fn call_handler<H: Handler>(ctx: &Arc<Ctx<H>>, job: Job) -> Result<Vec<u8>, HandlerError> {
    let c = ctx.clone();
    // Boxed, as fetch.rs boxes the job's task: the handler's future may be large.
    let mut task = AbortOnDrop(tokio::spawn(Box::pin(async move { c.handler.handle(job).await })));
    let limit = ctx.config.job_timeout;
    match tokio::time::timeout(limit, &mut task.0).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) if e.is_panic() => {
            Err(HandlerError::retry(format!("handler panicked: {}", panic_text(e.into_panic()))))
        }
        Ok(Err(e)) => Err(HandlerError::retry(format!("handler task was cancelled: {e}"))),
        Err(_) => Err(HandlerError::retry(format!("job_timeout of {limit:?} passed; the handler was cancelled"))),
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map_or_else(|| "non-text panic".to_string(), |s| s.to_string()),
    }
}

/// Completes or fails the entry; `job` is `None` only for an entry that could not be decoded.
async fn finish<H: Handler>(
    ctx: &Arc<Ctx<H>>,
    source: Source,
    entry_id: &str,
    job: Option<&Job>,
    outcome: Result<Vec<u8>, Failed>,
) {
    let (keys, stream, worker) = (&ctx.keys, ctx.stream(source), ctx.id.as_str());
    let failure = match (outcome, job) {
        (Ok(output), Some(job)) => {
            let finished = crate::complete::Done {
                source,
                entry_id: entry_id.to_string(),
                job_id: job.id.to_string(),
                session: job.session.clone(),
                reply_to: job.reply_to.clone(),
                output,
            };
            let done = crate::complete::complete(ctx, finished).await;
            let Some(done) = done else { return };
            let outcome = if done.stale { "stale" } else { "ok" };
            metrics::counter!(JOBS_FINISHED, "outcome" => outcome).increment(1);
            if done.on_owner {
                metrics::counter!(JOBS_WARM).increment(1);
            }
            if done.stamped {
                metrics::counter!(PINS_STAMPED).increment(1);
            }
            if done.stale {
                info!("job finished after it was reclaimed: stale, so it neither stamps nor replies");
            } else {
                debug!(outcome, stamped = done.stamped, on_owner = done.on_owner, "job finished");
            }
            return;
        }
        (Ok(_), None) => Failed::Malformed("entry could not be decoded".to_string()),
        (Err(f), _) => f,
    };
    let (dead_reason, error) = match failure {
        Failed::Handler(e) if e.is_fatal() => (Some("fatal"), e.message().to_string()),
        Failed::Handler(e) => (None, e.message().to_string()),
        Failed::Malformed(m) => (Some("malformed"), m),
    };
    let error = error.as_str();
    let failed = with_retries(ctx, "fail", Patience::UntilDone, |mut c| async move {
        Ok(scripts::fail(&mut c, keys, stream, entry_id, worker, fastrand::f64(), dead_reason, error).await?)
    })
    .await;
    let outcome = match failed {
        Some(Failure::Retry { .. }) => "retry",
        Some(Failure::Dead { .. }) => "dead",
        Some(Failure::Stale) => "stale",
        None => return,
    };
    metrics::counter!(JOBS_FINISHED, "outcome" => outcome).increment(1);
    warn!(outcome, error, "job failed");
}

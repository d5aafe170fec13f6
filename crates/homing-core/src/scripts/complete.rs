//! `complete`: acknowledge finished jobs, many in one call, and stamp each session's owner on
//! a first success.

use super::{int, script_spec, Lua, ScriptSpec};
use crate::error::{malformed, Error};
use crate::keys::Keys;
use crate::stream::text;
use redis::aio::ConnectionLike;
use redis::Value;

/// The most jobs one call completes; [`complete_many`] splits longer lists.
pub const MAX_BATCH: usize = 1000;

pub(super) static SPEC: ScriptSpec = script_spec!("complete",
    includes: ["settings", "entry"],
    keys: ["meta", "inbox", "overflow"],
    argv: ["worker", "jobs"]);
static LUA: Lua = Lua::new(&SPEC);
/// What completing a job did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The job had been reclaimed before this completion: nothing was written.
    pub stale: bool,
    /// This completion made the worker the session's owner.
    pub stamped: bool,
    /// The worker already owned the session: the job ran warm.
    pub on_owner: bool,
}

/// The job a completion is for, as read from its stream entry.
#[derive(Clone, Copy, Debug)]
pub struct Finished<'a> {
    /// The stream the entry was read from (an inbox or the overflow).
    pub stream: &'a str,
    /// The stream entry id.
    pub entry_id: &'a str,
    /// The job's id.
    pub job_id: &'a str,
    /// The job's session.
    pub session: &'a str,
    /// The producer waiting for the result, if any.
    pub reply_to: Option<&'a str>,
}

/// Acknowledges `job` as finished by `worker`; `output` goes to a waiting producer.
pub async fn complete<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    job: &Finished<'_>,
    worker: &str,
    output: &[u8],
) -> Result<Completion, Error> {
    let inbox = if job.stream == keys.overflow() { keys.inbox(worker) } else { job.stream.to_string() };
    let mut done = complete_many(conn, keys, &inbox, worker, &[(*job, output)]).await?;
    done.pop().ok_or_else(|| malformed("complete: no reply for the job"))
}

/// Acknowledges many jobs finished by `worker` (read from `inbox` or the overflow) in one
/// script call per [`COMPLETE_MAX_BATCH`](crate::scripts::COMPLETE_MAX_BATCH): each is handled exactly as [`complete`] alone would, in order.
pub async fn complete_many<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    inbox: &str,
    worker: &str,
    jobs: &[(Finished<'_>, &[u8])],
) -> Result<Vec<Completion>, Error> {
    let overflow = keys.overflow();
    let mut out = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(MAX_BATCH) {
        let encoded = encode_completions(chunk, inbox, &overflow)?;
        let v = LUA.run(conn, &[&keys.meta(), inbox, &overflow], &[worker.as_bytes(), &encoded]).await?;
        let Value::Array(items) = v else { return Err(malformed(format!("complete: expected a list, got {v:?}"))) };
        if items.len() != 3 * chunk.len() {
            return Err(malformed(format!("complete: {} values for {} jobs", items.len(), chunk.len())));
        }
        let mut it = items.into_iter();
        while let (Some(status), Some(stamped), Some(on_owner)) = (it.next(), it.next(), it.next()) {
            out.push(Completion {
                stale: text(status)? == "stale",
                stamped: int(&stamped)? == 1,
                on_owner: int(&on_owner)? == 1,
            });
        }
    }
    Ok(out)
}

/// The jobs as the `complete` script's `jobs` argument, a MessagePack list (public for the benches). Byte strings go as `str`, which Redis 7.0's
/// cmsgpack reads as raw bytes (it cannot read `bin`).
pub fn encode_completions(jobs: &[(Finished<'_>, &[u8])], inbox: &str, overflow: &str) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(jobs.iter().map(|(j, o)| 64 + j.entry_id.len() + j.session.len() + o.len()).sum());
    let w = |e: rmp::encode::ValueWriteError| malformed(format!("complete: cannot encode the jobs: {e}"));
    rmp::encode::write_array_len(&mut buf, jobs.len() as u32).map_err(w)?;
    for (job, output) in jobs {
        let source = if job.stream == overflow {
            2
        } else if job.stream == inbox {
            1
        } else {
            return Err(Error::InvalidArgument(format!(
                "complete: {} is neither {inbox} nor the overflow",
                job.stream
            )));
        };
        rmp::encode::write_array_len(&mut buf, 6).map_err(w)?;
        rmp::encode::write_uint(&mut buf, source).map_err(w)?;
        for bytes in [
            job.entry_id.as_bytes(),
            job.session.as_bytes(),
            job.job_id.as_bytes(),
            job.reply_to.unwrap_or("").as_bytes(),
            output,
        ] {
            rmp::encode::write_str_len(&mut buf, bytes.len() as u32).map_err(w)?;
            buf.extend_from_slice(bytes);
        }
    }
    Ok(buf)
}

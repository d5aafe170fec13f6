//! `complete`: acknowledge a finished job and stamp the session's owner on a first success.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use crate::stream::text;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("complete",
    includes: ["settings", "entry"],
    keys: ["meta", "stream"],
    argv: ["entry_id", "worker", "session", "job_id", "reply_to", "output"]);
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
    let args: [&[u8]; 6] = [
        job.entry_id.as_bytes(),
        worker.as_bytes(),
        job.session.as_bytes(),
        job.job_id.as_bytes(),
        job.reply_to.unwrap_or("").as_bytes(),
        output,
    ];
    let v = LUA.run(conn, &[&keys.meta(), job.stream], &args).await?;
    let mut it = items("complete", v, 3)?.into_iter();
    let status = text(it.next().unwrap_or_default())?;
    Ok(Completion {
        stale: status == "stale",
        stamped: int(&it.next().unwrap_or_default())? == 1,
        on_owner: int(&it.next().unwrap_or_default())? == 1,
    })
}

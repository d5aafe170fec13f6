//! `complete`: acknowledge a finished job and stamp the session's owner on a first success.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use crate::stream::text;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("complete",
    includes: ["settings", "entry"],
    keys: ["meta", "stream"],
    argv: ["entry_id", "worker", "session"]);
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

/// Acknowledges entry `entry_id` of `stream` as finished by `worker`.
pub async fn complete<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    stream: &str,
    entry_id: &str,
    worker: &str,
    session: &str,
) -> Result<Completion, Error> {
    let v = LUA
        .run(conn, &[&keys.meta(), stream], &[entry_id.as_bytes(), worker.as_bytes(), session.as_bytes()])
        .await?;
    let mut it = items("complete", v, 3)?.into_iter();
    let status = text(it.next().unwrap_or_default())?;
    Ok(Completion {
        stale: status == "stale",
        stamped: int(&it.next().unwrap_or_default())? == 1,
        on_owner: int(&it.next().unwrap_or_default())? == 1,
    })
}

//! `fail`: acknowledge a failed job; schedule a retry with backoff or dead-letter it.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::{malformed, Error};
use crate::keys::Keys;
use crate::stream::text;
use redis::aio::ConnectionLike;
use redis::Value;

pub(super) static SPEC: ScriptSpec = script_spec!("fail",
    includes: ["settings", "entry"],
    keys: ["meta", "stream"],
    argv: ["entry_id", "worker", "jitter", "dead_reason", "error"]);
static LUA: Lua = Lua::new(&SPEC);

/// What failing a job did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Scheduled for another attempt at `due_ms` (Redis clock).
    Retry {
        /// When the retry is due.
        due_ms: u64,
    },
    /// Moved to `Q:dead` with this reason (`fatal`, `max_attempts`, `malformed`).
    Dead {
        /// Why it was dead-lettered.
        reason: String,
    },
    /// The job had been reclaimed before this failure: nothing was written.
    Stale,
}

/// Records that entry `entry_id` of `stream` failed on `worker`. `dead_reason` dead-letters
/// at once; `None` retries while attempts remain. `jitter` in [0, 1) spreads retries.
#[allow(clippy::too_many_arguments)]
pub async fn fail<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    stream: &str,
    entry_id: &str,
    worker: &str,
    jitter: f64,
    dead_reason: Option<&str>,
    error: &str,
) -> Result<Failure, Error> {
    let jitter = format!("{:.6}", jitter.clamp(0.0, 0.999_999));
    let args: [&[u8]; 5] = [
        entry_id.as_bytes(),
        worker.as_bytes(),
        jitter.as_bytes(),
        dead_reason.unwrap_or("").as_bytes(),
        error.as_bytes(),
    ];
    let v = LUA.run(conn, &[&keys.meta(), stream], &args).await?;
    let mut it = items("fail", v, 2)?.into_iter();
    let status = text(it.next().unwrap_or_default())?;
    let detail = it.next().unwrap_or(Value::Nil);
    match status.as_str() {
        "retry" => Ok(Failure::Retry { due_ms: int(&detail)? as u64 }),
        "dead" => Ok(Failure::Dead { reason: text(detail)? }),
        "stale" => Ok(Failure::Stale),
        other => Err(malformed(format!("fail returned {other:?}"))),
    }
}

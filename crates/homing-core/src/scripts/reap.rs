//! `reap`: take everything from a worker whose liveness deadline passed.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use crate::stream::text;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("reap",
    includes: ["settings", "bell", "route", "entry", "requeue"],
    keys: ["meta", "workers", "capacity", "overflow"],
    argv: ["limit", "worker", "force", "reaper"]);
static LUA: Lua = Lua::new(&SPEC);

/// What one `reap` call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaped {
    /// The dead worker handled, or `None` when every listed worker is alive.
    pub worker: Option<String>,
    /// Jobs sent back through the route (or dead-lettered past max_attempts).
    pub moved: u64,
    /// True once the worker is gone from `Q:workers`; false when more entries remain.
    pub done: bool,
}

/// Reaps one dead worker other than `reaper` (the calling worker, which is alive however late
/// its own heartbeat is), moving at most `limit` entries.
pub async fn reap<C: ConnectionLike>(conn: &mut C, keys: &Keys, reaper: &str, limit: u32) -> Result<Reaped, Error> {
    call(conn, keys, limit, "", false, reaper).await
}

/// Forgets `worker`: like [`reap`], but for a named worker, which must be dead unless `force`
/// ([`Error::WorkerAlive`] otherwise; [`Error::UnknownWorker`] if it is not listed). Call
/// until `done`.
pub async fn forget<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    worker: &str,
    force: bool,
    limit: u32,
) -> Result<Reaped, Error> {
    call(conn, keys, limit, worker, force, "").await
}

async fn call<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    limit: u32,
    worker: &str,
    force: bool,
    reaper: &str,
) -> Result<Reaped, Error> {
    let limit = limit.to_string();
    let force: &[u8] = if force { b"1" } else { b"0" };
    let v = LUA
        .run(
            conn,
            &[&keys.meta(), &keys.workers(), &keys.capacity(), &keys.overflow()],
            &[limit.as_bytes(), worker.as_bytes(), force, reaper.as_bytes()],
        )
        .await?;
    let mut it = items("reap", v, 3)?.into_iter();
    let worker = text(it.next().unwrap_or_default())?;
    Ok(Reaped {
        worker: (!worker.is_empty()).then_some(worker),
        moved: int(&it.next().unwrap_or_default())? as u64,
        done: int(&it.next().unwrap_or_default())? == 1,
    })
}

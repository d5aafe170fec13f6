//! `steal`: move inbox entries that waited longer than `max_wait` to the overflow.

use super::{int, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("steal",
    includes: ["settings"],
    keys: ["meta", "inbox", "overflow"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// Moves at most `limit` undelivered entries older than `max_wait` from `worker`'s inbox to the
/// overflow; returns how many moved.
pub async fn steal<C: ConnectionLike>(conn: &mut C, keys: &Keys, worker: &str, limit: u32) -> Result<u64, Error> {
    let v =
        LUA.run(conn, &[&keys.meta(), &keys.inbox(worker), &keys.overflow()], &[limit.to_string().as_bytes()]).await?;
    Ok(int(&v)? as u64)
}

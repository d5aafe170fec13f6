//! `reclaim`: take back entries whose worker stopped renewing their lease.

use super::{int, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("reclaim",
    includes: ["settings", "route", "entry", "requeue"],
    keys: ["meta", "stream"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// Reclaims at most `limit` stalled entries of `stream` (an inbox or the overflow); returns
/// how many moved.
pub async fn reclaim<C: ConnectionLike>(conn: &mut C, keys: &Keys, stream: &str, limit: u32) -> Result<u64, Error> {
    let v = LUA.run(conn, &[&keys.meta(), stream], &[limit.to_string().as_bytes()]).await?;
    Ok(int(&v)? as u64)
}

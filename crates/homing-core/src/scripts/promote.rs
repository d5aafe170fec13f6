//! `promote`: route delayed jobs whose time has come.

use super::{int, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("promote",
    includes: ["settings", "msgpack", "bell", "route"],
    keys: ["meta"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// Routes up to `limit` due jobs; returns how many moved.
pub async fn promote<C: ConnectionLike>(conn: &mut C, keys: &Keys, limit: u32) -> Result<u64, Error> {
    let v = LUA.run(conn, &[&keys.meta()], &[limit.to_string().as_bytes()]).await?;
    Ok(int(&v)? as u64)
}

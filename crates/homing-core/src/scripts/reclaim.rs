//! `reclaim`: take back entries whose worker stopped renewing their lease.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("reclaim",
    includes: ["settings", "route", "entry", "requeue"],
    keys: ["meta", "stream"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// What one `reclaim` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Entries re-routed or dead-lettered.
    pub moved: u64,
    /// Pins of the stalled worker released.
    pub released: u64,
}

/// Reclaims at most `limit` stalled entries of `stream` (an inbox or the overflow).
pub async fn reclaim<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    stream: &str,
    limit: u32,
) -> Result<Reclaimed, Error> {
    let v = LUA.run(conn, &[&keys.meta(), stream], &[limit.to_string().as_bytes()]).await?;
    let it = items("reclaim", v, 2)?;
    Ok(Reclaimed { moved: int(&it[0])? as u64, released: int(&it[1])? as u64 })
}

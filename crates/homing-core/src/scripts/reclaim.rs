//! `reclaim`: take back entries whose worker stopped renewing their lease.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("reclaim",
    includes: ["settings", "bell", "route", "entry", "requeue"],
    keys: ["meta", "stream"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// What one `reclaim` call did on one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Entries re-routed or dead-lettered.
    pub moved: u64,
    /// Pins of the stalled worker released.
    pub released: u64,
}

/// Reclaims at most `limit` stalled entries of each of `streams` (inboxes, the overflow), all
/// in one round trip; one result per stream, in order.
pub async fn reclaim<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    streams: &[String],
    limit: u32,
) -> Result<Vec<Reclaimed>, Error> {
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    let (meta, limit) = (keys.meta(), limit.to_string());
    let calls = streams.iter().map(|s| LUA.cmd(&[&meta, s], &[limit.as_bytes()]));
    let parse = |v| {
        let it = items("reclaim", v, 2)?;
        Ok(Reclaimed { moved: int(&it[0])? as u64, released: int(&it[1])? as u64 })
    };
    LUA.pipeline(conn, calls).await?.into_iter().map(|r| r.map_err(Error::from).and_then(parse)).collect()
}

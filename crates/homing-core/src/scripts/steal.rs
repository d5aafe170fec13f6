//! `steal`: move inbox entries that waited longer than `max_wait` to the overflow.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("steal",
    includes: ["settings", "bell", "route", "entry"],
    keys: ["meta", "waiting", "overflow"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// What one `steal` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stolen {
    /// Entries moved to the overflow.
    pub moved: u64,
    /// Inboxes looked at (listed in `Q:waiting` with a job older than `max_wait`).
    pub looked: u64,
}

/// Moves undelivered entries older than `max_wait` from the inboxes `Q:waiting` lists to the
/// overflow: at most `limit` entries and `limit` inboxes per call.
pub async fn steal<C: ConnectionLike>(conn: &mut C, keys: &Keys, limit: u32) -> Result<Stolen, Error> {
    let v = LUA.run(conn, &[&keys.meta(), &keys.waiting(), &keys.overflow()], &[limit.to_string().as_bytes()]).await?;
    let it = items("steal", v, 2)?;
    Ok(Stolen { moved: int(&it[0])? as u64, looked: int(&it[1])? as u64 })
}

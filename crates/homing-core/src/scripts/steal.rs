//! `steal`: move inbox entries that waited longer than `max_wait` to the overflow.

use super::{int, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("steal",
    includes: ["settings", "entry"],
    keys: ["meta", "inbox", "overflow"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// Moves at most `limit` undelivered entries older than `max_wait` from each of `workers`'
/// inboxes to the overflow, all in one round trip; how many moved per worker, in order.
pub async fn steal<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    workers: &[String],
    limit: u32,
) -> Result<Vec<u64>, Error> {
    if workers.is_empty() {
        return Ok(Vec::new());
    }
    let (meta, overflow, limit) = (keys.meta(), keys.overflow(), limit.to_string());
    let inboxes: Vec<String> = workers.iter().map(|w| keys.inbox(w)).collect();
    let calls = inboxes.iter().map(|inbox| LUA.cmd(&[&meta, inbox, &overflow], &[limit.as_bytes()]));
    LUA.pipeline(conn, calls).await?.into_iter().map(|r| Ok(int(&r?)? as u64)).collect()
}

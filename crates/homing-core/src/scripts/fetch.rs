//! `fetch`: claim new entries for a worker, inbox first, then the overflow, in one round trip.

use super::{items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use crate::stream::{parse_entries, StreamEntry};
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("fetch",
    includes: [],
    keys: ["inbox", "overflow"],
    argv: ["worker", "count"]);
static LUA: Lua = Lua::new(&SPEC);

/// Entries claimed by one fetch.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// From the worker's inbox (routed to it).
    pub inbox: Vec<StreamEntry>,
    /// From the shared overflow.
    pub overflow: Vec<StreamEntry>,
}

/// Claims up to `count` new entries for `worker`.
pub async fn fetch<C: ConnectionLike>(conn: &mut C, keys: &Keys, worker: &str, count: u32) -> Result<Fetched, Error> {
    let v = LUA
        .run(conn, &[&keys.inbox(worker), &keys.overflow()], &[worker.as_bytes(), count.to_string().as_bytes()])
        .await?;
    let mut it = items("fetch", v, 2)?.into_iter();
    Ok(Fetched {
        inbox: parse_entries(it.next().unwrap_or_default())?,
        overflow: parse_entries(it.next().unwrap_or_default())?,
    })
}

//! `fetch`: claim new entries for a worker from its inbox and the overflow, in one round trip,
//! reading the stream named first for half the slots and the other for the rest.

use super::{items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use crate::stream::{parse_entries, StreamEntry};
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("fetch",
    includes: ["bell"],
    keys: ["inbox", "overflow"],
    argv: ["worker", "count", "first"]);
static LUA: Lua = Lua::new(&SPEC);

/// Entries claimed by one fetch.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// From the worker's inbox (routed to it).
    pub inbox: Vec<StreamEntry>,
    /// From the shared overflow.
    pub overflow: Vec<StreamEntry>,
}

/// The stream a fetch reads first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchFirst {
    /// The worker's inbox.
    Inbox,
    /// The shared overflow.
    Overflow,
}

impl FetchFirst {
    /// The word the script takes.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchFirst::Inbox => "inbox",
            FetchFirst::Overflow => "overflow",
        }
    }

    /// The other stream: a worker alternates, so neither stream starves.
    pub fn other(self) -> Self {
        match self {
            FetchFirst::Inbox => FetchFirst::Overflow,
            FetchFirst::Overflow => FetchFirst::Inbox,
        }
    }
}

/// Claims up to `count` new entries for `worker`, its inbox read first.
pub async fn fetch<C: ConnectionLike>(conn: &mut C, keys: &Keys, worker: &str, count: u32) -> Result<Fetched, Error> {
    fetch_with(conn, keys, worker, count, FetchFirst::Inbox).await
}

/// Claims up to `count` new entries for `worker`: half the slots (rounded up) from `first`, the
/// rest from the other stream, and what one lacks from the other.
pub async fn fetch_with<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    worker: &str,
    count: u32,
    first: FetchFirst,
) -> Result<Fetched, Error> {
    let count = count.to_string();
    let args: [&[u8]; 3] = [worker.as_bytes(), count.as_bytes(), first.as_str().as_bytes()];
    let v = LUA.run(conn, &[&keys.inbox(worker), &keys.overflow()], &args).await?;
    let mut it = items("fetch", v, 2)?.into_iter();
    Ok(Fetched {
        inbox: parse_entries(it.next().unwrap_or_default())?,
        overflow: parse_entries(it.next().unwrap_or_default())?,
    })
}

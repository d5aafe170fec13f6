//! `fetch`: claim new entries for a worker from its inbox and the overflow, in one round trip,
//! reading the stream named first for half the slots and the other for the rest.

use super::{is_noscript, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use crate::stream::{parse_entries, StreamEntry};
use redis::aio::ConnectionLike;
use redis::Value;
use std::time::Duration;

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
    parse(v)
}

/// Waits up to `wait` for a bell of the worker's inbox or the overflow (`BLPOP`), then fetches
/// as [`fetch_with`] does, in one pipeline: Redis runs the fetch the moment the wait ends, so a
/// woken worker gets its entries in the same round trip. The fetch runs when the wait runs out
/// too (it finds what a lost bell did not announce). An idle worker's connection is blocked
/// meanwhile: give it one of its own.
pub async fn wait_then_fetch<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    worker: &str,
    wait: Duration,
    count: u32,
    first: FetchFirst,
) -> Result<Fetched, Error> {
    let (inbox, overflow) = (keys.inbox(worker), keys.overflow());
    let count_arg = count.to_string();
    let args: [&[u8]; 3] = [worker.as_bytes(), count_arg.as_bytes(), first.as_str().as_bytes()];
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    pipe.cmd("BLPOP").arg(Keys::bell(&inbox)).arg(Keys::bell(&overflow)).arg(wait.as_secs_f64());
    pipe.add_command(LUA.cmd(&[&inbox, &overflow], &args));
    let mut replies: Vec<redis::RedisResult<Value>> = pipe.query_async(conn).await?;
    let fetched = match replies.pop().unwrap_or(Ok(Value::Nil)) {
        Ok(v) => parse(v),
        // Redis lost its scripts (a restart): the wait is over, so fetch the ordinary way,
        // which loads the script.
        Err(e) if is_noscript(&e) => fetch_with(conn, keys, worker, count, first).await,
        Err(e) => Err(e.into()),
    };
    match (replies.pop(), fetched) {
        // Entries the fetch claimed are this worker's now: they run even if the wait failed.
        (_, Ok(f)) if !(f.inbox.is_empty() && f.overflow.is_empty()) => Ok(f),
        // A wait that fails (a bell that is not a list) fails the call, so the caller backs
        // off instead of fetching in a loop.
        (Some(Err(e)), _) => Err(e.into()),
        (_, fetched) => fetched,
    }
}

fn parse(v: Value) -> Result<Fetched, Error> {
    let mut it = items("fetch", v, 2)?.into_iter();
    Ok(Fetched {
        inbox: parse_entries(it.next().unwrap_or_default())?,
        overflow: parse_entries(it.next().unwrap_or_default())?,
    })
}

//! `heartbeat`: register a worker or push its liveness deadline forward.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;
use std::time::Duration;

pub(super) static SPEC: ScriptSpec = script_spec!("heartbeat",
    includes: ["settings"],
    keys: ["meta", "workers", "capacity", "lease"],
    argv: ["worker", "liveness_ttl_ms", "capacity", "write_capacity", "lease_ttl_ms"]);
static LUA: Lua = Lua::new(&SPEC);

/// What a heartbeat found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// False when the worker was not registered (first start, or reaped) and now is.
    pub known: bool,
    /// The new liveness deadline (ms, Redis clock).
    pub deadline_ms: u64,
    /// True when the worker holds the maintenance lease (only asked with a `lease_ttl`).
    pub lease: bool,
}

/// One beat of a running worker.
#[derive(Clone, Copy, Debug)]
pub struct Beat<'a> {
    /// The worker's id.
    pub worker: &'a str,
    /// Its deadline becomes now + `liveness_ttl`.
    pub liveness_ttl: Duration,
    /// Its concurrency (0 while draining).
    pub capacity: u32,
    /// Write the capacity even if the worker is registered (it changed since the last beat).
    pub write_capacity: bool,
    /// Take the maintenance lease for this long if no one holds it; `None` to leave it alone.
    pub lease_ttl: Option<Duration>,
}

/// Registers `worker` or refreshes its deadline to now + `liveness_ttl`, writing `capacity`.
pub async fn heartbeat<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    worker: &str,
    liveness_ttl: Duration,
    capacity: u32,
) -> Result<Heartbeat, Error> {
    let beat = Beat { worker, liveness_ttl, capacity, write_capacity: true, lease_ttl: None };
    heartbeat_with(conn, keys, &beat).await
}

/// One beat: the deadline, the capacity when it changed, and a try at the maintenance lease.
pub async fn heartbeat_with<C: ConnectionLike>(conn: &mut C, keys: &Keys, beat: &Beat<'_>) -> Result<Heartbeat, Error> {
    let ttl = beat.liveness_ttl.as_millis().to_string();
    let cap = beat.capacity.to_string();
    let write: &[u8] = if beat.write_capacity { b"1" } else { b"0" };
    let lease = beat.lease_ttl.map_or(0, |t| t.as_millis().max(1)).to_string();
    let v = LUA
        .run(
            conn,
            &[&keys.meta(), &keys.workers(), &keys.capacity(), &keys.lease("maintenance")],
            &[beat.worker.as_bytes(), ttl.as_bytes(), cap.as_bytes(), write, lease.as_bytes()],
        )
        .await?;
    let it = items("heartbeat", v, 3)?;
    Ok(Heartbeat { known: int(&it[0])? == 1, deadline_ms: int(&it[1])? as u64, lease: int(&it[2])? == 1 })
}

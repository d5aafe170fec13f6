//! `heartbeat`: register a worker or push its liveness deadline forward.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;
use std::time::Duration;

pub(super) static SPEC: ScriptSpec = script_spec!("heartbeat",
    includes: ["settings"],
    keys: ["meta", "workers", "capacity"],
    argv: ["worker", "liveness_ttl_ms", "capacity"]);
static LUA: Lua = Lua::new(&SPEC);

/// What a heartbeat found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// False when the worker was not registered (first start, or reaped) and now is.
    pub known: bool,
    /// The new liveness deadline (ms, Redis clock).
    pub deadline_ms: u64,
}

/// Registers `worker` or refreshes its deadline to now + `liveness_ttl`.
pub async fn heartbeat<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    worker: &str,
    liveness_ttl: Duration,
    capacity: u32,
) -> Result<Heartbeat, Error> {
    let ttl = liveness_ttl.as_millis().to_string();
    let cap = capacity.to_string();
    let v = LUA
        .run(
            conn,
            &[&keys.meta(), &keys.workers(), &keys.capacity()],
            &[worker.as_bytes(), ttl.as_bytes(), cap.as_bytes()],
        )
        .await?;
    let it = items("heartbeat", v, 2)?;
    Ok(Heartbeat { known: int(&it[0])? == 1, deadline_ms: int(&it[1])? as u64 })
}

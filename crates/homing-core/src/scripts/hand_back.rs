//! `hand_back`: graceful shutdown in two phases, drain then leave.

use super::{int, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("hand_back",
    includes: ["settings", "bell", "route", "entry", "requeue"],
    keys: ["meta", "workers", "capacity", "inbox", "overflow"],
    argv: ["worker", "phase"]);
static LUA: Lua = Lua::new(&SPEC);

/// Which half of a graceful shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandBackPhase {
    /// Capacity 0 and unstarted inbox entries to the overflow; the worker keeps running.
    Drain,
    /// Everything left to the overflow, inbox and consumer deleted, worker deregistered.
    Leave,
}

/// Runs one phase of the hand-back for `worker`; returns how many entries moved.
pub async fn hand_back<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    worker: &str,
    phase: HandBackPhase,
) -> Result<u64, Error> {
    let phase = match phase {
        HandBackPhase::Drain => "drain",
        HandBackPhase::Leave => "leave",
    };
    let v = LUA
        .run(
            conn,
            &[&keys.meta(), &keys.workers(), &keys.capacity(), &keys.inbox(worker), &keys.overflow()],
            &[worker.as_bytes(), phase.as_bytes()],
        )
        .await?;
    Ok(int(&v)? as u64)
}

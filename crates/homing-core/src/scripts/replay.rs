//! `replay`: send a dead letter back through the route as a fresh job.

use super::{items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::ids::JobId;
use crate::keys::Keys;
use crate::route::Route;
use crate::stream::text;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("replay",
    includes: ["settings", "bell", "route", "entry"],
    keys: ["meta", "dead"],
    argv: ["entry_id"]);
static LUA: Lua = Lua::new(&SPEC);

/// Replays dead letter `entry_id` (its id in `Q:dead`) at attempt 0; returns the job id and
/// its route. [`Error::NotFound`] when there is no such dead letter.
pub async fn replay<C: ConnectionLike>(conn: &mut C, keys: &Keys, entry_id: &str) -> Result<(JobId, Route), Error> {
    let v = LUA.run(conn, &[&keys.meta(), &keys.dead()], &[entry_id.as_bytes()]).await?;
    let mut it = items("replay", v, 2)?.into_iter();
    let id = JobId::parse(text(it.next().unwrap_or_default())?)?;
    let route = text(it.next().unwrap_or_default())?.parse()?;
    Ok((id, route))
}

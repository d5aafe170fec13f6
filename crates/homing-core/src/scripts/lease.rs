//! `lease`: take or renew a named lease, so one worker at a time runs a maintenance pass.

use super::{int, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;
use std::time::Duration;

pub(super) static SPEC: ScriptSpec = script_spec!("lease",
    includes: [],
    keys: ["lease"],
    argv: ["worker", "ttl_ms"]);
static LUA: Lua = Lua::new(&SPEC);

/// Takes or renews lease `pass` for `worker` for `ttl`; true when `worker` holds it.
pub async fn lease<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    pass: &str,
    worker: &str,
    ttl: Duration,
) -> Result<bool, Error> {
    let ttl = ttl.as_millis().max(1).to_string();
    let v = LUA.run(conn, &[&keys.lease(pass)], &[worker.as_bytes(), ttl.as_bytes()]).await?;
    Ok(int(&v)? == 1)
}

/// Releases lease `pass` if `worker` holds it, so another worker takes it at once.
pub async fn release_lease<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    pass: &str,
    worker: &str,
) -> Result<(), Error> {
    LUA.run(conn, &[&keys.lease(pass)], &[worker.as_bytes(), b"0"]).await?;
    Ok(())
}

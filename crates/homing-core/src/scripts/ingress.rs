//! `ingress`: route envelopes LPUSHed to `Q:ingress` by producers without the Rust client.

use super::{int, items, script_spec, Lua, ScriptSpec};
use crate::error::Error;
use crate::keys::Keys;
use redis::aio::ConnectionLike;

pub(super) static SPEC: ScriptSpec = script_spec!("ingress",
    includes: ["settings", "msgpack", "bell", "route"],
    keys: ["meta", "ingress"],
    argv: ["limit"]);
static LUA: Lua = Lua::new(&SPEC);

/// What one `ingress` call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Envelopes routed as jobs.
    pub routed: u64,
    /// Envelopes dead-lettered as `malformed`.
    pub dead: u64,
    /// Envelopes whose idempotency key was already used: nothing enqueued.
    pub duplicates: u64,
}

impl Ingested {
    /// Envelopes taken from the list.
    pub fn taken(&self) -> u64 {
        self.routed + self.dead + self.duplicates
    }
}

/// Routes at most `limit` envelopes from `Q:ingress`, oldest first.
pub async fn ingress<C: ConnectionLike>(conn: &mut C, keys: &Keys, limit: u32) -> Result<Ingested, Error> {
    let v = LUA.run(conn, &[&keys.meta(), &keys.ingress()], &[limit.to_string().as_bytes()]).await?;
    let it = items("ingress", v, 3)?;
    Ok(Ingested { routed: int(&it[0])? as u64, dead: int(&it[1])? as u64, duplicates: int(&it[2])? as u64 })
}

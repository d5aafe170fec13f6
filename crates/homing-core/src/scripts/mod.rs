//! The Lua scripts of `lua/`, each joined with its includes at compile time and called through
//! one typed function of the same name. This module holds what they share: the spec every
//! header is checked against, and running a script with `NOSCRIPT` recovery in pipelines.

mod complete;
mod fail;
mod fetch;
mod hand_back;
mod heartbeat;
mod ingress;
mod init;
mod lease;
mod promote;
mod push;
mod reap;
mod reclaim;
mod replay;
mod steal;

pub use complete::{
    complete, complete_many, encode_completions, Completion, Finished, MAX_BATCH as COMPLETE_MAX_BATCH,
};
pub use fail::{fail, Failure};
pub use fetch::{fetch, fetch_with, wait_then_fetch, FetchFirst, Fetched};
pub use hand_back::{hand_back, HandBackPhase};
pub use heartbeat::{heartbeat, heartbeat_with, Beat, Heartbeat};
pub use ingress::{ingress, Ingested};
pub use init::{
    init, init_partitions, load_settings, load_settings_lenient, partition_count, read_meta, InitMode, Initialised,
};
pub use lease::{lease, release_lease};
pub use promote::promote;
pub use push::{push, push_many, PushArgs, Pushed, MAX_BATCH as PUSH_MAX_BATCH};
pub use reap::{forget, reap, Reaped};
pub use reclaim::{reclaim, Reclaimed};
pub use replay::replay;
pub use steal::{steal, Stolen};

use crate::error::{malformed, Error};
use redis::aio::ConnectionLike;
use redis::{Cmd, Script, Value};
use std::sync::OnceLock;

/// A script's source, the include names and the `KEYS`/`ARGV` names its header declares.
/// The Rust wrapper passes exactly these, in this order; a unit test checks the header.
pub struct ScriptSpec {
    /// The file name without `.lua`.
    pub name: &'static str,
    /// The file as written (header and body, no includes).
    pub file: &'static str,
    /// The include files (from `lua/include/`) joined in front of it.
    pub includes: &'static [&'static str],
    /// The names of `KEYS[1..]`.
    pub keys: &'static [&'static str],
    /// The names of `ARGV[1..]`.
    pub argv: &'static [&'static str],
    /// What is sent to Redis: the includes, then the file.
    pub source: &'static str,
}

/// Declares a [`ScriptSpec`] whose source is joined at compile time.
macro_rules! script_spec {
    ($name:literal, includes: [$($inc:literal),*], keys: [$($k:literal),*], argv: [$($a:literal),*]) => {
        $crate::scripts::ScriptSpec {
            name: $name,
            file: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/lua/", $name, ".lua")),
            includes: &[$($inc),*],
            keys: &[$($k),*],
            argv: &[$($a),*],
            source: concat!(
                $(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/lua/include/", $inc, ".lua")), "\n",)*
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/lua/", $name, ".lua"))
            ),
        }
    };
}
pub(crate) use script_spec;

/// Every script, for header checks and for `homing` to list.
pub fn all() -> [&'static ScriptSpec; 15] {
    [
        &complete::SPEC,
        &fail::SPEC,
        &fetch::SPEC,
        &hand_back::SPEC,
        &heartbeat::SPEC,
        &ingress::SPEC,
        &init::SPEC,
        &lease::SPEC,
        &promote::SPEC,
        &push::SPEC,
        &push::MANY_SPEC,
        &reap::SPEC,
        &reclaim::SPEC,
        &replay::SPEC,
        &steal::SPEC,
    ]
}

/// A loaded script: its spec and the `redis::Script` (which reloads a script Redis forgot).
pub(crate) struct Lua {
    pub(crate) spec: &'static ScriptSpec,
    script: OnceLock<Script>,
}

impl Lua {
    pub(crate) const fn new(spec: &'static ScriptSpec) -> Self {
        Self { spec, script: OnceLock::new() }
    }

    fn script(&self) -> &Script {
        self.script.get_or_init(|| Script::new(self.spec.source))
    }

    fn check(&self, keys: usize, args: usize) {
        debug_assert_eq!(keys, self.spec.keys.len(), "{}: KEYS count", self.spec.name);
        debug_assert_eq!(args, self.spec.argv.len(), "{}: ARGV count", self.spec.name);
    }

    /// Runs the script once; `NOSCRIPT` is answered by loading it and running again.
    pub(crate) async fn run<C: ConnectionLike>(
        &self,
        conn: &mut C,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<Value, Error> {
        self.check(keys.len(), args.len());
        let mut inv = self.script().prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        Ok(inv.invoke_async(conn).await?)
    }

    /// The `EVALSHA` command for a pipeline; pair with [`Lua::load`] on `NOSCRIPT`.
    pub(crate) fn cmd(&self, keys: &[&str], args: &[&[u8]]) -> Cmd {
        self.check(keys.len(), args.len());
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script().get_hash()).arg(keys.len());
        for k in keys {
            cmd.arg(*k);
        }
        for a in args {
            cmd.arg(*a);
        }
        cmd
    }

    /// Loads the script into the script cache.
    pub(crate) async fn load<C: ConnectionLike>(&self, conn: &mut C) -> Result<(), Error> {
        self.script().load_async(conn).await?;
        Ok(())
    }

    /// Sends `calls` (each from [`Lua::cmd`]) in one pipeline, one round trip, and returns each
    /// call's own reply, so one refused call does not fail the others; a lost connection fails
    /// them all.
    pub(crate) async fn pipeline<C: ConnectionLike>(
        &self,
        conn: &mut C,
        calls: impl IntoIterator<Item = Cmd>,
    ) -> Result<Vec<redis::RedisResult<Value>>, Error> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for call in calls {
            pipe.add_command(call);
        }
        let replies: Vec<redis::RedisResult<Value>> = pipe.query_async(conn).await?;
        if !replies.iter().any(|r| matches!(r, Err(e) if is_noscript(e))) {
            return Ok(replies);
        }
        // Every command named the same unknown script, so none ran: load it and resend.
        self.load(conn).await?;
        Ok(pipe.query_async(conn).await?)
    }
}

/// True when a pipeline failed because Redis did not know a script (after a restart or
/// `SCRIPT FLUSH`), so loading it and sending again is safe: no command of it ran.
pub(crate) fn is_noscript(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

/// Splits a script's array reply into its items, naming the script when the shape is wrong.
pub(crate) fn items(name: &str, v: Value, len: usize) -> Result<Vec<Value>, Error> {
    let items = crate::stream::array(v)?;
    if items.len() < len {
        return Err(malformed(format!("{name} returned {} items, expected {len}", items.len())));
    }
    Ok(items)
}

pub(crate) fn int(v: &Value) -> Result<i64, Error> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(b) => {
            std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| malformed("expected an integer"))
        }
        other => Err(malformed(format!("expected an integer, got {other:?}"))),
    }
}

#[cfg(test)]
mod header_tests;

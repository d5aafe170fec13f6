//! One plain connection for the one-shot commands (`queue`, `dead`, `status`, `forget`), and
//! the one place that decides when an error means "cannot connect".

use crate::args::Global;
use anyhow::Context;
use redis::aio::MultiplexedConnection;

/// Connects to the Redis of `global`, with an error that names the URL (its secrets hidden).
pub async fn connect(global: &Global) -> anyhow::Result<MultiplexedConnection> {
    let client =
        redis::Client::open(global.url()).with_context(|| format!("bad Redis URL {:?}", global.shown_url()))?;
    client.get_multiplexed_async_connection().await.with_context(|| format!("cannot connect to {}", global.shown_url()))
}

/// A library error from connecting, as the user should read it: "cannot connect" only when
/// Redis itself failed; a refusal (a bad setting, a protocol mismatch, a bad name) is shown as
/// itself, since it names what to fix.
pub fn explain(e: homing_core::Error, global: &Global) -> anyhow::Error {
    match e {
        homing_core::Error::Redis(_) => {
            anyhow::Error::new(e).context(format!("cannot connect to {}", global.shown_url()))
        }
        other => other.into(),
    }
}

//! One plain connection for the one-shot commands (`queue`, `dead`, `status`, `forget`).

use crate::args::Global;
use anyhow::Context;
use redis::aio::MultiplexedConnection;

/// Connects to the Redis of `global`, with an error that names the URL.
pub async fn connect(global: &Global) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(global.url()).with_context(|| format!("bad Redis URL {:?}", global.url()))?;
    client.get_multiplexed_async_connection().await.with_context(|| format!("cannot connect to {}", global.url()))
}

//! One plain connection for the one-shot commands (`queue`, `dead`, `status`, `forget`), and
//! the one place that decides when an error means "cannot connect".

use crate::args::Global;
use homing_core::{RedisConnection, RedisTarget, Timeouts};

/// Connects to the Redis of `global`, with an error that names the URL (its secrets hidden).
pub async fn connect(global: &Global) -> anyhow::Result<RedisConnection> {
    connect_to(&global.target()).await
}

/// Connects to `target`; a set-up failure with a known fix (TLS, password) is that one line.
pub async fn connect_to(target: &RedisTarget) -> anyhow::Result<RedisConnection> {
    let connected = async {
        let mut c = target.connect(timeouts()).await?;
        // A first command, so a TLS-only port given a redis:// URL fails here, explained.
        redis::cmd("PING").query_async::<()>(&mut c).await?;
        Ok::<_, homing_core::Error>(c)
    };
    match connected.await {
        Ok(c) => Ok(c),
        Err(e) => match target.explain(e) {
            homing_core::Error::Redis(e) => {
                Err(anyhow::Error::new(e).context(format!("cannot connect to {}", target.shown_url())))
            }
            clear => Err(clear.into()),
        },
    }
}

/// Timeouts for one-shot commands: a Redis that takes the TCP connection but never answers
/// (a TLS-only port given a redis:// URL) fails in seconds instead of hanging.
fn timeouts() -> Timeouts {
    Timeouts { connection: std::time::Duration::from_secs(5), response: Some(std::time::Duration::from_secs(5)) }
}

/// A library error from connecting, as the user should read it: "cannot connect" only when
/// Redis itself failed; a refusal (a bad setting, a protocol mismatch, a bad name) is shown as
/// itself, since it names what to fix.
pub fn explain(e: homing_core::Error, global: &Global) -> anyhow::Error {
    match e {
        homing_core::Error::Connect(_) => e.into(),
        homing_core::Error::Redis(_) => {
            anyhow::Error::new(e).context(format!("cannot connect to {}", global.shown_url()))
        }
        other => other.into(),
    }
}

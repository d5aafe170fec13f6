//! Redis connections of one worker, from one deadpool pool: a shared multiplexed connection for
//! short commands, and dedicated ones for the blocking read, heartbeats and maintenance, so a
//! blocked read or a long pipeline never delays a heartbeat.

use crate::error::Error;
use deadpool_redis::{Connection, Manager, Pool, PoolError, Runtime};
use homing_core::RedisTarget;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use std::sync::Mutex;
use std::time::Duration;

/// The pool and the cached shared connection.
pub(crate) struct Connections {
    target: RedisTarget,
    pool: Pool,
    shared: Mutex<Option<MultiplexedConnection>>,
}

impl Connections {
    /// A pool whose response timeout outlasts the blocking read: redis-rs 1.x fails any
    /// command after 500 ms by default, which would cut every idle `XREADGROUP BLOCK` short.
    /// The client (URL, TLS files, user) comes from `homing_core::connect`, like every other
    /// connection of Homing's.
    pub(crate) fn new(target: &RedisTarget, idle_block: Duration) -> Result<Self, Error> {
        let client = target.client()?;
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(idle_block + Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let manager = Manager::new_with_config(client.get_connection_info().clone(), config)?;
        let pool = Pool::builder(manager)
            .max_size(8)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Pool(e.to_string()))?;
        Ok(Self { target: target.clone(), pool, shared: Mutex::new(None) })
    }

    /// A connection for the caller alone (blocking reads, heartbeats, maintenance). Dropping
    /// it returns it to the pool, which pings it before handing it out again.
    pub(crate) async fn dedicated(&self) -> Result<Connection, Error> {
        self.pool.get().await.map_err(|e| match e {
            // A failed set-up (a TLS handshake, a refused password) says what to fix.
            PoolError::Backend(e) => match self.target.explain(e) {
                homing_core::Error::Redis(e) => Error::Pool(e.to_string()),
                clear => Error::Core(clear),
            },
            other => Error::Pool(other.to_string()),
        })
    }

    /// The shared multiplexed connection: concurrent callers' commands are pipelined on one
    /// socket, which batches the completions of many jobs into few round trips.
    pub(crate) async fn shared(&self) -> Result<MultiplexedConnection, Error> {
        if let Some(c) = self.shared.lock().expect("not poisoned").as_ref() {
            return Ok(c.clone());
        }
        let conn = Connection::take(self.dedicated().await?);
        *self.shared.lock().expect("not poisoned") = Some(conn.clone());
        Ok(conn)
    }

    /// Drops the shared connection after a connection error, so the next call reconnects.
    pub(crate) fn reset_shared_on(&self, e: &Error) {
        if matches!(e, Error::Pool(_)) || matches!(e, Error::Core(c) if c.is_connection_error()) {
            *self.shared.lock().expect("not poisoned") = None;
        }
    }
}

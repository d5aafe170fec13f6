//! Redis connections of one worker, from one pool: a shared multiplexed connection for short
//! commands, and dedicated ones for the blocking read, heartbeats and maintenance, so a blocked
//! read or a long pipeline never delays a heartbeat. Against a Redis Cluster every one of them
//! is a cluster connection of its own, with its own socket to each master: the cluster client
//! multiplexes one socket per node, so a blocking read sharing it would hold up every command
//! queued behind it on that node.

use crate::error::Error;
use deadpool::managed;
use deadpool_redis::{Manager, PoolError, Runtime};
use homing_core::{RedisConnection, RedisTarget, Timeouts};
use redis::aio::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::sync::Mutex;
use std::time::Duration;

/// A connection for one caller alone: a pooled single-node or cluster connection.
pub(crate) type Dedicated = RedisConnection<deadpool_redis::Connection, PooledCluster>;

/// The pool and the cached shared connection.
pub(crate) struct Connections {
    target: RedisTarget,
    pool: Pool,
    shared: Mutex<Option<RedisConnection>>,
}

enum Pool {
    Single(deadpool_redis::Pool),
    Cluster(managed::Pool<ClusterManager>),
}

/// Connections a pool holds per partition served: more than the worker's few dedicated users
/// (fetch, heartbeat, maintenance, ingress, renew) of one partition ever take at once.
const POOL_SIZE: usize = 8;

impl Connections {
    /// A pool whose response timeout outlasts the blocking read: redis-rs 1.x fails any
    /// command after 500 ms by default, which would cut every idle `XREADGROUP BLOCK` short.
    /// The client (URL, TLS files, user) comes from `homing_core::connect`, like every other
    /// connection of Homing's.
    pub(crate) fn new(target: &RedisTarget, idle_block: Duration) -> Result<Self, Error> {
        let timeouts =
            Timeouts { connection: Duration::from_secs(5), response: Some(idle_block + Duration::from_secs(5)) };
        let pool = if target.cluster {
            let manager = ClusterManager { client: target.cluster_client()?, config: timeouts.cluster() };
            let pool = managed::Pool::builder(manager).max_size(POOL_SIZE).runtime(Runtime::Tokio1).build();
            Pool::Cluster(pool.map_err(|e| Error::Pool(e.to_string()))?)
        } else {
            let manager = Manager::new_with_config(target.client()?.get_connection_info().clone(), timeouts.single())?;
            let pool = deadpool_redis::Pool::builder(manager).max_size(POOL_SIZE).runtime(Runtime::Tokio1).build();
            Pool::Single(pool.map_err(|e| Error::Pool(e.to_string()))?)
        };
        Ok(Self { target: target.clone(), pool, shared: Mutex::new(None) })
    }

    /// Sizes the pool for the tasks of `partitions` partitions (it starts sized for one).
    pub(crate) fn serve(&self, partitions: usize) {
        let size = POOL_SIZE * partitions.max(1);
        match &self.pool {
            Pool::Single(pool) => pool.resize(size),
            Pool::Cluster(pool) => pool.resize(size),
        }
    }

    /// A connection for the caller alone (blocking reads, heartbeats, maintenance). Dropping
    /// it returns it to the pool, which pings it before handing it out again.
    pub(crate) async fn dedicated(&self) -> Result<Dedicated, Error> {
        let got = match &self.pool {
            Pool::Single(pool) => pool.get().await.map(RedisConnection::Single),
            Pool::Cluster(pool) => pool.get().await.map(|c| RedisConnection::Cluster(PooledCluster(c))),
        };
        got.map_err(|e| match e {
            // A failed set-up (a TLS handshake, a refused password) says what to fix.
            PoolError::Backend(e) => match self.target.explain(e) {
                homing_core::Error::Redis(e) => Error::Pool(e.to_string()),
                clear => Error::Core(clear),
            },
            other => Error::Pool(other.to_string()),
        })
    }

    /// The shared multiplexed connection: concurrent callers' commands are pipelined on one
    /// socket (per node), which batches the completions of many jobs into few round trips.
    pub(crate) async fn shared(&self) -> Result<RedisConnection, Error> {
        if let Some(c) = self.shared.lock().expect("not poisoned").as_ref() {
            return Ok(c.clone());
        }
        let conn = detach(self.dedicated().await?);
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

/// Takes a connection out of its pool for good: for the shared connection, or to drop one
/// that may still have a reply on its way (a cancelled blocking read).
pub(crate) fn detach(conn: Dedicated) -> RedisConnection {
    match conn {
        RedisConnection::Single(c) => RedisConnection::Single(deadpool_redis::Connection::take(c)),
        RedisConnection::Cluster(c) => RedisConnection::Cluster(managed::Object::take(c.0)),
    }
}

/// A pooled cluster connection (deadpool-redis's own cluster pool takes neither TLS files nor
/// timeouts, so the worker keeps its own manager).
pub(crate) struct PooledCluster(managed::Object<ClusterManager>);

impl ConnectionLike for PooledCluster {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.0.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

/// Makes cluster connections with the worker's timeouts; pings every master before reuse.
pub(crate) struct ClusterManager {
    client: ClusterClient,
    config: ClusterConfig,
}

impl managed::Manager for ClusterManager {
    type Type = ClusterConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<ClusterConnection, RedisError> {
        self.client.get_async_connection_with_config(self.config.clone()).await
    }

    async fn recycle(&self, conn: &mut ClusterConnection, _: &managed::Metrics) -> managed::RecycleResult<RedisError> {
        redis::cmd("PING").query_async::<()>(conn).await?;
        Ok(())
    }
}

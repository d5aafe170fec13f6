//! One connection to Redis, one node or a cluster alike: [`RedisConnection`], the type every
//! command and script of Homing goes through, and [`RedisTarget::connect`], which opens one.
//! The cluster side (the redis crate's async cluster client) follows `MOVED` and `ASK`, routes a
//! script's `EVALSHA` by its first key to the master of that key's slot (every script of a queue
//! stays in the queue's hash tag) and, on `NOSCRIPT`, loads the script on every master. Which
//! connection a blocking read gets (never one other commands share) and pooling stay with the
//! callers; where Redis is stays with `connect.rs`.

use crate::connect::RedisTarget;
use crate::error::Error;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterConfig;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

/// A connection to one Redis (`S`) or to a Redis Cluster (`C`). The defaults are the plain
/// multiplexed kinds; a pool or a reconnecting manager puts its own types in.
#[derive(Clone)]
pub enum RedisConnection<S = MultiplexedConnection, C = ClusterConnection> {
    /// One Redis.
    Single(S),
    /// A Redis Cluster: one connection per node behind it, routed by key slot.
    Cluster(C),
}

impl<S, C> ConnectionLike for RedisConnection<S, C>
where
    S: ConnectionLike + Send,
    C: ConnectionLike + Send,
{
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// How long a new connection may take to connect, and a command to answer (`None`: no limit).
/// A blocking read needs a response timeout longer than its `BLOCK`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connecting (and for a cluster, learning its slots from a seed).
    pub connection: Duration,
    /// One command's reply.
    pub response: Option<Duration>,
}

impl Timeouts {
    /// The settings of a single-node connection.
    pub fn single(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new().set_connection_timeout(Some(self.connection)).set_response_timeout(self.response)
    }

    /// The settings of a cluster connection (the same timeouts apply to each node).
    pub fn cluster(&self) -> ClusterConfig {
        let config = ClusterConfig::new().set_connection_timeout(self.connection);
        match self.response {
            Some(t) => config.set_response_timeout(t),
            None => config,
        }
    }
}

impl RedisTarget {
    /// Opens a new connection: one multiplexed connection, or with [`RedisTarget::cluster`] a
    /// cluster connection (connections to the masters, the slot map read from a seed). An
    /// error is returned as Redis gave it; [`RedisTarget::explain`] makes it one line.
    pub async fn connect(&self, timeouts: Timeouts) -> Result<RedisConnection, Error> {
        Ok(if self.cluster {
            RedisConnection::Cluster(self.cluster_client()?.get_async_connection_with_config(timeouts.cluster()).await?)
        } else {
            RedisConnection::Single(
                self.client()?.get_multiplexed_async_connection_with_config(&timeouts.single()).await?,
            )
        })
    }
}

//! A real local Redis Cluster for the cluster tests: three masters with one replica each (a
//! replica is what `CLUSTER FAILOVER` needs), every node a `redis-server --cluster-enabled yes`
//! from PATH on free loopback ports, started like the harness's other binary servers so each
//! dies with the test process, joined with `redis-cli --cluster create` (which ships with
//! redis-server). Ready once every node says `cluster_state:ok` and all agree on who serves
//! every slot. Containers are not used here: a cluster announces its nodes' addresses, which a
//! container's published ports would hide.

use crate::server::{binary_on_path, free_port, BinaryServer};
use homing_core::{RedisConnection, RedisTarget, Timeouts};
use redis::{Cmd, FromRedisValue, Value};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

/// Masters of the fixture; each has one replica.
const MASTERS: usize = 3;

/// A running cluster; dropping it stops every node it started.
pub struct RedisCluster {
    ports: Vec<u16>,
    _nodes: Vec<BinaryServer>,
}

/// Who serves which slots: `(first slot, last slot, master's port)`, sorted.
type SlotMap = Vec<(u16, u16, u16)>;

impl RedisCluster {
    /// Starts six nodes, joins them into three masters with a replica each, and waits (up to
    /// 30 s) until the cluster is whole and every replica is in sync with its master.
    pub fn start() -> Self {
        assert!(
            binary_on_path(),
            "the cluster tests need redis-server and redis-cli on PATH: install them (`apt-get install redis-server`)"
        );
        // Distinct ports for the clients and the cluster bus (`--cluster-port`: the default,
        // port + 10000, may not exist above an ephemeral port).
        let mut taken = BTreeSet::new();
        while taken.len() < MASTERS * 4 {
            taken.insert(free_port());
        }
        let taken: Vec<u16> = taken.into_iter().collect();
        let (ports, buses) = taken.split_at(MASTERS * 2);
        let nodes = ports
            .iter()
            .zip(buses)
            .map(|(port, bus)| {
                let args =
                    ["--cluster-enabled", "yes", "--cluster-port", &bus.to_string(), "--cluster-node-timeout", "5000"];
                BinaryServer::start(*port, false, args.iter().map(|a| a.to_string()).collect())
            })
            .collect();
        let cluster = Self { ports: ports.to_vec(), _nodes: nodes };
        for &port in &cluster.ports {
            wait("a cluster node to answer PING", || ask::<String>(port, &redis::cmd("PING")).ok());
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        create.args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")));
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = create.output().expect("redis-cli runs");
        assert!(out.status.success(), "redis-cli --cluster create failed: {}", String::from_utf8_lossy(&out.stdout));
        wait("the cluster to be whole and in sync", || cluster.settled().then_some(()));
        cluster
    }

    /// Every node's address as seeds: `redis://127.0.0.1:<port>,...`.
    pub fn url(&self) -> String {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    /// The cluster as Homing is pointed at it.
    pub fn target(&self) -> RedisTarget {
        RedisTarget::new(self.url()).cluster(true)
    }

    /// A cluster connection for assertions.
    pub async fn conn(&self) -> RedisConnection {
        let timeouts = Timeouts { connection: Duration::from_secs(5), response: Some(Duration::from_secs(5)) };
        self.target().connect(timeouts).await.unwrap()
    }

    /// The port of the master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot: u16 = ask(self.ports[0], redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).unwrap();
        let map = slot_map(self.ports[0]).unwrap();
        map.iter().find(|(first, last, _)| (*first..=*last).contains(&slot)).expect("every slot is served").2
    }

    /// A coordinated `CLUSTER FAILOVER` of the master serving `key`: run on its replica, which
    /// first catches up with the master, then takes over. Returns `(old master, new master)`
    /// once every node agrees and the old master follows the new one in sync.
    pub fn failover(&self, key: &str) -> (u16, u16) {
        let old = self.master_of(key);
        let replica = self.replica_of(old);
        let reply: String = ask(replica, redis::cmd("CLUSTER").arg("FAILOVER")).unwrap();
        assert_eq!(reply, "OK", "CLUSTER FAILOVER on {replica}");
        wait("the failover to complete on every node", || {
            (self.master_of(key) == replica && self.settled()).then_some(())
        });
        (old, replica)
    }

    /// The port of `master`'s replica.
    fn replica_of(&self, master: u16) -> u16 {
        let role: Vec<Value> = ask(master, &redis::cmd("ROLE")).unwrap();
        let replicas: Vec<(String, String, String)> = redis::from_redis_value_ref(&role[2]).unwrap();
        replicas.first().expect("every master has a replica").1.parse().unwrap()
    }

    /// Every node says `cluster_state:ok` and knows all six, all agree on the slot map, which
    /// covers every slot with a master of the fixture, and every replica's link is up.
    fn settled(&self) -> bool {
        let mut maps = Vec::new();
        for &port in &self.ports {
            let Ok(info) = ask::<String>(port, redis::cmd("CLUSTER").arg("INFO")) else { return false };
            let known = format!("cluster_known_nodes:{}", self.ports.len());
            if !info.lines().any(|l| l == "cluster_state:ok") || !info.lines().any(|l| l == known) {
                return false;
            }
            let Ok(role) = ask::<Vec<Value>>(port, &redis::cmd("ROLE")) else { return false };
            let role: String = redis::from_redis_value_ref(&role[0]).unwrap_or_default();
            if role == "slave" {
                let Ok(info) = ask::<String>(port, redis::cmd("INFO").arg("replication")) else { return false };
                if !info.lines().any(|l| l.trim() == "master_link_status:up") {
                    return false;
                }
            }
            let Ok(map) = slot_map(port) else { return false };
            maps.push(map);
        }
        let covered: u32 = maps[0].iter().map(|(first, last, _)| u32::from(last - first) + 1).sum();
        covered == 16384 && maps.iter().all(|m| *m == maps[0])
    }
}

/// `CLUSTER SLOTS` of one node as a [`SlotMap`].
fn slot_map(port: u16) -> redis::RedisResult<SlotMap> {
    let ranges: Vec<Vec<Value>> = ask(port, redis::cmd("CLUSTER").arg("SLOTS"))?;
    let mut map = Vec::new();
    for range in ranges {
        let first: u16 = redis::from_redis_value_ref(&range[0])?;
        let last: u16 = redis::from_redis_value_ref(&range[1])?;
        let master: Vec<Value> = redis::from_redis_value_ref(&range[2])?;
        map.push((first, last, redis::from_redis_value_ref(&master[1])?));
    }
    map.sort();
    Ok(map)
}

/// One command to one node, on a connection of its own (no redirection followed).
fn ask<T: FromRedisValue>(port: u16, cmd: &Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    cmd.query(&mut c)
}

/// Polls `check` every 50 ms until it returns `Some`, or panics naming `what` after 30 s.
fn wait<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after 30 s waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

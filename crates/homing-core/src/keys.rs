//! Every Redis key name of a queue, built in one place. Lua builds the same names from `Q`
//! (see `lua/README.md`); nothing else in the project spells a key.

use crate::error::Error;
use std::fmt;

/// The key prefix used when none is given. Several applications can share one Redis by
/// choosing different prefixes.
pub const DEFAULT_PREFIX: &str = "homing";

/// The consumer group every inbox and the overflow carry.
pub const GROUP: &str = "homing";

/// A validated queue name: 1–64 of `[A-Za-z0-9_.-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueName(String);

impl QueueName {
    /// The longest queue name, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Validates `name`; the error says which rule it broke.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        check_name("queue name", &name, Self::MAX_LEN)?;
        Ok(Self(name))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for QueueName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// Checks the `[A-Za-z0-9_.-]{1,max}` rule shared by queue names, prefixes and worker names.
pub(crate) fn check_name(what: &'static str, name: &str, max: usize) -> Result<(), Error> {
    let bad = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')));
    let reason = if name.is_empty() || name.len() > max {
        format!("must be 1-{max} bytes, got {}", name.len())
    } else if let Some(c) = bad {
        format!("may hold only A-Z a-z 0-9 _ . - but has {c:?}")
    } else {
        return Ok(());
    };
    Err(Error::InvalidName { what, name: name.to_string(), reason })
}

/// The most partitions a queue may have (the `partitions` setting).
pub const MAX_PARTITIONS: u32 = 1024;

/// The partition of `session` in a queue of `partitions` partitions: the CRC16 (XMODEM) of the
/// session id, the hash Redis Cluster uses for key slots, modulo `partitions`. Stable across
/// processes, versions and languages, so a producer in any language computes the same one.
pub fn partition_of(session: &str, partitions: u32) -> u32 {
    let hash = crc16::State::<crc16::XMODEM>::calculate(session.as_bytes());
    u32::from(hash) % partitions.max(1)
}

/// The keys of one partition of a queue: `Q` = `<prefix>:{<queue>}` for partition 0 (every
/// queue's only partition when `partitions` is 1) and `<prefix>:{<queue>#<k>}` for partition
/// k ≥ 1. The braces are the Redis Cluster hash tag, so every key of a partition lives in one
/// slot, every script is single-slot, and partitions spread over a cluster's masters. `#`
/// cannot occur in a queue name, so no queue's keys are another's partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    base: String,
    prefix: String,
    queue: QueueName,
    partition: u32,
}

impl Keys {
    /// Keys of `queue` under `prefix` (validated like a queue name): partition 0.
    pub fn new(prefix: &str, queue: &QueueName) -> Result<Self, Error> {
        check_name("key prefix", prefix, 64)?;
        Ok(Self::of(prefix, queue, 0))
    }

    /// Keys of `queue` under [`DEFAULT_PREFIX`]: partition 0.
    pub fn with_default_prefix(queue: &QueueName) -> Self {
        Self::of(DEFAULT_PREFIX, queue, 0)
    }

    fn of(prefix: &str, queue: &QueueName, partition: u32) -> Self {
        let base = match partition {
            0 => format!("{prefix}:{{{queue}}}"),
            k => format!("{prefix}:{{{queue}#{k}}}"),
        };
        Self { base, prefix: prefix.to_string(), queue: queue.clone(), partition }
    }

    /// The keys of partition `k` of the same queue. Partition 0's `Q:meta` holds the
    /// `partitions` setting every producer and worker reads first.
    pub fn partition(&self, k: u32) -> Keys {
        Self::of(&self.prefix, &self.queue, k)
    }

    /// The keys of each of `partitions` partitions, partition 0 first.
    pub fn partitions(&self, partitions: u32) -> Vec<Keys> {
        (0..partitions.max(1)).map(|k| self.partition(k)).collect()
    }

    /// The Redis Cluster slot every key of this partition is in: the CRC16 of its hash tag
    /// (what is between the braces) modulo 16384.
    pub fn slot(&self) -> u16 {
        let tag = self.base.split_once('{').and_then(|(_, rest)| rest.split_once('}')).map_or("", |(t, _)| t);
        crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) % 16384
    }

    /// Which partition these keys are.
    pub fn partition_index(&self) -> u32 {
        self.partition
    }

    /// The queue these keys belong to.
    pub fn queue(&self) -> &QueueName {
        &self.queue
    }

    /// `Q` itself, the base every key starts with.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `Q:*`: a `SCAN MATCH` pattern for every key of the queue (for tools that remove a queue).
    pub fn pattern(&self) -> String {
        format!("{}:*", self.base)
    }

    /// `Q:lease:<pass>`: the worker running a maintenance pass, with a TTL.
    pub fn lease(&self, pass: &str) -> String {
        format!("{}:lease:{pass}", self.base)
    }

    /// `Q:liveness`: worker id → its `liveness_ttl` (ms), written when it registers; its last
    /// heartbeat was its deadline minus this.
    pub fn liveness(&self) -> String {
        format!("{}:liveness", self.base)
    }

    /// `Q:meta`: protocol version and queue settings.
    pub fn meta(&self) -> String {
        format!("{}:meta", self.base)
    }

    /// `Q:workers`: worker id → liveness deadline (ms, Redis clock).
    pub fn workers(&self) -> String {
        format!("{}:workers", self.base)
    }

    /// `Q:capacity`: worker id → concurrency (0 while draining).
    pub fn capacity(&self) -> String {
        format!("{}:capacity", self.base)
    }

    /// `Q:inbox:<worker>`: the stream a worker owns.
    pub fn inbox(&self, worker: &str) -> String {
        format!("{}:inbox:{worker}", self.base)
    }

    /// `Q:overflow`: the shared stream any worker may take from.
    pub fn overflow(&self) -> String {
        format!("{}:overflow", self.base)
    }

    /// `Q:overflow:kept`: overflow entries already acked but kept in the stream while they sit
    /// at the group's last-delivered-id (deleting that one makes Redis 7.0's group lag nil);
    /// the next ack after delivery moved on deletes them.
    pub fn overflow_kept(&self) -> String {
        format!("{}:overflow:kept", self.base)
    }

    /// `<stream>:bell` (`Q:overflow:bell`, `Q:inbox:<worker>:bell`): the list an idle worker
    /// blocks on (`BLPOP`) instead of the stream: every `XADD` to the stream pushes an element
    /// (up to a few), which wakes one blocked worker to fetch. Redis walks every client blocked
    /// on a stream at each `XADD`, but serves a list element to one.
    pub fn bell(stream: &str) -> String {
        format!("{stream}:bell")
    }

    /// `Q:waiting`: worker id → the time (ms) of the oldest job queued in its inbox, listed by
    /// the route, so steal looks only at inboxes where a job may have waited past `max_wait`.
    pub fn waiting(&self) -> String {
        format!("{}:waiting", self.base)
    }

    /// `Q:pin:<session>`: the session's owner.
    pub fn pin(&self, session: &str) -> String {
        format!("{}:pin:{session}", self.base)
    }

    /// `Q:delayed`: retries and scheduled jobs by due time.
    pub fn delayed(&self) -> String {
        format!("{}:delayed", self.base)
    }

    /// `Q:dead`: dead letters.
    pub fn dead(&self) -> String {
        format!("{}:dead", self.base)
    }

    /// `Q:ingress`: envelopes pushed with `LPUSH` by producers that only have a Redis client.
    pub fn ingress(&self) -> String {
        format!("{}:ingress", self.base)
    }

    /// `Q:reply:<producer>`: results for a producer waiting on its jobs.
    pub fn reply(&self, producer: &str) -> String {
        format!("{}:reply:{producer}", self.base)
    }

    /// `Q:idem:<key>`: the job id enqueued under an idempotency key.
    pub fn idem(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = Keys::with_default_prefix(&QueueName::new("chat").unwrap());
        assert_eq!(keys.meta(), "homing:{chat}:meta");
        assert_eq!(keys.inbox("w-1"), "homing:{chat}:inbox:w-1");
        assert_eq!(keys.pin("s1"), "homing:{chat}:pin:s1");
        assert_eq!(keys.idem("k"), "homing:{chat}:idem:k");
        let custom = Keys::new("app", &QueueName::new("q").unwrap()).unwrap();
        assert_eq!(custom.overflow(), "app:{q}:overflow");
    }

    #[test]
    fn partitions_have_their_own_hash_tag_and_partition_zero_is_the_queue() {
        let keys = Keys::new("app", &QueueName::new("chat").unwrap()).unwrap();
        assert_eq!(keys.partition(0), keys);
        assert_eq!(keys.partition(0).meta(), "app:{chat}:meta");
        assert_eq!(keys.partition(2).overflow(), "app:{chat#2}:overflow");
        assert_eq!(keys.partition(2).partition_index(), 2);
        assert_eq!(keys.partition(2).partition(1).inbox("w"), "app:{chat#1}:inbox:w");
        let all: Vec<String> = keys.partitions(3).iter().map(Keys::base).map(str::to_string).collect();
        assert_eq!(all, ["app:{chat}", "app:{chat#1}", "app:{chat#2}"]);
        assert_eq!(keys.partitions(0).len(), 1);
        // CRC16("123456789") is 12739: the slot of a queue of that name, whatever the prefix.
        assert_eq!(Keys::new("app", &QueueName::new("123456789").unwrap()).unwrap().slot(), 12739);
        assert_ne!(keys.partition(1).slot(), keys.slot());
    }

    #[test]
    fn a_session_partition_is_redis_cluster_crc16_modulo_partitions() {
        // CRC16-XMODEM("123456789") = 0x31C3 (12739), the check value Redis's cluster spec gives.
        assert_eq!(partition_of("123456789", 1), 0);
        assert_eq!(partition_of("123456789", 16384), 12739);
        assert_eq!(partition_of("123456789", 3), 12739 % 3);
        assert_eq!(partition_of("123456789", 0), 0);
        let spread: std::collections::HashSet<u32> = (0..64).map(|i| partition_of(&format!("s{i}"), 4)).collect();
        assert_eq!(spread.len(), 4);
    }

    #[test]
    fn queue_names_are_checked() {
        assert!(QueueName::new("a.b-c_9").is_ok());
        let err = QueueName::new("").unwrap_err().to_string();
        assert_eq!(err, "invalid queue name \"\": must be 1-64 bytes, got 0");
        let err = QueueName::new("bad name").unwrap_err().to_string();
        assert_eq!(err, "invalid queue name \"bad name\": may hold only A-Z a-z 0-9 _ . - but has ' '");
        assert!(QueueName::new("x".repeat(65)).is_err());
        assert!(QueueName::new("{tag}").is_err());
        assert!(Keys::new("", &QueueName::new("q").unwrap()).is_err());
    }
}

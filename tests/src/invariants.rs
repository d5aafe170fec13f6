//! The invariant checker every fault test uses: each pushed job id is in exactly one place
//! (the ingress list, the delayed set, one inbox, the overflow, the dead stream) or completed,
//! never both completed and dead; once the queue is settled nothing is queued and no stream
//! (the overflow and every inbox) holds a pending entry; and every run of a job carries its own
//! attempt number, below `max_attempts`. A Redis error fails the check: it never reads as empty.
//! Every check covers every partition of the queue (the count from partition 0's `Q:meta`):
//! the places of partition k ≥ 1 are named with `#k` (`overflow#2`, `inbox:<worker>#1`).

use crate::any_conn;
use homing_core::keys::GROUP;
use homing_core::Keys;
use homing_core::{RedisConnection, RedisTarget};
use redis::{AsyncCommands, RedisResult};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Where each job id is now, by id: `ingress`, `delayed`, `overflow`, `inbox:<worker>`, `dead`,
/// each with `#k` in partition k ≥ 1.
pub type Places = HashMap<String, Vec<String>>;

/// The keys of every partition of the queue of `keys`, partition 0 first.
async fn partitions(c: &mut RedisConnection, keys: &Keys) -> RedisResult<Vec<Keys>> {
    let n = homing_core::scripts::partition_count(c, keys)
        .await
        .map_err(|e| redis::RedisError::from(std::io::Error::other(format!("reading the partition count: {e}"))))?;
    Ok(keys.partitions(n))
}

/// `place` as named in the partition of `keys`.
fn in_partition(keys: &Keys, place: &str) -> String {
    match keys.partition_index() {
        0 => place.to_string(),
        k => format!("{place}#{k}"),
    }
}

/// Whether `place` is a dead stream, of any partition.
fn is_dead(place: &str) -> bool {
    place.split('#').next() == Some("dead")
}

/// Every stream that can hold a job entry: the overflow and every inbox key, including those
/// of workers no longer listed (an orphan inbox would be a leak), with their place names.
async fn job_streams(c: &mut RedisConnection, keys: &Keys) -> RedisResult<Vec<(String, String)>> {
    let mut streams = vec![(keys.overflow(), "overflow".to_string())];
    let prefix = keys.inbox("");
    let mut inboxes: Vec<String> = c.keys(format!("{prefix}*")).await?;
    inboxes.sort();
    // An inbox's bell (a list, `<inbox>:bell`) shares its prefix; it holds no job.
    for key in inboxes.into_iter().filter(|k| !k.ends_with(&Keys::bell(""))) {
        let name = format!("inbox:{}", &key[prefix.len()..]);
        streams.push((key, name));
    }
    Ok(streams)
}

/// Where every job is now. Envelopes in the ingress list count by their `id` field; one
/// without an id is listed under `ingress:<n>` (it gets its id when routed).
pub async fn locate(url: &str, keys: &Keys) -> RedisResult<Places> {
    locate_on(&RedisTarget::new(url), keys).await
}

/// [`locate`] on any target, a cluster included.
pub async fn locate_on(target: &RedisTarget, keys: &Keys) -> RedisResult<Places> {
    let mut c = any_conn(target).await;
    let mut places = Places::new();
    for keys in partitions(&mut c, keys).await? {
        locate_partition(&mut c, &keys, &mut places).await?;
    }
    Ok(places)
}

/// Adds where every job of one partition is to `places`.
async fn locate_partition(c: &mut RedisConnection, keys: &Keys, places: &mut Places) -> RedisResult<()> {
    let mut streams = job_streams(c, keys).await?;
    streams.push((keys.dead(), "dead".to_string()));
    // Acked overflow entries kept only for the group's lag (see `Keys::overflow_kept`) hold no job.
    let kept: HashSet<String> = c.smembers(keys.overflow_kept()).await?;
    for (key, place) in streams {
        let r: redis::streams::StreamRangeReply = c.xrange_all(&key).await?;
        for e in r.ids.into_iter().filter(|e| !(key == keys.overflow() && kept.contains(&e.id))) {
            // A dead letter of a malformed envelope holds no job: it has no id field.
            let id: Option<String> = e.get("id");
            let id = id.unwrap_or_else(|| format!("{place}-entry:{}", e.id));
            places.entry(id).or_default().push(in_partition(keys, &place));
        }
    }
    #[derive(Deserialize)]
    struct WithId {
        id: Option<String>,
    }
    let members: Vec<Vec<u8>> = c.zrange(keys.delayed(), 0, -1).await?;
    for m in members {
        let d: WithId = rmp_serde::from_slice(&m).expect("a delayed member is a MessagePack map");
        let id = d.id.expect("a delayed member has an id");
        places.entry(id).or_default().push(in_partition(keys, "delayed"));
    }
    let envelopes: Vec<Vec<u8>> = c.lrange(keys.ingress(), 0, -1).await?;
    for (n, e) in envelopes.iter().enumerate() {
        let id = rmp_serde::from_slice::<WithId>(e)
            .ok()
            .or_else(|| serde_json::from_slice::<WithId>(e).ok())
            .and_then(|w| w.id)
            .unwrap_or_else(|| in_partition(keys, &format!("ingress:{n}")));
        places.entry(id).or_default().push(in_partition(keys, "ingress"));
    }
    Ok(())
}

/// How many entries each job stream has pending (delivered, not acknowledged), by place, from
/// the summary form of `XPENDING` (no `COUNT` that could hide entries). Streams without
/// pending entries are left out.
pub async fn pending(url: &str, keys: &Keys) -> RedisResult<HashMap<String, u64>> {
    pending_on(&RedisTarget::new(url), keys).await
}

/// [`pending`] on any target, a cluster included.
pub async fn pending_on(target: &RedisTarget, keys: &Keys) -> RedisResult<HashMap<String, u64>> {
    let mut c = any_conn(target).await;
    let mut out = HashMap::new();
    for keys in partitions(&mut c, keys).await? {
        pending_partition(&mut c, &keys, &mut out).await?;
    }
    Ok(out)
}

/// Adds the pending counts of one partition's streams to `out`.
async fn pending_partition(c: &mut RedisConnection, keys: &Keys, out: &mut HashMap<String, u64>) -> RedisResult<()> {
    for (key, place) in job_streams(c, keys).await? {
        let exists: bool = c.exists(&key).await?;
        if !exists {
            continue;
        }
        // Every job stream is created with its group; a stream without one is an error here.
        let summary: redis::Value = redis::cmd("XPENDING").arg(&key).arg(GROUP).query_async(&mut *c).await?;
        let count = match &summary {
            redis::Value::Array(items) if !items.is_empty() => redis::from_redis_value_ref::<u64>(&items[0])?,
            other => panic!("XPENDING {key} {GROUP} answered {other:?}"),
        };
        if count > 0 {
            out.insert(in_partition(keys, &place), count);
        }
    }
    Ok(())
}

/// Asserts that every id of `pushed` is completed (in `completed`) or dead-lettered, never
/// both; that nothing is queued (ingress, delayed, an inbox, the overflow) or pending in any
/// stream; and that no id is in two places.
pub async fn assert_settled(url: &str, keys: &Keys, pushed: &[String], completed: &HashSet<String>) {
    assert_settled_on(&RedisTarget::new(url), keys, pushed, completed).await
}

/// [`assert_settled`] on any target, a cluster included.
pub async fn assert_settled_on(target: &RedisTarget, keys: &Keys, pushed: &[String], completed: &HashSet<String>) {
    let places = locate_on(target, keys).await.unwrap_or_else(|e| panic!("reading where the jobs are: {e}"));
    for (id, at) in &places {
        assert_eq!(at.len(), 1, "job {id} is in {at:?}");
        assert!(is_dead(&at[0]), "job {id} is still queued in {}", at[0]);
        assert!(!completed.contains(id), "job {id} both completed and dead-lettered");
    }
    let lost: Vec<&String> = pushed.iter().filter(|id| !completed.contains(*id) && !places.contains_key(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} jobs neither completed nor dead-lettered, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let pending = pending_on(target, keys).await.unwrap_or_else(|e| panic!("reading pending entries: {e}"));
    assert!(pending.is_empty(), "entries still pending, by stream: {pending:?}");
}

/// Whether the queue holds nothing queued: no envelope, inbox or overflow entry, nothing
/// delayed. Panics on a Redis error rather than answer either way.
pub async fn is_drained(url: &str, keys: &Keys) -> bool {
    is_drained_on(&RedisTarget::new(url), keys).await
}

/// [`is_drained`] on any target, a cluster included.
pub async fn is_drained_on(target: &RedisTarget, keys: &Keys) -> bool {
    let places = locate_on(target, keys).await.unwrap_or_else(|e| panic!("reading where the jobs are: {e}"));
    places.values().all(|at| at.iter().all(|p| is_dead(p)))
}

/// What a run history may look like between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gaps {
    /// Each job's runs are attempts 0, 1, 2, ... with none missing: nothing was taken from a
    /// worker between its delivery and the handler's start (no kill, no freeze).
    None,
    /// A worker killed or frozen after a delivery but before its handler started leaves that
    /// attempt unrecorded (a delivered job moves one attempt later): numbers may skip.
    AfterKills,
}

/// The attempt numbers each job ran with: `starts` every handler start, `finishes` every
/// handler end, by job id.
#[derive(Clone, Debug, Default)]
pub struct Attempts {
    /// Attempts each job started with, in the order seen.
    pub starts: HashMap<String, Vec<u32>>,
    /// Attempts each job finished with (the handler returned), in the order seen.
    pub finishes: HashMap<String, Vec<u32>>,
}

impl Attempts {
    /// From a `record` handler's files: `<record>.starts` and `<record>`.
    pub fn from_record(record: &std::path::Path) -> Self {
        let attempts = |runs: HashMap<String, Vec<crate::processes::Finished>>| {
            runs.into_iter().map(|(id, r)| (id, r.into_iter().map(|f| f.attempt).collect())).collect()
        };
        Self { starts: attempts(crate::read_starts(record)), finishes: attempts(crate::read_record(record)) }
    }

    /// From an in-process [`crate::Recorder`] (which sees starts only).
    pub fn from_recorder(rec: &crate::Recorder) -> Self {
        let mut starts: HashMap<String, Vec<u32>> = HashMap::new();
        for run in rec.runs() {
            starts.entry(run.job).or_default().push(run.attempt);
        }
        Self { starts, finishes: HashMap::new() }
    }

    /// Asserts: no two runs of a job share an attempt number; every attempt is below
    /// `max_attempts`; with [`Gaps::None`] the attempts of each job are 0..n exactly; a job
    /// finished only with an attempt it started with.
    pub fn check(&self, max_attempts: u32, gaps: Gaps) {
        for (id, runs) in &self.starts {
            let distinct: BTreeSet<u32> = runs.iter().copied().collect();
            assert_eq!(distinct.len(), runs.len(), "job {id} ran twice with one attempt number: {runs:?}");
            let last = *distinct.last().expect("a start");
            assert!(last < max_attempts, "job {id} ran at attempt {last}, max_attempts is {max_attempts}: {runs:?}");
            if gaps == Gaps::None {
                let expected: BTreeSet<u32> = (0..runs.len() as u32).collect();
                assert_eq!(distinct, expected, "job {id}'s attempts are not 0, 1, 2, ...: {runs:?}");
            }
        }
        for (id, done) in &self.finishes {
            let started = self.starts.get(id).cloned().unwrap_or_default();
            for a in done {
                assert!(started.contains(a), "job {id} finished attempt {a} it never started: {started:?}");
            }
        }
    }
}

//! `homing status`: workers with capacity, backlog, heartbeat age and deadline; overflow backlog
//! and lag; delayed and dead counts. `--json` for machines, `--watch` to refresh.

use crate::args::Global;
use crate::connect::connect;
use clap::Args;
use serde::Serialize;
use std::time::Duration;

/// Show a queue's state.
#[derive(Args, Debug)]
pub struct StatusCmd {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print again every this often until ctrl-c (e.g. 2s).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub watch: Option<Duration>,
}

#[derive(Serialize)]
struct Status {
    queue: String,
    /// `None` when the queue has no settings yet or its affinity is a bad setting.
    affinity: Option<String>,
    /// Each stored setting that breaks its rule, with the command that fixes it: every script
    /// refuses the queue until they are fixed.
    bad_settings: Vec<String>,
    workers: Vec<WorkerStatus>,
    overflow: u64,
    /// Milliseconds since the oldest undelivered overflow entry was added (0 when none).
    overflow_lag_ms: u64,
    delayed: u64,
    dead: u64,
    /// Each partition's figures, when the queue has more than one; the ones above are then
    /// their sums (the lag: the largest), and a worker's backlog is summed over its inboxes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    partitions: Vec<PartitionStatus>,
}

/// One partition's share of [`Status`].
#[derive(Serialize)]
struct PartitionStatus {
    partition: u32,
    workers: Vec<WorkerStatus>,
    overflow: u64,
    overflow_lag_ms: u64,
    delayed: u64,
    dead: u64,
}

#[derive(Serialize, Clone)]
struct WorkerStatus {
    id: String,
    capacity: u64,
    backlog: u64,
    /// Milliseconds since its last heartbeat.
    heartbeat_age_ms: Option<i64>,
    /// Milliseconds until its liveness deadline (negative: overdue, about to be reaped).
    deadline_in_ms: i64,
}

pub async fn run(global: &Global, cmd: StatusCmd) -> anyhow::Result<()> {
    // Listening from the start, so a ctrl-c that lands while a snapshot is read or printed
    // still ends the watch (a listener made afresh for each wait missed those).
    let stop = crate::shutdown::listen();
    tokio::pin!(stop);
    loop {
        let status = read(global).await?;
        if cmd.json {
            println!("{}", serde_json::to_string(&status)?);
        } else {
            print(&status);
        }
        let Some(every) = cmd.watch else { return Ok(()) };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = &mut stop => return Ok(()),
        }
    }
}

async fn read(global: &Global) -> anyhow::Result<Status> {
    let keys = global.keys()?;
    let mut c = connect(global).await?;
    // A damaged queue still shows what it can, and names what is damaged.
    let (affinity, bad_settings, partitions) = match homing_core::scripts::load_settings_lenient(&mut c, &keys).await? {
        None => (None, Vec::new(), 1),
        Some((settings, bad)) => {
            let affinity_bad =
                bad.iter().any(|e| matches!(e, homing_core::Error::BadSetting { field, .. } if field == "affinity"));
            let affinity = Some(settings.affinity.to_string()).filter(|_| !affinity_bad);
            (affinity, bad.iter().map(|e| e.to_string()).collect(), settings.partitions)
        }
    };
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await?;
    let now = (secs * 1000 + micros / 1000) as i64;
    let mut parts = Vec::new();
    for part in keys.partitions(partitions) {
        parts.push(read_partition(&mut c, &part, now).await?);
    }
    if let [one] = &mut parts[..] {
        return Ok(Status {
            queue: global.queue.clone(),
            affinity,
            bad_settings,
            workers: std::mem::take(&mut one.workers),
            overflow: one.overflow,
            overflow_lag_ms: one.overflow_lag_ms,
            delayed: one.delayed,
            dead: one.dead,
            partitions: Vec::new(),
        });
    }
    // A worker serving several partitions is one process: one row, its inboxes' backlogs summed.
    let mut workers: Vec<WorkerStatus> = Vec::new();
    for w in parts.iter().flat_map(|p| &p.workers) {
        match workers.iter_mut().find(|seen| seen.id == w.id) {
            Some(seen) => {
                seen.backlog += w.backlog;
                seen.capacity = seen.capacity.max(w.capacity);
                seen.heartbeat_age_ms = seen.heartbeat_age_ms.max(w.heartbeat_age_ms);
                seen.deadline_in_ms = seen.deadline_in_ms.min(w.deadline_in_ms);
            }
            None => workers.push(w.clone()),
        }
    }
    Ok(Status {
        queue: global.queue.clone(),
        affinity,
        bad_settings,
        workers,
        overflow: parts.iter().map(|p| p.overflow).sum(),
        overflow_lag_ms: parts.iter().map(|p| p.overflow_lag_ms).max().unwrap_or(0),
        delayed: parts.iter().map(|p| p.delayed).sum(),
        dead: parts.iter().map(|p| p.dead).sum(),
        partitions: parts,
    })
}

/// One partition's workers, overflow, delayed and dead.
async fn read_partition(
    c: &mut homing_core::RedisConnection,
    keys: &homing_core::Keys,
    now: i64,
) -> anyhow::Result<PartitionStatus> {
    let workers: Vec<(String, f64)> =
        redis::cmd("ZRANGE").arg(keys.workers()).arg(0).arg(-1).arg("WITHSCORES").query_async(c).await?;
    let mut pipe = redis::pipe();
    pipe.cmd("XLEN").arg(keys.overflow()).cmd("ZCARD").arg(keys.delayed()).cmd("XLEN").arg(keys.dead());
    // Acked entries the overflow keeps only for its group lag (see keys.rs) are not backlog.
    pipe.cmd("SCARD").arg(keys.overflow_kept());
    for (w, _) in &workers {
        pipe.cmd("XLEN")
            .arg(keys.inbox(w))
            .cmd("HGET")
            .arg(keys.capacity())
            .arg(w)
            .cmd("HGET")
            .arg(keys.liveness())
            .arg(w);
    }
    let v: Vec<redis::Value> = pipe.query_async(c).await?;
    let n = |i: usize| -> u64 { redis::from_redis_value_ref::<Option<u64>>(&v[i]).ok().flatten().unwrap_or(0) };
    let workers = workers
        .iter()
        .enumerate()
        .map(|(i, (id, deadline))| WorkerStatus {
            id: id.clone(),
            backlog: n(4 + 3 * i),
            capacity: n(5 + 3 * i),
            // The last beat set the deadline to its time plus the worker's liveness_ttl.
            heartbeat_age_ms: redis::from_redis_value_ref::<Option<i64>>(&v[6 + 3 * i])
                .ok()
                .flatten()
                .map(|ttl| now - (*deadline as i64 - ttl)),
            deadline_in_ms: *deadline as i64 - now,
        })
        .collect();
    Ok(PartitionStatus {
        partition: keys.partition_index(),
        workers,
        overflow: n(0).saturating_sub(n(3)),
        overflow_lag_ms: overflow_lag(c, keys, now).await.unwrap_or(0),
        delayed: n(1),
        dead: n(2),
    })
}

/// Age of the oldest overflow entry not yet delivered to any worker.
async fn overflow_lag(c: &mut homing_core::RedisConnection, keys: &homing_core::Keys, now: i64) -> Option<u64> {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> =
        redis::cmd("XINFO").arg("GROUPS").arg(keys.overflow()).query_async(c).await.ok()?;
    let last = groups.iter().find_map(|g| {
        let name: String = redis::from_redis_value_ref(g.get("name")?).ok()?;
        (name == homing_core::keys::GROUP)
            .then(|| redis::from_redis_value_ref::<String>(g.get("last-delivered-id")?).ok())?
    })?;
    let next: redis::Value = redis::cmd("XRANGE")
        .arg(keys.overflow())
        .arg(format!("({last}"))
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(c)
        .await
        .ok()?;
    let entry = homing_core::stream::parse_entries(next).ok()?.into_iter().next()?;
    let ms: i64 = entry.id.split('-').next()?.parse().ok()?;
    Some((now - ms).max(0) as u64)
}

fn print(s: &Status) {
    let affinity = match (&s.affinity, s.bad_settings.is_empty()) {
        (Some(a), _) => a.as_str(),
        (None, true) => "(no settings yet)",
        (None, false) => "(bad setting)",
    };
    println!("queue {}  affinity {affinity}", s.queue);
    for bad in &s.bad_settings {
        println!("  {bad}");
    }
    println!("  overflow {} (lag {} ms)  delayed {}  dead {}", s.overflow, s.overflow_lag_ms, s.delayed, s.dead);
    for p in &s.partitions {
        println!(
            "    partition {}: overflow {} (lag {} ms)  delayed {}  dead {}  workers {}",
            p.partition,
            p.overflow,
            p.overflow_lag_ms,
            p.delayed,
            p.dead,
            p.workers.len()
        );
    }
    println!("  {:<40} {:>8} {:>8} {:>14} {:>14}", "worker", "capacity", "backlog", "heartbeat age", "deadline in");
    for w in &s.workers {
        let age = w.heartbeat_age_ms.map_or("-".to_string(), |a| format!("{a} ms"));
        println!("  {:<40} {:>8} {:>8} {:>14} {:>11} ms", w.id, w.capacity, w.backlog, age, w.deadline_in_ms);
    }
}

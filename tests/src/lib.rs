//! Test harness: a real `redis-server` (shared per run: `REDIS_URL`, a binary from PATH or a
//! container; see `server.rs`), private servers for tests that restart Redis, in-process
//! workers that can be stopped or crashed, and a recorder of which worker ran which job.

pub mod bin;
pub mod cluster;
#[cfg(feature = "containers")]
mod container;
pub mod engine;
pub mod invariants;
pub mod metrics_text;
pub mod processes;
pub mod recorder;
pub mod server;
pub mod workers;

pub use bin::homing_bin;
pub use cluster::RedisCluster;
pub use processes::{read_record, read_starts, record_file, WorkerProcess};
pub use recorder::{Recorder, Run};
pub use server::{free_port, redis_url, Backend, RedisServer};
pub use workers::TestWorker;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A queue name no other test uses, so tests share one Redis without interfering.
pub fn fresh_queue(label: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{label}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A dead letter's fields, values read as text (lossily: the payload is bytes).
pub type DeadLetter = std::collections::HashMap<String, String>;

/// The dead letters of a queue now, oldest first.
pub async fn dead_letters(url: &str, keys: &homing_core::Keys) -> Vec<DeadLetter> {
    use redis::AsyncCommands;
    let r: redis::streams::StreamRangeReply = conn(url).await.xrange_all(keys.dead()).await.unwrap();
    r.ids
        .iter()
        .map(|e| {
            e.map
                .iter()
                .map(|(k, v)| {
                    let bytes: Vec<u8> = redis::from_redis_value_ref(v).unwrap();
                    (k.clone(), String::from_utf8_lossy(&bytes).into_owned())
                })
                .collect()
        })
        .collect()
}

/// Waits until a queue holds at least `n` dead letters, and returns them.
pub async fn wait_dead_letters(url: &str, keys: &homing_core::Keys, n: usize) -> Vec<DeadLetter> {
    wait_for(&format!("{n} dead letters"), Duration::from_secs(15), || async {
        let dead = dead_letters(url, keys).await;
        (dead.len() >= n).then_some(dead)
    })
    .await
}

/// Creates the `homing` consumer group on each stream, as a worker does at start, for tests
/// that drive the scripts directly.
pub async fn create_groups(c: &mut redis::aio::MultiplexedConnection, streams: &[String]) {
    for stream in streams {
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(homing_core::keys::GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(c)
            .await
            .unwrap();
    }
}

/// Every job a handler was given, by job id, whole (session, payload bytes, max_attempts), for
/// tests that check what arrived byte for byte.
#[derive(Clone, Default)]
pub struct Deliveries(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, homing_worker::Job>>>);

impl Deliveries {
    /// A handler that keeps each job it is given and succeeds.
    pub fn handler(&self) -> impl homing_worker::Handler {
        let jobs = self.0.clone();
        move |job: homing_worker::Job| {
            jobs.lock().unwrap().insert(job.id.to_string(), job);
            async { Ok::<_, homing_worker::HandlerError>(()) }
        }
    }

    /// Waits until `n` distinct jobs arrived, and returns them.
    pub async fn wait(&self, n: usize) -> std::collections::HashMap<String, homing_worker::Job> {
        wait_for(&format!("{n} jobs delivered"), Duration::from_secs(15), || {
            let jobs = self.0.lock().unwrap().clone();
            async move { (jobs.len() >= n).then_some(jobs) }
        })
        .await
    }
}

/// A plain multiplexed connection for assertions.
pub async fn conn(url: &str) -> redis::aio::MultiplexedConnection {
    conn_to(&homing_core::RedisTarget::new(url)).await
}

/// A connection to `target`, one node or a cluster (`target.cluster`), built as Homing builds
/// its own.
pub async fn any_conn(target: &homing_core::RedisTarget) -> homing_core::RedisConnection {
    let timeouts = homing_core::Timeouts { connection: Duration::from_secs(5), response: Some(Duration::from_secs(5)) };
    target.connect(timeouts).await.unwrap()
}

/// A multiplexed connection to `target` (TLS files and user included), built as Homing builds
/// its own.
pub async fn conn_to(target: &homing_core::RedisTarget) -> redis::aio::MultiplexedConnection {
    target.client().unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// How many times the server ran `command` (lower case, e.g. `xclaim`) since start or the
/// last `CONFIG RESETSTAT`, commands run inside scripts included: `INFO commandstats`.
pub async fn command_calls(c: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(c).await.unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

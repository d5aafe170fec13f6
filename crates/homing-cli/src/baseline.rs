//! The bare Redis Streams loop every `homing bench` figure is divided by: one stream, one
//! consumer group, producers XADD in the same pipelined batches as Homing's pushes, and each
//! worker of the layout reads `COUNT <free slots>` with a blocking XREADGROUP and runs each
//! entry as a task under a concurrency permit that ends with XACK + XDEL in one round trip,
//! as Homing's completion acks and deletes. No affinity, no scripts, no retries, no leases.

use crate::throughput::Layout;
use anyhow::Context;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How the loop is built, for the table's heading.
pub const DESCRIBED: &str = "one stream, blocking XREADGROUP COUNT <free>, one task per entry";

const GROUP: &str = "bench";

/// One bare stream with its consumer group.
pub struct Bare {
    url: String,
    key: String,
    conn: redis::aio::MultiplexedConnection,
}

impl Bare {
    pub async fn new(url: &str, tag: &str) -> anyhow::Result<Self> {
        let key = format!("bench-bare-{tag}-{:06x}", fastrand::u32(..0xff_ffff));
        let mut conn = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg(GROUP)
            .arg("$")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await?;
        Ok(Self { url: url.to_string(), key, conn })
    }

    /// XADDs every job (session and payload fields), `batch` per pipeline.
    pub async fn push_all(&self, jobs: &[(String, Vec<u8>)], batch: usize) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        for chunk in jobs.chunks(batch) {
            let mut pipe = redis::pipe();
            for (session, payload) in chunk {
                pipe.cmd("XADD")
                    .arg(&self.key)
                    .arg("*")
                    .arg("s")
                    .arg(session)
                    .arg("p")
                    .arg(payload.as_slice())
                    .ignore();
            }
            let _: () = pipe.query_async(&mut conn).await?;
        }
        Ok(())
    }

    pub async fn push_one(&self, payload: &[u8]) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("XADD")
            .arg(&self.key)
            .arg("*")
            .arg("s")
            .arg("s")
            .arg("p")
            .arg(payload)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Starts the layout's consumers. Each records its entries' waits: from the entry id's
    /// millisecond (Redis time) to now, or, with `paced_base`, from the µs in the payload.
    pub async fn consume(&self, layout: Layout, paced_base: Option<Instant>) -> anyhow::Result<Consumers> {
        let done = Arc::new(AtomicU64::new(0));
        let waits: Arc<Mutex<Vec<f64>>> = Arc::default();
        let mut tasks = JoinSet::new();
        let client = redis::Client::open(self.url.as_str())?;
        for w in 0..layout.workers {
            let blocking = client.get_multiplexed_async_connection().await?;
            let acks = client.get_multiplexed_async_connection().await?;
            let (key, done, waits) = (self.key.clone(), done.clone(), waits.clone());
            tasks.spawn(consumer(format!("c{w}"), key, layout.concurrency, blocking, acks, done, waits, paced_base));
        }
        Ok(Consumers { tasks, done, waits })
    }

    pub async fn remove(mut self) -> anyhow::Result<()> {
        let _: () = redis::cmd("DEL").arg(&self.key).query_async(&mut self.conn).await?;
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn consumer(
    name: String,
    key: String,
    concurrency: u32,
    mut blocking: redis::aio::MultiplexedConnection,
    acks: redis::aio::MultiplexedConnection,
    done: Arc<AtomicU64>,
    waits: Arc<Mutex<Vec<f64>>>,
    paced_base: Option<Instant>,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(concurrency as usize));
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let first = slots.clone().acquire_owned().await?;
        let free = 1 + slots.available_permits();
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&name)
            .arg("COUNT")
            .arg(free)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&key)
            .arg(">")
            .query_async(&mut blocking)
            .await?;
        let mut first = Some(first);
        for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
            let permit = match first.take() {
                Some(p) => p,
                None => slots.clone().acquire_owned().await?,
            };
            let wait = match paced_base {
                Some(base) => {
                    let pushed: u64 = entry.get::<String>("p").and_then(|p| p.parse().ok()).unwrap_or(0);
                    (base.elapsed().as_micros() as u64).saturating_sub(pushed) as f64 / 1000.0
                }
                None => {
                    let at: u64 = entry.id.split('-').next().and_then(|ms| ms.parse().ok()).unwrap_or(0);
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                    now.saturating_sub(at) as f64
                }
            };
            waits.lock().expect("not poisoned").push(wait);
            let (mut acks, key, done) = (acks.clone(), key.clone(), done.clone());
            running.spawn(async move {
                let _permit = permit;
                let acked: redis::RedisResult<()> = redis::pipe()
                    .cmd("XACK")
                    .arg(&key)
                    .arg(GROUP)
                    .arg(&entry.id)
                    .ignore()
                    .cmd("XDEL")
                    .arg(&key)
                    .arg(&entry.id)
                    .ignore()
                    .query_async(&mut acks)
                    .await;
                if acked.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
}

/// The running consumers of one bare stream.
pub struct Consumers {
    tasks: JoinSet<anyhow::Result<()>>,
    done: Arc<AtomicU64>,
    waits: Arc<Mutex<Vec<f64>>>,
}

impl Consumers {
    /// Waits until `n` entries were acked; a consumer's error ends the wait with it.
    pub async fn until(&mut self, n: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while (self.done.load(Ordering::Relaxed) as usize) < n {
            anyhow::ensure!(Instant::now() < deadline, "bare loop not finished after 10 minutes");
            // A consumer only ends by failing: stop at once with its error.
            if let Some(ended) = self.tasks.try_join_next() {
                ended?.context("a bare consumer failed")?;
                anyhow::bail!("a bare consumer stopped");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Stops the consumers; returns the sorted waits (ms).
    pub async fn stop(mut self) -> anyhow::Result<Vec<f64>> {
        self.tasks.abort_all();
        while let Some(r) = self.tasks.join_next().await {
            if let Ok(Err(e)) = r {
                return Err(e.context("a bare consumer failed"));
            }
        }
        let mut waits = std::mem::take(&mut *self.waits.lock().expect("not poisoned"));
        waits.sort_by(|a, b| a.total_cmp(b));
        Ok(waits)
    }
}

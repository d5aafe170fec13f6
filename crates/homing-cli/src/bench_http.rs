//! `homing bench --http`: the `http` sidecar mode against the queue's own speed. A trivial HTTP
//! app (hyper, 200 with an empty body) runs in-process on loopback; preloaded jobs are drained
//! by one worker with the `http` handler and by one with an echo handler, in the same layout and
//! in alternating rounds, and the ratio says what the HTTP hop costs. The target is
//! http ≥ 0.8 × echo. What the worker does per job is left to `homing-worker`, the HTTP call to
//! `http.rs`.

use crate::http::{Http, HttpArgs};
use anyhow::Context;
use bytes::Bytes;
use homing_client::{Producer, ProducerOptions};
use homing_worker::{Handler, HandlerError, Job, Worker, WorkerConfig};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What one `--http` run measured.
#[derive(Debug, Clone, Copy)]
pub struct HttpFigures {
    /// Jobs/s drained through the `http` handler.
    pub http: f64,
    /// Jobs/s drained through the echo handler, same jobs, same layout.
    pub echo: f64,
    /// TCP connections the app accepted during the http runs (keep-alive keeps each run's count
    /// near the concurrency; without it, one per job).
    pub connections: u64,
}

/// Sessions the jobs are spread over, as in the default bench.
const SESSIONS: usize = 1_000;
/// Payload bytes per job.
const PAYLOAD: usize = 64;
/// Jobs per pipelined push while preloading.
const BATCH: usize = 500;
/// The jobs are split into rounds that alternate echo and http, so the two rates see the same
/// machine: on a shared one, load that drifts between two long runs would decide the ratio.
const ROUNDS: usize = 4;

/// The echo handler's work: hand the payload back, as `homing worker echo` does.
async fn echo(job: Job) -> Result<Vec<u8>, HandlerError> {
    Ok(job.payload)
}

pub async fn run(url: &str, prefix: &str, jobs: usize, concurrency: u32) -> anyhow::Result<HttpFigures> {
    anyhow::ensure!(jobs >= 1 && concurrency >= 1, "--jobs and the concurrency must be >= 1");
    let (app, accepted) = app().await?;
    let args = HttpArgs { url: format!("http://{app}/jobs"), timeout: Duration::from_secs(60) };
    let http = Arc::new(Http::new(args)?);
    let per_round = jobs.div_ceil(ROUNDS);
    let (mut echo_time, mut http_time, mut connections) = (Duration::ZERO, Duration::ZERO, 0);
    for round in 0..ROUNDS {
        // Alternate which mode goes first, so a change in the machine's load hits both alike.
        for http_turn in [round % 2 == 1, round % 2 == 0] {
            if http_turn {
                let before = accepted.load(Ordering::Relaxed);
                http_time += drain(url, prefix, per_round, concurrency, http.clone()).await?;
                connections += accepted.load(Ordering::Relaxed) - before;
            } else {
                echo_time += drain(url, prefix, per_round, concurrency, Arc::new(echo)).await?;
            }
        }
    }
    let ran = (per_round * ROUNDS) as f64;
    let figures = HttpFigures { http: ran / http_time.as_secs_f64(), echo: ran / echo_time.as_secs_f64(), connections };
    println!("jobs {}  ({ROUNDS} rounds each)  sessions {SESSIONS}  1 worker x concurrency {concurrency}  app: hyper on {app}", per_round * ROUNDS);
    println!("echo: {:>9.0} jobs/s", figures.echo);
    println!("http: {:>9.0} jobs/s  ({} connections opened)", figures.http, figures.connections);
    println!("http / echo: {:.2}  (target >= 0.80)", figures.http / figures.echo);
    Ok(figures)
}

/// A trivial app on 127.0.0.1: every request gets 200 with an empty body, over HTTP/1.1 with
/// keep-alive. Returns its address and a count of the TCP connections it accepted.
async fn app() -> anyhow::Result<(std::net::SocketAddr, Arc<AtomicU64>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot bind the bench app")?;
    let addr = listener.local_addr()?;
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    // Ends with the runtime, when the bench command returns.
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let _ = tcp.set_nodelay(true);
            let service = hyper::service::service_fn(|_request| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Empty::<Bytes>::new()))
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service));
        }
    });
    Ok((addr, accepted))
}

/// Counts a handler's successes and keeps its first error, which ends the run.
struct Counted<H> {
    inner: Arc<H>,
    done: Arc<AtomicU64>,
    failed: Arc<Mutex<Option<String>>>,
}

impl<H: Handler> Handler for Counted<H> {
    async fn handle(&self, job: Job) -> Result<Vec<u8>, HandlerError> {
        let result = self.inner.handle(job).await;
        match &result {
            Ok(_) => {
                self.done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.lock().unwrap().get_or_insert_with(|| e.to_string());
            }
        }
        result
    }
}

/// Preloads `jobs` jobs into a fresh queue, then times one worker with `handler` draining them
/// (fetch, handle, complete). Returns how long that took.
async fn drain<H: Handler>(
    url: &str,
    prefix: &str,
    jobs: usize,
    concurrency: u32,
    handler: Arc<H>,
) -> anyhow::Result<Duration> {
    let queue = format!("bench-http-{:06x}", fastrand::u32(..0xff_ffff));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(None));
    let handler = Counted { inner: handler, done: done.clone(), failed: failed.clone() };
    let config = WorkerConfig {
        redis_url: url.to_string(),
        queue: queue.clone(),
        prefix: prefix.to_string(),
        name: "bench-http".into(),
        concurrency,
        ..Default::default()
    };
    // The worker writes the queue settings; create it before pushing.
    let worker = Worker::new(config, handler).await.context("cannot start a bench worker")?;
    let options = ProducerOptions { prefix: prefix.to_string(), ..Default::default() };
    let producer = Producer::connect_with(url, &queue, options).await?;
    let payload = vec![b'x'; PAYLOAD];
    let batch: Vec<(String, &[u8])> = (0..jobs).map(|i| (format!("s{}", i % SESSIONS), payload.as_slice())).collect();
    for chunk in batch.chunks(BATCH) {
        for r in producer.push_many_raw(chunk).await? {
            r?;
        }
    }

    let client = redis::Client::open(url)?;
    let mut c = client.get_multiplexed_async_connection().await?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let started = Instant::now();
    let running = tokio::spawn(worker.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    let (overflow, kept) = (producer.keys().overflow(), producer.keys().overflow_kept());
    let deadline = started + Duration::from_secs(600);
    let outcome = loop {
        if let Some(e) = failed.lock().unwrap().clone() {
            break Err(anyhow::anyhow!("a job failed, so the figures would be wrong: {e}"));
        }
        // The overflow keeps its last-delivered entry, acked, for the group lag (keys.rs).
        let (len, kept): (u64, u64) =
            redis::pipe().cmd("XLEN").arg(&overflow).cmd("SCARD").arg(&kept).query_async(&mut c).await?;
        if len == kept && done.load(Ordering::Relaxed) as usize >= jobs {
            break Ok(started.elapsed());
        }
        if Instant::now() >= deadline {
            break Err(anyhow::anyhow!("jobs not finished after 10 minutes"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let _ = stop_tx.send(true);
    running.await??;
    crate::local_redis::remove_queue(&homing_core::connect::RedisTarget::new(url), producer.keys()).await;
    outcome
}

//! What a worker does when Redis refuses one of its calls (`with_retries`): a refusal no retry
//! can fix is given up at once, and the worker goes on with its other jobs; a refusal that an
//! operator fixes (a bad queue setting) is retried with a backoff that doubles; a refusal Redis
//! lifts (`READONLY`) is retried and said once, and a hand-back at shutdown gives up after its
//! ten seconds. And the maintenance lease it takes lasts five ticks. The first two run the
//! worker on the test's own thread (`#[tokio::test]` is a current-thread runtime), so its
//! metrics reach this thread's recorder.

use crate::faults::{keys_of, wait_workers, FAST};
use crate::{config, setup};
use homing_client::Producer;
use homing_core::metrics::REDIS_ERRORS;
use homing_tests::metrics_text::{scrape, Captured};
use homing_tests::{
    conn, fresh_queue, read_record, read_starts, record_file, wait_for, Recorder, RedisServer, TestWorker,
    WorkerProcess,
};
use homing_worker::{HandlerError, Job, ShutdownReport, Worker, WorkerConfig};
use redis::AsyncCommands;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A worker running on this thread until `stop` fires.
struct Local {
    id: String,
    stop: oneshot::Sender<()>,
    run: JoinHandle<Result<ShutdownReport, homing_worker::Error>>,
}

impl Local {
    async fn start<H: homing_worker::Handler>(config: WorkerConfig, handler: H) -> Self {
        let worker = Worker::new(config, handler).await.unwrap();
        let id = worker.id().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        Self { id, stop, run }
    }

    async fn stop(self) -> ShutdownReport {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.run).await.expect("run returns").unwrap().unwrap()
    }
}

/// The worker's `homing_redis_errors_total{op}`.
fn errors(metrics: &Captured, op: &str) -> u64 {
    metrics.counter(REDIS_ERRORS, &[("op", op)])
}

#[tokio::test]
async fn a_refusal_no_retry_can_fix_is_given_up_at_once_and_the_worker_goes_on() {
    let metrics = Captured::default();
    let _local = metrics.install();
    let (url, queue, producer) = setup("refused").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let (u, k, r) = (url.clone(), keys.clone(), rec.clone());
    let handler = move |job: Job| {
        r.record("r", &job);
        let (u, reply) = (u.clone(), k.reply("poisoned"));
        async move {
            if job.session == "poisoned" {
                // The job's reply stream becomes a list: `complete`'s first write, the reply's
                // XADD, gets WRONGTYPE, which no retry can fix.
                let _: () = conn(&u).await.rpush(reply, "not-a-stream").await.unwrap();
            }
            Ok::<_, HandlerError>(())
        }
    };
    // One slot: the second job is fetched only once the first one's handler has returned, and
    // by then the first one's completion call has left on its own.
    let w = Local::start(WorkerConfig { concurrency: 1, ..config(&url, &queue, "r") }, handler).await;
    let id = homing_core::JobId::new();
    let poisoned = homing_core::scripts::PushArgs {
        reply_to: Some("poisoned"),
        ..homing_core::scripts::PushArgs::now(&id, "poisoned", b"a")
    };
    homing_core::scripts::push(&mut conn(&url).await, &keys, &poisoned).await.unwrap();
    producer.push("fine", "b").await.unwrap();
    let mut c = conn(&url).await;
    wait_for("the second job to complete (its session stamped)", Duration::from_secs(10), || async {
        conn(&url).await.get::<_, Option<String>>(keys.pin("fine")).await.unwrap().filter(|p| *p == w.id)
    })
    .await;
    assert_eq!(errors(&metrics, "complete"), 1, "one refused call, not retried");
    let runs: Vec<(String, u32)> = rec.runs().into_iter().map(|r| (r.session, r.attempt)).collect();
    assert_eq!(runs, [("poisoned".to_string(), 0), ("fine".to_string(), 0)]);
    // Given up, not completed: the first job stays pending to this worker, for reclaim to run again.
    let pending: redis::streams::StreamPendingReply = c.xpending(keys.overflow(), "homing").await.unwrap();
    let consumers: Vec<(String, usize)> = match pending {
        redis::streams::StreamPendingReply::Data(d) => d.consumers.into_iter().map(|c| (c.name, c.pending)).collect(),
        _ => vec![],
    };
    assert_eq!(consumers, [(w.id.clone(), 1)]);
    let _: () = c.del(keys.pin("poisoned")).await.unwrap();
    w.stop().await;
}

#[tokio::test]
async fn a_refusal_that_waits_for_a_fix_is_retried_with_a_backoff_that_doubles() {
    let metrics = Captured::default();
    let _local = metrics.install();
    let (url, queue, producer) = setup("backoff").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let (u, k, r) = (url.clone(), keys.clone(), rec.clone());
    let handler = move |job: Job| {
        r.record("b", &job);
        let (u, meta) = (u.clone(), k.meta());
        async move {
            // Every script refuses the queue until the setting is fixed; the completion waits.
            let _: () = conn(&u).await.hset(meta, "max_waiting", "abc").await.unwrap();
            Ok::<_, HandlerError>(())
        }
    };
    let w = Local::start(config(&url, &queue, "b"), handler).await;
    producer.push("s", "x").await.unwrap();
    let counted = |n: u64| {
        let metrics = &metrics;
        wait_for("refused completions", Duration::from_secs(10), move || async move {
            (errors(metrics, "complete") >= n).then(Instant::now)
        })
    };
    let first = counted(1).await;
    let sixth = counted(6).await;
    // Five waits between the first refusal and the sixth: 50 + 100 + 200 + 400 + 800 ms = 1.55 s
    // (sleeps are never shorter). Without the doubling they would be 250 ms or less.
    let took = sixth - first;
    assert!(took >= Duration::from_millis(1200), "six refusals within {took:?}: the backoff does not double");
    let _: () = conn(&url).await.hset(keys.meta(), "max_waiting", "1").await.unwrap();
    // The next retry, at most 2 s later (the cap), goes through: the job completes and stamps.
    wait_for("the job to complete (its session stamped)", Duration::from_secs(10), || async {
        conn(&url).await.get::<_, Option<String>>(keys.pin("s")).await.unwrap().filter(|p| *p == w.id)
    })
    .await;
    assert_eq!(rec.runs().len(), 1, "completed by a retry, not run again");
    w.stop().await;
}

#[tokio::test]
async fn the_maintenance_lease_lasts_five_ticks() {
    let (url, queue, producer) = setup("leasettl").await;
    let keys = producer.keys().clone();
    // Five ticks of 1 s (5 s) is above the lease's 1 s floor.
    let tick = Duration::from_secs(1);
    let cfg = WorkerConfig { maintenance_interval: tick, ..config(&url, &queue, "l") };
    let w = TestWorker::start(cfg, |_job: Job| async { Ok::<_, HandlerError>(()) });
    let lease = keys.lease("maintenance");
    let mut c = conn(&url).await;
    let holder: Option<String> = c.get(&lease).await.unwrap();
    assert_eq!(holder.as_deref(), Some(w.id.as_str()), "its start beat took the free lease");
    // Written with 5 s at the start beat and at every tick since (each 1 s): read at once, it
    // has lost less than two ticks.
    let ttl: i64 = c.pttl(&lease).await.unwrap();
    assert!((3000..=5000).contains(&ttl), "lease PTTL {ttl} ms, not five ticks");
    w.stop();
}

/// Makes the server a replica of nothing (every write refused with `READONLY`, a retryable
/// error), or a primary again.
async fn read_only(c: &mut redis::aio::MultiplexedConnection, on: bool) {
    let mut cmd = redis::cmd("REPLICAOF");
    if on {
        cmd.arg("127.0.0.1").arg(1)
    } else {
        cmd.arg("NO").arg("ONE")
    };
    let _: () = cmd.query_async(c).await.unwrap();
}

/// The log lines that say `what` about the call `op`.
fn said(log: &str, what: &str, op: &str) -> usize {
    let op = format!("op=\"{op}\"");
    log.lines().filter(|l| l.contains(what) && l.contains(&op)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_redis_lifts_is_retried_and_said_once_and_a_hand_back_gives_up_after_ten_seconds() {
    let server = RedisServer::start(&[]);
    let url = server.url();
    let queue = fresh_queue("readonly");
    let keys = keys_of(&queue);
    let record = record_file("readonly");
    let port = homing_tests::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut flags = FAST.to_vec();
    flags.extend(["--metrics-addr", addr.as_str()]);
    let mut w = WorkerProcess::start(&url, &queue, "ro", &record, &flags);
    let id = wait_workers(&url, &keys, 1).await.remove(0);
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let job = producer.push_raw("s", b"sleep:1000").await.unwrap().id.to_string();
    wait_for("the job to start", Duration::from_secs(10), || async {
        read_starts(&record).contains_key(&job).then_some(())
    })
    .await;
    let mut c = conn(&url).await;

    // While the job runs, Redis turns read-only; its completion is refused three times, then
    // Redis takes writes again and the next retry goes through.
    read_only(&mut c, true).await;
    wait_for("three refused completions", Duration::from_secs(10), || async {
        (scrape(&addr).await.get(REDIS_ERRORS, &[("op", "complete")]) >= Some(3.0)).then_some(())
    })
    .await;
    read_only(&mut c, false).await;
    wait_for("the job to complete", Duration::from_secs(10), || async {
        read_record(&record).contains_key(&job).then_some(())
    })
    .await;
    let log = wait_for("the worker to say the completion went through", Duration::from_secs(5), || async {
        let log = w.log_text();
        (said(&log, "redis call went through after retries", "complete") > 0).then_some(log)
    })
    .await;
    assert_eq!(
        said(&log, "redis call failed; retrying with backoff", "complete"),
        1,
        "said once, not per retry:\n{log}"
    );
    assert_eq!(said(&log, "redis call went through after retries", "complete"), 1, "{log}");

    // Read-only again, then SIGTERM: the first hand-back retries for its ten seconds and gives
    // up when the next retry would end past them, so not before 8 s (the last wait is 2 s).
    read_only(&mut c, true).await;
    let signalled = Instant::now();
    w.signal("TERM");
    let log = wait_for("the first hand-back to give up", Duration::from_secs(15), || async {
        let log = w.log_text();
        (said(&log, "redis call failed; giving up", "hand_back") > 0).then_some(log)
    })
    .await;
    let took = signalled.elapsed();
    assert!(took >= Duration::from_secs(8) && took <= Duration::from_secs(11), "gave up after {took:?}:\n{log}");
    // Redis takes writes again: the later phases hand back and leave.
    read_only(&mut c, false).await;
    assert_eq!(w.wait_code(Duration::from_secs(15)), Some(0), "{}", w.log_text());
    let workers: Vec<String> = c.zrange(keys.workers(), 0, -1).await.unwrap();
    assert!(!workers.contains(&id), "{id} left: {workers:?}");
    assert_eq!(said(&w.log_text(), "redis call failed; giving up", "hand_back"), 1, "{}", w.log_text());
    drop(server);
}

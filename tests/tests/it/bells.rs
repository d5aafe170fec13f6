//! Bells (lua/include/bell.lua): an idle worker blocks on its inbox's and the overflow's bell
//! lists, so every path that adds an entry must ring, or the entry waits for an idle worker's
//! `idle_block` to run out. The workers here wait 60 s, so a missing bell fails the test's far
//! shorter bound.

use crate::config_with;
use homing_client::Route;
use homing_core::scripts::{self, InitMode};
use homing_core::{Keys, QueueSettings};
use homing_tests::{conn, create_groups, fresh_queue, redis_url, wait_for, Recorder, TestWorker};
use homing_worker::{HandlerError, Job, WorkerConfig};
use redis::AsyncCommands;
use std::time::{Duration, Instant};

/// Far longer than any bound below: only a bell wakes these workers in time.
const IDLE_BLOCK: Duration = Duration::from_secs(60);
/// How soon a rung bell's job must start (it takes milliseconds).
const PROMPT: Duration = Duration::from_secs(3);

/// A worker of one slot that waits `IDLE_BLOCK` for a bell. Its maintenance ticks once a minute
/// (after the first), so the holder's steal pass cannot ring in a ring's place (it rings when
/// entries wait unannounced), unless `tick` says otherwise.
fn sleepy(url: &str, queue: &str, name: &str, settings: QueueSettings, tick: Duration) -> WorkerConfig {
    WorkerConfig {
        concurrency: 1,
        idle_block: IDLE_BLOCK,
        maintenance_interval: tick,
        ..config_with(url, queue, name, settings)
    }
}

const SLOW_TICK: Duration = Duration::from_secs(60);

/// Records each run; a payload `long` holds the worker's one slot for 5 s.
fn handler(name: &str, rec: &Recorder) -> impl homing_worker::Handler {
    let (name, rec) = (name.to_string(), rec.clone());
    move |job: Job| {
        rec.record(&name, &job);
        let long = job.payload == b"long";
        async move {
            if long {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok::<_, HandlerError>(())
        }
    }
}

/// Waits until `job` ran; returns the worker that ran it and how long after `since`.
async fn ran(rec: &Recorder, job: &str, since: Instant) -> (String, Duration) {
    let run = wait_for(&format!("job {job} to run"), Duration::from_secs(20), || {
        let runs = rec.runs_of(job);
        async move { runs.first().cloned() }
    })
    .await;
    (run.worker, run.at - since)
}

/// Lets a worker finish its last fetch and block on its bells.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_wakes_at_once_for_a_job_in_the_overflow_and_in_its_inbox() {
    let (url, queue, producer) = crate::setup("bellwake").await;
    let rec = Recorder::default();
    // max_wait 60 s: steal, which would ring the overflow's bell, cannot move the inbox job.
    let settings = QueueSettings { max_wait: Duration::from_secs(60), ..Default::default() };
    let a = TestWorker::start(sleepy(&url, &queue, "a", settings, SLOW_TICK), handler("a", &rec));
    settle().await;
    let since = Instant::now();
    let first = producer.push_raw("s", b"x").await.unwrap();
    assert_eq!(first.route, Route::New);
    let (_, took) = ran(&rec, first.id.as_str(), since).await;
    assert!(took < PROMPT, "an overflow job started {took:?} after its push");
    // The completion stamped `a`: the next turn goes to its inbox.
    wait_for("a to own s", Duration::from_secs(5), || {
        let (url, key) = (url.clone(), producer.keys().pin("s"));
        async move {
            let pin: Option<String> = conn(&url).await.get(key).await.unwrap();
            pin.filter(|p| p.starts_with("a-"))
        }
    })
    .await;
    settle().await;
    let since = Instant::now();
    let next = producer.push_raw("s", b"x").await.unwrap();
    assert_eq!(next.route, Route::Hit);
    let (_, took) = ran(&rec, next.id.as_str(), since).await;
    assert!(took < PROMPT, "an inbox job started {took:?} after its push");
    a.stop();
}

/// Worker `a` owns session `s` and runs a 5 s job in its one slot, worker `b` idles, and the
/// next job of `s` waits in `a`'s inbox: returns them, that job and when it was pushed.
async fn a_busy_owner_and_an_idle_worker(
    label: &str,
    settings: QueueSettings,
    tick: Duration,
) -> (homing_client::Producer, Recorder, TestWorker, TestWorker, String, Instant) {
    let (url, queue, producer) = crate::setup(label).await;
    let rec = Recorder::default();
    let a = TestWorker::start(sleepy(&url, &queue, "a", settings.clone(), tick), handler("a", &rec));
    let warm = producer.push_raw("s", b"x").await.unwrap();
    ran(&rec, warm.id.as_str(), Instant::now()).await;
    let b = TestWorker::start(sleepy(&url, &queue, "b", settings, tick), handler("b", &rec));
    settle().await;
    let long = producer.push_raw("s", b"long").await.unwrap();
    assert_eq!(long.route, Route::Hit);
    assert_eq!(ran(&rec, long.id.as_str(), Instant::now()).await.0, "a");
    let since = Instant::now();
    let waiting = producer.push_raw("s", b"x").await.unwrap();
    assert_eq!(waiting.route, Route::Hit);
    (producer, rec, a, b, waiting.id.to_string(), since)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_steal_moves_wakes_an_idle_worker() {
    let settings = QueueSettings { max_wait: Duration::from_millis(300), ..Default::default() };
    // Steal needs ticks: its own ring is proven at the script level below.
    let (_producer, rec, a, b, waiting, since) =
        a_busy_owner_and_an_idle_worker("bellsteal", settings, Duration::from_millis(10)).await;
    // Steal moves it after max_wait (300 ms) plus a tick; a bell wakes `b`, while `a` is busy
    // for 5 s and `b` would otherwise sleep 60.
    let (by, took) = ran(&rec, &waiting, since).await;
    assert_eq!(by, "b", "started {took:?} after its push");
    assert!(took < PROMPT, "the stolen job started {took:?} after its push");
    a.stop();
    b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_handed_back_at_shutdown_wakes_an_idle_worker_and_the_leaver_takes_its_bell() {
    // max_wait 60 s: only the hand-back moves the waiting job in time.
    let settings = QueueSettings { max_wait: Duration::from_secs(60), ..Default::default() };
    let (producer, rec, a, b, waiting, _) = a_busy_owner_and_an_idle_worker("bellhand", settings, SLOW_TICK).await;
    let a_bell = Keys::bell(&producer.keys().inbox(a.id.as_str()));
    let since = Instant::now();
    // `stop` returns once `a` has finished its long job and left; the hand-back comes first.
    let leaving = tokio::task::spawn_blocking(move || a.stop());
    let (by, took) = ran(&rec, &waiting, since).await;
    assert_eq!(by, "b", "started {took:?} after the shutdown began");
    assert!(took < PROMPT, "the handed-back job started {took:?} after the shutdown began");
    leaving.await.unwrap();
    let left: bool = conn(&redis_url()).await.exists(&a_bell).await.unwrap();
    assert!(!left, "the leaver's bell is deleted with its inbox");
    b.stop();
}

/// A fresh queue with settings, a live `w-1` and its groups, for the script-level bell rules.
async fn script_queue(label: &str) -> (homing_client::Producer, Keys, redis::aio::MultiplexedConnection) {
    let url = redis_url();
    let queue = fresh_queue(label);
    let producer = homing_client::Producer::connect(&url, &queue).await.unwrap();
    let keys = producer.keys().clone();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, InitMode::Create, &QueueSettings::default()).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "w-1", Duration::from_secs(60), 1).await.unwrap();
    create_groups(&mut c, &[keys.inbox("w-1"), keys.overflow()]).await;
    (producer, keys, c)
}

async fn bells(c: &mut redis::aio::MultiplexedConnection, stream: &str) -> u64 {
    c.llen(Keys::bell(stream)).await.unwrap()
}

#[tokio::test]
async fn pushes_ring_up_to_64_overflow_bells_and_one_inbox_bell() {
    let (producer, keys, mut c) = script_queue("bellcap").await;
    for i in 0..70 {
        producer.push_raw(&format!("s{i}"), b"x").await.unwrap();
    }
    assert_eq!(bells(&mut c, &keys.overflow()).await, 64);
    let _: () = c.set(keys.pin("s"), "w-1").await.unwrap();
    for _ in 0..3 {
        assert_eq!(producer.push_raw("s", b"x").await.unwrap().route, Route::Hit);
    }
    assert_eq!(bells(&mut c, &keys.inbox("w-1")).await, 1);

    // The same caps within one push_many call, which asks each bell's length only until it
    // is full.
    let _: () = c.del(&[Keys::bell(&keys.overflow()), Keys::bell(&keys.inbox("w-1"))]).await.unwrap();
    let jobs: Vec<(String, &[u8])> = (0..70).map(|i| (format!("m{i}"), &b"x"[..])).collect();
    producer.push_many_raw(&jobs).await.unwrap();
    assert_eq!(bells(&mut c, &keys.overflow()).await, 64);
    let hits = producer.push_many_raw(&[("s", b"x"), ("s", b"x"), ("s", b"x")]).await.unwrap();
    assert!(hits.iter().all(|r| r.as_ref().unwrap().route == Route::Hit), "{hits:?}");
    assert_eq!(bells(&mut c, &keys.inbox("w-1")).await, 1);
}

#[tokio::test]
async fn a_fetch_that_leaves_overflow_entries_behind_rings_once_more_and_one_that_empties_it_does_not() {
    let (producer, keys, mut c) = script_queue("bellchain").await;
    for i in 0..4 {
        producer.push_raw(&format!("s{i}"), b"x").await.unwrap();
    }
    let overflow = keys.overflow();
    let _: () = c.del(Keys::bell(&overflow)).await.unwrap();
    assert_eq!(scripts::fetch(&mut c, &keys, "w-1", 1).await.unwrap().overflow.len(), 1);
    assert_eq!(bells(&mut c, &overflow).await, 1, "entries left behind: one more worker woken");
    assert_eq!(scripts::fetch(&mut c, &keys, "w-1", 1).await.unwrap().overflow.len(), 1);
    assert_eq!(bells(&mut c, &overflow).await, 1, "a bell still pending: nobody idle to wake");
    let _: () = c.del(Keys::bell(&overflow)).await.unwrap();
    assert_eq!(scripts::fetch(&mut c, &keys, "w-1", 2).await.unwrap().overflow.len(), 2);
    assert_eq!(bells(&mut c, &overflow).await, 0, "it took the last: no one else to wake");
}

#[tokio::test]
async fn a_fetch_never_strands_what_it_delivered_when_its_second_read_fails() {
    let (producer, keys, mut c) = script_queue("bellcheck").await;
    let job = producer.push_raw("s", b"x").await.unwrap();
    assert_eq!(job.route, Route::New);
    let _: () = c.del(keys.inbox("w-1")).await.unwrap();
    // The inbox read fails after the overflow read delivered the job: the job is returned.
    let fetched = scripts::fetch_with(&mut c, &keys, "w-1", 2, scripts::FetchFirst::Overflow).await.unwrap();
    assert_eq!(fetched.overflow.len(), 1);
    let id = fetched.overflow[0].fields.iter().find(|(f, _)| f == "id").map(|(_, v)| v.as_slice());
    assert_eq!(id, Some(job.id.as_str().as_bytes()));
    // Read first, with nothing delivered before it, the missing inbox is reported.
    let err = scripts::fetch_with(&mut c, &keys, "w-1", 2, scripts::FetchFirst::Inbox).await.unwrap_err();
    assert!(err.to_string().contains("NOGROUP"), "{err}");
}

#[tokio::test]
async fn reap_deletes_the_dead_workers_bell_with_its_inbox() {
    let (producer, keys, mut c) = script_queue("bellreap").await;
    let _: () = c.set(keys.pin("s"), "w-1").await.unwrap();
    assert_eq!(producer.push_raw("s", b"x").await.unwrap().route, Route::Hit);
    let bell = Keys::bell(&keys.inbox("w-1"));
    assert_eq!(c.llen::<_, u64>(&bell).await.unwrap(), 1);
    // Its deadline passed: the reaper takes it.
    let _: () = c.zadd(keys.workers(), "w-1", 1).await.unwrap();
    let reaped = scripts::reap(&mut c, &keys, "w-2", 100).await.unwrap();
    assert!(reaped.done, "{reaped:?}");
    let left: bool = c.exists(&bell).await.unwrap();
    assert!(!left, "the reaped worker's bell is deleted with its inbox");
}

#[tokio::test]
async fn steal_rings_again_when_entries_wait_undelivered_and_the_overflows_bell_is_gone() {
    let (producer, keys, mut c) = script_queue("bellrescue").await;
    let overflow = keys.overflow();
    producer.push_raw("s1", b"x").await.unwrap();
    producer.push_raw("s2", b"x").await.unwrap();
    // The push's bell was lost (a dropped wait took it).
    let _: () = c.del(Keys::bell(&overflow)).await.unwrap();
    scripts::steal(&mut c, &keys, 100).await.unwrap();
    assert_eq!(bells(&mut c, &overflow).await, 1, "two entries wait: one bell");
    scripts::steal(&mut c, &keys, 100).await.unwrap();
    assert_eq!(bells(&mut c, &overflow).await, 1, "one ring while the bell is unanswered");
    let _: () = c.del(Keys::bell(&overflow)).await.unwrap();
    assert_eq!(scripts::fetch(&mut c, &keys, "w-1", 2).await.unwrap().overflow.len(), 2);
    scripts::steal(&mut c, &keys, 100).await.unwrap();
    assert_eq!(bells(&mut c, &overflow).await, 0, "all delivered: no ring");
}

#[tokio::test]
async fn steal_rings_once_for_each_job_it_moves() {
    let settings = QueueSettings { max_wait: Duration::from_millis(1), max_waiting: 5, ..Default::default() };
    let (producer, keys, mut c) = script_queue("bellsteals").await;
    scripts::init(&mut c, &keys, InitMode::Update, &settings).await.unwrap();
    let _: () = c.set(keys.pin("s"), "w-1").await.unwrap();
    for _ in 0..3 {
        assert_eq!(producer.push_raw("s", b"x").await.unwrap().route, Route::Hit);
    }
    let overflow = keys.overflow();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(scripts::steal(&mut c, &keys, 100).await.unwrap().moved, 3);
    assert_eq!(bells(&mut c, &overflow).await, 3, "three jobs moved: three workers woken");
}

//! Idempotency keys, delays and pipelined pushes.

use crate::{config, config_with, recording, setup, wait_runs};
use homing_client::{PushOptions, Route};
use homing_core::QueueSettings;
use homing_tests::invariants::is_drained;
use homing_tests::{conn, wait_dead_letters, wait_for, Recorder, TestWorker};
use homing_worker::{HandlerError, Job};
use redis::AsyncCommands;
use std::time::{Duration, Instant};

/// Waits until nothing is queued, so a count of runs is final.
async fn wait_drained(url: &str, keys: &homing_core::Keys) {
    wait_for("the queue to drain", Duration::from_secs(15), || async { is_drained(url, keys).await.then_some(()) })
        .await;
}

#[tokio::test]
async fn an_idempotent_push_returns_the_original_id_and_runs_once() {
    let (url, queue, producer) = setup("idem").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let first = producer.push_with("s", "x", PushOptions::default().key("order-7")).await.unwrap();
    assert_eq!(first.route, Route::New);
    let again = producer.push_with("s", "x", PushOptions::default().key("order-7")).await.unwrap();
    assert_eq!(again.route, Route::Duplicate);
    assert_eq!(again.id, first.id);
    let other = producer.push_with("s", "y", PushOptions::default().key("order-8")).await.unwrap();
    assert_ne!(other.id, first.id);
    wait_runs(&rec, 2).await;
    wait_drained(&url, producer.keys()).await;
    assert_eq!(rec.runs_of(first.id.as_str()).len(), 1);
    assert_eq!(rec.runs().len(), 2);
    w.stop();
}

#[tokio::test]
async fn a_delayed_job_does_not_start_before_its_delay() {
    let (url, queue, producer) = setup("delay").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let before = Instant::now();
    let receipt =
        producer.push_with("s", "later", PushOptions::default().delay(Duration::from_millis(600))).await.unwrap();
    assert_eq!(receipt.route, Route::Delayed);
    let run = wait_for("the delayed job", Duration::from_secs(10), || {
        let runs = rec.runs_of(receipt.id.as_str());
        async move { runs.first().cloned() }
    })
    .await;
    let waited = run.at - before;
    // Redis's clock counts whole milliseconds, so the due time may fall up to 1 ms short of ours.
    assert!(waited >= Duration::from_millis(599), "started after {waited:?}");
    assert!(waited <= Duration::from_millis(2 * 600 + 1000), "started after {waited:?}");
    w.stop();
}

#[tokio::test]
async fn push_many_pipelines_and_reports_each_job() {
    let (url, queue, producer) = setup("many").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let jobs: Vec<(String, u32)> = (0..200).map(|i| (format!("s{}", i % 10), i)).collect();
    let mut with_bad = jobs.clone();
    with_bad.insert(5, (String::new(), 0));
    let receipts = producer.push_many(&with_bad).await.unwrap();
    assert_eq!(receipts.len(), 201);
    assert!(matches!(&receipts[5], Err(homing_client::Error::InvalidSession { len: 0 })));
    assert_eq!(receipts.iter().filter(|r| r.is_ok()).count(), 200);
    wait_runs(&rec, 200).await;
    wait_drained(&url, producer.keys()).await;
    let mut ran: Vec<String> = rec.runs().into_iter().map(|r| r.job).collect();
    ran.sort();
    let mut pushed: Vec<String> = receipts.into_iter().filter_map(|r| r.ok()).map(|r| r.id.to_string()).collect();
    pushed.sort();
    assert_eq!(ran, pushed, "every pushed job ran exactly once");
    w.stop();
}

#[tokio::test]
async fn an_idempotency_key_expires_after_its_ttl_and_the_next_push_enqueues_anew() {
    let (url, queue, producer) = setup("idemttl").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let keyed =
        || PushOptions { key: Some("order-9".into()), key_ttl: Some(Duration::from_millis(300)), ..Default::default() };
    let first = producer.push_with("s", "x", keyed()).await.unwrap();
    let pushed_at = Instant::now();
    let idem = producer.keys().idem("order-9");
    let ttl: i64 = conn(&url).await.pttl(&idem).await.unwrap();
    assert!((1..=300).contains(&ttl), "the key lives key_ttl: {ttl} ms");
    let again = producer.push_with("s", "x", keyed()).await.unwrap();
    assert_eq!((again.route, again.id), (Route::Duplicate, first.id.clone()), "within the TTL");
    wait_for("the key to expire", Duration::from_millis(2 * 300 + 1000), || async {
        let exists: bool = conn(&url).await.exists(&idem).await.unwrap();
        (!exists).then_some(())
    })
    .await;
    assert!(pushed_at.elapsed() >= Duration::from_millis(250), "expired {:?} after the push", pushed_at.elapsed());
    let later = producer.push_with("s", "x", keyed()).await.unwrap();
    assert_eq!(later.route, Route::Hit, "enqueued again, and home: the first run stamped");
    assert_ne!(later.id, first.id);
    wait_runs(&rec, 2).await;
    wait_drained(&url, producer.keys()).await;
    assert_eq!(
        rec.runs().iter().map(|r| r.job.clone()).collect::<Vec<_>>(),
        [first.id.to_string(), later.id.to_string()]
    );
    w.stop();
}

#[tokio::test]
async fn a_jobs_own_max_attempts_overrides_the_queues() {
    let settings = QueueSettings {
        max_attempts: 5,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        ..Default::default()
    };
    let (url, queue, producer) = setup("jobattempts").await;
    let rec = Recorder::default();
    let r = rec.clone();
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), move |job: Job| {
        r.record("a", &job);
        async { Err::<(), _>(HandlerError::retry("down")) }
    });
    let two = producer.push_with("s", "x", PushOptions::default().max_attempts(2)).await.unwrap();
    let dead = wait_dead_letters(&url, producer.keys(), 1).await;
    assert_eq!(
        (dead[0]["id"].as_str(), dead[0]["reason"].as_str(), dead[0]["a"].as_str()),
        (two.id.as_str(), "max_attempts", "1")
    );
    wait_drained(&url, producer.keys()).await;
    let attempts: Vec<u32> = rec.runs_of(two.id.as_str()).iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, [0, 1], "two attempts, not the queue's five");
    // Above the queue's setting too: seven attempts.
    let seven = producer.push_with("s", "y", PushOptions::default().max_attempts(7)).await.unwrap();
    wait_dead_letters(&url, producer.keys(), 2).await;
    wait_drained(&url, producer.keys()).await;
    let attempts: Vec<u32> = rec.runs_of(seven.id.as_str()).iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, (0..7).collect::<Vec<_>>());
    w.stop();
}

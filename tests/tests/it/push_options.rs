//! Idempotency keys, delays and pipelined pushes.

use crate::{config, recording, setup, wait_runs};
use homing_client::{PushOptions, Route};
use homing_tests::{wait_for, Recorder, TestWorker};
use std::time::{Duration, Instant};

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
    assert_eq!(rec.runs_of(first.id.as_str()).len(), 1);
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
    assert!(waited >= Duration::from_millis(600), "started after {waited:?}");
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
    let mut ran: Vec<String> = rec.runs().into_iter().map(|r| r.job).collect();
    ran.sort();
    let mut pushed: Vec<String> = receipts.into_iter().filter_map(|r| r.ok()).map(|r| r.id.to_string()).collect();
    pushed.sort();
    assert_eq!(ran, pushed, "every pushed job ran exactly once");
    w.stop();
}

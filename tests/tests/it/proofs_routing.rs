//! Routing behaviours each pinned by a test that fails when the behaviour is removed: the pin's
//! TTL (refreshed by a completion on the owner, expiring when idle), ingress's max_payload, and
//! key prefixes that keep queues of one name apart.

use crate::cli::{homing, run, text};
use crate::{config_with, recording, setup, wait_runs};
use homing_client::{Producer, ProducerOptions, Route};
use homing_core::QueueSettings;
use homing_tests::invariants::is_drained;
use homing_tests::{conn, fresh_queue, redis_url, wait_dead_letters, wait_for, Recorder, TestWorker};
use homing_worker::{HandlerError, Job, WorkerConfig};
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A job that completes on its session's owner refreshes the pin's TTL to `pin_ttl`, so a
/// session in use stays home however long it lives.
#[tokio::test]
async fn a_job_completing_on_its_owner_refreshes_the_pins_ttl() {
    let settings = QueueSettings { pin_ttl: Duration::from_secs(10), ..Default::default() };
    let (url, queue, producer) = setup("pinrefresh").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (r, g) = (rec.clone(), gate.clone());
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), move |job: Job| {
        r.record("a", &job);
        let (g, hold) = (g.clone(), job.payload == b"hold");
        async move {
            if hold {
                g.acquire().await.unwrap().forget();
            }
            Ok::<_, HandlerError>(())
        }
    });
    producer.push_raw("s", b"first").await.unwrap();
    wait_for("the pin", Duration::from_secs(5), || async {
        let pin: Option<String> = conn(&url).await.get(keys.pin("s")).await.unwrap();
        pin.filter(|p| p == w.id.as_str())
    })
    .await;
    let held = producer.push_raw("s", b"hold").await.unwrap();
    assert_eq!(held.route, Route::Hit);
    wait_runs(&rec, 2).await;
    // While the job runs, the pin has 1.5 s left (as if the hit's refresh were long ago).
    let mut c = conn(&url).await;
    let _: bool = c.pexpire(keys.pin("s"), 1500).await.unwrap();
    gate.add_permits(1);
    wait_for("the held job to complete", Duration::from_secs(10), || async {
        is_drained(&url, &keys).await.then_some(())
    })
    .await;
    let ttl: i64 = c.pttl(keys.pin("s")).await.unwrap();
    assert!((5_000..=10_000).contains(&ttl), "the completion on the owner set the pin's TTL back to pin_ttl: {ttl} ms");
    w.stop();
}

/// A pin nobody refreshes expires after `pin_ttl`: the session's next push routes `new`.
#[tokio::test]
async fn an_idle_pin_expires_after_pin_ttl_and_the_next_push_routes_new() {
    let settings = QueueSettings { pin_ttl: Duration::from_millis(300), ..Default::default() };
    let (url, queue, producer) = setup("pinexpiry").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), recording("a", &rec));
    producer.push_raw("s", b"first").await.unwrap();
    let stamped = wait_for("the pin", Duration::from_secs(5), || async {
        let mut c = conn(&url).await;
        let pin: Option<String> = c.get(keys.pin("s")).await.unwrap();
        let ttl: i64 = c.pttl(keys.pin("s")).await.unwrap();
        pin.map(|p| (p, ttl, Instant::now()))
    })
    .await;
    assert_eq!(stamped.0, w.id.as_str());
    assert!((1..=300).contains(&stamped.1), "stamped with pin_ttl: {} ms left", stamped.1);
    assert_eq!(producer.push_raw("s", b"second").await.unwrap().route, Route::Hit, "home while the pin lives");
    wait_runs(&rec, 2).await;
    wait_for("the pin to expire", Duration::from_millis(2 * 300 + 1000), || async {
        let exists: bool = conn(&url).await.exists(keys.pin("s")).await.unwrap();
        (!exists).then_some(())
    })
    .await;
    assert_eq!(producer.push_raw("s", b"third").await.unwrap().route, Route::New);
    w.stop();
}

/// Ingress refuses an envelope whose payload is over the queue's `max_payload`: dead-lettered
/// `malformed` with the reason and the raw envelope; one at the limit is routed.
#[tokio::test]
async fn ingress_dead_letters_a_payload_over_max_payload() {
    let settings = QueueSettings { max_payload: 16, ..Default::default() };
    let (url, queue, producer) = setup("ingresssize").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), recording("a", &rec));
    let fits = r#"{"session":"s","payload":"0123456789abcdef","id":"fits"}"#;
    let over = r#"{"session":"s","payload":"0123456789abcdefg","id":"over"}"#;
    let mut c = conn(&url).await;
    let _: i64 = c.lpush(keys.ingress(), &[fits, over]).await.unwrap();
    let dead = wait_dead_letters(&url, &keys, 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0]["reason"].as_str(), dead[0]["error"].as_str(), dead[0]["envelope"].as_str()),
        ("malformed", "envelope payload is 17 bytes, over the queue max_payload of 16", over)
    );
    let runs = wait_runs(&rec, 1).await;
    assert_eq!(runs[0].job, "fits");
    wait_for("the queue to drain", Duration::from_secs(10), || async { is_drained(&url, &keys).await.then_some(()) })
        .await;
    assert_eq!(rec.runs().len(), 1, "the oversized payload never ran");
    w.stop();
}

/// Two prefixes, one queue name: two queues that share nothing. A job pushed under one prefix
/// runs only on that prefix's worker, and `homing --prefix` shows only that prefix's workers.
#[tokio::test]
async fn two_prefixes_keep_queues_of_one_name_apart() {
    let url = redis_url();
    let queue = fresh_queue("prefix");
    let rec = Recorder::default();
    let start = |prefix: &str| {
        let config = WorkerConfig { prefix: prefix.to_string(), ..crate::config(&url, &queue, prefix) };
        TestWorker::start(config, recording(prefix, &rec))
    };
    let (wa, wb) = (start("pa"), start("pb"));
    let producer = |prefix: &str| {
        let options = ProducerOptions { prefix: prefix.to_string(), ..Default::default() };
        Producer::connect_with(&url, &queue, options)
    };
    let (pa, pb) = (producer("pa").await.unwrap(), producer("pb").await.unwrap());
    let mut ids = std::collections::HashMap::new();
    for i in 0..10 {
        ids.insert(pa.push_raw(&format!("s{i}"), b"x").await.unwrap().id.to_string(), "pa");
        ids.insert(pb.push_raw(&format!("s{i}"), b"x").await.unwrap().id.to_string(), "pb");
    }
    let runs = wait_runs(&rec, 20).await;
    for r in &runs {
        assert_eq!(r.worker, ids[&r.job], "job {} ran under the other prefix", r.job);
    }
    for (prefix, worker) in [("pa", &wa), ("pb", &wb)] {
        let mut status = homing(&url, &queue);
        status.args(["--prefix", prefix, "status", "--json"]);
        let out = run(status, None).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let listed: Vec<&str> = s["workers"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
        assert_eq!(listed, [worker.id.as_str()], "--prefix {prefix}");
    }
    let pins: Vec<String> = conn(&url).await.keys(format!("{}*", pa.keys().pin(""))).await.unwrap();
    assert_eq!(pins.len(), 10, "pa's pins under pa: {pins:?}");
    wa.stop();
    wb.stop();
}

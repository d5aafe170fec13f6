//! Every metric the README names, asserted by exact value after a specific event: the
//! producer's counters through an in-process recorder, the worker's through a real `homing
//! worker` process's `/metrics`, read series by series (never by line prefix).

use crate::faults::{fast_and, keys_of, wait_workers};
use homing_client::{Producer, PushOptions, Route, SpillReason};
use homing_core::metrics::*;
use homing_core::{scripts, Keys, QueueSettings};
use homing_tests::metrics_text::{scrape, Captured, Samples};
use homing_tests::{conn, create_groups, fresh_queue, read_starts, record_file, redis_url, wait_for, WorkerProcess};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use std::time::Duration;

#[tokio::test]
async fn the_producer_counts_each_push_by_route_and_reason_and_each_dead_pin_it_releases() {
    let metrics = Captured::default();
    let _local = metrics.install();
    let url = redis_url();
    let queue = fresh_queue("pushmetrics");
    let keys = keys_of(&queue);
    let mut c = conn(&url).await;
    let settings = QueueSettings { max_waiting: 0, ..Default::default() };
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &settings).await.unwrap();
    // A live owner with room for one job, and a dead one.
    scripts::heartbeat(&mut c, &keys, "live-1", Duration::from_secs(60), 1).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "dead-1", Duration::from_secs(60), 1).await.unwrap();
    let _: () = c.zadd(keys.workers(), "dead-1", 1).await.unwrap();
    let _: () = c.set(keys.pin("home"), "live-1").await.unwrap();
    let _: () = c.set(keys.pin("gone"), "dead-1").await.unwrap();

    let producer = Producer::connect(&url, &queue).await.unwrap();
    let keyed = || PushOptions::default().key("k-1");
    let routes = [
        producer.push_raw("home", b"x").await.unwrap().route,
        producer.push_raw("home", b"x").await.unwrap().route,
        producer.push_raw("gone", b"x").await.unwrap().route,
        producer.push_raw("fresh", b"x").await.unwrap().route,
        producer
            .push_raw_with("later", b"x", PushOptions::default().delay(Duration::from_secs(3600)))
            .await
            .unwrap()
            .route,
        producer.push_raw_with("keyed", b"x", keyed()).await.unwrap().route,
        producer.push_raw_with("keyed", b"x", keyed()).await.unwrap().route,
    ];
    assert_eq!(
        routes,
        [
            Route::Hit,
            Route::Spill(SpillReason::Busy),
            Route::Spill(SpillReason::Dead),
            Route::New,
            Route::Delayed,
            Route::New,
            Route::Duplicate
        ]
    );
    // Through the ingress list: counted once sent, by the number of jobs; a call refused before
    // sending counts nothing.
    producer.ingress_many_raw(&[("i1", b"x"), ("i2", b"y")]).await.unwrap();
    producer.ingress("i3", "z").await.unwrap();
    producer.ingress_many_raw(&[("i4", b"x"), ("", b"y")]).await.unwrap_err();
    let pushed: Vec<(String, String, u64)> =
        metrics.named(JOBS_PUSHED).into_iter().map(|(l, n)| (l["route"].clone(), l["reason"].clone(), n)).collect();
    let expected = [
        ("delayed", "", 1),
        ("duplicate", "", 1),
        ("hit", "", 1),
        ("ingress", "", 3),
        ("new", "", 2),
        ("spill", "busy", 1),
        ("spill", "dead", 1),
    ];
    assert_eq!(pushed, expected.map(|(r, why, n)| (r.to_string(), why.to_string(), n)));
    assert_eq!(metrics.counter(PINS_RELEASED, &[("reason", "dead")]), 1);
    assert_eq!(metrics.named(PINS_RELEASED).len(), 1);
}

/// Adds a job entry to `stream` and returns its entry id.
async fn add_job(c: &mut MultiplexedConnection, stream: &str, id: &str, session: &str) -> String {
    c.xadd(stream, "*", &[("id", id), ("s", session), ("p", "sleep:0"), ("a", "0"), ("t", "1")]).await.unwrap()
}

/// Delivers up to `n` entries of `stream` to consumer `worker`.
async fn deliver(c: &mut MultiplexedConnection, stream: &str, worker: &str, n: usize) {
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("homing")
        .arg(worker)
        .arg("COUNT")
        .arg(n)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query_async(c)
        .await
        .unwrap();
}

/// A worker that registered for a minute and then does nothing: its inbox is what a test
/// puts there.
async fn idle_worker(c: &mut MultiplexedConnection, keys: &Keys, id: &str) {
    scripts::heartbeat(c, keys, id, Duration::from_secs(60), 1).await.unwrap();
    create_groups(c, &[keys.inbox(id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_metrics_count_each_event_exactly() {
    let url = redis_url();
    let queue = fresh_queue("workermetrics");
    let keys = keys_of(&queue);
    let record = record_file("workermetrics");
    let port = homing_tests::free_port();
    let addr = format!("127.0.0.1:{port}");
    // FAST at the worker's default concurrency, with a longer max_wait and visibility timeout.
    let flags = fast_and(&[
        ("--concurrency", "8"),
        ("--max-wait", "3s"),
        ("--visibility-timeout", "4s"),
        ("--metrics-addr", &addr),
    ]);
    let _m = WorkerProcess::start(&url, &queue, "m", &record, &flags);
    let m_id = wait_workers(&url, &keys, 1).await.remove(0);
    let mut c = conn(&url).await;
    wait_for("m to hold the maintenance lease", Duration::from_secs(10), || async {
        let holder: Option<String> = conn(&url).await.get(keys.lease("maintenance")).await.unwrap();
        holder.filter(|h| *h == m_id)
    })
    .await;
    let metric = |name: &'static str, labels: &'static [(&'static str, &'static str)], want: f64| {
        let addr = addr.clone();
        async move {
            wait_for(&format!("{name}{labels:?} = {want}"), Duration::from_secs(10), || async {
                let s = scrape(&addr).await;
                (s.get(name, labels) == Some(want)).then_some(s)
            })
            .await
        }
    };
    let producer = Producer::connect(&url, &queue).await.unwrap();

    // A new session starts from the overflow; once stamped, the next job from the inbox.
    producer.push_raw("s1", b"sleep:0").await.unwrap();
    metric(JOBS_STARTED, &[("source", "overflow")], 1.0).await;
    wait_for("the pin", Duration::from_secs(5), || async {
        let pin: Option<String> = conn(&url).await.get(keys.pin("s1")).await.unwrap();
        pin.filter(|p| *p == m_id)
    })
    .await;
    assert_eq!(producer.push_raw("s1", b"sleep:0").await.unwrap().route, Route::Hit);
    metric(JOBS_STARTED, &[("source", "inbox")], 1.0).await;

    // A due delayed job is promoted once; two far ones wait in the delayed set.
    producer
        .push_raw_with("s-soon", b"sleep:0", PushOptions::default().delay(Duration::from_millis(100)))
        .await
        .unwrap();
    for s in ["s-later-1", "s-later-2"] {
        producer.push_raw_with(s, b"sleep:0", PushOptions::default().delay(Duration::from_secs(3600))).await.unwrap();
    }
    metric(JOBS_PROMOTED, &[], 1.0).await;
    metric(DELAYED, &[], 2.0).await;

    // Ingress: one routed, one duplicate of its key, one malformed.
    for e in [
        r#"{"session":"in-s","payload":"sleep:0","key":"ik"}"#,
        r#"{"session":"in-s","payload":"x","key":"ik"}"#,
        "garbage",
    ] {
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
    }
    metric(INGRESS_ENVELOPES, &[("outcome", "malformed")], 1.0).await;

    // An idle live worker wf with three inbox entries: two delivered to it (one of a session it
    // owns), one not. Its backlog is 3; after max_wait (3 s, longer than the 2.5 s gauge period) the undelivered one is stolen;
    // after visibility_timeout (4 s) the delivered two are reclaimed and its pin released.
    idle_worker(&mut c, &keys, "wf-1").await;
    let _: () = c.set(keys.pin("s-owned"), "wf-1").await.unwrap();
    add_job(&mut c, &keys.inbox("wf-1"), "f1", "s-owned").await;
    add_job(&mut c, &keys.inbox("wf-1"), "f2", "s-other").await;
    deliver(&mut c, &keys.inbox("wf-1"), "wf-1", 2).await;
    add_job(&mut c, &keys.inbox("wf-1"), "f3", "s-third").await;
    // Listed for steal as the route lists an inbox it queues to (these were added directly).
    let _: () = c.zadd(keys.waiting(), "wf-1", 0).await.unwrap();
    metric(INBOX_BACKLOG, &[("worker", "wf-1")], 3.0).await;
    // A worker wd with two inbox entries, one delivered, then dead: reaped, both moved.
    idle_worker(&mut c, &keys, "wd-1").await;
    add_job(&mut c, &keys.inbox("wd-1"), "d1", "s-d1").await;
    add_job(&mut c, &keys.inbox("wd-1"), "d2", "s-d2").await;
    deliver(&mut c, &keys.inbox("wd-1"), "wd-1", 1).await;
    metric(INBOX_BACKLOG, &[("worker", "wd-1")], 2.0).await;
    let _: () = c.zadd(keys.workers(), "wd-1", 1).await.unwrap();

    // Every job that can run has run: s1 twice, s-soon, the ingress job, f1-f3, d1, d2.
    wait_for("nine jobs started", Duration::from_secs(20), || async {
        (read_starts(&record).len() == 9).then_some(())
    })
    .await;
    let s: Samples = metric(INBOX_BACKLOG, &[("worker", "wf-1")], 0.0).await;
    let checks: [homing_tests::metrics_text::Expected; 15] = [
        (JOBS_STARTED, &[("source", "overflow")], 8.0),
        (JOBS_STARTED, &[("source", "inbox")], 1.0),
        (JOBS_PROMOTED, &[], 1.0),
        (DELAYED, &[], 2.0),
        (INGRESS_ENVELOPES, &[("outcome", "routed")], 1.0),
        (INGRESS_ENVELOPES, &[("outcome", "duplicate")], 1.0),
        (INGRESS_ENVELOPES, &[("outcome", "malformed")], 1.0),
        (JOBS_RECLAIMED, &[("reason", "wait")], 1.0),
        (JOBS_RECLAIMED, &[("reason", "stalled")], 2.0),
        (JOBS_RECLAIMED, &[("reason", "dead")], 2.0),
        (PINS_RELEASED, &[("reason", "stalled")], 1.0),
        (WORKERS_REAPED, &[], 1.0),
        (INBOX_BACKLOG, &[("worker", m_id.as_str())], 0.0),
        (INBOX_BACKLOG, &[("worker", "wd-1")], 0.0),
        (WORKERS_ALIVE, &[], 2.0),
    ];
    for (name, labels, want) in checks {
        assert_eq!(s.get(name, labels), Some(want), "{name}{labels:?}; exported: {:?}", s.named(name));
    }
    assert!(s.named(REDIS_ERRORS).is_empty(), "no Redis error yet: {:?}", s.named(REDIS_ERRORS));

    // A Redis error: the ingress list replaced by a string fails every ingress pass until fixed.
    let _: () = c.set(keys.ingress(), "not a list").await.unwrap();
    let broken = wait_for("ingress errors counted", Duration::from_secs(10), || async {
        scrape(&addr).await.get(REDIS_ERRORS, &[("op", "ingress")]).filter(|n| *n >= 1.0)
    })
    .await;
    let _: () = c.del(keys.ingress()).await.unwrap();
    // Once fixed the count stops: two scrapes a few ingress ticks apart agree.
    let settled = wait_for("ingress errors to stop", Duration::from_secs(10), || async {
        let a = scrape(&addr).await.value(REDIS_ERRORS, &[("op", "ingress")]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let b = scrape(&addr).await;
        (b.value(REDIS_ERRORS, &[("op", "ingress")]) == a).then_some(b)
    })
    .await;
    let errors = settled.named(REDIS_ERRORS);
    assert_eq!(errors.len(), 1, "only ingress failed: {errors:?}");
    assert!(errors[0].1 >= broken, "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_and_run_histograms_record_seconds() {
    let url = redis_url();
    let queue = fresh_queue("histmetrics");
    let keys = keys_of(&queue);
    let record = record_file("histmetrics");
    let port = homing_tests::free_port();
    let addr = format!("127.0.0.1:{port}");
    let flags = ["--maintenance-interval", "20ms", "--idle-block", "200ms", "--metrics-addr", &addr];
    let _w = WorkerProcess::start(&url, &queue, "h", &record, &flags);
    wait_workers(&url, &keys, 1).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();
    // Waits at least its 400 ms delay, then runs 300 ms.
    let delayed = PushOptions { delay: Some(Duration::from_millis(400)), ..Default::default() };
    producer.push_raw_with("s", b"sleep:300", delayed).await.unwrap();
    let s = wait_for("the job to be measured", Duration::from_secs(10), || {
        let addr = addr.clone();
        async move { Some(scrape(&addr).await).filter(|s| s.get(JOB_RUN_SECONDS_COUNT, &[]) == Some(1.0)) }
    })
    .await;
    let wait = s.value(&format!("{JOB_WAIT_SECONDS}_sum"), &[]);
    let run = s.value(&format!("{JOB_RUN_SECONDS}_sum"), &[]);
    assert!((0.4..2.0).contains(&wait), "waited {wait} s");
    assert!((0.3..2.0).contains(&run), "ran {run} s");
    assert_eq!(s.value(&format!("{JOB_WAIT_SECONDS}_bucket"), &[("le", "0.25")]), 0.0);
    assert_eq!(s.value(&format!("{JOB_WAIT_SECONDS}_bucket"), &[("le", "1")]), 1.0);
}

const JOB_RUN_SECONDS_COUNT: &str = "homing_job_run_seconds_count";

//! Deploy safety (issue 9): SIGTERM and Redis outages run nothing twice. Real `homing worker`
//! processes and real Redis servers; each test ends with the invariant checker.

use crate::faults::{fast_and, keys_of, live_workers, wait_settled, wait_workers, FAST};
use homing_client::Producer;
use homing_tests::invariants::{assert_settled, Attempts, Gaps};
use homing_tests::{conn, fresh_queue, read_record, read_starts, record_file, redis_url, wait_for, WorkerProcess};
use redis::AsyncCommands;
use std::time::{Duration, Instant};

/// FAST with another `--shutdown-grace` and `--visibility-timeout`.
fn fast_with<'a>(grace: &'a str, visibility: &'a str) -> Vec<&'a str> {
    fast_and(&[("--visibility-timeout", visibility), ("--shutdown-grace", grace)])
}

/// Waits until `job` has started somewhere; returns the name of the worker that started it.
async fn wait_started(record: &std::path::Path, job: &str) -> String {
    wait_for(&format!("job {job} to start"), Duration::from_secs(15), || async {
        read_starts(record).get(job).map(|s| s[0].worker.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_long_job_in_flight_keeps_the_worker_alive_until_it_finishes() {
    let url = redis_url();
    let queue = fresh_queue("drainlong");
    let keys = keys_of(&queue);
    let record = record_file("drainlong");
    // The job runs 3 s: six liveness_ttls (500 ms) and longer than visibility_timeout (2 s), so
    // both the heartbeats and the lease renewal must go on while the worker drains.
    let a = WorkerProcess::start(&url, &queue, "da", &record, &fast_with("30s", "2s"));
    wait_workers(&url, &keys, 1).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let long = producer.push_raw("s-long", b"sleep:3000").await.unwrap().id.to_string();
    assert_eq!(wait_started(&record, &long).await, "da");
    let mut b = WorkerProcess::start(&url, &queue, "db", &record, FAST);
    wait_workers(&url, &keys, 2).await;
    let a_id = live_workers(&url, &keys).await.into_iter().find(|w| w.starts_with("da-")).unwrap();

    a.signal("TERM");
    let mut a = a;
    // Past several liveness_ttls and the visibility timeout the draining worker is still
    // listed, alive, with capacity 0: nothing new routes to it, and nobody reaps it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut c = conn(&url).await;
    let deadline: Option<i64> = c.zscore(keys.workers(), &a_id).await.unwrap();
    let now_ms: (i64, i64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
    assert!(deadline.is_some_and(|d| d >= now_ms.0 * 1000), "the draining worker is alive to the queue: {deadline:?}");
    let capacity: String = c.hget(keys.capacity(), &a_id).await.unwrap();
    assert_eq!(capacity, "0", "a draining worker has capacity 0");
    let other = producer.push_raw("s-new", b"sleep:0").await.unwrap().id.to_string();
    assert_eq!(wait_started(&record, &other).await, "db", "new work goes to the worker that is not draining");

    assert_eq!(a.wait_code(Duration::from_secs(15)), Some(0), "a drained worker exits 0");
    let log = a.log_text();
    assert!(log.contains("worker left: drained, every in-flight job settled"), "{log}");
    assert!(!log.contains("shutdown_grace ended with jobs still running"), "nothing was cut short: {log}");
    assert!(!b.log_text().contains("reaped a dead worker"), "{}", b.log_text());
    let starts = read_starts(&record);
    assert_eq!(starts[&long].len(), 1, "the long job started once: {:?}", starts[&long]);
    let pushed = vec![long.clone(), other];
    let completed = wait_settled(&url, &keys, &record, &pushed, Duration::from_secs(20)).await;
    let done = read_record(&record);
    assert_eq!(done[&long].iter().map(|f| (f.worker.as_str(), f.attempt)).collect::<Vec<_>>(), [("da", 0)]);
    assert_settled(&url, &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::None);
    assert!(!live_workers(&url, &keys).await.contains(&a_id), "the drained worker left Q:workers");
    b.signal("TERM");
    assert_eq!(b.wait_code(Duration::from_secs(15)), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_shutdown_grace_the_unfinished_job_is_handed_back_and_runs_elsewhere_at_once() {
    let url = redis_url();
    let queue = fresh_queue("draincut");
    let keys = keys_of(&queue);
    let record = record_file("draincut");
    // visibility_timeout 30 s: the job must move because it is handed back, not reclaimed.
    let mut a = WorkerProcess::start(&url, &queue, "ca", &record, &fast_with("1s", "30s"));
    wait_workers(&url, &keys, 1).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let job = producer.push_raw("s-cut", b"sleep:4000").await.unwrap().id.to_string();
    assert_eq!(wait_started(&record, &job).await, "ca");
    let b = WorkerProcess::start(&url, &queue, "cb", &record, FAST);
    wait_workers(&url, &keys, 2).await;

    let signalled = Instant::now();
    a.signal("TERM");
    assert_eq!(a.wait_code(Duration::from_secs(15)), Some(75), "a worker whose grace ran out exits 75");
    let log = a.log_text();
    assert!(log.contains("worker left: shutdown_grace ran out, unfinished jobs handed back"), "{log}");
    assert!(
        log.contains("shutdown_grace ended with jobs still running: cancelling them and handing them back"),
        "{log}"
    );
    wait_for("the job to start again elsewhere", Duration::from_secs(10), || async {
        (read_starts(&record).get(&job).map_or(0, Vec::len) == 2).then_some(())
    })
    .await;
    let moved_after = signalled.elapsed();
    // Not before the grace (1 s) ended, and far sooner than visibility_timeout (30 s).
    assert!(moved_after >= Duration::from_secs(1), "moved after {moved_after:?}");
    assert!(moved_after <= Duration::from_secs(3), "moved after {moved_after:?}");
    let starts = read_starts(&record);
    assert_eq!(
        starts[&job].iter().map(|f| (f.worker.as_str(), f.attempt)).collect::<Vec<_>>(),
        [("ca", 0), ("cb", 1)],
        "the cut-short run counts as an attempt"
    );
    let pushed = vec![job.clone()];
    let completed = wait_settled(&url, &keys, &record, &pushed, Duration::from_secs(20)).await;
    let done = read_record(&record);
    assert_eq!(
        done[&job].iter().map(|f| f.worker.as_str()).collect::<Vec<_>>(),
        ["cb"],
        "the cancelled run never finished"
    );
    assert_settled(&url, &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::None);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_longer_than_liveness_ttl_reaps_no_live_worker_and_reruns_nothing() {
    let mut server = homing_tests::RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = server.url();
    let queue = fresh_queue("outage");
    let keys = keys_of(&queue);
    let record = record_file("outage");
    // FAST with liveness_ttl 1 s: the grace after the outage is what keeps `ob` alive below.
    let flags = fast_and(&[("--liveness-ttl", "1s")]);
    let a = WorkerProcess::start(&url, &queue, "oa", &record, &flags);
    wait_workers(&url, &keys, 1).await;
    let b = WorkerProcess::start(&url, &queue, "ob", &record, &flags);
    let c = WorkerProcess::start(&url, &queue, "oc", &record, &flags);
    let before = wait_workers(&url, &keys, 3).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();
    // Long jobs in flight on the live workers across the outage (visibility_timeout is 2 s).
    let mut pushed = Vec::new();
    for i in 0..6 {
        pushed.push(producer.push_raw(&format!("s{i}"), b"sleep:5000").await.unwrap().id.to_string());
    }
    wait_for("every long job to start", Duration::from_secs(10), || async {
        (read_starts(&record).len() == 6).then_some(())
    })
    .await;

    // 3 s down: three liveness_ttls and longer than visibility_timeout. One worker dies
    // meanwhile; another (`ob`) is frozen and comes back 400 ms after Redis does, slower than
    // the lease holder, but within liveness_ttl: it must not be reaped.
    server.stop();
    b.signal("STOP");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let c_name = c.name.clone();
    c.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    let back = Instant::now();
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.signal("CONT");

    // The dead worker goes within liveness_ttl (1 s) plus a tick after Redis returns; give it
    // 2 × 1 s + 1 s. The live ones are never reaped.
    let c_id = before.iter().find(|w| w.starts_with(&format!("{c_name}-"))).unwrap().clone();
    wait_for("the killed worker to be reaped", Duration::from_secs(10), || async {
        (!live_workers(&url, &keys).await.contains(&c_id)).then_some(())
    })
    .await;
    let reaped_after = back.elapsed();
    assert!(reaped_after <= Duration::from_secs(3), "reaped {reaped_after:?} after Redis returned");
    let completed = wait_settled(&url, &keys, &record, &pushed, Duration::from_secs(30)).await;
    let live = live_workers(&url, &keys).await;
    for w in before.iter().filter(|w| **w != c_id) {
        assert!(live.contains(w), "live worker {w} kept its registration: {live:?}");
    }
    for p in [&a, &b] {
        // The fetch loop said once that it failed, and that it fetches again: a worker whose
        // slots were all busy fetches again only when its last job has finished, so allow it
        // a moment past the queue's settling.
        let log = wait_for(&format!("{} to log that it fetches again", p.name), Duration::from_secs(10), || async {
            let log = p.log_text();
            let failed = log.find("fetch failed; retrying with backoff");
            (failed.is_some() && log.rfind("fetching again") > failed).then_some(log)
        })
        .await;
        assert!(!log.contains("deregistered while away"), "{} was reaped during the outage:\n{log}", p.name);
    }
    // Jobs the killed worker held run again (it really died); no other job started twice.
    let starts = read_starts(&record);
    for id in &pushed {
        let runs = &starts[id];
        if runs[0].worker != c_name {
            assert_eq!(runs.len(), 1, "job {id} ran on a live worker and started again: {runs:?}");
        } else {
            assert_eq!((runs.len(), runs[1].attempt), (2, 1), "job {id} of the killed worker: {runs:?}");
        }
    }
    assert_settled(&url, &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::None);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_three_workers_runs_every_job_exactly_once() {
    let url = redis_url();
    let queue = fresh_queue("rolling");
    let keys = keys_of(&queue);
    let record = record_file("rolling");
    let mut workers: Vec<WorkerProcess> =
        (0..3).map(|i| WorkerProcess::start(&url, &queue, &format!("r{i}"), &record, FAST)).collect();
    wait_workers(&url, &keys, 3).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();
    // 100 jobs over 20 sessions: most short, every fifth 1.5-2.5 s (all below shutdown_grace).
    let jobs: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| {
            let ms = if i % 5 == 0 { 1500 + (i * 37) % 1000 } else { (i * 7) % 50 };
            (format!("s{}", i % 20), format!("sleep:{ms}").into_bytes())
        })
        .collect();
    let pushed: Vec<String> =
        producer.push_many_raw(&jobs).await.unwrap().into_iter().map(|r| r.unwrap().id.to_string()).collect();
    for round in 0..3 {
        wait_for("some jobs to run", Duration::from_secs(10), || async {
            (read_starts(&record).len() >= 10 * (round + 1)).then_some(())
        })
        .await;
        let mut old = workers.remove(0);
        old.signal("TERM");
        assert_eq!(old.wait_code(Duration::from_secs(40)), Some(0), "{}", old.log_text());
        workers.push(WorkerProcess::start(&url, &queue, &format!("r{}", round + 3), &record, FAST));
    }
    let completed = wait_settled(&url, &keys, &record, &pushed, Duration::from_secs(60)).await;
    let starts = read_starts(&record);
    let done = read_record(&record);
    for id in &pushed {
        assert_eq!(starts[id].len(), 1, "job {id} started {:?}", starts[id]);
        assert_eq!(done[id].len(), 1, "job {id} finished {:?}", done[id]);
        assert_eq!(starts[id][0].attempt, 0);
    }
    assert_settled(&url, &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::None);
}

#[tokio::test]
async fn no_worker_reaps_itself_even_when_its_own_deadline_has_passed() {
    let (url, _queue, producer) = crate::setup("selfreap").await;
    let keys = producer.keys().clone();
    let mut c = conn(&url).await;
    homing_core::scripts::init(&mut c, &keys, homing_core::scripts::InitMode::Create, &Default::default())
        .await
        .unwrap();
    // Two workers whose deadlines passed, as after an outage: `me` runs maintenance.
    for w in ["me-1", "other-1"] {
        homing_core::scripts::heartbeat(&mut c, &keys, w, Duration::from_millis(1), 1).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let first = homing_core::scripts::reap(&mut c, &keys, "me-1", 100).await.unwrap();
    assert_eq!((first.worker.as_deref(), first.done), (Some("other-1"), true));
    let second = homing_core::scripts::reap(&mut c, &keys, "me-1", 100).await.unwrap();
    assert_eq!(second.worker, None, "the caller is never reaped by its own call");
    let listed: Vec<String> = c.zrange(keys.workers(), 0, -1).await.unwrap();
    assert_eq!(listed, ["me-1"]);
}

/// The overflow's group lag as `XINFO GROUPS` reports it (what KEDA scales on); `None` for nil.
async fn overflow_lag(c: &mut redis::aio::MultiplexedConnection, keys: &homing_core::Keys) -> Option<i64> {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> =
        redis::cmd("XINFO").arg("GROUPS").arg(keys.overflow()).query_async(c).await.unwrap();
    redis::from_redis_value_ref(&groups[0]["lag"]).unwrap()
}

#[tokio::test]
async fn the_overflow_lag_stays_an_integer_when_the_last_delivered_job_finishes_first() {
    use homing_core::scripts::{self, Finished};
    let (url, _queue, producer) = crate::setup("kedalag").await;
    let keys = producer.keys().clone();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &Default::default()).await.unwrap();
    homing_tests::create_groups(&mut c, &[keys.overflow()]).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(producer.push_raw(&format!("s{i}"), b"x").await.unwrap().id.to_string());
    }
    // One worker takes two: an old long job and the newest, which finishes first.
    let read = |count: usize| {
        redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("homing")
            .arg("w-1")
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(keys.overflow())
            .arg(">")
            .clone()
    };
    let got: redis::Value = read(2).query_async(&mut c).await.unwrap();
    let entries = &homing_core::stream::parse_read_reply(got).unwrap()[0].1;
    let finish = |entry: &homing_core::stream::StreamEntry| {
        let (stream, entry_id) = (keys.overflow(), entry.id.clone());
        let job = homing_core::Job::from_fields(&entry.fields).unwrap();
        let (job, session) = (job.id.to_string(), job.session);
        let (keys, url) = (keys.clone(), url.clone());
        async move {
            let f = Finished { stream: &stream, entry_id: &entry_id, job_id: &job, session: &session, reply_to: None };
            scripts::complete(&mut conn(&url).await, &keys, &f, "w-1", b"").await.unwrap();
        }
    };
    finish(&entries[1]).await;
    assert_eq!(overflow_lag(&mut c, &keys).await, Some(1), "one job undelivered, and the lag says so");
    finish(&entries[0]).await;
    assert_eq!(overflow_lag(&mut c, &keys).await, Some(1));
    let got: redis::Value = read(1).query_async(&mut c).await.unwrap();
    let last = homing_core::stream::parse_read_reply(got).unwrap().remove(0).1.remove(0);
    finish(&last).await;
    assert_eq!(overflow_lag(&mut c, &keys).await, Some(0));
    // Only the last-delivered entry is kept, acked; the earlier one it kept is gone now.
    let kept: Vec<String> = c.smembers(keys.overflow_kept()).await.unwrap();
    assert_eq!(kept, std::slice::from_ref(&last.id));
    let len: u64 = c.xlen(keys.overflow()).await.unwrap();
    assert_eq!(len, 1);
    // A failure acks the same way: a dead-lettered last-delivered entry is kept too.
    let completed: std::collections::HashSet<String> = ids.iter().cloned().collect();
    ids.push(producer.push_raw("s3", b"x").await.unwrap().id.to_string());
    let got: redis::Value = read(1).query_async(&mut c).await.unwrap();
    let failed = homing_core::stream::parse_read_reply(got).unwrap().remove(0).1.remove(0);
    let outcome =
        scripts::fail(&mut c, &keys, &keys.overflow(), &failed.id, "w-1", 0.5, Some("fatal"), "boom").await.unwrap();
    assert_eq!(outcome, scripts::Failure::Dead { reason: "fatal".into() });
    assert_eq!(overflow_lag(&mut c, &keys).await, Some(0));
    let kept: Vec<String> = c.smembers(keys.overflow_kept()).await.unwrap();
    assert_eq!(kept, std::slice::from_ref(&failed.id));
    assert_settled(&url, &keys, &ids, &completed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_maintenance_holder_is_replaced_and_reaped_within_its_lease_and_liveness() {
    let url = redis_url();
    let queue = fresh_queue("holderkill");
    let keys = keys_of(&queue);
    let record = record_file("holderkill");
    let mut workers: Vec<WorkerProcess> =
        (0..2).map(|i| WorkerProcess::start(&url, &queue, &format!("hk{i}"), &record, FAST)).collect();
    let ids = wait_workers(&url, &keys, 2).await;
    let lease = keys.lease("maintenance");
    let holder: String = wait_for("a maintenance lease holder", Duration::from_secs(10), || async {
        let h: Option<String> = conn(&url).await.get(&lease).await.unwrap();
        h
    })
    .await;
    let at = workers.iter().position(|w| holder.starts_with(&format!("{}-", w.name))).unwrap();
    let killed_at = Instant::now();
    workers.remove(at).kill();
    let other = ids.iter().find(|w| **w != holder).unwrap().clone();
    wait_for("the other worker to reap the killed holder", Duration::from_secs(10), || async {
        (live_workers(&url, &keys).await == [other.clone()]).then_some(())
    })
    .await;
    let took = killed_at.elapsed();
    // liveness_ttl 500 ms, lease 1 s (max(1 s, 5 × 50 ms ticks)), heartbeat 100 ms: the lease
    // passes within 1.1 s and the holder's deadline has passed by then; allow 1 s more.
    assert!(took >= Duration::from_millis(400), "reaped {took:?} after the kill");
    assert!(took <= Duration::from_millis(2100), "reaped {took:?} after the kill");
    let now: Option<String> = conn(&url).await.get(&lease).await.unwrap();
    assert_eq!(now.as_deref(), Some(other.as_str()), "the survivor holds the lease");
}

/// A worker told to stop while Redis is down keeps trying its hand-back for a while (about
/// 10 s), so an outage shorter than that still ends in a clean leave, not in a reap later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_during_a_short_redis_outage_still_leaves_once_redis_is_back() {
    let mut server = homing_tests::RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = server.url();
    let queue = fresh_queue("leaveoutage");
    let keys = keys_of(&queue);
    let handler = |_job: homing_worker::Job| async { Ok::<_, homing_worker::HandlerError>(()) };
    let w = homing_tests::TestWorker::start(crate::config(&url, &queue, "a"), handler);
    let id = w.id.to_string();
    assert!(live_workers(&url, &keys).await.contains(&id));
    server.stop();
    let stopping = std::thread::spawn(move || w.stop());
    // Down across several of the hand-back's retries (50, 100, 200, 400 ms apart).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.restart();
    tokio::task::spawn_blocking(move || stopping.join().unwrap()).await.unwrap();
    assert!(!live_workers(&url, &keys).await.contains(&id), "the stopped worker left Q:workers");
}

//! Recovery behaviours each pinned by a test that fails when the behaviour is removed: what
//! reap bumps, the backoff cap and jitter, steal's max_wait floor, and the drain hand-back at
//! SIGTERM. Script-level where the scripts decide; real processes where a signal does.

use crate::faults::{fast_and, keys_of, live_workers, wait_settled, wait_workers};
use crate::{config_with, setup};
use homing_client::{Producer, Route};
use homing_core::scripts::{self, Failure, PushArgs};
use homing_core::{JobId, Keys, QueueSettings};
use homing_tests::invariants::{assert_settled, Attempts, Gaps};
use homing_tests::{
    conn, create_groups, fresh_queue, read_record, read_starts, record_file, redis_url, wait_for, TestWorker,
    WorkerProcess,
};
use homing_worker::{HandlerError, Job};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The Redis clock in milliseconds.
pub(crate) async fn redis_now(c: &mut MultiplexedConnection) -> u64 {
    let (s, us): (u64, u64) = redis::cmd("TIME").query_async(c).await.unwrap();
    s * 1000 + us / 1000
}

/// A fresh queue with `settings`, workers `live` registered for a minute, and groups on the
/// overflow and their inboxes: the state a script-level test starts from.
async fn script_queue(settings: &QueueSettings, live: &[&str]) -> (String, Keys, MultiplexedConnection) {
    let url = redis_url();
    let keys = keys_of(&fresh_queue("proof"));
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, settings).await.unwrap();
    let mut streams = vec![keys.overflow()];
    for w in live {
        scripts::heartbeat(&mut c, &keys, w, Duration::from_secs(60), 1).await.unwrap();
        streams.push(keys.inbox(w));
    }
    create_groups(&mut c, &streams).await;
    (url, keys, c)
}

async fn push(c: &mut MultiplexedConnection, keys: &Keys, session: &str) -> (JobId, Route) {
    let id = JobId::new();
    let args = PushArgs::now(&id, session, b"x");
    let pushed = scripts::push(c, keys, &args).await.unwrap();
    (id, pushed.route)
}

/// Each job's attempt field in a stream, by job id.
async fn attempts_in(c: &mut MultiplexedConnection, stream: &str) -> HashMap<String, String> {
    let r: redis::streams::StreamRangeReply = c.xrange_all(stream).await.unwrap();
    r.ids.iter().map(|e| (e.get::<String>("id").unwrap(), e.get::<String>("a").unwrap())).collect()
}

/// Reap sends back every entry of a dead worker: those delivered to it (in its inbox or the
/// overflow) one attempt later, those never delivered as they were.
#[tokio::test]
async fn reap_requeues_a_dead_workers_delivered_jobs_one_attempt_later_and_the_rest_as_they_were() {
    let (_url, keys, mut c) =
        script_queue(&QueueSettings { max_waiting: 5, ..Default::default() }, &["wd", "wl"]).await;
    let _: () = c.set(keys.pin("home"), "wd").await.unwrap();
    let (inbox_started, route) = push(&mut c, &keys, "home").await;
    assert_eq!(route, Route::Hit);
    let (inbox_waiting, _) = push(&mut c, &keys, "home").await;
    let (overflow_started, _) = push(&mut c, &keys, "a").await;
    let (overflow_waiting, _) = push(&mut c, &keys, "b").await;
    // wd takes one inbox entry (the fetch script reads the inbox first) and one overflow entry.
    let fetched = scripts::fetch(&mut c, &keys, "wd", 1).await.unwrap();
    assert_eq!(fetched.inbox.len(), 1);
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("homing")
        .arg("wd")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(keys.overflow())
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    // wd's deadline passed long ago.
    let _: () = c.zadd(keys.workers(), "wd", 1).await.unwrap();

    let reaped = scripts::reap(&mut c, &keys, "wl", 100).await.unwrap();
    assert_eq!((reaped.worker.as_deref(), reaped.moved, reaped.done), (Some("wd"), 3, true));
    let attempts = attempts_in(&mut c, &keys.overflow()).await;
    let expected: HashMap<String, String> =
        [(inbox_started, "1"), (inbox_waiting, "0"), (overflow_started, "1"), (overflow_waiting, "0")]
            .into_iter()
            .map(|(id, a)| (id.to_string(), a.to_string()))
            .collect();
    assert_eq!(attempts, expected, "every job back in the overflow, the delivered ones one attempt later");
    let listed: Vec<String> = c.zrange(keys.workers(), 0, -1).await.unwrap();
    assert_eq!(listed, ["wl"]);
    let pending: (u64,) = {
        let v: redis::Value =
            redis::cmd("XPENDING").arg(keys.overflow()).arg("homing").query_async(&mut c).await.unwrap();
        let redis::Value::Array(items) = v else { panic!("{v:?}") };
        (redis::from_redis_value_ref(&items[0]).unwrap(),)
    };
    assert_eq!(pending.0, 0, "nothing left pending to the reaped consumer");
}

/// `fail` waits d/2 + jitter * d/2 with d = min(backoff_base * 2^attempt, backoff_max): the cap
/// holds for a late attempt, and two jitters give two due times.
#[tokio::test]
async fn a_retry_waits_between_half_and_all_of_the_capped_backoff_as_its_jitter_says() {
    let settings = QueueSettings {
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(4),
        max_attempts: 20,
        ..Default::default()
    };
    let (_url, keys, mut c) = script_queue(&settings, &["wa"]).await;
    // (attempt, jitter, expected wait in ms): d = 1 s, 2 s, then 32 s capped at 4 s.
    let cases = [(0, 0.0, 500), (0, 0.999, 999), (1, 0.5, 1500), (5, 0.0, 2000), (5, 0.999, 3998)];
    for (attempt, jitter, wait) in cases {
        let id = format!("job-{attempt}-{jitter}");
        let fields = [("id", id.as_str()), ("s", "s"), ("p", "x"), ("a", &attempt.to_string()), ("t", "1")];
        let _: String = c.xadd(keys.overflow(), "*", &fields).await.unwrap();
        let entry = scripts::fetch(&mut c, &keys, "wa", 1).await.unwrap().overflow.remove(0);
        let before = redis_now(&mut c).await;
        let failed =
            scripts::fail(&mut c, &keys, &keys.overflow(), &entry.id, "wa", jitter, None, "down").await.unwrap();
        let after = redis_now(&mut c).await;
        let Failure::Retry { due_ms } = failed else { panic!("{failed:?}") };
        assert!(
            (before + wait..=after + wait).contains(&due_ms),
            "attempt {attempt}, jitter {jitter}: due {} ms after the failure, expected {wait}",
            due_ms - before
        );
    }
}

/// The worker draws a fresh jitter per failure: jobs failing together are retried spread over
/// the window [d/2, d), not all at d/2.
#[tokio::test]
async fn simultaneous_failures_are_retried_at_times_spread_over_the_jitter_window() {
    // d = 10 s for attempt 0: the retries sit in the delayed set while the test reads them.
    let settings = QueueSettings {
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(60),
        ..Default::default()
    };
    let (url, queue, producer) = setup("jitter").await;
    let keys = producer.keys().clone();
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), |_job: Job| async {
        Err::<(), _>(HandlerError::retry("down"))
    });
    let mut c = conn(&url).await;
    let before = redis_now(&mut c).await;
    for i in 0..10 {
        producer.push_raw(&format!("s{i}"), b"x").await.unwrap();
    }
    let dues: Vec<(Vec<u8>, f64)> = wait_for("10 retries in the delayed set", Duration::from_secs(10), || async {
        let d: Vec<(Vec<u8>, f64)> = conn(&url).await.zrange_withscores(keys.delayed(), 0, -1).await.unwrap();
        (d.len() == 10).then_some(d)
    })
    .await;
    let after = redis_now(&mut c).await;
    let dues: Vec<u64> = dues.into_iter().map(|(_, due)| due as u64).collect();
    for due in &dues {
        assert!((before + 5_000..after + 10_000).contains(due), "due {} ms after the pushes", due - before);
    }
    // Ten uniform draws over 5 s all within one second of each other: about 1 in 200,000.
    let spread = dues.iter().max().unwrap() - dues.iter().min().unwrap();
    assert!(spread > 1_000, "ten retries due within {spread} ms of each other: no jitter");
    w.stop();
}

/// Steal moves an undelivered inbox entry once it is max_wait old by the Redis clock, not
/// before; a delivered entry never; the entry keeps its fields and the pin stays.
#[tokio::test]
async fn steal_moves_an_undelivered_inbox_entry_only_once_it_waited_max_wait() {
    let max_wait = 400;
    let settings = QueueSettings { max_wait: Duration::from_millis(max_wait), max_waiting: 5, ..Default::default() };
    let (_url, keys, mut c) = script_queue(&settings, &["wa"]).await;
    let _: () = c.set(keys.pin("s"), "wa").await.unwrap();
    let (started, _) = push(&mut c, &keys, "s").await;
    let (waiting, route) = push(&mut c, &keys, "s").await;
    assert_eq!(route, Route::Hit);
    assert_eq!(scripts::fetch(&mut c, &keys, "wa", 1).await.unwrap().inbox.len(), 1, "the first is delivered");
    let r: redis::streams::StreamRangeReply = c.xrange_all(keys.inbox("wa")).await.unwrap();
    let added: u64 = r.ids[1].id.split('-').next().unwrap().parse().unwrap();
    let limit = Instant::now() + Duration::from_millis(2 * max_wait + 1000);
    loop {
        let before = redis_now(&mut c).await;
        let moved = scripts::steal(&mut c, &keys, 100).await.unwrap().moved;
        let after = redis_now(&mut c).await;
        if moved == 0 {
            assert!(before < added + max_wait + 1, "not moved {} ms after it was queued", before - added);
            assert!(Instant::now() < limit, "still not moved {} ms after it was queued", after - added);
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert_eq!(moved, 1);
        assert!(after >= added + max_wait, "moved {} ms after it was queued, before max_wait", after - added);
        break;
    }
    let overflow = attempts_in(&mut c, &keys.overflow()).await;
    assert_eq!(overflow, HashMap::from([(waiting.to_string(), "0".to_string())]), "moved as it was");
    let inbox = attempts_in(&mut c, &keys.inbox("wa")).await;
    assert_eq!(inbox, HashMap::from([(started.to_string(), "0".to_string())]), "the delivered entry stays");
    let pin: Option<String> = c.get(keys.pin("s")).await.unwrap();
    assert_eq!(pin.as_deref(), Some("wa"), "the owner keeps its pin");
}

/// At SIGTERM a worker hands its unstarted inbox jobs to the overflow at once (drain), not when
/// it leaves: another worker runs them while the draining one still runs its long job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_unstarted_inbox_jobs_to_others_at_once_not_at_leave() {
    let url = redis_url();
    let queue = fresh_queue("drainnow");
    let keys = keys_of(&queue);
    let record = record_file("drainnow");
    // max_wait 60 s: only the hand-back can move the queued jobs within this test.
    // FAST's 2 s visibility_timeout put back to the default: only the hand-back may move jobs.
    let flags = fast_and(&[
        ("--concurrency", "1"),
        ("--max-waiting", "5"),
        ("--max-wait", "60s"),
        ("--visibility-timeout", "30s"),
    ]);
    let mut a = WorkerProcess::start(&url, &queue, "ha", &record, &flags);
    let a_id = wait_workers(&url, &keys, 1).await.remove(0);
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let first = producer.push_raw("s", b"sleep:0").await.unwrap().id.to_string();
    wait_for("the pin", Duration::from_secs(10), || async {
        let pin: Option<String> = conn(&url).await.get(keys.pin("s")).await.unwrap();
        pin.filter(|p| *p == a_id)
    })
    .await;
    let long = producer.push_raw("s", b"sleep:4000").await.unwrap();
    assert_eq!(long.route, Route::Hit);
    wait_for("ha to start the long job", Duration::from_secs(10), || async {
        read_starts(&record).get(long.id.as_str()).map(|_| ())
    })
    .await;
    let mut queued = Vec::new();
    for _ in 0..2 {
        let r = producer.push_raw("s", b"sleep:0").await.unwrap();
        assert_eq!(r.route, Route::Hit, "queued in ha's inbox behind the long job");
        queued.push(r.id.to_string());
    }
    let b = WorkerProcess::start(&url, &queue, "hb", &record, &flags);
    wait_workers(&url, &keys, 2).await;

    let signalled = Instant::now();
    a.signal("TERM");
    wait_for("the queued jobs to start on hb", Duration::from_secs(10), || async {
        let starts = read_starts(&record);
        queued.iter().all(|id| starts.get(id).is_some_and(|s| s[0].worker == "hb")).then_some(())
    })
    .await;
    let moved_after = signalled.elapsed();
    assert!(
        !read_record(&record).contains_key(long.id.as_str()),
        "the queued jobs moved only after the long job finished ({moved_after:?} after SIGTERM)"
    );
    assert!(live_workers(&url, &keys).await.contains(&a_id), "moved while ha was still draining, not at its leave");
    assert!(moved_after <= Duration::from_secs(2), "moved {moved_after:?} after SIGTERM");
    assert_eq!(a.wait_code(Duration::from_secs(15)), Some(0), "{}", a.log_text());

    let mut pushed = vec![first, long.id.to_string()];
    pushed.extend(queued.iter().cloned());
    let completed = wait_settled(&url, &keys, &record, &pushed, Duration::from_secs(20)).await;
    assert_settled(&url, &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::None);
    let starts = read_starts(&record);
    for id in &queued {
        assert_eq!(starts[id].iter().map(|s| (s.worker.as_str(), s.attempt)).collect::<Vec<_>>(), [("hb", 0)]);
    }
    drop(b);
}

/// The invariant checker itself fails on each broken invariant, and on a Redis error rather
/// than reading it as an empty queue.
#[tokio::test]
async fn the_invariant_checker_fails_on_each_broken_invariant() {
    async fn fails(url: &str, keys: &Keys, pushed: &[&str], completed: &[&str]) -> String {
        let (url, keys) = (url.to_string(), keys.clone());
        let pushed: Vec<String> = pushed.iter().map(|s| s.to_string()).collect();
        let completed = completed.iter().map(|s| s.to_string()).collect();
        let check = tokio::spawn(async move { assert_settled(&url, &keys, &pushed, &completed).await });
        let panic = check.await.expect_err("the checker must fail").into_panic();
        panic.downcast_ref::<String>().cloned().unwrap_or_default()
    }
    // Completed and dead-lettered at once.
    let (url, keys, mut c) = script_queue(&QueueSettings::default(), &["wa"]).await;
    let _: String = c.xadd(keys.dead(), "*", &[("id", "j1"), ("reason", "fatal")]).await.unwrap();
    assert!(fails(&url, &keys, &["j1"], &["j1"]).await.contains("both completed and dead-lettered"));
    // An entry pending in an inbox, though deleted from it: nothing queued, still not settled.
    let (url, keys, mut c) = script_queue(&QueueSettings::default(), &["wa"]).await;
    add_entry(&mut c, &keys.inbox("wa"), "j2").await;
    let fetched = scripts::fetch(&mut c, &keys, "wa", 1).await.unwrap().inbox.remove(0);
    let _: u64 = c.xdel(keys.inbox("wa"), &[&fetched.id]).await.unwrap();
    let msg = fails(&url, &keys, &[], &[]).await;
    assert!(msg.contains("entries still pending") && msg.contains("inbox:wa"), "{msg}");
    // An envelope still in the ingress list is queued.
    let (url, keys, mut c) = script_queue(&QueueSettings::default(), &[]).await;
    let _: i64 = c.lpush(keys.ingress(), r#"{"session":"s","payload":"x","id":"j3"}"#).await.unwrap();
    assert!(fails(&url, &keys, &["j3"], &[]).await.contains("job j3 is still queued in ingress"));
    // A Redis error (an inbox key of the wrong type) fails the check.
    let (url, keys, mut c) = script_queue(&QueueSettings::default(), &[]).await;
    let _: () = c.set(keys.inbox("broken"), "not a stream").await.unwrap();
    assert!(fails(&url, &keys, &[], &[]).await.contains("WRONGTYPE"));
    // Attempts: one number twice, a gap where none may be, one past max_attempts.
    let attempts =
        |runs: &[u32]| Attempts { starts: HashMap::from([("j".to_string(), runs.to_vec())]), ..Default::default() };
    for (runs, gaps) in [(&[0, 0][..], Gaps::AfterKills), (&[0, 2][..], Gaps::None), (&[0, 1, 2][..], Gaps::None)] {
        let a = attempts(runs);
        let failed = std::panic::catch_unwind(|| a.check(2, gaps)).is_err();
        assert!(failed, "{runs:?} with {gaps:?} and max_attempts 2 passed");
    }
    attempts(&[0, 1]).check(2, Gaps::None);
    attempts(&[1]).check(2, Gaps::AfterKills);
}

async fn add_entry(c: &mut MultiplexedConnection, stream: &str, id: &str) {
    let _: String = c.xadd(stream, "*", &[("id", id), ("s", "s"), ("p", "x"), ("a", "0"), ("t", "1")]).await.unwrap();
}

/// A reclaim pass moves every stalled entry of a stream, past the script's per-call limit (500):
/// 600 overflow entries delivered to a consumer that never finishes them are reclaimed in the
/// same pass, not 500 in it and the rest a pass (half a visibility_timeout) later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reclaim_pass_moves_every_stalled_entry_past_the_per_call_limit() {
    async fn stalled(c: &mut MultiplexedConnection, overflow: &str) -> usize {
        let pending: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg(overflow)
            .arg("homing")
            .arg("-")
            .arg("+")
            .arg(1000)
            .arg("ghost")
            .query_async(c)
            .await
            .unwrap();
        pending.len()
    }
    let url = redis_url();
    let queue = fresh_queue("reclaimall");
    let keys = Keys::with_default_prefix(&homing_core::QueueName::new(&queue).unwrap());
    let overflow = keys.overflow();
    let settings = QueueSettings { visibility_timeout: Duration::from_secs(4), ..Default::default() };
    let mut c = conn(&url).await;
    scripts::init_partitions(&mut c, &keys, scripts::InitMode::Create, &settings).await.unwrap();
    create_groups(&mut c, std::slice::from_ref(&overflow)).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();
    for i in 0..600 {
        producer.push(&format!("s{i}"), "x").await.unwrap();
    }
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("homing")
        .arg("ghost")
        .arg("COUNT")
        .arg(600)
        .arg("STREAMS")
        .arg(&overflow)
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(stalled(&mut c, &overflow).await, 600);
    let rec = homing_tests::Recorder::default();
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), crate::recording("a", &rec));
    wait_for("the first reclaim", Duration::from_secs(20), || {
        let (mut c, overflow) = (c.clone(), overflow.clone());
        async move { (stalled(&mut c, &overflow).await < 600).then_some(()) }
    })
    .await;
    // The pass asks again at once while a call fills its limit; the next pass is 2 s away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stalled(&mut c, &overflow).await, 0, "stalled entries left for a later pass");
    crate::wait_runs(&rec, 600).await;
    w.stop();
}

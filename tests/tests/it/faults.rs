//! Guarantees under faults (DESIGN §6), with real `homing worker` processes that are killed,
//! frozen and stopped, and in-process workers for the timing cases. Each ends with the
//! invariant checker: every pushed job completed or dead-lettered, none in two places.

use crate::{config_with, setup};
use homing_client::Producer;
use homing_core::{Keys, QueueName, QueueSettings};
use homing_tests::invariants::{assert_settled, is_drained, Attempts, Gaps};
use homing_tests::{
    conn, fresh_queue, read_record, read_starts, record_file, redis_url, wait_for, Recorder, TestWorker, WorkerProcess,
};
use homing_worker::{HandlerError, Job};
use redis::AsyncCommands;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Fast timings for worker processes: death noticed after 500 ms, maintenance every 50 ms.
pub(crate) const FAST: &[&str] = &[
    "--heartbeat-interval",
    "100ms",
    "--liveness-ttl",
    "500ms",
    "--idle-block",
    "200ms",
    "--maintenance-interval",
    "50ms",
    "--concurrency",
    "4",
    "--visibility-timeout",
    "2s",
];

/// FAST with each `(flag, value)` set: a flag FAST has takes the new value, another is added.
pub(crate) fn fast_and<'a>(changes: &[(&'a str, &'a str)]) -> Vec<&'a str> {
    let mut args = FAST.to_vec();
    for &(flag, value) in changes {
        match args.iter().position(|a| *a == flag) {
            Some(at) => args[at + 1] = value,
            None => args.extend([flag, value]),
        }
    }
    args
}

pub(crate) fn keys_of(queue: &str) -> Keys {
    Keys::with_default_prefix(&QueueName::new(queue).unwrap())
}

pub(crate) async fn live_workers(url: &str, keys: &Keys) -> Vec<String> {
    conn(url).await.zrange(keys.workers(), 0, -1).await.unwrap()
}

pub(crate) async fn wait_workers(url: &str, keys: &Keys, n: usize) -> Vec<String> {
    wait_for(&format!("{n} workers registered"), Duration::from_secs(30), || async {
        let w = live_workers(url, keys).await;
        (w.len() == n).then_some(w)
    })
    .await
}

pub(crate) async fn dead_ids(url: &str, keys: &Keys) -> Vec<(String, String)> {
    homing_tests::dead_letters(url, keys)
        .await
        .into_iter()
        .map(|mut d| (d.remove("id").unwrap(), d.remove("reason").unwrap()))
        .collect()
}

/// Waits until every id of `pushed` is recorded or dead and nothing is queued; returns the
/// completed ids.
pub(crate) async fn wait_settled(
    url: &str,
    keys: &Keys,
    record: &Path,
    pushed: &[String],
    limit: Duration,
) -> HashSet<String> {
    wait_for("every job completed or dead-lettered", limit, || async {
        let done: HashSet<String> = read_record(record).into_keys().collect();
        let dead: HashSet<String> = dead_ids(url, keys).await.into_iter().map(|(id, _)| id).collect();
        let all = pushed.iter().all(|id| done.contains(id) || dead.contains(id));
        (all && is_drained(url, keys).await).then_some(done)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_workers_at_random_under_load_loses_no_job() {
    let url = redis_url();
    let queue = fresh_queue("kill9");
    let keys = keys_of(&queue);
    let record = record_file("kill9");
    let mut workers: Vec<WorkerProcess> =
        (0..3).map(|i| WorkerProcess::start(&url, &queue, &format!("k{i}"), &record, FAST)).collect();
    wait_workers(&url, &keys, 3).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();

    // 2,000 jobs over 100 sessions, pushed in batches while workers are killed.
    let pusher = {
        let producer = producer.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for batch in 0..40 {
                let jobs: Vec<(String, &[u8])> =
                    (0..50).map(|i| (format!("s{}", (batch * 50 + i) % 100), b"sleep:3".as_slice())).collect();
                for r in producer.push_many_raw(&jobs).await.unwrap() {
                    ids.push(r.unwrap().id.to_string());
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            ids
        })
    };
    let mut killed = Vec::new();
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(100..300))).await;
        let victim = workers.remove(fastrand::usize(..workers.len()));
        let name = format!("{}-", victim.name);
        killed.push(victim.name.clone());
        victim.kill();
        if round == 0 {
            let killed_at = Instant::now();
            wait_for("the first killed worker to be reaped", Duration::from_secs(10), || async {
                live_workers(&url, &keys).await.iter().all(|w| !w.starts_with(&name)).then_some(())
            })
            .await;
            // Its deadline was liveness_ttl (500 ms) after its last heartbeat, which came at
            // most one heartbeat_interval (100 ms) before the kill: not reaped before 400 ms,
            // and within 2 x liveness_ttl + 1 s.
            let reaped_after = killed_at.elapsed();
            assert!(
                reaped_after >= Duration::from_millis(400),
                "reaped {reaped_after:?} after kill -9, before its deadline"
            );
            assert!(reaped_after <= Duration::from_secs(2), "reaped {reaped_after:?} after kill -9");
        }
        workers.push(WorkerProcess::start(&url, &queue, &format!("k{}", round + 3), &record, FAST));
    }
    let pushed = pusher.await.unwrap();
    assert_eq!(pushed.len(), 2000);
    let completed = wait_settled(&url, &keys, &record, &pushed, Duration::from_secs(90)).await;
    assert_settled(&url, &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::AfterKills);
    for (id, reason) in dead_ids(&url, &keys).await {
        assert_eq!(reason, "stalled", "job {id}: only a job killed max_attempts times may be dead");
    }
    let live = wait_workers(&url, &keys, 3).await;
    for name in &killed {
        assert!(live.iter().all(|w| !w.starts_with(&format!("{name}-"))), "killed {name} was reaped");
    }

    // Every session pinned to a killed worker moves to a survivor at its next job.
    let next: Vec<(String, &[u8])> = (0..100).map(|i| (format!("s{i}"), b"sleep:1".as_slice())).collect();
    let more: Vec<String> =
        producer.push_many_raw(&next).await.unwrap().into_iter().map(|r| r.unwrap().id.to_string()).collect();
    wait_settled(&url, &keys, &record, &more, Duration::from_secs(30)).await;
    let mut c = conn(&url).await;
    for i in 0..100 {
        let owner: Option<String> = c.get(keys.pin(&format!("s{i}"))).await.unwrap();
        let owner = owner.expect("every session has an owner after a successful job");
        assert!(live.contains(&owner), "session s{i} pinned to {owner}, not a live worker of {live:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_workers_jobs_finish_elsewhere_and_its_late_completion_is_stale() {
    let url = redis_url();
    let queue = fresh_queue("freeze");
    let keys = keys_of(&queue);
    let record = record_file("freeze");
    // Liveness far above the visibility timeout, so the freeze is caught by reclaim, not reap.
    let flags = [
        "--idle-block",
        "200ms",
        "--maintenance-interval",
        "50ms",
        "--heartbeat-interval",
        "1s",
        "--liveness-ttl",
        "20s",
        "--visibility-timeout",
        "1s",
    ];
    let a = WorkerProcess::start(&url, &queue, "fa", &record, &flags);
    let a_id = wait_workers(&url, &keys, 1).await.remove(0);
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let first = producer.push_raw("s1", b"sleep:1").await.unwrap();
    wait_for("the first job", Duration::from_secs(10), || async {
        read_record(&record).get(first.id.as_str()).cloned()
    })
    .await;
    let pin: Option<String> = conn(&url).await.get(keys.pin("s1")).await.unwrap();
    assert_eq!(pin.as_deref(), Some(a_id.as_str()));

    let slow = producer.push_raw("s1", b"sleep:3000").await.unwrap();
    assert_eq!(slow.route, homing_client::Route::Hit);
    let inbox = keys.inbox(&a_id);
    wait_for("fa to start the slow job", Duration::from_secs(10), || async {
        let p: redis::streams::StreamPendingReply = conn(&url).await.xpending(&inbox, "homing").await.unwrap();
        (p.count() == 1).then_some(())
    })
    .await;
    a.signal("STOP");
    let frozen_at = Instant::now();
    let holder: Option<String> = conn(&url).await.get(keys.lease("maintenance")).await.unwrap();
    assert_eq!(holder.as_deref(), Some(a_id.as_str()), "the frozen worker held the maintenance lease");
    let b = WorkerProcess::start(&url, &queue, "fb", &record, &flags);
    let lease = keys.lease("maintenance");
    wait_for("fb to take over the maintenance lease", Duration::from_secs(10), || async {
        let holder: Option<String> = conn(&url).await.get(&lease).await.unwrap();
        holder.filter(|h| h.starts_with("fb-"))
    })
    .await;
    // The holder renewed its 1 s lease at most one tick (50 ms) before the freeze: the lease
    // passes when it expires, not before, and within 2 x 1 s + 1 s.
    let lease_taken = frozen_at.elapsed();
    assert!(
        lease_taken >= Duration::from_millis(950),
        "lease passed {lease_taken:?} after the freeze, before it expired"
    );
    assert!(lease_taken <= Duration::from_secs(3), "lease passed {lease_taken:?} after the freeze");
    wait_for("the slow job to start on fb", Duration::from_secs(10), || async {
        read_starts(&record).get(slow.id.as_str()).and_then(|runs| runs.iter().find(|r| r.worker == "fb").cloned())
    })
    .await;
    // The frozen worker renewed the job's lease at most visibility_timeout / 3 before the
    // freeze, so it is not reclaimed before 2/3 s; and it starts on fb within 2 x 1 s + 1 s.
    let moved_after = frozen_at.elapsed();
    assert!(
        moved_after >= Duration::from_millis(666),
        "reclaimed {moved_after:?} after the freeze, before visibility_timeout"
    );
    assert!(moved_after <= Duration::from_secs(3), "reclaimed {moved_after:?} after the freeze");
    let rerun = wait_for("the slow job to finish on fb", Duration::from_secs(20), || async {
        read_record(&record).get(slow.id.as_str()).and_then(|runs| runs.iter().find(|r| r.worker == "fb").cloned())
    })
    .await;
    assert_eq!(rerun.attempt, 1, "a reclaimed job runs one attempt later");
    let b_id = live_workers(&url, &keys).await.into_iter().find(|w| w.starts_with("fb-")).unwrap();
    let pin: Option<String> = conn(&url).await.get(keys.pin("s1")).await.unwrap();
    assert_eq!(pin.as_deref(), Some(b_id.as_str()), "the frozen owner's pin was released and fb stamped");

    a.signal("CONT");
    wait_for("fa's late completion to be logged stale", Duration::from_secs(15), || {
        let log = a.log_text();
        async move { log.contains("stale").then_some(()) }
    })
    .await;
    let runs = read_record(&record).remove(slow.id.as_str()).unwrap();
    assert_eq!(runs.len(), 2, "ran on fa (late) and on fb: {runs:?}");
    let pin: Option<String> = conn(&url).await.get(keys.pin("s1")).await.unwrap();
    assert_eq!(pin.as_deref(), Some(b_id.as_str()), "a stale completion does not stamp");
    assert_settled(
        &url,
        &keys,
        &[first.id.to_string(), slow.id.to_string()],
        &read_record(&record).into_keys().collect(),
    )
    .await;
    Attempts::from_record(&record).check(5, Gaps::AfterKills);
    drop(b);
}

#[tokio::test]
async fn a_long_job_with_a_renewed_lease_is_not_reclaimed() {
    let settings = QueueSettings { visibility_timeout: Duration::from_millis(600), ..Default::default() };
    let (url, queue, producer) = setup("longjob").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let handler = {
        let rec = rec.clone();
        move |job: Job| {
            rec.record("a", &job);
            async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok::<_, HandlerError>(())
            }
        }
    };
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), handler);
    let job = producer.push_raw("s", b"long").await.unwrap();
    wait_for("the long job to complete", Duration::from_secs(15), || async {
        let started = !rec.runs_of(job.id.as_str()).is_empty();
        (started && is_drained(&url, &keys).await).then_some(())
    })
    .await;
    let runs = rec.runs_of(job.id.as_str());
    assert_eq!(runs.len(), 1, "ran once, 2 s against a 600 ms visibility timeout: {runs:?}");
    assert!(dead_ids(&url, &keys).await.is_empty());
    w.stop();
}

/// Renewal claims the entries running now and no others: once the job finishes, its entry is
/// renewed no more, and an idle worker sends no `XCLAIM` at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_jobs_lease_is_renewed_while_it_runs_and_not_after() {
    // A server of its own: its command counts are this worker's alone.
    let server = homing_tests::RedisServer::start(&[]);
    let url = server.url();
    let queue = fresh_queue("renewonly");
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let keys = producer.keys().clone();
    // Renewed every third of visibility_timeout: twice while the job runs 800 ms.
    let settings = QueueSettings { visibility_timeout: Duration::from_secs(1), ..Default::default() };
    let rec = Recorder::default();
    let handler = {
        let rec = rec.clone();
        move |job: Job| {
            rec.record("a", &job);
            async {
                tokio::time::sleep(Duration::from_millis(800)).await;
                Ok::<_, HandlerError>(())
            }
        }
    };
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), handler);
    let mut c = conn(&url).await;
    let job = producer.push_raw("s", b"long").await.unwrap();
    wait_for("the job to complete", Duration::from_secs(15), || async {
        let started = !rec.runs_of(job.id.as_str()).is_empty();
        (started && is_drained(&url, &keys).await).then_some(())
    })
    .await;
    assert!(homing_tests::command_calls(&mut c, "xclaim").await >= 1, "the running job's lease was renewed");
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut c).await.unwrap();
    // Three renewal periods with nothing running.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(homing_tests::command_calls(&mut c, "xclaim").await, 0, "a finished job's entry is not renewed");
    w.stop();
}

#[tokio::test]
async fn behind_a_slow_owner_a_job_moves_after_max_wait() {
    let settings = QueueSettings { max_wait: Duration::from_millis(300), max_waiting: 1, ..Default::default() };
    let (url, queue, producer) = setup("maxwait").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let handler = |name: &'static str| {
        let rec = rec.clone();
        move |job: Job| {
            rec.record(name, &job);
            let long = job.payload == b"long";
            async move {
                if long {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                Ok::<_, HandlerError>(())
            }
        }
    };
    let one =
        |name| homing_worker::WorkerConfig { concurrency: 1, ..config_with(&url, &queue, name, settings.clone()) };
    let a = TestWorker::start(one("a"), handler("a"));
    let b = TestWorker::start(one("b"), handler("b"));
    let first = producer.push_raw("s", b"quick").await.unwrap();
    let owner = wait_for("the first job", Duration::from_secs(10), || {
        let runs = rec.runs_of(first.id.as_str());
        async move { runs.first().map(|r| r.worker.clone()) }
    })
    .await;
    wait_for("the pin", Duration::from_secs(5), || async {
        let pin: Option<String> = conn(&url).await.get(keys.pin("s")).await.unwrap();
        pin
    })
    .await;
    let long = producer.push_raw("s", b"long").await.unwrap();
    assert_eq!(long.route, homing_client::Route::Hit);
    wait_for("the owner to start the long job", Duration::from_secs(5), || {
        let n = rec.runs_of(long.id.as_str()).len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    let pushed_at = Instant::now();
    let next = producer.push_raw("s", b"next").await.unwrap();
    let queued_at = Instant::now();
    assert_eq!(next.route, homing_client::Route::Hit, "queued behind the busy owner");
    let run = wait_for("the waiting job to run elsewhere", Duration::from_secs(10), || {
        let runs = rec.runs_of(next.id.as_str());
        async move { runs.first().cloned() }
    })
    .await;
    assert_ne!(run.worker, owner, "moved to the other worker");
    let long_run = rec.runs_of(long.id.as_str()).remove(0);
    assert!(run.at < long_run.at + Duration::from_secs(3), "started before the owner could have taken it");
    let pin: Option<String> = conn(&url).await.get(keys.pin("s")).await.unwrap();
    assert!(pin.is_some_and(|p| p.starts_with(&format!("{owner}-"))), "the slow owner keeps its pin");
    // Not before max_wait (300 ms), and within 2 x max_wait + 1 s. Redis stamps an entry and
    // reads its clock in whole milliseconds, so a job may move up to 1 ms short of 300 by ours.
    assert!(run.at - pushed_at >= Duration::from_millis(299), "moved after {:?}, before max_wait", run.at - pushed_at);
    assert!(run.at - queued_at <= Duration::from_millis(1600), "moved after {:?}", run.at - queued_at);
    a.stop();
    b.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_job_and_the_worker_leaves() {
    let url = redis_url();
    let queue = fresh_queue("term");
    let keys = keys_of(&queue);
    let record = record_file("term");
    let a = WorkerProcess::start(&url, &queue, "ta", &record, FAST);
    let b = WorkerProcess::start(&url, &queue, "tb", &record, FAST);
    wait_workers(&url, &keys, 2).await;
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let jobs: Vec<(String, &[u8])> = (0..400).map(|i| (format!("s{}", i % 40), b"sleep:5".as_slice())).collect();
    let pushed: Vec<String> =
        producer.push_many_raw(&jobs).await.unwrap().into_iter().map(|r| r.unwrap().id.to_string()).collect();
    wait_for("some jobs done", Duration::from_secs(10), || async { (read_record(&record).len() >= 50).then_some(()) })
        .await;
    a.signal("TERM");
    assert!(a.wait(), "the worker exits cleanly on SIGTERM");
    let live = live_workers(&url, &keys).await;
    assert!(live.iter().all(|w| !w.starts_with("ta-")), "ta left Q:workers: {live:?}");
    let completed = wait_settled(&url, &keys, &record, &pushed, Duration::from_secs(60)).await;
    assert_settled(&url, &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::None);
    assert!(dead_ids(&url, &keys).await.is_empty());
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_push_survives_a_redis_restart_with_aof() {
    let mut server = homing_tests::RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = server.url();
    let queue = fresh_queue("restart");
    let rec = Recorder::default();
    let handler = {
        let rec = rec.clone();
        move |job: Job| {
            rec.record("a", &job);
            async { Ok::<_, HandlerError>(()) }
        }
    };
    let w = TestWorker::start(crate::config(&url, &queue, "a"), handler);
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let keys = producer.keys().clone();
    let mut acked = Vec::new();
    let mut refused = 0;
    // 200 pushes, 5 while Redis is down, then 200 after its restart.
    for i in 0..405 {
        if i == 200 {
            server.stop();
        }
        if i == 205 {
            server.restart();
        }
        match producer.push_raw(&format!("s{}", i % 20), b"x").await {
            Ok(r) => acked.push(r.id.to_string()),
            Err(e) => {
                assert!(e.is_retryable(), "a push during the outage fails retryably: {e}");
                refused += 1;
            }
        }
    }
    assert!(refused >= 5, "all 5 pushes during the outage were refused, got {refused}");
    let completed = wait_for("every acknowledged push to complete", Duration::from_secs(60), || {
        let done: HashSet<String> = rec.runs().into_iter().map(|r| r.job).collect();
        let all = acked.iter().all(|id| done.contains(id));
        async move { all.then_some(done) }
    })
    .await;
    wait_for("the queue to drain", Duration::from_secs(10), || async { is_drained(&url, &keys).await.then_some(()) })
        .await;
    assert_settled(&url, &keys, &acked, &completed).await;
    eprintln!("{} pushes acknowledged, {refused} refused during the outage", acked.len());
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_hands_a_frozen_workers_jobs_over_at_once_and_refuses_a_live_one_without_force() {
    let url = redis_url();
    let queue = fresh_queue("forget");
    let keys = keys_of(&queue);
    let record = record_file("forget");
    // Death would take 20 s and reclaim 30 s: only forget can move the job in this test's time.
    let flags = ["--heartbeat-interval", "1s", "--liveness-ttl", "20s", "--idle-block", "200ms", "--concurrency", "1"];
    let a = WorkerProcess::start(&url, &queue, "ga", &record, &flags);
    let a_id = wait_workers(&url, &keys, 1).await.remove(0);
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let first = producer.push_raw("s1", b"sleep:1").await.unwrap();
    wait_for("the first job", Duration::from_secs(10), || async {
        read_record(&record).get(first.id.as_str()).cloned()
    })
    .await;
    // Recorded before its completion is sent: frozen in between, ga would hold it too.
    wait_for("the first job to be acked", Duration::from_secs(10), || async {
        let p: redis::streams::StreamPendingReply = conn(&url).await.xpending(keys.overflow(), "homing").await.unwrap();
        (p.count() == 0).then_some(())
    })
    .await;
    a.signal("STOP");
    let b = WorkerProcess::start(&url, &queue, "gb", &record, &flags);
    wait_workers(&url, &keys, 2).await;
    let stuck = producer.push_raw("s1", b"sleep:1").await.unwrap();
    assert_eq!(stuck.route, homing_client::Route::Hit, "routed to the frozen owner");

    let forget = |worker: &str, force: bool| {
        let mut cmd = std::process::Command::new(homing_tests::homing_bin());
        cmd.env("REDIS_URL", &url).env("HOMING_QUEUE", &queue).args(["forget", worker]);
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    let out = forget("nobody-00000000", false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: worker nobody-00000000 is not in Q:workers"));
    let out = forget(&a_id, false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("heartbeated within liveness_ttl"));
    assert_eq!(read_record(&record).get(stuck.id.as_str()), None, "refused: nothing moved");
    // Whether the frozen worker was handed the job: yes when it froze blocked inside Redis with
    // its fetch queued behind (the job's bell ended the wait and the fetch delivered the job to
    // it), no when it froze between two waits (finishing the first job, under load).
    let delivered: redis::streams::StreamPendingReply =
        conn(&url).await.xpending(keys.inbox(&a_id), "homing").await.unwrap();

    let out = forget(&a_id, true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("forgot {a_id}: 1 jobs handed to other workers"));
    let run = wait_for("the stuck job to run on gb", Duration::from_secs(10), || async {
        read_record(&record).get(stuck.id.as_str()).and_then(|r| r.first().cloned())
    })
    .await;
    // A delivered job moves one attempt later, an undelivered one as it was.
    assert_eq!((run.worker.as_str(), run.attempt), ("gb", delivered.count() as u32));
    assert!(!live_workers(&url, &keys).await.contains(&a_id));
    // The re-route met the forgotten owner's pin, released it, and gb stamped the session.
    let b_id = live_workers(&url, &keys).await.into_iter().find(|w| w.starts_with("gb-")).unwrap();
    let pin = wait_for("gb to own s1", Duration::from_secs(10), || async {
        let pin: Option<String> = conn(&url).await.get(keys.pin("s1")).await.unwrap();
        pin.filter(|p| *p != a_id)
    })
    .await;
    assert_eq!(pin, b_id);
    a.kill();
    drop(b);
}

/// At the script level: once `reclaim` has taken a job back, the first worker's late
/// completion is `stale`: no stamp, no reply; the worker that reran it stamps and replies once.
#[tokio::test]
async fn a_reclaimed_jobs_late_completion_neither_stamps_nor_replies() {
    use homing_core::scripts::{self, Finished, PushArgs};
    let url = redis_url();
    let keys = keys_of(&fresh_queue("stale"));
    let mut c = conn(&url).await;
    let settings = QueueSettings { visibility_timeout: Duration::from_millis(300), ..Default::default() };
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &settings).await.unwrap();
    for w in ["wa", "wb"] {
        scripts::heartbeat(&mut c, &keys, w, Duration::from_secs(60), 1).await.unwrap();
    }
    homing_tests::create_groups(&mut c, &[keys.overflow(), keys.inbox("wa"), keys.inbox("wb")]).await;
    let id = homing_core::JobId::new();
    let push = PushArgs {
        id: &id,
        session: "s",
        payload: b"x",
        delay: Duration::ZERO,
        key: None,
        key_ttl: Duration::from_secs(60),
        reply_to: Some("p1"),
        max_attempts: None,
    };
    scripts::push(&mut c, &keys, &push).await.unwrap();
    let first = scripts::fetch(&mut c, &keys, "wa", 1).await.unwrap().overflow.remove(0);
    let overflow = [keys.overflow()];
    wait_for("reclaim to take the job back", Duration::from_secs(10), || async {
        let moved = scripts::reclaim(&mut conn(&url).await, &keys, &overflow, 10).await.unwrap()[0].moved;
        (moved == 1).then_some(())
    })
    .await;

    let done =
        |entry_id| Finished { stream: &overflow[0], entry_id, job_id: id.as_str(), session: "s", reply_to: Some("p1") };
    let late = scripts::complete(&mut c, &keys, &done(&first.id), "wa", b"late").await.unwrap();
    assert!(late.stale && !late.stamped, "{late:?}");
    let pin: Option<String> = c.get(keys.pin("s")).await.unwrap();
    assert_eq!(pin, None, "a stale completion does not stamp");
    let replies: u64 = c.xlen(keys.reply("p1")).await.unwrap();
    assert_eq!(replies, 0, "nor reply");

    let rerun = scripts::fetch(&mut c, &keys, "wb", 1).await.unwrap().overflow.remove(0);
    assert_eq!(homing_core::Job::from_fields(&rerun.fields).unwrap().attempt, 1);
    let ok = scripts::complete(&mut c, &keys, &done(&rerun.id), "wb", b"fresh").await.unwrap();
    assert!(!ok.stale && ok.stamped, "{ok:?}");
    let pin: Option<String> = c.get(keys.pin("s")).await.unwrap();
    assert_eq!(pin.as_deref(), Some("wb"));
    let replies: u64 = c.xlen(keys.reply("p1")).await.unwrap();
    assert_eq!(replies, 1, "exactly one reply");
}

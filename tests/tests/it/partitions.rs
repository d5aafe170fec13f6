//! A worker on a partitioned queue: it serves every partition (or those it lists), with one
//! concurrency for the process, drains every partition on the one shutdown, and labels its
//! gauges by partition only when the queue has more than one.

use crate::faults::{fast_and, wait_workers};
use crate::{config, config_with, recording, wait_runs};
use homing_core::metrics::WORKERS_ALIVE;
use homing_core::scripts::{self, InitMode, PushArgs};
use homing_core::{partition_of, JobId, Keys, QueueName, QueueSettings, Route};
use homing_tests::invariants::{assert_settled, is_drained, locate};
use homing_tests::metrics_text::try_scrape;
use homing_tests::{
    conn, create_groups, fresh_queue, read_starts, record_file, redis_url, wait_for, Recorder, TestWorker,
    WorkerProcess,
};
use homing_worker::{Handler, HandlerError, Job, Worker};
use redis::AsyncCommands;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

const PARTITIONS: u32 = 3;

/// A fresh queue created with three partitions, and its keys (partition 0).
async fn partitioned(label: &str) -> (String, String, Keys) {
    partitioned_with(label, &QueueSettings { partitions: PARTITIONS, ..Default::default() }).await
}

/// A fresh queue created with `settings` (three partitions), and its keys (partition 0).
async fn partitioned_with(label: &str, settings: &QueueSettings) -> (String, String, Keys) {
    assert_eq!(settings.partitions, PARTITIONS);
    let (url, queue) = (redis_url(), fresh_queue(label));
    let keys = Keys::with_default_prefix(&QueueName::new(&queue).unwrap());
    scripts::init_partitions(&mut conn(&url).await, &keys, InitMode::Create, settings).await.unwrap();
    (url, queue, keys)
}

/// A session of partition `k`, distinct per `tag`.
fn session_in(k: u32, tag: &str) -> String {
    (0..).map(|i| format!("{tag}-{i}")).find(|s| partition_of(s, PARTITIONS) == k).unwrap()
}

/// Pushes a job of `session` to its partition, as a producer does; returns its id and route.
async fn push(url: &str, keys: &Keys, session: &str, payload: &str) -> (String, Route) {
    let id = JobId::new();
    let keys = keys.partition(partition_of(session, PARTITIONS));
    let pushed = scripts::push(&mut conn(url).await, &keys, &PushArgs::now(&id, session, payload.as_bytes())).await;
    let pushed = pushed.unwrap();
    (pushed.id.to_string(), pushed.route)
}

async fn workers_in(url: &str, keys: &Keys) -> Vec<String> {
    conn(url).await.zrange(keys.workers(), 0, -1).await.unwrap()
}

async fn pin(url: &str, keys: &Keys, session: &str) -> Option<String> {
    conn(url).await.get(keys.pin(session)).await.unwrap()
}

/// Every handler start, in order: the worker's name and the job as it was given (its attempt
/// and the route that queued the entry it was read from).
#[derive(Clone, Default)]
struct Starts(Arc<Mutex<Vec<(&'static str, Job)>>>);

impl Starts {
    /// A handler for the worker `name` that records each start and succeeds; with a `gate`, a
    /// job whose payload is `hold` first waits for a permit of it.
    fn handler(&self, name: &'static str, gate: Option<&Arc<Semaphore>>) -> impl Handler {
        let (starts, gate) = (self.0.clone(), gate.cloned());
        move |job: Job| {
            let gate = gate.clone().filter(|_| job.payload == b"hold");
            starts.lock().unwrap().push((name, job));
            async move {
                if let Some(gate) = gate {
                    gate.acquire().await.unwrap().forget();
                }
                Ok::<_, HandlerError>(())
            }
        }
    }

    /// Waits until `worker` started `job`; returns that start's attempt and route.
    async fn on(&self, worker: &str, job: &str) -> (u32, Option<String>) {
        wait_for(&format!("{worker} to start job {job}"), Duration::from_secs(10), || {
            let found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|(w, j)| *w == worker && j.id.as_str() == job)
                .map(|(_, j)| (j.attempt, j.route.clone()));
            async move { found }
        })
        .await
    }

    /// Every start so far as (worker, job id, attempt), sorted.
    fn all(&self) -> Vec<(&'static str, String, u32)> {
        let mut all: Vec<_> = self.0.lock().unwrap().iter().map(|(w, j)| (*w, j.id.to_string(), j.attempt)).collect();
        all.sort();
        all
    }
}

/// Waits until nothing is queued in any partition: every job pushed so far completed.
async fn drained(url: &str, keys: &Keys) {
    wait_for("the queue to drain", Duration::from_secs(10), || async { is_drained(url, keys).await.then_some(()) })
        .await;
}

#[tokio::test]
async fn a_worker_serves_every_partition_and_a_sessions_next_job_hits_it_there() {
    let (url, queue, keys) = partitioned("partall").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let id = w.id.to_string();
    for k in 0..PARTITIONS {
        assert_eq!(workers_in(&url, &keys.partition(k)).await, vec![id.clone()], "registered in partition {k}");
    }
    let mut pushed = Vec::new();
    for k in 0..PARTITIONS {
        let session = session_in(k, "s");
        let (first, route) = push(&url, &keys, &session, "turn 0").await;
        assert_eq!(route, Route::New);
        pushed.push(first);
        wait_runs(&rec, pushed.len()).await;
        let part = keys.partition(k);
        wait_for("the pin", Duration::from_secs(5), || async { pin(&url, &part, &session).await.filter(|p| *p == id) })
            .await;
        let (second, route) = push(&url, &keys, &session, "turn 1").await;
        assert_eq!(route, Route::Hit, "partition {k}: the second job goes to the owner's inbox there");
        pushed.push(second);
        let runs = wait_runs(&rec, pushed.len()).await;
        assert_eq!(runs.last().unwrap().job, pushed[pushed.len() - 1]);
    }
    let ran: HashSet<String> = rec.runs().into_iter().map(|r| r.job).collect();
    assert_eq!(ran, pushed.iter().cloned().collect::<HashSet<_>>());
    w.stop();
    assert_settled(&url, &keys, &pushed, &ran).await;
    for k in 0..PARTITIONS {
        assert!(workers_in(&url, &keys.partition(k)).await.is_empty(), "left partition {k}");
    }
}

#[tokio::test]
async fn a_worker_serving_one_partition_registers_and_runs_only_there() {
    let (url, queue, keys) = partitioned("partone").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a").serve_partitions([1]), recording("a", &rec));
    let mut by_partition = Vec::new();
    for k in 0..PARTITIONS {
        by_partition.push(push(&url, &keys, &session_in(k, "one"), "x").await.0);
    }
    let runs = wait_runs(&rec, 1).await;
    assert_eq!(runs[0].job, by_partition[1]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rec.runs().len(), 1, "only partition 1's job ran: {:?}", rec.runs());
    assert_eq!(workers_in(&url, &keys.partition(1)).await, [w.id.to_string()]);
    assert!(workers_in(&url, &keys.partition(0)).await.is_empty());
    assert!(workers_in(&url, &keys.partition(2)).await.is_empty());
    let places = locate(&url, &keys).await.unwrap();
    assert_eq!(places[&by_partition[0]], ["overflow"]);
    assert_eq!(places[&by_partition[2]], ["overflow#2"]);
    w.stop();
}

#[tokio::test]
async fn a_worker_reports_the_partitions_it_serves() {
    // Worker::partitions is what the test harness waits on for registration, partition by
    // partition: every partition of the queue by default, else the ones listed, as listed.
    let (url, queue, _keys) = partitioned("partlist").await;
    let handler = |_job: Job| async { Ok::<_, HandlerError>(()) };
    let all = Worker::new(config(&url, &queue, "a"), handler).await.unwrap();
    assert_eq!(all.partitions(), [0, 1, 2]);
    let some = Worker::new(config(&url, &queue, "b").serve_partitions([2, 1]), handler).await.unwrap();
    assert_eq!(some.partitions(), [2, 1]);
}

#[tokio::test]
async fn serving_a_partition_the_queue_does_not_have_is_refused_at_start() {
    let (url, queue, _keys) = partitioned("partbad").await;
    let handler = |_job: Job| async { Ok::<_, HandlerError>(()) };
    let err = Worker::new(config(&url, &queue, "a").serve_partitions([5]), handler).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid worker config: serve_partitions lists 5, but queue {queue} has 3 partitions (0-2): \
             list partitions from 0 to 2 or leave serve_partitions unset to serve all"
        )
    );
}

#[tokio::test]
async fn concurrency_is_the_processs_across_partitions() {
    let (url, queue, keys) = partitioned("partconc").await;
    let mut pushed = Vec::new();
    for k in 0..PARTITIONS {
        for i in 0..6 {
            pushed.push(push(&url, &keys, &session_in(k, &format!("c{i}")), "x").await.0);
        }
    }
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let rec = Recorder::default();
    let (r, run, max) = (rec.clone(), running.clone(), most.clone());
    let handler = move |job: Job| {
        r.record("a", &job);
        let (run, max) = (run.clone(), max.clone());
        async move {
            let now = run.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            run.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(())
        }
    };
    let w = TestWorker::start(config(&url, &queue, "a"), handler);
    let runs = wait_runs(&rec, pushed.len()).await;
    assert_eq!(runs.len(), 18);
    assert_eq!(most.load(Ordering::SeqCst), 2, "concurrency 2 for the process, not per partition");
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_back_the_unstarted_inbox_jobs_of_every_partition() {
    let (url, queue, keys) = partitioned("partdrain").await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (g, s) = (gate.clone(), started.clone());
    let handler = move |job: Job| {
        let (g, s) = (g.clone(), s.clone());
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            if job.payload == b"block" {
                let _ = g.acquire().await;
            }
            Ok::<_, HandlerError>(())
        }
    };
    let worker = Worker::new(config(&url, &queue, "a").concurrency(1), handler).await.unwrap();
    let id = worker.id().to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run(async move {
        let _ = stop_rx.await;
    }));
    // The worker owns one session in each partition.
    let sessions: Vec<String> = (0..PARTITIONS).map(|k| session_in(k, "d")).collect();
    for (k, session) in sessions.iter().enumerate() {
        push(&url, &keys, session, "first").await;
        let part = keys.partition(k as u32);
        wait_for("the pin", Duration::from_secs(10), || async { pin(&url, &part, session).await.filter(|p| *p == id) })
            .await;
    }
    // One job holds the only slot; two more per session queue in the worker's inboxes.
    push(&url, &keys, &sessions[0], "block").await;
    wait_for("the blocking job to start", Duration::from_secs(10), || async {
        (started.load(Ordering::SeqCst) == 4).then_some(())
    })
    .await;
    let mut queued = Vec::new();
    for session in &sessions {
        for _ in 0..2 {
            let (job, route) = push(&url, &keys, session, "later").await;
            assert_eq!(route, Route::Hit);
            queued.push(job);
        }
    }
    stop_tx.send(()).unwrap();
    // Still draining (the blocking job runs): every queued job is back in its overflow.
    let places = wait_for("the hand-back", Duration::from_secs(10), || async {
        let places = locate(&url, &keys).await.unwrap();
        queued.iter().all(|j| places[j][0].starts_with("overflow")).then_some(places)
    })
    .await;
    for (i, job) in queued.iter().enumerate() {
        let want = match i / 2 {
            0 => "overflow".to_string(),
            k => format!("overflow#{k}"),
        };
        assert_eq!(places[job], [want], "job {i}");
    }
    assert!(!run.is_finished(), "handed back while the in-flight job still runs");
    assert_eq!(started.load(Ordering::SeqCst), 4, "no queued job started");
    gate.add_permits(1);
    let report = run.await.unwrap().unwrap();
    assert!(report.drained());
    assert_eq!((report.in_flight, report.cut_short, report.handed_back), (1, 0, 0));
    for k in 0..PARTITIONS {
        assert!(workers_in(&url, &keys.partition(k)).await.is_empty(), "left partition {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_carry_a_partition_label_only_on_a_queue_of_several_partitions() {
    let free_addr = || {
        let port = homing_tests::free_port();
        format!("127.0.0.1:{port}")
    };
    let flags = |addr: &str| {
        ["--heartbeat-interval", "100ms", "--liveness-ttl", "500ms", "--maintenance-interval", "10ms", "--metrics-addr"]
            .map(String::from)
            .into_iter()
            .chain([addr.to_string()])
            .collect::<Vec<_>>()
    };
    let url = redis_url();

    let (one, many) = (fresh_queue("gaugeone"), fresh_queue("gaugemany"));
    let (addr_one, addr_many) = (free_addr(), free_addr());
    let record = record_file("partgauges");
    let f_one = flags(&addr_one);
    let _p1 = WorkerProcess::start(&url, &one, "g1", &record, &f_one.iter().map(String::as_str).collect::<Vec<_>>());
    let mut f_many = flags(&addr_many);
    f_many.extend(["--partitions", "3", "--serve-partitions", "0,2"].map(String::from));
    let _p3 = WorkerProcess::start(&url, &many, "g3", &record, &f_many.iter().map(String::as_str).collect::<Vec<_>>());
    let keys_many = Keys::with_default_prefix(&QueueName::new(&many).unwrap());
    wait_workers(&url, &keys_many, 1).await;
    wait_workers(&url, &keys_many.partition(2), 1).await;

    let s = wait_for("one worker alive in partitions 0 and 2", Duration::from_secs(15), || async {
        let s = try_scrape(&addr_many).await?;
        (s.get(WORKERS_ALIVE, &[("partition", "0")]) == Some(1.0)
            && s.get(WORKERS_ALIVE, &[("partition", "2")]) == Some(1.0))
        .then_some(s)
    })
    .await;
    let labels: Vec<_> = s.named(WORKERS_ALIVE).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels.len(), 2, "partitions 0 and 2 only: {labels:?}");
    assert_eq!(s.get(WORKERS_ALIVE, &[]), None);

    let s = wait_for("one worker alive", Duration::from_secs(15), || async {
        let s = try_scrape(&addr_one).await?;
        (s.get(WORKERS_ALIVE, &[]) == Some(1.0)).then_some(s)
    })
    .await;
    assert_eq!(s.named(WORKERS_ALIVE).len(), 1, "{:?}", s.named(WORKERS_ALIVE));
}

/// Past `shutdown_grace`, the jobs cut short in every partition are handed back to their own
/// overflow one attempt later, and the report counts them across partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_past_grace_reports_the_jobs_cut_short_in_every_partition() {
    let (url, queue, keys) = partitioned("partcut").await;
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let handler = move |_job: Job| {
        let s = s.clone();
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, HandlerError>(())
        }
    };
    let config = config(&url, &queue, "a").concurrency(3).shutdown_grace(Duration::from_millis(300));
    let worker = Worker::new(config, handler).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run(async move {
        let _ = stop_rx.await;
    }));
    let mut jobs = Vec::new();
    for k in 0..PARTITIONS {
        jobs.push(push(&url, &keys, &session_in(k, "cut"), "long").await.0);
    }
    wait_for("a job running in each partition", Duration::from_secs(10), || async {
        (started.load(Ordering::SeqCst) == 3).then_some(())
    })
    .await;
    stop_tx.send(()).unwrap();
    let report = run.await.unwrap().unwrap();
    assert_eq!((report.in_flight, report.cut_short, report.handed_back), (3, 3, 3));
    let places = locate(&url, &keys).await.unwrap();
    for (k, job) in jobs.iter().enumerate() {
        let want = match k {
            0 => "overflow".to_string(),
            k => format!("overflow#{k}"),
        };
        assert_eq!(places[job], [want], "partition {k}'s job");
    }
}

/// The partition the steal, reclaim and reap tests work in. Their live worker serves partitions
/// 1 and 2: a job it runs was read from a partition other than 0, and its maintenance runs in
/// partition 2 as a partition it serves, not as the first one.
const K: u32 = 2;

/// Steal in a partition other than 0: a job queued in its busy owner's inbox of partition 2
/// moves after `max_wait` to partition 2's overflow as it was (attempt 0, route `spill:wait`)
/// and runs on a free worker; the owner keeps its pin, and partition 0 holds nothing of it.
#[tokio::test]
async fn steal_moves_a_job_behind_a_busy_owner_to_its_own_partitions_overflow() {
    // Well above idle_block (200 ms), which a's one slot may spend in another partition's wait
    // before it fetches the held job: only the job queued behind it waits max_wait.
    let settings = QueueSettings { max_wait: Duration::from_secs(1), partitions: PARTITIONS, ..Default::default() };
    let (url, queue, keys) = partitioned_with("partsteal", &settings).await;
    let part = keys.partition(K);
    let (starts, gate) = (Starts::default(), Arc::new(Semaphore::new(0)));
    let a_config = config_with(&url, &queue, "a", settings.clone()).concurrency(1);
    let a = TestWorker::start(a_config, starts.handler("a", Some(&gate)));
    let a_id = a.id.to_string();
    let session = session_in(K, "steal");
    let (warm, _) = push(&url, &keys, &session, "warm-up").await;
    wait_for("a to own the session", Duration::from_secs(10), || async {
        pin(&url, &part, &session).await.filter(|p| *p == a_id)
    })
    .await;
    let (hold, route) = push(&url, &keys, &session, "hold").await;
    assert_eq!(route, Route::Hit);
    assert_eq!(starts.on("a", &hold).await, (0, Some("hit".to_string())), "a's one slot is held");
    let b_config = config_with(&url, &queue, "b", settings).serve_partitions([1, 2]);
    let b = TestWorker::start(b_config, starts.handler("b", None));
    let (next, route) = push(&url, &keys, &session, "next").await;
    assert_eq!(route, Route::Hit, "queued in a's inbox of partition 2");
    assert_eq!(starts.on("b", &next).await, (0, Some("spill:wait".to_string())));
    let places = wait_for("b to complete the stolen job", Duration::from_secs(10), || async {
        let places = locate(&url, &keys).await.unwrap();
        (!places.contains_key(&next)).then_some(places)
    })
    .await;
    assert_eq!(
        places,
        HashMap::from([(hold.clone(), vec![format!("inbox:{a_id}#{K}")])]),
        "only the held job is queued"
    );
    assert_eq!(pin(&url, &part, &session).await.as_deref(), Some(a_id.as_str()), "the busy owner keeps its pin");
    assert_eq!(pin(&url, &keys, &session).await, None, "no pin in partition 0");
    let waiting: u64 = conn(&url).await.zcard(keys.waiting()).await.unwrap();
    assert_eq!(waiting, 0, "no inbox of partition 0 was listed as waiting");

    gate.add_permits(1);
    drained(&url, &keys).await;
    a.stop();
    b.stop();
    let mut want = vec![("a", warm.clone(), 0), ("a", hold.clone(), 0), ("b", next.clone(), 0)];
    want.sort();
    assert_eq!(starts.all(), want, "each job ran once");
    assert_settled(&url, &keys, &[warm.clone(), hold.clone(), next.clone()], &HashSet::from([warm, hold, next])).await;
}

/// Reclaim in a partition other than 0: a job delivered in partition 2 to a consumer that never
/// renews its lease (`ghost`: alive for a minute, the session's owner there) is taken back after
/// `visibility_timeout` and the ghost's pin released; a live worker runs the job one attempt
/// later (route `new`: no owner left) and stamps the session.
#[tokio::test]
async fn reclaim_takes_a_stalled_job_back_in_its_own_partition_and_releases_the_pin() {
    let settings =
        QueueSettings { visibility_timeout: Duration::from_millis(500), partitions: PARTITIONS, ..Default::default() };
    let (url, queue, keys) = partitioned_with("partreclaim", &settings).await;
    let part = keys.partition(K);
    let mut c = conn(&url).await;
    scripts::heartbeat(&mut c, &part, "ghost", Duration::from_secs(60), 1).await.unwrap();
    create_groups(&mut c, &[part.inbox("ghost"), part.overflow()]).await;
    let session = session_in(K, "reclaim");
    let _: () = c.set(part.pin(&session), "ghost").await.unwrap();
    let (job, route) = push(&url, &keys, &session, "x").await;
    assert_eq!(route, Route::Hit, "routed to the ghost's inbox of partition 2");
    assert_eq!(scripts::fetch(&mut c, &part, "ghost", 1).await.unwrap().inbox.len(), 1, "delivered to the ghost");

    let starts = Starts::default();
    let b_config = config_with(&url, &queue, "b", settings).serve_partitions([1, 2]);
    let b = TestWorker::start(b_config, starts.handler("b", None));
    let b_id = b.id.to_string();
    assert_eq!(starts.on("b", &job).await, (1, Some("new".to_string())));
    drained(&url, &keys).await;
    assert_eq!(pin(&url, &part, &session).await.as_deref(), Some(b_id.as_str()), "the ghost's pin released, b stamped");
    assert_eq!(pin(&url, &keys, &session).await, None, "no pin in partition 0");
    let mut listed = workers_in(&url, &part).await;
    listed.sort();
    let mut want = vec![b_id.clone(), "ghost".to_string()];
    want.sort();
    assert_eq!(listed, want, "reclaimed, not reaped: the ghost is still listed");
    b.stop();
    assert_eq!(starts.all(), [("b", job.clone(), 1)]);
    assert_settled(&url, &keys, std::slice::from_ref(&job), &HashSet::from([job.clone()])).await;
}

/// Reap in a partition other than 0: a worker process killed (`kill -9`) with a job running and
/// one queued behind it in its inbox of partition 2 is reaped there once its registration
/// expires; a live worker runs both, the delivered one an attempt later (route `spill:dead`: its
/// owner was dead, so the pin went), the undelivered one as it was (route `new`); the dead
/// worker leaves partition 2's `Q:workers` and its inbox there is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reap_requeues_a_dead_workers_inbox_in_its_own_partition() {
    // max_wait a minute: only the reap can move the queued job within this test.
    let settings = QueueSettings { max_wait: Duration::from_secs(60), partitions: PARTITIONS, ..Default::default() };
    let (url, queue, keys) = partitioned_with("partreap", &settings).await;
    let part = keys.partition(K);
    let record = record_file("partreap");
    let flags = fast_and(&[("--concurrency", "1")]);
    let a = WorkerProcess::start(&url, &queue, "a", &record, &flags);
    let a_id = wait_workers(&url, &part, 1).await.remove(0);
    let session = session_in(K, "reap");
    let (warm, _) = push(&url, &keys, &session, "sleep:0").await;
    wait_for("a to own the session", Duration::from_secs(10), || async {
        pin(&url, &part, &session).await.filter(|p| *p == a_id)
    })
    .await;
    let (hold, route) = push(&url, &keys, &session, "sleep:60000").await;
    assert_eq!(route, Route::Hit);
    wait_for("a to start the long job", Duration::from_secs(10), || async {
        read_starts(&record).get(&hold).map(|_| ())
    })
    .await;
    let (queued, route) = push(&url, &keys, &session, "sleep:0").await;
    assert_eq!(route, Route::Hit, "queued in a's inbox of partition 2");
    let starts = Starts::default();
    let b_config = config_with(&url, &queue, "b", settings).serve_partitions([1, 2]);
    let b = TestWorker::start(b_config, starts.handler("b", None));
    let b_id = b.id.to_string();
    a.kill();

    assert_eq!(starts.on("b", &hold).await, (1, Some("spill:dead".to_string())));
    assert_eq!(starts.on("b", &queued).await, (0, Some("new".to_string())));
    drained(&url, &keys).await;
    assert_eq!(workers_in(&url, &part).await, [b_id.as_str()], "a left partition 2");
    let inbox: bool = conn(&url).await.exists(part.inbox(&a_id)).await.unwrap();
    assert!(!inbox, "a's inbox of partition 2 is deleted");
    assert_eq!(pin(&url, &part, &session).await.as_deref(), Some(b_id.as_str()), "a's pin released, b stamped");
    assert_eq!(pin(&url, &keys, &session).await, None, "no pin in partition 0");
    b.stop();
    let mut want = vec![("b", hold.clone(), 1), ("b", queued.clone(), 0)];
    want.sort();
    assert_eq!(starts.all(), want);
    let a_starts: HashMap<String, Vec<u32>> =
        read_starts(&record).into_iter().map(|(job, runs)| (job, runs.iter().map(|r| r.attempt).collect())).collect();
    assert_eq!(a_starts, HashMap::from([(warm.clone(), vec![0]), (hold.clone(), vec![0])]), "a started these only");
    let pushed = [warm.clone(), hold.clone(), queued.clone()];
    assert_settled(&url, &keys, &pushed, &HashSet::from([warm, hold, queued])).await;
}

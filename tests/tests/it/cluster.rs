//! Homing on a real local Redis Cluster (three masters, one replica each; `RedisCluster`):
//! routing and affinity as on one node, a queue of three partitions spread over the three
//! masters (routing and affinity per partition, a worker killed with `kill -9` and a master
//! failover under load), and the CLI. Each test has a cluster of its own: the failover test moves masters, and
//! a private cluster keeps every test's slot map its own.

use crate::cli::{homing, run, text};
use crate::faults::{keys_of, FAST};
use crate::{config_with, recording, wait_runs};
use homing_client::{Producer, ProducerOptions, Route, SpillReason};
use homing_core::scripts::{init_partitions, InitMode};
use homing_core::{partition_of, Keys, QueueSettings};
use homing_tests::invariants::{assert_settled_on, is_drained_on, Attempts, Gaps};
use homing_tests::{
    fresh_queue, read_record, record_file, wait_for, Recorder, RedisCluster, TestWorker, WorkerProcess,
};
use homing_worker::{HandlerError, Job, WorkerConfig};
use redis::AsyncCommands;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

async fn producer(cluster: &RedisCluster, queue: &str) -> Producer {
    Producer::connect_with(&cluster.url(), queue, ProducerOptions::default().redis_cluster(true)).await.unwrap()
}

/// In-process workers on the cluster. None of these is killed, so liveness is the default's
/// (3 s), not the 500 ms of `config`: six servers per test and a `homing` build beside them can
/// starve a heartbeat long enough to have a live owner reaped, which would turn a `hit` into a
/// `spill:dead`.
fn worker_config(cluster: &RedisCluster, queue: &str, name: &str, settings: QueueSettings) -> WorkerConfig {
    let base = config_with(&cluster.url(), queue, name, settings).redis_cluster(true);
    WorkerConfig { heartbeat_interval: Duration::from_millis(500), liveness_ttl: Duration::from_secs(3), ..base }
}

async fn pin_of(cluster: &RedisCluster, keys: &Keys, session: &str) -> Option<String> {
    cluster.conn().await.get(keys.pin(session)).await.unwrap()
}

async fn live_workers(cluster: &RedisCluster, keys: &Keys) -> Vec<String> {
    cluster.conn().await.zrange(keys.workers(), 0, -1).await.unwrap()
}

async fn dead_ids(cluster: &RedisCluster, keys: &Keys) -> HashSet<String> {
    let r: redis::streams::StreamRangeReply = cluster.conn().await.xrange_all(keys.dead()).await.unwrap();
    r.ids.iter().map(|e| e.get::<String>("id").unwrap()).collect()
}

/// Waits until every id of `pushed` is recorded or dead and nothing is queued; returns the
/// completed ids.
async fn wait_settled(cluster: &RedisCluster, keys: &Keys, record: &Path, pushed: &[String]) -> HashSet<String> {
    let target = cluster.target();
    wait_for("every job completed or dead-lettered", Duration::from_secs(90), || async {
        let done: HashSet<String> = read_record(record).into_keys().collect();
        let dead = dead_ids(cluster, keys).await;
        let all = pushed.iter().all(|id| done.contains(id) || dead.contains(id));
        (all && is_drained_on(&target, keys).await).then_some(done)
    })
    .await
}

/// A fresh queue of three partitions whose partitions are served by three different masters
/// (a partition's slot is the CRC16 of its hash tag, so names are drawn until they spread),
/// created with `init_partitions` as `homing queue init --partitions 3` does.
async fn spread_queue(cluster: &RedisCluster, label: &str) -> (String, Keys) {
    loop {
        let queue = fresh_queue(label);
        let keys = keys_of(&queue);
        let masters: HashSet<u16> = keys.partitions(3).iter().map(|k| cluster.master_of(&k.meta())).collect();
        if masters.len() == 3 {
            let settings = QueueSettings { partitions: 3, ..Default::default() };
            init_partitions(&mut cluster.conn().await, &keys, InitMode::Create, &settings).await.unwrap();
            return (queue, keys);
        }
    }
}

/// Pushes `batches` batches of 50 jobs over 50 sessions, 25 ms apart; returns their ids.
fn push_load(producer: &Producer, batches: usize, payload: &'static [u8]) -> tokio::task::JoinHandle<Vec<String>> {
    let producer = producer.clone();
    tokio::spawn(async move {
        let mut ids = Vec::new();
        for batch in 0..batches {
            let jobs: Vec<(String, &[u8])> =
                (0..50).map(|i| (format!("s{}", (batch * 50 + i) % 50), payload)).collect();
            for r in producer.push_many_raw(&jobs).await.unwrap() {
                ids.push(r.unwrap().id.to_string());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        ids
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_sessions_hit_their_owner_and_spill_when_it_is_busy() {
    let cluster = RedisCluster::start();
    let queue = fresh_queue("cluster-route");
    let settings = QueueSettings { max_waiting: 1, ..Default::default() };
    let producer = producer(&cluster, &queue).await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (r, g) = (rec.clone(), gate.clone());
    let owner_cfg = WorkerConfig { concurrency: 1, ..worker_config(&cluster, &queue, "owner", settings.clone()) };
    let owner = TestWorker::start(owner_cfg, move |job: Job| {
        r.record("owner", &job);
        let g = g.clone();
        let hold = job.attempt == 0 && job.decode::<String>().unwrap() == "slow";
        async move {
            if hold {
                g.acquire().await.unwrap().forget();
            }
            Ok::<_, HandlerError>(())
        }
    });
    assert_eq!(producer.push("s", "warm-up").await.unwrap().route, Route::New);
    wait_runs(&rec, 1).await;
    let pin = wait_for("the pin", Duration::from_secs(5), || pin_of(&cluster, &keys, "s")).await;
    assert_eq!(pin, owner.id.as_str());

    // A second worker exists to take what spills; while the owner is free, every job hits it.
    let other = TestWorker::start(worker_config(&cluster, &queue, "other", settings), recording("other", &rec));
    for turn in 1..=3 {
        assert_eq!(producer.push("s", &format!("turn {turn}")).await.unwrap().route, Route::Hit, "turn {turn}");
        assert_eq!(wait_runs(&rec, turn + 1).await[turn].worker, "owner", "turn {turn} ran on the owner");
    }
    assert_eq!(producer.push("s", "slow").await.unwrap().route, Route::Hit);
    wait_runs(&rec, 5).await; // the owner is now busy with "slow" (capacity 1)
    assert_eq!(producer.push("s", "waits").await.unwrap().route, Route::Hit); // max_waiting 1
    let spilled = producer.push("s", "spills").await.unwrap();
    assert_eq!(spilled.route, Route::Spill(SpillReason::Busy));
    let run = wait_for("the spilled job", Duration::from_secs(5), || {
        let runs = rec.runs_of(spilled.id.as_str());
        async move { runs.first().cloned() }
    })
    .await;
    assert_eq!(run.worker, "other");
    assert_eq!(pin_of(&cluster, &keys, "s").await.as_deref(), Some(owner.id.as_str()), "the pin stays");
    gate.add_permits(1);
    wait_runs(&rec, 7).await; // warm-up, 3 turns, slow, spills, waits
    owner.stop();
    other.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_partitioned_queue_keeps_each_session_in_its_partition_and_warm() {
    let cluster = RedisCluster::start();
    let (queue, keys) = spread_queue(&cluster, "cluster-parts").await;
    let rec = Recorder::default();
    let workers: Vec<TestWorker> = (0..2)
        .map(|i| {
            let name = format!("p{i}");
            TestWorker::start(worker_config(&cluster, &queue, &name, QueueSettings::default()), recording(&name, &rec))
        })
        .collect();
    let producer = producer(&cluster, &queue).await;
    assert_eq!(producer.partitions(), 3);
    let sessions: Vec<String> = (0..30).map(|i| format!("conv-{i}")).collect();
    for s in &sessions {
        assert_eq!(producer.push(s, "first").await.unwrap().route, Route::New, "{s}'s first turn");
    }
    let firsts = wait_runs(&rec, 30).await;
    let mut used = HashSet::new();
    for s in &sessions {
        let part = keys.partition(partition_of(s, 3));
        used.insert(part.partition_index());
        let owner = firsts.iter().find(|r| &r.session == s).unwrap().worker.clone();
        let pin = wait_for("the pin", Duration::from_secs(10), || pin_of(&cluster, &part, s)).await;
        assert!(pin.starts_with(&format!("{owner}-")), "{s} is pinned in its partition to {owner}, got {pin}");
        for other in keys.partitions(3).iter().filter(|k| k.partition_index() != part.partition_index()) {
            assert_eq!(pin_of(&cluster, other, s).await, None, "{s} has no pin in another partition");
        }
    }
    assert_eq!(used.len(), 3, "the 30 sessions use every partition");
    for s in &sessions {
        assert_eq!(producer.push(s, "second").await.unwrap().route, Route::Hit, "{s}'s second turn");
    }
    let all = wait_runs(&rec, 60).await;
    for s in &sessions {
        let ran: Vec<&str> = all.iter().filter(|r| &r.session == s).map(|r| r.worker.as_str()).collect();
        assert_eq!(ran.len(), 2);
        assert_eq!(ran[0], ran[1], "{s}'s second turn ran where its first did");
    }
    let mut status = homing(&cluster.url(), &queue);
    status.env("HOMING_REDIS_CLUSTER", "true").args(["status", "--json"]);
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["workers"].as_array().unwrap().len(), 2, "one row per worker process: {status}");
    let parts: Vec<u64> =
        status["partitions"].as_array().unwrap().iter().map(|p| p["partition"].as_u64().unwrap()).collect();
    assert_eq!(parts, [0, 1, 2]);
    for w in workers {
        w.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_worker_killed_under_load_loses_no_job() {
    let cluster = RedisCluster::start();
    let url = cluster.url();
    let (queue, keys) = spread_queue(&cluster, "cluster-kill9").await;
    let record = record_file("cluster-kill9");
    let args: Vec<&str> = FAST.iter().copied().chain(["--redis-cluster"]).collect();
    let mut workers: Vec<WorkerProcess> =
        (0..3).map(|i| WorkerProcess::start(&url, &queue, &format!("c{i}"), &record, &args)).collect();
    wait_for("3 workers registered", Duration::from_secs(30), || async {
        (live_workers(&cluster, &keys).await.len() == 3).then_some(())
    })
    .await;
    let producer = producer(&cluster, &queue).await;

    let pusher = push_load(&producer, 12, b"sleep:3");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let victim = workers.remove(0);
    let prefix = format!("{}-", victim.name);
    victim.kill();
    wait_for("the killed worker to be reaped", Duration::from_secs(10), || async {
        live_workers(&cluster, &keys).await.iter().all(|w| !w.starts_with(&prefix)).then_some(())
    })
    .await;
    let pushed = pusher.await.unwrap();
    assert_eq!(pushed.len(), 600);
    let completed = wait_settled(&cluster, &keys, &record, &pushed).await;
    assert_settled_on(&cluster.target(), &keys, &pushed, &completed).await;
    Attempts::from_record(&record).check(5, Gaps::AfterKills);
    assert!(dead_ids(&cluster, &keys).await.is_empty(), "one kill dead-letters nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_master_failover_under_load_loses_no_job() {
    let cluster = RedisCluster::start();
    let (queue, keys) = spread_queue(&cluster, "cluster-failover").await;
    let rec = Recorder::default();
    let workers: Vec<TestWorker> = (0..2)
        .map(|i| {
            let name = format!("f{i}");
            TestWorker::start(worker_config(&cluster, &queue, &name, QueueSettings::default()), recording(&name, &rec))
        })
        .collect();
    let producer = producer(&cluster, &queue).await;

    let pusher = push_load(&producer, 40, b"job");
    wait_runs(&rec, 200).await;
    assert!(!pusher.is_finished(), "the failover starts while jobs are still being pushed");
    // Partition 1's master fails over; the other two partitions' masters stay.
    let moved = keys.partition(1);
    let stays = [cluster.master_of(&keys.partition(0).meta()), cluster.master_of(&keys.partition(2).meta())];
    let (old, new) = tokio::task::block_in_place(|| cluster.failover(&moved.meta()));
    assert_ne!(old, new);
    assert_eq!(cluster.master_of(&moved.meta()), new, "partition 1's slot moved to the promoted replica");
    assert_eq!([cluster.master_of(&keys.partition(0).meta()), cluster.master_of(&keys.partition(2).meta())], stays);
    let pushed = pusher.await.unwrap();
    assert_eq!(pushed.len(), 2000);

    let target = cluster.target();
    let completed = wait_for("every job completed", Duration::from_secs(90), || async {
        let done: HashSet<String> = rec.runs().into_iter().map(|r| r.job).collect();
        (pushed.iter().all(|id| done.contains(id)) && is_drained_on(&target, &keys).await).then_some(done)
    })
    .await;
    assert_settled_on(&target, &keys, &pushed, &completed).await;
    assert!(dead_ids(&cluster, &keys).await.is_empty(), "a failover dead-letters nothing");
    // A fetch whose reply the failover cut off leaves its entries pending, unstarted, until
    // they are reclaimed one attempt later: attempt numbers may skip, never repeat.
    Attempts::from_recorder(&rec).check(5, Gaps::AfterKills);
    for w in workers {
        w.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_pushes_to_and_reports_on_a_cluster() {
    let cluster = RedisCluster::start();
    let queue = fresh_queue("cluster-cli");
    let rec = Recorder::default();
    let worker =
        TestWorker::start(worker_config(&cluster, &queue, "w", QueueSettings::default()), recording("w", &rec));

    let mut push = homing(&cluster.url(), &queue);
    push.args(["push", "--redis-cluster", "s1", "hello"]);
    let out = run(push, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let (job_id, route) = line.trim().split_once(' ').unwrap();
    assert_eq!(route, "new", "{line}");
    assert_eq!(wait_runs(&rec, 1).await[0].job, job_id);

    let mut status = homing(&cluster.url(), &queue);
    status.env("HOMING_REDIS_CLUSTER", "true").args(["status", "--json"]);
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = status["workers"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [worker.id.as_str()]);
    assert_eq!(status["affinity"], "on");

    // Without the flag the seed list is refused with the fix named.
    let mut single = homing(&cluster.url(), &queue);
    single.args(["status"]);
    let out = run(single, None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("lists several nodes: set --redis-cluster"), "{}", text(&out.stderr));
    worker.stop();
}

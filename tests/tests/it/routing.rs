//! Pin-or-spill routing and owner stamping with real workers.

use crate::{config, config_with, recording, setup, wait_runs};
use homing_client::{Route, SpillReason};
use homing_core::{scripts, Keys, QueueName, QueueSettings};
use homing_tests::{conn, wait_for, Recorder, TestWorker};
use homing_worker::{HandlerError, Job};
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;

async fn pin_of(url: &str, keys: &Keys, session: &str) -> Option<String> {
    conn(url).await.get(keys.pin(session)).await.unwrap()
}

#[tokio::test]
async fn later_jobs_hit_the_worker_that_completed_the_first() {
    let (url, queue, producer) = setup("hit").await;
    let rec = Recorder::default();
    let a = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let b = TestWorker::start(config(&url, &queue, "b"), recording("b", &rec));
    let c = TestWorker::start(config(&url, &queue, "c"), recording("c", &rec));

    let first = producer.push("s1", "turn 0").await.unwrap();
    assert_eq!(first.route, Route::New);
    let runs = wait_runs(&rec, 1).await;
    let owner_name = runs[0].worker.clone();
    let owner =
        wait_for("the pin", Duration::from_secs(5), || async { pin_of(&url, producer.keys(), "s1").await }).await;
    assert!(owner.starts_with(&format!("{owner_name}-")), "pin {owner} belongs to {owner_name}");

    for turn in 1..=5 {
        let receipt = producer.push("s1", &format!("turn {turn}")).await.unwrap();
        assert_eq!(receipt.route, Route::Hit, "turn {turn}");
        let runs = wait_runs(&rec, turn + 1).await;
        assert_eq!(runs[turn].worker, owner_name, "turn {turn} ran on the owner");
    }
    assert_eq!(pin_of(&url, producer.keys(), "s1").await.as_deref(), Some(owner.as_str()));
    for w in [a, b, c] {
        w.stop();
    }
}

#[tokio::test]
async fn a_failed_first_job_stamps_no_owner() {
    let (url, queue, producer) = setup("nostamp").await;
    let rec = Recorder::default();
    let r = rec.clone();
    let w = TestWorker::start(config(&url, &queue, "a"), move |job: Job| {
        r.record("a", &job);
        let payload: String = job.decode().unwrap();
        async move {
            if payload == "bad" {
                Err(HandlerError::fatal("refused"))
            } else {
                Ok(())
            }
        }
    });
    producer.push("s", "bad").await.unwrap();
    let dead = producer.keys().dead();
    wait_for("the dead letter", Duration::from_secs(5), || async {
        let n: u64 = conn(&url).await.xlen(&dead).await.unwrap();
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(pin_of(&url, producer.keys(), "s").await, None);

    assert_eq!(producer.push("s", "good").await.unwrap().route, Route::New);
    let owner =
        wait_for("the pin", Duration::from_secs(5), || async { pin_of(&url, producer.keys(), "s").await }).await;
    assert_eq!(owner, w.id.as_str());
    w.stop();
}

#[tokio::test]
async fn simultaneous_first_completions_leave_exactly_one_owner() {
    let (url, queue, producer) = setup("race").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    // Both handlers hold their job until both are running, then finish together.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let handler = |name: &'static str| {
        let (rec, barrier) = (rec.clone(), barrier.clone());
        move |job: Job| {
            rec.record(name, &job);
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                Ok::<_, HandlerError>(())
            }
        }
    };
    // Concurrency 1 each, so neither can take both first jobs.
    let one = |name| homing_worker::WorkerConfig { concurrency: 1, ..config(&url, &queue, name) };
    let a = TestWorker::start(one("a"), handler("a"));
    let b = TestWorker::start(one("b"), handler("b"));
    producer.push("s", "one").await.unwrap();
    producer.push("s", "two").await.unwrap();
    let runs = wait_runs(&rec, 2).await;
    assert_ne!(runs[0].worker, runs[1].worker, "each worker took one first job");
    let owner = wait_for("the pin", Duration::from_secs(5), || async { pin_of(&url, &keys, "s").await }).await;
    assert!(owner == a.id.as_str() || owner == b.id.as_str());

    // At the script level, with both completions sent in one pipeline: one stamps, one does not.
    let mut c = conn(&url).await;
    let q2 = QueueName::new(homing_tests::fresh_queue("race2")).unwrap();
    let k2 = Keys::with_default_prefix(&q2);
    scripts::init(&mut c, &k2, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    for w in ["wa", "wb"] {
        scripts::heartbeat(&mut c, &k2, w, Duration::from_secs(60), 1).await.unwrap();
    }
    homing_tests::create_groups(&mut c, &[k2.overflow(), k2.inbox("wa"), k2.inbox("wb")]).await;
    let p2 = homing_client::Producer::connect(&url, q2.as_str()).await.unwrap();
    p2.push("s", "x").await.unwrap();
    p2.push("s", "y").await.unwrap();
    let fa = scripts::fetch(&mut c, &k2, "wa", 1).await.unwrap().overflow.remove(0);
    let fb = scripts::fetch(&mut c, &k2, "wb", 1).await.unwrap().overflow.remove(0);
    let overflow = k2.overflow();
    let (mut ca, mut cb) = (c.clone(), c.clone());
    let finished =
        |entry_id| scripts::Finished { stream: &overflow, entry_id, job_id: "j", session: "s", reply_to: None };
    let (ja, jb) = (finished(&fa.id), finished(&fb.id));
    let (ra, rb) =
        tokio::join!(scripts::complete(&mut ca, &k2, &ja, "wa", b""), scripts::complete(&mut cb, &k2, &jb, "wb", b""),);
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!([ra.stamped, rb.stamped].iter().filter(|s| **s).count(), 1, "{ra:?} {rb:?}");
    let winner = if ra.stamped { "wa" } else { "wb" };
    assert_eq!(pin_of(&url, &k2, "s").await.as_deref(), Some(winner));
    a.stop();
    b.stop();
}

#[tokio::test]
async fn a_busy_owner_spills_and_keeps_its_pin() {
    let settings = QueueSettings { max_waiting: 1, ..Default::default() };
    let (url, queue, producer) = setup("busy").await;
    let rec = Recorder::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (r, g) = (rec.clone(), gate.clone());
    let owner_cfg =
        homing_worker::WorkerConfig { concurrency: 1, ..config_with(&url, &queue, "owner", settings.clone()) };
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
    producer.push("s", "warm-up").await.unwrap();
    wait_runs(&rec, 1).await;
    let keys = producer.keys().clone();
    wait_for("the pin", Duration::from_secs(5), || async { pin_of(&url, &keys, "s").await }).await;

    // Now a second worker exists to take what spills.
    let other = TestWorker::start(config_with(&url, &queue, "other", settings), recording("other", &rec));
    assert_eq!(producer.push("s", "slow").await.unwrap().route, Route::Hit);
    wait_runs(&rec, 2).await; // the owner is now busy with "slow" (capacity 1)
    assert_eq!(producer.push("s", "waits").await.unwrap().route, Route::Hit); // max_waiting 1
    let spilled = producer.push("s", "spills").await.unwrap();
    assert_eq!(spilled.route, Route::Spill(SpillReason::Busy));
    let run = wait_for("the spilled job", Duration::from_secs(5), || {
        let runs = rec.runs_of(spilled.id.as_str());
        async move { runs.first().cloned() }
    })
    .await;
    assert_eq!(run.worker, "other");
    assert_eq!(pin_of(&url, &keys, "s").await.as_deref(), Some(owner.id.as_str()), "the pin stays");
    gate.add_permits(1);
    wait_runs(&rec, 4).await; // warm-up, slow, spills, waits
    owner.stop();
    other.stop();
}

#[tokio::test]
async fn a_dead_owners_pin_is_released_at_the_next_push() {
    let (url, queue, producer) = setup("dead").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    producer.push("s", "first").await.unwrap();
    let keys = producer.keys().clone();
    let owner = wait_for("the pin", Duration::from_secs(5), || async { pin_of(&url, &keys, "s").await }).await;
    assert_eq!(owner, w.id.as_str());
    w.crash();
    // Wait until the owner's deadline (Redis clock) has passed.
    let c = conn(&url).await;
    wait_for("the liveness deadline to pass", Duration::from_secs(5), || {
        let (mut c, keys, owner) = (c.clone(), keys.clone(), owner.clone());
        async move {
            let deadline: f64 = c.zscore(keys.workers(), &owner).await.unwrap();
            let (s, us): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await.unwrap();
            ((s * 1000 + us / 1000) as f64 > deadline).then_some(())
        }
    })
    .await;
    let receipt = producer.push("s", "second").await.unwrap();
    assert_eq!(receipt.route, Route::Spill(SpillReason::Dead));
    assert_eq!(pin_of(&url, &keys, "s").await, None);
    let places = homing_tests::invariants::locate(&url, &keys).await.unwrap();
    assert_eq!(places[receipt.id.as_str()], ["overflow"], "the job waits in the overflow for any worker");
}

/// Starts `cfg` as the worker "owner" with concurrency 1, pins session `hot` to it and sends
/// it a job that holds its one slot until a permit is added to the returned gate (a job whose
/// payload is "hold" waits for one; any other runs at once).
async fn hold_one_slot(
    url: &str,
    producer: &homing_client::Producer,
    cfg: homing_worker::WorkerConfig,
) -> (TestWorker, Recorder, Arc<tokio::sync::Semaphore>) {
    let rec = Recorder::default();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (r, g) = (rec.clone(), gate.clone());
    let cfg = homing_worker::WorkerConfig { concurrency: 1, ..cfg };
    let owner = TestWorker::start(cfg, move |job: Job| {
        r.record("owner", &job);
        let g = g.clone();
        let hold = job.decode::<String>().unwrap() == "hold";
        async move {
            if hold {
                g.acquire().await.unwrap().forget();
            }
            Ok::<_, HandlerError>(())
        }
    });
    producer.push("hot", "warm-up").await.unwrap();
    wait_runs(&rec, 1).await;
    let keys = producer.keys().clone();
    wait_for("the pin", Duration::from_secs(5), || async { pin_of(url, &keys, "hot").await }).await;
    assert_eq!(producer.push("hot", "hold").await.unwrap().route, Route::Hit);
    (owner, rec, gate)
}

/// Fair reading: with its inbox kept full of its own sessions' jobs, a worker still starts a
/// new session's job from the overflow within two fetches (reading the inbox first, it would
/// run all twenty first), because the stream it reads first alternates.
#[tokio::test]
async fn a_full_inbox_does_not_starve_the_overflow() {
    let settings = QueueSettings { max_waiting: 100, ..Default::default() };
    let (url, queue, producer) = setup("fair").await;
    let cfg = config_with(&url, &queue, "owner", settings);
    let (owner, rec, gate) = hold_one_slot(&url, &producer, cfg).await;
    wait_runs(&rec, 2).await; // the owner's one slot is held
    for i in 0..20 {
        assert_eq!(producer.push("hot", &format!("turn {i}")).await.unwrap().route, Route::Hit, "turn {i}");
    }
    let fresh = producer.push("fresh", "first turn").await.unwrap();
    assert_eq!(fresh.route, Route::New);
    gate.add_permits(1);
    let runs = wait_runs(&rec, 23).await;
    let at = runs.iter().position(|r| r.job == fresh.id.as_str()).expect("the new session's job ran");
    assert!(at <= 3, "the overflow job ran {}th, after {} inbox jobs", at + 1, at - 2);
    owner.stop();
}

/// A worker claims only what it can start: with one slot, a job in its inbox and one in the
/// overflow, it takes one and leaves the other undelivered (free for another worker, or for
/// it once the slot frees), never both.
#[tokio::test]
async fn a_worker_claims_no_more_entries_than_its_free_slots() {
    let (url, queue, producer) = setup("slots").await;
    let cfg = config(&url, &queue, "owner");
    let (owner, rec, gate) = hold_one_slot(&url, &producer, cfg).await;
    wait_runs(&rec, 2).await; // the one slot is held
    assert_eq!(producer.push("hot", "hold").await.unwrap().route, Route::Hit);
    assert_eq!(producer.push("fresh", "hold").await.unwrap().route, Route::New);
    gate.add_permits(1);
    wait_runs(&rec, 3).await; // the slot freed and took one of the two
    let keys = producer.keys();
    let mut c = conn(&url).await;
    let mut pending = 0;
    for stream in [keys.inbox(owner.id.as_str()), keys.overflow()] {
        let summary: redis::Value =
            redis::cmd("XPENDING").arg(&stream).arg("homing").query_async(&mut c).await.unwrap();
        let redis::Value::Array(fields) = summary else { panic!("XPENDING summary: {summary:?}") };
        pending += redis::from_redis_value_ref::<u64>(&fields[0]).unwrap();
    }
    // Released before the check: a worker holding an entry it cannot start waits for a slot.
    gate.add_permits(2);
    assert_eq!(pending, 1, "only the running job is delivered; the other waits undelivered");
    wait_runs(&rec, 4).await;
    owner.stop();
}

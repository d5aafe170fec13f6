//! Retries with growing backoff, dead letters, fatal errors, panics and malformed entries.

use crate::{config_with, recording, setup, wait_runs};
use homing_core::QueueSettings;
use homing_tests::{conn, wait_dead_letters, wait_for, Recorder, TestWorker};
use homing_worker::{HandlerError, Job};
use redis::AsyncCommands;
use std::time::Duration;

fn fast_backoff(max_attempts: u32) -> QueueSettings {
    QueueSettings {
        max_attempts,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(10),
        ..Default::default()
    }
}

#[tokio::test]
async fn retries_back_off_longer_each_time_then_dead_letter_with_the_error() {
    let (url, queue, producer) = setup("retry").await;
    let rec = Recorder::default();
    let r = rec.clone();
    let w = TestWorker::start(config_with(&url, &queue, "a", fast_backoff(4)), move |job: Job| {
        r.record("a", &job);
        let attempt = job.attempt;
        async move { Err::<(), _>(HandlerError::retry(format!("upstream down (attempt {attempt})"))) }
    });
    let receipt = producer.push("s", "x").await.unwrap();
    let runs = wait_runs(&rec, 4).await;
    assert_eq!(runs.iter().map(|r| r.attempt).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    // The retry after attempt n waits at least base * 2^n / 2 (equal jitter), so the lower
    // bounds double: 100 ms, 200 ms, 400 ms.
    for n in 0..3 {
        let gap = runs[n + 1].at - runs[n].at;
        let floor = Duration::from_millis(100 << n);
        assert!(gap >= floor, "retry {} came after {gap:?}, before its backoff floor {floor:?}", n + 1);
        // At most the whole backoff (base * 2^n) after the failure: 2x that + 1 s.
        let ceiling = Duration::from_millis(2 * (200 << n) + 1000);
        assert!(gap <= ceiling, "retry {} came after {gap:?}", n + 1);
    }
    let dead = wait_dead_letters(&url, producer.keys(), 1).await;
    let fields = &dead[0];
    assert_eq!(fields["id"], receipt.id.as_str());
    assert_eq!(fields["reason"], "max_attempts");
    assert_eq!(fields["error"], "upstream down (attempt 3)");
    assert_eq!(fields["a"], "3");
    assert_eq!(fields["worker"], w.id.as_str());
    assert_eq!(rec.runs().len(), 4, "no fifth attempt");
    w.stop();
}

#[tokio::test]
async fn a_fatal_error_dead_letters_at_once() {
    let (url, queue, producer) = setup("fatal").await;
    let rec = Recorder::default();
    let r = rec.clone();
    let w = TestWorker::start(config_with(&url, &queue, "a", fast_backoff(5)), move |job: Job| {
        r.record("a", &job);
        async { Err::<(), _>(HandlerError::fatal("invalid prompt")) }
    });
    let receipt = producer.push("s", "x").await.unwrap();
    let dead = wait_dead_letters(&url, producer.keys(), 1).await;
    assert_eq!(dead[0]["reason"], "fatal");
    assert_eq!(dead[0]["error"], "invalid prompt");
    assert_eq!(dead[0]["id"], receipt.id.as_str());
    assert_eq!(rec.runs_of(receipt.id.as_str()).len(), 1);
    let delayed: u64 = conn(&url).await.zcard(producer.keys().delayed()).await.unwrap();
    assert_eq!(delayed, 0);
    w.stop();
}

#[tokio::test]
async fn a_panicking_handler_is_retried_and_the_worker_survives() {
    let (url, queue, producer) = setup("panic").await;
    let rec = Recorder::default();
    let r = rec.clone();
    let w = TestWorker::start(config_with(&url, &queue, "a", fast_backoff(3)), move |job: Job| {
        r.record("a", &job);
        let explode = job.attempt == 0 && job.decode::<String>().unwrap() == "boom";
        async move {
            if explode {
                panic!("handler bug");
            }
            Ok::<_, HandlerError>(())
        }
    });
    let boom = producer.push("s1", "boom").await.unwrap();
    let runs = wait_for("the retry of the panicked job", Duration::from_secs(10), || {
        let runs = rec.runs_of(boom.id.as_str());
        async move { (runs.len() == 2).then_some(runs) }
    })
    .await;
    assert_eq!(runs[1].attempt, 1);
    let next = producer.push("s2", "fine").await.unwrap();
    wait_for("a later job", Duration::from_secs(5), || {
        let n = rec.runs_of(next.id.as_str()).len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    let dead: u64 = conn(&url).await.xlen(producer.keys().dead()).await.unwrap();
    assert_eq!(dead, 0);
    w.stop();
}

#[tokio::test]
async fn a_panics_message_is_the_dead_letters_error_whether_text_or_formatted() {
    let (url, queue, producer) = setup("panicmsg").await;
    // max_attempts 1: the panic's failure is the last, so its error is kept in the dead letter.
    let w = TestWorker::start(config_with(&url, &queue, "a", fast_backoff(1)), move |job: Job| {
        let text = job.decode::<String>().unwrap();
        async move {
            if text == "literal" {
                panic!("a literal message");
            }
            if text == "formatted" {
                std::panic::panic_any(format!("a {text} message"));
            }
            Ok::<_, HandlerError>(())
        }
    });
    let literal = producer.push("s1", "literal").await.unwrap();
    let formatted = producer.push("s2", "formatted").await.unwrap();
    let dead = wait_dead_letters(&url, producer.keys(), 2).await;
    let mut errors: Vec<(&str, &str, &str)> =
        dead.iter().map(|d| (d["id"].as_str(), d["reason"].as_str(), d["error"].as_str())).collect();
    errors.sort();
    let mut want = vec![
        (literal.id.as_str(), "max_attempts", "handler panicked: a literal message"),
        (formatted.id.as_str(), "max_attempts", "handler panicked: a formatted message"),
    ];
    want.sort();
    assert_eq!(errors, want);
    w.stop();
}

/// A failure whose report meets a Redis outage is retried until Redis is back, not dropped:
/// the job is dead-lettered by its failure (max_attempts 1), not reclaimed as stalled after
/// visibility_timeout (30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_reported_during_a_redis_outage_is_recorded_once_redis_is_back() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut server = homing_tests::RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = server.url();
    let queue = homing_tests::fresh_queue("failoutage");
    let producer = homing_client::Producer::connect(&url, &queue).await.unwrap();
    let rec = Recorder::default();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let returned = std::sync::Arc::new(AtomicBool::new(false));
    let (r, g, ret) = (rec.clone(), gate.clone(), returned.clone());
    let w = TestWorker::start(config_with(&url, &queue, "a", fast_backoff(1)), move |job: Job| {
        r.record("a", &job);
        let (g, ret) = (g.clone(), ret.clone());
        async move {
            g.acquire().await.unwrap().forget();
            ret.store(true, Ordering::SeqCst);
            Err::<(), _>(HandlerError::retry("failed while redis was down"))
        }
    });
    let receipt = producer.push("s", "x").await.unwrap();
    wait_runs(&rec, 1).await;
    server.stop();
    gate.add_permits(1);
    wait_for("the handler to return", Duration::from_secs(5), || {
        let ret = returned.clone();
        async move { ret.load(Ordering::SeqCst).then_some(()) }
    })
    .await;
    // Down across several of the failure's retries (50, 100, 200, 400 ms apart).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.restart();
    let dead = wait_dead_letters(&url, producer.keys(), 1).await;
    assert_eq!(
        (dead[0]["id"].as_str(), dead[0]["reason"].as_str(), dead[0]["error"].as_str()),
        (receipt.id.as_str(), "max_attempts", "failed while redis was down")
    );
    assert_eq!(rec.runs().len(), 1, "the job ran once");
    w.stop();
}

/// A fetch that fails is retried with backoff (50 ms doubling to 2 s), and a fetch that finds
/// its stream's consumer group gone (the inbox deleted) creates the groups again and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fetch_backs_off_and_a_deleted_inbox_gets_its_group_back() {
    // A server of its own: its error counts are this worker's alone.
    let server = homing_tests::RedisServer::start(&[]);
    let url = server.url();
    let queue = homing_tests::fresh_queue("fetchfail");
    let producer = homing_client::Producer::connect(&url, &queue).await.unwrap();
    let rec = Recorder::default();
    let w = TestWorker::start(crate::config(&url, &queue, "a"), recording("a", &rec));
    let inbox = producer.keys().inbox(w.id.as_str());
    let mut c = conn(&url).await;
    let wrongtype = |info: String| {
        info.lines().find_map(|l| l.strip_prefix("errorstat_WRONGTYPE:count=")).map_or(0, |n| n.trim().parse().unwrap())
    };
    // The inbox replaced by a string: every fetch fails with WRONGTYPE until it is deleted.
    let _: () = redis::pipe().del(&inbox).set(&inbox, "not a stream").query_async(&mut c).await.unwrap();
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut c).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let info: String = redis::cmd("INFO").arg("errorstats").query_async(&mut c).await.unwrap();
    let failed: u64 = wrongtype(info);
    // Backing off, about seven fetches fail in 2 s (and a few gauge reads of the inbox); a
    // loop that did not back off would fail thousands of times.
    assert!((1..=30).contains(&failed), "{failed} WRONGTYPE errors in 2 s");
    let _: () = c.del(&inbox).await.unwrap();
    // The next fetch that reads the inbox first fails with NOGROUP, and the loop recreates the
    // group (a fetch that reads the overflow first still works without it, so a job alone
    // would not tell).
    wait_for("the inbox's consumer group to be recreated", Duration::from_secs(10), || {
        let mut c = c.clone();
        let inbox = inbox.clone();
        async move {
            let groups: Vec<std::collections::HashMap<String, redis::Value>> =
                redis::cmd("XINFO").arg("GROUPS").arg(&inbox).query_async(&mut c).await.ok()?;
            let name = |g: &std::collections::HashMap<String, redis::Value>| {
                g.get("name").and_then(|n| redis::from_redis_value_ref::<String>(n).ok())
            };
            groups.iter().any(|g| name(g).as_deref() == Some("homing")).then_some(())
        }
    })
    .await;
    let job = producer.push("s", "after the fix").await.unwrap();
    wait_for("the job pushed after the inbox was deleted", Duration::from_secs(10), || {
        let n = rec.runs_of(job.id.as_str()).len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    w.stop();
}

#[tokio::test]
async fn a_malformed_entry_is_dead_lettered_and_the_worker_goes_on() {
    let (url, queue, producer) = setup("malformed").await;
    let rec = Recorder::default();
    let w = TestWorker::start(config_with(&url, &queue, "a", fast_backoff(3)), recording("a", &rec));
    let overflow = producer.keys().overflow();
    let _: String = conn(&url).await.xadd(&overflow, "*", &[("id", "bad-1"), ("s", "s")]).await.unwrap();
    let dead = wait_dead_letters(&url, producer.keys(), 1).await;
    assert_eq!(dead[0]["reason"], "malformed");
    assert_eq!(dead[0]["error"], "malformed entry: missing field p");
    assert_eq!(dead[0]["id"], "bad-1");
    let ok = producer.push("s", "fine").await.unwrap();
    wait_for("the next job", Duration::from_secs(5), || {
        let n = rec.runs_of(ok.id.as_str()).len();
        async move { (n == 1).then_some(()) }
    })
    .await;
    assert!(rec.runs_of("bad-1").is_empty(), "the handler never saw the malformed entry");
    w.stop();
}

#[tokio::test]
async fn a_job_past_job_timeout_is_cancelled_and_retried_then_dead_lettered_with_the_reason() {
    let (url, queue, producer) = setup("jobtimeout").await;
    let rec = Recorder::default();
    // Handler runs that ended, by how: "returned" or "cancelled" (dropped before returning).
    let ends = std::sync::Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    struct End(std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>, bool);
    impl Drop for End {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(if self.1 { "returned" } else { "cancelled" });
        }
    }
    let (r, e) = (rec.clone(), ends.clone());
    let config = homing_worker::WorkerConfig {
        job_timeout: Duration::from_millis(200),
        ..config_with(&url, &queue, "a", fast_backoff(2))
    };
    let w = TestWorker::start(config, move |job: Job| {
        r.record("a", &job);
        let end = End(e.clone(), false);
        async move {
            let mut end = end;
            tokio::time::sleep(Duration::from_secs(10)).await;
            end.1 = true;
            Ok::<_, HandlerError>(())
        }
    });
    let receipt = producer.push("s", "x").await.unwrap();
    let dead = wait_dead_letters(&url, producer.keys(), 1).await;
    assert_eq!(
        (dead[0]["id"].as_str(), dead[0]["reason"].as_str(), dead[0]["error"].as_str(), dead[0]["a"].as_str()),
        (receipt.id.as_str(), "max_attempts", "job_timeout of 200ms passed; the handler was cancelled", "1")
    );
    let runs = rec.runs_of(receipt.id.as_str());
    assert_eq!(runs.iter().map(|r| r.attempt).collect::<Vec<_>>(), [0, 1], "retried once, then dead");
    assert!(runs[1].at - runs[0].at >= Duration::from_millis(200), "the first run was given its job_timeout");
    wait_for("both runs to be dropped", Duration::from_secs(5), || {
        let ends = ends.lock().unwrap().clone();
        async move { (ends.len() == 2).then_some(()) }
    })
    .await;
    assert_eq!(*ends.lock().unwrap(), ["cancelled", "cancelled"]);
    w.stop();
}

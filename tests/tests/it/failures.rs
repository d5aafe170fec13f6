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

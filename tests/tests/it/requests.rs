//! Request/reply: a producer waits for a job's output or its failure.

use crate::{config, config_with, setup};
use homing_client::Error;
use homing_core::QueueSettings;
use homing_tests::{conn, wait_for, TestWorker};
use homing_worker::{HandlerError, Job};
use redis::AsyncCommands;
use std::time::Duration;

async fn shout(job: Job) -> Result<Vec<u8>, HandlerError> {
    match job.payload.as_slice() {
        b"bad" => Err(HandlerError::fatal("bad input")),
        b"slow" => {
            tokio::time::sleep(Duration::from_millis(800)).await;
            Ok(b"SLOW".to_vec())
        }
        p => Ok(p.to_ascii_uppercase()),
    }
}

#[tokio::test]
async fn a_request_returns_the_handlers_output_and_consumes_the_reply() {
    let (url, queue, producer) = setup("req").await;
    let w = TestWorker::start(config(&url, &queue, "a"), shout);
    let (a, b) = tokio::join!(
        producer.request_raw_with("s1", b"hello", Default::default(), Duration::from_secs(10)),
        producer.request_raw_with("s2", b"world", Default::default(), Duration::from_secs(10)),
    );
    assert_eq!(a.unwrap(), b"HELLO");
    assert_eq!(b.unwrap(), b"WORLD");
    let typed = producer.request("s1", "x", Duration::from_secs(10)).await.unwrap();
    assert_eq!(rmp_serde::from_slice::<String>(&typed).unwrap(), "X", "a typed payload's bytes came back");
    // The reader deletes what it delivered, so the reply stream does not grow.
    let mut c = conn(&url).await;
    let pattern = format!("{}*", producer.keys().reply(""));
    let left: Vec<String> = c.keys(&pattern).await.unwrap();
    for key in left {
        let n: u64 = c.xlen(&key).await.unwrap();
        assert_eq!(n, 0, "{key} holds delivered replies");
        let ttl: i64 = c.pttl(&key).await.unwrap();
        assert!(ttl > 0 && ttl <= 3_600_000, "the reply stream expires, pttl {ttl}");
    }
    w.stop();
}

#[tokio::test]
async fn a_dead_lettered_request_returns_the_reason_and_error() {
    let settings = QueueSettings { max_attempts: 1, ..Default::default() };
    let (url, queue, producer) = setup("reqdead").await;
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), shout);
    let err = producer.request_raw_with("s", b"bad", Default::default(), Duration::from_secs(10)).await.unwrap_err();
    match err {
        Error::JobFailed { error, .. } => assert_eq!(error, "fatal: bad input"),
        other => panic!("expected JobFailed, got {other:?}"),
    }
    w.stop();
}

#[tokio::test]
async fn a_request_timeout_is_an_error_while_the_job_still_runs() {
    let (url, queue, producer) = setup("reqtimeout").await;
    let w = TestWorker::start(config(&url, &queue, "a"), shout);
    let err =
        producer.request_raw_with("s", b"slow", Default::default(), Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(err, Error::RequestTimeout { .. }), "{err:?}");
    assert!(!err.is_retryable(), "pushing again would run the job twice");
    // The job was not cancelled: it completes, and its (unwanted) reply is discarded.
    let key = format!("{}*", producer.keys().reply(""));
    wait_for("the slow job to complete", Duration::from_secs(10), || {
        let (url, key) = (url.clone(), key.clone());
        async move {
            let mut c = conn(&url).await;
            let keys: Vec<String> = c.keys(&key).await.unwrap();
            (!keys.is_empty()).then_some(())
        }
    })
    .await;
    let after = producer.request_raw_with("s", b"next", Default::default(), Duration::from_secs(10)).await.unwrap();
    assert_eq!(after, b"NEXT");
    w.stop();
}

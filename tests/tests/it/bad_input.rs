//! Bad input gets a typed error whose message says what to fix; scripts refuse it too, for
//! producers in other languages.

use crate::{config_with, setup};
use homing_client::{Error, Producer};
use homing_core::scripts::{self, PushArgs};
use homing_core::{JobId, QueueSettings};
use homing_tests::{conn, fresh_queue, redis_url, TestWorker};
use redis::AsyncCommands;
use std::time::Duration;

#[tokio::test]
async fn invalid_queue_names_are_refused_with_the_rule() {
    let err = Producer::connect(&redis_url(), "no spaces").await.unwrap_err();
    assert!(err.is_bad_input());
    assert_eq!(err.to_string(), "invalid queue name \"no spaces\": may hold only A-Z a-z 0-9 _ . - but has ' '");
}

#[tokio::test]
async fn sessions_outside_1_to_256_bytes_are_refused() {
    let (url, queue, producer) = setup("session").await;
    let _w = TestWorker::start(config_with(&url, &queue, "a", QueueSettings::default()), |_job| async {
        Ok::<_, homing_worker::HandlerError>(())
    });
    let err = producer.push("", "x").await.unwrap_err();
    assert!(matches!(err, Error::InvalidSession { len: 0 }));
    assert!(err.to_string().contains("must be 1-256 bytes, got 0"));
    let long = "s".repeat(257);
    assert!(matches!(producer.push(&long, "x").await.unwrap_err(), Error::InvalidSession { len: 257 }));
    assert!(producer.push(&"s".repeat(256), "x").await.is_ok());
}

#[tokio::test]
async fn payloads_over_the_limit_are_refused_locally_and_by_the_script() {
    let (url, queue, producer) = setup("payload").await;
    let settings = QueueSettings { max_payload: 1024, ..Default::default() };
    let _w = TestWorker::start(config_with(&url, &queue, "a", settings), |_job| async {
        Ok::<_, homing_worker::HandlerError>(())
    });
    let err = producer.push_raw("s", &[0u8; 1025]).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { size: 1025, max: 1024 }), "{err}");
    assert!(err.to_string().contains("store large data elsewhere"));
    assert!(producer.push_raw("s", &[0u8; 1024]).await.is_ok());

    // A producer that skips the Rust checks meets the script's.
    let mut c = conn(&url).await;
    let id = JobId::new();
    let args = |session, payload| PushArgs {
        id: &id,
        session,
        payload,
        delay: Duration::ZERO,
        key: None,
        key_ttl: Duration::from_secs(1),
        reply_to: None,
        max_attempts: None,
    };
    let err = scripts::push(&mut c, producer.keys(), &args("s", &[0u8; 2000])).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: payload is 2000 bytes, over the queue max_payload of 1024");
    let err = scripts::push(&mut c, producer.keys(), &args("", b"x")).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: session must be 1-256 bytes, got 0");
}

#[tokio::test]
async fn push_refuses_a_delay_or_key_ttl_that_is_not_a_whole_number_as_sent_by_any_client() {
    // Other languages call the push script with raw strings: each number argument is decimal
    // digits, and key_ttl_ms matters (and is checked) only with an idempotency key.
    let url = redis_url();
    let keys = homing_core::Keys::new("homing", &homing_core::QueueName::new(fresh_queue("rawpush")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    let source = scripts::all().iter().find(|s| s.name == "push").unwrap().source;
    let mut n = 0;
    let mut push = |delay: &'static str, key: &'static str, key_ttl: &'static str| {
        n += 1;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(source).arg(1).arg(keys.meta()).arg(format!("raw{n}")).arg("s").arg("x");
        cmd.arg(delay).arg(key).arg(key_ttl).arg("").arg("0");
        cmd
    };
    let refused = |r: redis::RedisResult<Vec<String>>| r.unwrap_err().to_string();
    let delay = "\"HOMING_BAD_ARG\": delay_ms must be a whole number >= 0";
    for bad in ["", "x", "1.5", "-1", " 1"] {
        assert_eq!(refused(push(bad, "", "1000").query_async(&mut c).await), delay, "delay {bad:?}");
    }
    let ttl = "\"HOMING_BAD_ARG\": key_ttl_ms must be a whole number >= 1 with an idempotency key";
    for bad in ["0", "x", "1.5", ""] {
        assert_eq!(refused(push("0", "k", bad).query_async(&mut c).await), ttl, "key_ttl {bad:?}");
    }
    let queued: u64 = c.xlen(keys.overflow()).await.unwrap();
    assert_eq!(queued, 0, "nothing refused was queued");
    // Without a key, key_ttl_ms is unused; a delay of 0 runs now, 10 later.
    let now: Vec<String> = push("0", "", "x").query_async(&mut c).await.unwrap();
    assert_eq!(now[1], "new");
    let later: Vec<String> = push("10", "k2", "5000").query_async(&mut c).await.unwrap();
    assert_eq!(later[1], "delayed");
    let queued: u64 = c.xlen(keys.overflow()).await.unwrap();
    let delayed: u64 = c.zcard(keys.delayed()).await.unwrap();
    assert_eq!((queued, delayed), (1, 1));
}

#[tokio::test]
async fn a_queue_without_settings_and_a_protocol_mismatch_are_explained() {
    let url = redis_url();
    let queue = fresh_queue("noqueue");
    let producer = Producer::connect(&url, &queue).await.unwrap();
    let err = producer.push("s", "x").await.unwrap_err();
    assert!(matches!(err, Error::QueueNotInitialised(_)));
    assert!(err.is_retryable());
    assert!(err.to_string().contains("start a worker or run `homing queue init` first"), "{err}");

    let _: () = conn(&url).await.hset(producer.keys().meta(), "version", "99").await.unwrap();
    let err = Producer::connect(&url, &queue).await.unwrap_err();
    assert!(matches!(err, Error::ProtocolMismatch(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "protocol mismatch: queue speaks protocol 99, this build speaks 1: upgrade the older side"
    );
    let err = producer.push("s", "x").await.unwrap_err();
    assert!(matches!(err, Error::ProtocolMismatch(_)), "{err}");
    let err = homing_worker::Worker::new(crate::config(&url, &queue, "a"), |_job| async {
        Ok::<_, homing_worker::HandlerError>(())
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("queue speaks protocol 99"), "{err}");
}

#[tokio::test]
async fn batch_limits_out_of_range_are_refused_before_any_write() {
    let url = redis_url();
    let queue = homing_core::QueueName::new(fresh_queue("limit")).unwrap();
    let keys = homing_core::Keys::with_default_prefix(&queue);
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    let err = scripts::promote(&mut c, &keys, 0).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: limit must be a whole number 1-10000, got 0");
    let err = scripts::reclaim(&mut c, &keys, &[keys.overflow()], 10_001).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid argument: limit must be a whole number 1-10000, got 10001");
    let err = scripts::replay(&mut c, &keys, "1-1").await.unwrap_err();
    assert!(matches!(err, homing_core::Error::NotFound(_)), "{err}");
}

#[tokio::test]
async fn a_malformed_delayed_member_is_dead_lettered_and_the_pass_goes_on() {
    let url = redis_url();
    let queue = homing_core::QueueName::new(fresh_queue("baddelayed")).unwrap();
    let keys = homing_core::Keys::with_default_prefix(&queue);
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    // Written by something other than Homing: not MessagePack, and a map without a session.
    let good = rmp_serde::to_vec_named(&serde_json::json!({"id": "good", "s": "s", "p": "x", "a": 0, "t": 1})).unwrap();
    let no_session = rmp_serde::to_vec_named(&serde_json::json!({"id": "nos", "p": "x"})).unwrap();
    for member in [b"\xc1 not msgpack".to_vec(), no_session, good] {
        let _: i64 = c.zadd(keys.delayed(), member, 1).await.unwrap();
    }
    assert_eq!(scripts::promote(&mut c, &keys, 10).await.unwrap(), 3);
    let dead = homing_tests::dead_letters(&url, &keys).await;
    assert_eq!(dead.len(), 2);
    for d in &dead {
        assert_eq!(
            (d["reason"].as_str(), d["error"].as_str()),
            ("malformed", "delayed member is not a MessagePack map with id, s and p")
        );
    }
    assert!(dead.iter().any(|d| d["member"] == "\u{fffd} not msgpack"), "the raw member is kept: {dead:?}");
    let routed: redis::streams::StreamRangeReply = c.xrange_all(keys.overflow()).await.unwrap();
    assert_eq!(routed.ids.len(), 1);
    assert_eq!(routed.ids[0].get::<String>("id").as_deref(), Some("good"));
    let left: u64 = c.zcard(keys.delayed()).await.unwrap();
    assert_eq!(left, 0);
}

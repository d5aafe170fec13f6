//! Least-privilege ACL users, exactly as `docs/redis-acl.txt` (linked from the README) defines
//! them, on a private redis-server: the producer user pushes and `LPUSH`es but cannot read the
//! job streams; the worker user runs a worker through every path (heartbeat, fetch, complete,
//! retry, promote, ingress, lease renewal, reclaim, steal, reap, hand-back) with no denial in
//! `ACL LOG`; a wrong password is one clear line.

use crate::cli::{run, text};
use crate::config;
use homing_client::{Producer, ProducerOptions, PushOptions};
use homing_core::Route;
use homing_tests::{conn, fresh_queue, homing_bin, wait_for, Deliveries, RedisServer, TestWorker};
use homing_worker::{HandlerError, Job, QueueSettings, WorkerConfig};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WORKER_PASSWORD: &str = "worker-secret";
const PRODUCER_PASSWORD: &str = "producer-secret";

/// The documented rules for `queue` under the default prefix, each line split into the
/// arguments `redis-cli` would send (a double-quoted selector is one argument).
fn documented_rules(queue: &str) -> Vec<Vec<String>> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/redis-acl.txt");
    let text = std::fs::read_to_string(file).expect("docs/redis-acl.txt");
    let text = text
        .replace("<prefix>", homing_core::keys::DEFAULT_PREFIX)
        .replace("<queue>", queue)
        .replace("<worker-password>", WORKER_PASSWORD)
        .replace("<producer-password>", PRODUCER_PASSWORD);
    let lines: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut args = Vec::new();
            let mut rest = l.trim();
            while !rest.is_empty() {
                let (arg, tail) = match rest.strip_prefix('"') {
                    Some(q) => q.split_once('"').expect("a closing quote"),
                    None => rest.split_once(' ').unwrap_or((rest, "")),
                };
                args.push(arg.to_string());
                rest = tail.trim_start();
            }
            args
        })
        .collect();
    assert_eq!(lines.len(), 2, "docs/redis-acl.txt holds the worker's and the producer's rules");
    lines
}

/// A private server with the two users of `queue` set up by the default (admin) user.
async fn server_with_users(queue: &str) -> (RedisServer, String) {
    let server = RedisServer::start(&[]);
    let url = server.url();
    let mut admin = conn(&url).await;
    for args in documented_rules(queue) {
        let _: () = redis::cmd(&args[0]).arg(&args[1..]).query_async(&mut admin).await.unwrap();
    }
    (server, url)
}

fn as_worker(url: &str, queue: &str, name: &str) -> WorkerConfig {
    config(url, queue, name).redis_username("homing-worker").redis_password(WORKER_PASSWORD)
}

fn producer_options() -> ProducerOptions {
    ProducerOptions::default().redis_username("homing-producer").redis_password(PRODUCER_PASSWORD)
}

/// A plain connection as `user`.
async fn conn_as(url: &str, user: &str, password: &str) -> redis::aio::MultiplexedConnection {
    let target = homing_core::RedisTarget::new(url).username(user).password(password);
    target.client().unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// The ACL denials Redis logged (each entry's reason, command and key).
async fn acl_log(url: &str) -> Vec<String> {
    let entries: Vec<Vec<redis::Value>> = redis::cmd("ACL").arg("LOG").query_async(&mut conn(url).await).await.unwrap();
    entries.iter().map(|e| format!("{e:?}")).collect()
}

fn assert_noperm<T: std::fmt::Debug>(r: redis::RedisResult<T>, command: &str) {
    let e = r.expect_err(&format!("{command} must be refused"));
    assert_eq!(e.code(), Some("NOPERM"), "{command}: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_user_pushes_and_lpushes_but_cannot_read_the_streams() {
    let queue = fresh_queue("aclprod");
    let (_server, url) = server_with_users(&queue).await;
    let seen = Deliveries::default();
    let worker = TestWorker::start(as_worker(&url, &queue, "w"), seen.handler());

    let producer = Producer::connect_with(&url, &queue, producer_options()).await.unwrap();
    let receipt = producer.push_raw("s1", b"by script").await.unwrap();
    assert_eq!(receipt.route, Route::New);
    let keyed = producer.push_raw_with("s2", b"keyed", PushOptions::default().key("k1")).await.unwrap();
    let again = producer.push_raw_with("s2", b"keyed", PushOptions::default().key("k1")).await.unwrap();
    assert_eq!((again.id, again.route), (keyed.id, Route::Duplicate));
    let late = producer.push_raw_with("s3", b"later", PushOptions::default().delay(Duration::from_millis(50))).await;
    assert_eq!(late.unwrap().route, Route::Delayed);
    // Request/reply reads only the producer's own reply stream (the rules' selector).
    let reply = producer.request_raw_with("s4", b"ask", PushOptions::default(), Duration::from_secs(10)).await;
    assert_eq!(reply.unwrap(), Vec::<u8>::new());

    let keys = producer.keys().clone();
    let mut c = conn_as(&url, "homing-producer", PRODUCER_PASSWORD).await;
    let envelope = serde_json::json!({"session": "s5", "payload": "by lpush"}).to_string();
    let _: i64 = redis::cmd("LPUSH").arg(keys.ingress()).arg(&envelope).query_async(&mut c).await.unwrap();
    let jobs = seen.wait(5).await;
    let mut payloads: Vec<&[u8]> = jobs.values().map(|j| j.payload.as_slice()).collect();
    payloads.sort();
    assert_eq!(payloads, [&b"ask"[..], b"by lpush", b"by script", b"keyed", b"later"]);

    // The streams cannot be read: not directly, not from a script (Redis checks each command
    // a script calls against the caller), and no key outside the queue.
    let overflow = keys.overflow();
    let other = homing_core::Keys::new(homing_core::keys::DEFAULT_PREFIX, &"other".parse().unwrap()).unwrap().ingress();
    let refused: [(&str, Vec<&str>); 5] = [
        ("XRANGE", vec!["XRANGE", &overflow, "-", "+"]),
        ("XREADGROUP", vec!["XREADGROUP", "GROUP", "homing", "spy", "STREAMS", &overflow, ">"]),
        ("XREAD of the overflow", vec!["XREAD", "STREAMS", &overflow, "0"]),
        ("EVAL", vec!["EVAL", "return 1", "0"]),
        ("LPUSH to another queue", vec!["LPUSH", &other, "x"]),
    ];
    for (what, args) in refused {
        assert_noperm(redis::cmd(args[0]).arg(&args[1..]).query_async::<redis::Value>(&mut c).await, what);
    }
    let spy = redis::Script::new("return redis.call('XRANGE', KEYS[1], '-', '+')");
    let e = spy.key(&overflow).invoke_async::<redis::Value>(&mut c).await.expect_err("XRANGE inside a script");
    // An ACL refusal, worded by Redis 7.0 as the first, by Redis 8 and Valkey as the second.
    let refused =
        ["The user executing the script can't run this command", "ACL failure in script: User homing-producer"];
    assert!(refused.iter().any(|r| e.to_string().contains(r)), "{e}");
    worker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_user_runs_every_worker_path_without_a_denial() {
    let queue = fresh_queue("aclwork");
    let (_server, url) = server_with_users(&queue).await;
    // Short timings, so reclaim, steal and lease renewal all run within the test; two
    // partitions, so the rules' second key pattern (`{<queue>#*}`) is what lets partition 1 run.
    let settings = QueueSettings {
        visibility_timeout: Duration::from_millis(600),
        max_wait: Duration::from_millis(50),
        partitions: 2,
        ..Default::default()
    };
    let done = Arc::new(AtomicU32::new(0));
    let retried = Arc::new(AtomicU32::new(0));
    let handler = {
        let (done, retried) = (done.clone(), retried.clone());
        move |job: Job| {
            // The first run of "retry" fails, so fail, the delayed set and promote run too;
            // "slow" outlasts visibility_timeout, so its lease is renewed (XCLAIM) meanwhile.
            let fail = job.payload == b"retry" && retried.fetch_add(1, Ordering::Relaxed) == 0;
            let slow = job.payload == b"slow";
            let done = done.clone();
            async move {
                if slow {
                    tokio::time::sleep(Duration::from_millis(900)).await;
                }
                if fail {
                    return Err(HandlerError::retry("once"));
                }
                done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    };
    let first = WorkerConfig { queue_settings: settings.clone(), ..as_worker(&url, &queue, "first") };
    let worker = TestWorker::start(first, handler);
    // A second worker that crashes: the first reaps it (maintenance under the lease).
    let doomed_cfg = WorkerConfig { queue_settings: settings.clone(), ..as_worker(&url, &queue, "doomed") };
    let doomed = TestWorker::start(doomed_cfg, Deliveries::default().handler());
    let doomed_id = doomed.id.clone();
    doomed.crash();

    let producer = Producer::connect_with(&url, &queue, producer_options()).await.unwrap();
    assert_eq!(producer.partitions(), 2);
    let parts: Vec<u32> = ["s1", "s2", "s3", "s4"].iter().map(|s| homing_core::partition_of(s, 2)).collect();
    assert!(parts.contains(&0) && parts.contains(&1), "the sessions use both partitions: {parts:?}");
    producer.push_raw("s1", b"one").await.unwrap();
    let wait_done = |n: u32| {
        let done = done.clone();
        wait_for("jobs done", Duration::from_secs(15), move || {
            let got = done.load(Ordering::Relaxed);
            async move { (got >= n).then_some(()) }
        })
    };
    // The handler counts before `complete` stamps the owner: wait for the pin itself.
    let pin = producer.keys_for("s1").pin("s1");
    let admin = conn(&url).await;
    wait_for("s1 to be pinned", Duration::from_secs(10), || {
        let (mut admin, pin) = (admin.clone(), pin.clone());
        async move { redis::cmd("GET").arg(pin).query_async::<Option<String>>(&mut admin).await.ok().flatten() }
    })
    .await;
    // The owner's inbox: listed in the waiting index, which steal then looks at.
    assert_eq!(producer.push_raw("s1", b"two").await.unwrap().route, Route::Hit);
    producer.push_raw("s2", b"retry").await.unwrap();
    producer.push_raw("s4", b"slow").await.unwrap();
    let mut c = conn_as(&url, "homing-producer", PRODUCER_PASSWORD).await;
    let envelope = serde_json::json!({"session": "s3", "payload": "by lpush"}).to_string();
    let _: i64 = redis::cmd("LPUSH").arg(producer.keys().ingress()).arg(&envelope).query_async(&mut c).await.unwrap();
    let _: i64 =
        redis::cmd("LPUSH").arg(producer.keys_for("s3").ingress()).arg(&envelope).query_async(&mut c).await.unwrap();
    wait_done(6).await;
    assert_eq!(retried.load(Ordering::Relaxed), 2, "the retried job ran twice");

    let keys = producer.keys().clone();
    let mut admin = admin;
    wait_for("the crashed worker to be reaped", Duration::from_secs(10), || {
        let (mut admin, workers, id) = (admin.clone(), keys.workers(), doomed_id.to_string());
        async move {
            let score: Option<f64> = redis::cmd("ZSCORE").arg(workers).arg(id).query_async(&mut admin).await.ok()?;
            score.is_none().then_some(())
        }
    })
    .await;
    // Past visibility_timeout / 2 the holder has run reclaim over every stream at least once.
    tokio::time::sleep(Duration::from_millis(700)).await;

    // The operator's view with the worker user: `homing status` reads every count.
    let mut status = tokio::process::Command::new(homing_bin());
    status.env("REDIS_URL", &url).env("HOMING_QUEUE", &queue).env_remove("RUST_LOG").kill_on_drop(true);
    status.env("HOMING_REDIS_USERNAME", "homing-worker").env("HOMING_REDIS_PASSWORD", WORKER_PASSWORD);
    status.args(["status", "--json"]);
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    worker.stop();
    let _: () = redis::cmd("PING").query_async(&mut admin).await.unwrap();
    assert_eq!(acl_log(&url).await, Vec::<String>::new(), "no command of the worker or producer was denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_with_one_clear_line() {
    let queue = fresh_queue("aclpass");
    let (_server, url) = server_with_users(&queue).await;
    let expected = format!(
        "Redis at {url} refused the user or password (WRONGPASS); check --redis-username and --redis-password or the URL's user:password"
    );
    let options = ProducerOptions::default().redis_username("homing-producer").redis_password("wrong");
    let e = Producer::connect_with(&url, &queue, options).await.unwrap_err();
    assert_eq!(e.to_string(), expected);

    let config = as_worker(&url, &queue, "w").redis_password("wrong");
    let e = homing_worker::Worker::new(config, Deliveries::default().handler()).await.unwrap_err();
    assert_eq!(e.to_string(), expected);

    let mut push = tokio::process::Command::new(homing_bin());
    push.env("REDIS_URL", &url).env("HOMING_QUEUE", &queue).env_remove("RUST_LOG").kill_on_drop(true);
    push.env("HOMING_REDIS_USERNAME", "homing-producer").env("HOMING_REDIS_PASSWORD", "wrong");
    push.args(["push", "s", "x"]);
    let out = run(push, None).await;
    assert!(!out.status.success());
    assert_eq!(text(&out.stderr), format!("error: {expected}\n"));
}

//! Every program in `examples/` run as a user runs it, against the test Redis: the typed worker
//! serving the typed producer and request/reply, the HTTP app behind `homing worker http`, and
//! (integrations lane) the Python and Node producers LPUSHing to the typed worker.

use crate::cli::{homing, run, text};
use homing_core::{Keys, QueueName};
use homing_tests::{conn, fresh_queue, redis_url, wait_for};
use redis::AsyncCommands;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

/// The path of example `name`, all of them built once per run with the tests' cargo and profile.
fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let status =
            homing_tests::bin::cargo_build(&["-p", "homing-examples", "--examples"]).status().expect("cargo runs");
        assert!(status.success(), "building the examples failed");
        homing_tests::bin::target_dir().join("examples")
    });
    dir.join(name)
}

fn command(name: &str, url: &str, queue: &str) -> Command {
    let mut c = Command::new(example(name));
    c.env("REDIS_URL", url).env("HOMING_QUEUE", queue).kill_on_drop(true);
    c
}

/// Starts the typed worker example, waits until it registered, and returns it (stdout piped).
async fn typed_worker(url: &str, queue: &str) -> Child {
    let child = command("worker", url, queue).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let keys = Keys::with_default_prefix(&QueueName::new(queue).unwrap());
    wait_for("the example worker to register", Duration::from_secs(30), || async {
        let n: u64 = conn(url).await.zcard(keys.workers()).await.unwrap();
        (n > 0).then_some(())
    })
    .await;
    child
}

/// SIGTERM to the typed worker: it drains and exits 0; returns what it printed.
async fn stop(mut worker: Child) -> String {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(worker.id().unwrap().to_string()).status();
    let mut out = String::new();
    worker.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), worker.wait()).await.unwrap().unwrap();
    assert!(status.success(), "the example worker exited with {status}");
    out
}

/// Waits until the typed worker has printed `n` job lines.
async fn printed_lines(worker: &mut Child, n: usize) -> String {
    let stdout = worker.stdout.as_mut().unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while text(&seen).lines().count() < n {
        assert!(std::time::Instant::now() < deadline, "the worker printed only:\n{}", text(&seen));
        let mut buf = [0u8; 4096];
        if let Ok(Ok(read)) = tokio::time::timeout(Duration::from_millis(100), stdout.read(&mut buf)).await {
            seen.extend_from_slice(&buf[..read]);
        }
    }
    text(&seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_worker_serves_the_typed_producer_and_request_reply() {
    let url = redis_url();
    let queue = fresh_queue("ex-typed");
    let mut worker = typed_worker(&url, &queue).await;

    let out = command("producer", &url, &queue).output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pushed = text(&out.stdout);
    let lines: Vec<Vec<&str>> = pushed.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 6, "{pushed}");
    // One worker: each conversation's first turn is new, its second goes home (`hit`).
    let routes: Vec<(&str, &str)> = lines.iter().map(|l| (l[1], l[2])).collect();
    assert_eq!(
        routes,
        [("alice", "new"), ("bob", "new"), ("carol", "new"), ("alice", "hit"), ("bob", "hit"), ("carol", "hit")],
        "{pushed}"
    );
    let served = printed_lines(&mut worker, 6).await;
    for conversation in ["alice", "bob", "carol"] {
        assert!(served.contains(&format!("{conversation} turn 2: hello 2 from {conversation}")), "{served}");
    }

    let out = command("request_reply", &url, &queue).output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replies = text(&out.stdout);
    assert!(
        replies.starts_with("dave turn 1: you said \"what is Homing?\"\ndave turn 2: you said \"and why?\"\n"),
        "{replies}"
    );
    assert!(
        replies.contains("you said \"hi from erin\"") && replies.contains("you said \"hi from frank\""),
        "{replies}"
    );
    assert!(replies.ends_with("dead-lettered: fatal: cannot decode payload from MessagePack: invalid type: string \"not a turn\", expected struct Turn\n"), "{replies}");
    stop(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_app_serves_jobs_through_homing_worker_http() {
    let url = redis_url();
    let queue = fresh_queue("ex-http");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let mut app = command("http_app", &url, &queue).arg("127.0.0.1:0").stdout(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(30), app.stdout.as_mut().unwrap().read(&mut first))
        .await
        .expect("the app says where it listens")
        .unwrap();
    let listening = text(&first[..n]);
    let app_url = listening.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{listening}")).to_string();

    let mut worker = homing(&url, &queue);
    worker.args(["worker", "--name", "sidecar", "--max-attempts", "1", "http", "--url", &app_url]);
    let _worker = worker.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for("the sidecar to register", Duration::from_secs(30), || async {
        let n: u64 = conn(&url).await.zcard(keys.workers()).await.unwrap();
        (n > 0).then_some(())
    })
    .await;
    for (payload, answer) in [("hello", "alice turn 1: HELLO"), ("again", "alice turn 2: AGAIN")] {
        let mut push = homing(&url, &queue);
        push.args(["push", "alice", payload, "--wait", "10s"]);
        let out = run(push, None).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), answer);
    }
    // An empty payload: the app answers 400, so the job is dead-lettered at once.
    let mut push = homing(&url, &queue);
    push.args(["push", "alice", "--wait", "10s"]);
    let out = run(push, Some(b"")).await;
    assert!(text(&out.stderr).contains("failed: fatal: HTTP 400: empty payload"), "{}", text(&out.stderr));
}

#[cfg(feature = "integrations")]
mod other_languages {
    //! The Python and Node producers of `examples/`, run with the lane's interpreters.

    use super::{printed_lines, stop, typed_worker};
    use homing_core::scripts::{init_partitions, InitMode};
    use homing_core::{partition_of, Keys, QueueName};
    use homing_tests::{conn, fresh_queue, redis_url, wait_for};
    use redis::AsyncCommands;
    use std::time::Duration;

    /// On a queue of three partitions, so the producer must compute each session's partition
    /// as the Rust producer does: a session's job runs (and pins it) only in its own partition.
    async fn lpushes_to_the_typed_worker(program: &str, script: &str, label: &str) {
        let url = redis_url();
        let queue = fresh_queue(label);
        let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
        let settings = homing_core::QueueSettings { partitions: 3, ..Default::default() };
        let mut c = conn(&url).await;
        init_partitions(&mut c, &keys, InitMode::Create, &settings).await.unwrap();
        let mut worker = typed_worker(&url, &queue).await;
        let path = format!("{}/../examples/{script}", env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new(program).arg(&path).arg(&url).arg(&queue).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let served = printed_lines(&mut worker, 3).await;
        for n in 0..3 {
            assert!(
                served.contains(&format!("-{n} ")) && served.contains(&format!("turn 1: hello from {label} {n}")),
                "{served}"
            );
        }
        let prefix = if label == "python" { "py" } else { "js" };
        let mut used = std::collections::HashSet::new();
        for name in ["alice", "bob", "carol"] {
            let session = format!("{prefix}-{name}");
            let home = partition_of(&session, 3);
            used.insert(home);
            let pin = wait_for("the pin", Duration::from_secs(10), || {
                let (mut c, key) = (c.clone(), keys.partition(home).pin(&session));
                async move { c.get::<_, Option<String>>(key).await.unwrap() }
            })
            .await;
            assert!(!pin.is_empty(), "{session} pinned in partition {home}");
        }
        assert!(used.len() > 1, "the three sessions use more than one partition: {used:?}");
        stop(worker).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_python_producer_lpushes_turns_the_typed_worker_serves() {
        lpushes_to_the_typed_worker(&crate::integrations::python(), "python/producer.py", "python").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_node_producer_lpushes_turns_the_typed_worker_serves() {
        lpushes_to_the_typed_worker(&crate::integrations::node(), "node/producer.js", "node").await;
    }
}

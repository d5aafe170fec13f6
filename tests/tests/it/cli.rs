//! The `homing` binary as a user runs it: a real worker process, pushes, SIGTERM, bad input.

use homing_core::{Keys, QueueName};
use homing_tests::{conn, fresh_queue, homing_bin, redis_url, wait_for};
use redis::AsyncCommands;
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub(crate) fn homing(url: &str, queue: &str) -> Command {
    let mut c = Command::new(homing_bin());
    c.env("REDIS_URL", url).env("HOMING_QUEUE", queue).env_remove("RUST_LOG").kill_on_drop(true);
    c
}

pub(crate) async fn run(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("homing starts");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(data).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.expect("homing exits").unwrap()
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_serves_pushes_and_leaves_on_sigterm() {
    let url = redis_url();
    let queue = fresh_queue("cli");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    // Echoes its payload; `sleep:<s>` sleeps first; `fatal:<text>` exits 65 with the text.
    let script = r#"p=$(cat); case "$p" in fatal:*) printf '%s' "${p#fatal:}" >&2; exit 65;; sleep:*) sleep "${p#sleep:}";; esac; printf '%s' "$p""#;
    let mut worker = homing(&url, &queue);
    worker
        .args(["worker", "--name", "cli-w", "--heartbeat-interval", "100ms", "--liveness-ttl", "500ms"])
        .args(["--idle-block", "200ms", "exec", "--", "sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = worker.spawn().unwrap();
    let workers = keys.workers();
    let id: String = wait_for("the worker to register", Duration::from_secs(30), || async {
        let ids: Vec<String> = conn(&url).await.zrange(&workers, 0, -1).await.unwrap();
        ids.into_iter().next()
    })
    .await;
    assert!(id.starts_with("cli-w-"), "{id}");

    let mut push = homing(&url, &queue);
    push.args(["push", "s1", "hello"]);
    let out = run(push, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let (job_id, route) = line.trim().split_once(' ').unwrap();
    assert_eq!((job_id.len(), route), (28, "new"), "{line}");

    let mut wait = homing(&url, &queue);
    wait.args(["push", "s1", "--wait", "10s"]);
    let out = run(wait, Some(b"from stdin")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from stdin");

    let mut fatal = homing(&url, &queue);
    fatal.args(["push", "s1", "fatal:no good", "--wait", "10s"]);
    let out = run(fatal, None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("failed: fatal: \"sh\" exited with 65: no good"), "{}", text(&out.stderr));

    // SIGTERM while a job runs: the worker drains (capacity 0, still listed), finishes the
    // job, whose result reaches the waiting producer, then leaves and exits 0.
    let producer = homing_client::Producer::connect(&url, &queue).await.unwrap();
    let busy = tokio::spawn(async move {
        producer.request_raw_with("s2", b"sleep:1.5", Default::default(), Duration::from_secs(20)).await
    });
    wait_for("the worker to start the long job", Duration::from_secs(10), || async {
        let p: redis::streams::StreamPendingReply = conn(&url).await.xpending(keys.overflow(), "homing").await.unwrap();
        (p.count() == 1).then_some(())
    })
    .await;
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let capacity = wait_for("the draining worker's capacity 0", Duration::from_secs(5), || async {
        let cap: Option<String> = conn(&url).await.hget(keys.capacity(), &id).await.unwrap();
        cap.filter(|c| c == "0")
    })
    .await;
    assert_eq!(capacity, "0");
    let listed: Vec<String> = conn(&url).await.zrange(&workers, 0, -1).await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&id), "listed while its job runs");
    assert_eq!(busy.await.unwrap().unwrap(), b"sleep:1.5", "the job in flight finished on the draining worker");
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("worker exits").unwrap();
    assert_eq!(status.code(), Some(0), "a drained worker exits 0");
    let left: u64 = conn(&url).await.zcard(&workers).await.unwrap();
    assert_eq!(left, 0, "the worker left Q:workers");
}

#[tokio::test]
async fn queue_init_writes_once_and_update_changes_only_the_given_settings() {
    let url = redis_url();
    let queue = fresh_queue("cliinit");
    let mut show = homing(&url, &queue);
    show.args(["queue", "show"]);
    let out = run(show, None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("has no settings yet: run `homing queue init`"), "{}", text(&out.stderr));

    let mut init = homing(&url, &queue);
    init.args(["queue", "init", "--max-attempts", "7"]);
    let out = run(init, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("max_attempts = 7"));

    let mut again = homing(&url, &queue);
    again.args(["queue", "init", "--max-attempts", "9"]);
    let out = run(again, None).await;
    assert!(text(&out.stdout).contains("max_attempts = 7"), "first writer wins");
    assert!(text(&out.stderr).contains("use --update"));

    let mut update = homing(&url, &queue);
    update.args(["queue", "init", "--update", "--affinity", "shadow"]);
    let out = run(update, None).await;
    let stdout = text(&out.stdout);
    assert!(stdout.contains("affinity = shadow") && stdout.contains("max_attempts = 7"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_init_creates_every_partition_and_refuses_to_change_their_number() {
    let url = redis_url();
    let queue = fresh_queue("cliparts");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let mut c = conn(&url).await;
    let mut init = homing(&url, &queue);
    init.args(["queue", "init", "--partitions", "3", "--max-attempts", "7"]);
    let out = run(init, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("partitions = 3"), "{}", text(&out.stdout));
    for k in 0..3 {
        let meta = keys.partition(k).meta();
        let (parts, attempts): (Option<String>, Option<String>) =
            redis::cmd("HMGET").arg(&meta).arg("partitions").arg("max_attempts").query_async(&mut c).await.unwrap();
        assert_eq!((parts.as_deref(), attempts.as_deref()), (Some("3"), Some("7")), "{meta}");
    }
    let fourth: bool = c.exists(keys.partition(3).meta()).await.unwrap();
    assert!(!fourth, "no partition 3");

    let mut change = homing(&url, &queue);
    change.args(["queue", "init", "--update", "--partitions", "4"]);
    let out = run(change, None).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("partitions is 3 for this queue and cannot change"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // An update of another setting reaches every partition, and keeps the partitions.
    let mut update = homing(&url, &queue);
    update.args(["queue", "init", "--update", "--max-wait", "5s"]);
    let out = run(update, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    for k in 0..3 {
        let wait: Option<String> = c.hget(keys.partition(k).meta(), "max_wait_ms").await.unwrap();
        assert_eq!(wait.as_deref(), Some("5000"), "partition {k}");
    }

    let mut status = homing(&url, &queue);
    status.args(["status"]);
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().filter(|l| l.contains("partition ")).map(String::from).collect();
    assert_eq!(lines.len(), 3, "{}", text(&out.stdout));
    assert!(lines[2].trim_start().starts_with("partition 2: overflow 0"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_forget_cover_every_partition() {
    let url = redis_url();
    let queue = fresh_queue("clideadparts");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let mut init = homing(&url, &queue);
    init.args(["queue", "init", "--partitions", "3"]);
    assert!(run(init, None).await.status.success());
    let mut c = conn(&url).await;
    let letter = |id: &'static str| {
        [
            ("reason", "fatal"),
            ("error", "bad"),
            ("failed_at", "1"),
            ("worker", "w-1"),
            ("id", id),
            ("s", "sess"),
            ("p", "x"),
            ("a", "1"),
            ("t", "1"),
        ]
    };
    let in0: String = c.xadd(keys.dead(), "*", &letter("job-0")).await.unwrap();
    let in2: String = c.xadd(keys.partition(2).dead(), "*", &letter("job-2")).await.unwrap();

    let dead = |args: &[&str]| {
        let mut cmd = homing(&url, &queue);
        cmd.arg("dead").args(args);
        run(cmd, None)
    };
    let out = dead(&["list"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names: Vec<String> =
        text(&out.stdout).lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect();
    assert_eq!(names, [in0.clone(), format!("2/{in2}")]);
    let out = dead(&["show", &format!("2/{in2}")]).await;
    assert!(text(&out.stdout).contains("id = job-2"), "{}", text(&out.stdout));
    let out = dead(&["show", &format!("5/{in2}")]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("names partition \"5\", but the queue has partitions 0 to 2"),
        "{}",
        text(&out.stderr)
    );

    // As a worker would have made it.
    homing_tests::create_groups(&mut c, &[keys.partition(2).overflow()]).await;
    let out = dead(&["replay", &format!("2/{in2}")]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("2/{in2} -> job-2 ")), "{}", text(&out.stdout));
    let queued: u64 = c.xlen(keys.partition(2).overflow()).await.unwrap();
    assert_eq!(queued, 1, "replayed into its own partition");
    let out = dead(&["purge", "--all"]).await;
    assert_eq!(text(&out.stdout).trim(), "purged 1 dead letters");
    let left: u64 = c.xlen(keys.dead()).await.unwrap();
    assert_eq!(left, 0);

    // A worker listed in partitions 0 and 2 (a dead one: its deadline long past) is forgotten in both.
    for k in [0, 2] {
        let _: () = c.zadd(keys.partition(k).workers(), "gone-1", 1).await.unwrap();
    }
    let mut forget = homing(&url, &queue);
    forget.args(["forget", "gone-1"]);
    let out = run(forget, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    for k in [0, 2] {
        let listed: Option<f64> = c.zscore(keys.partition(k).workers(), "gone-1").await.unwrap();
        assert_eq!(listed, None, "partition {k}");
    }
    let mut unknown = homing(&url, &queue);
    unknown.args(["forget", "gone-1"]);
    let out = run(unknown, None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not registered in any of queue"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn bad_input_and_unreachable_redis_fail_with_one_clear_line() {
    let url = redis_url();
    let queue = fresh_queue("clibad");
    let mut empty = homing(&url, &queue);
    empty.args(["push", "", "x"]);
    let out = run(empty, None).await;
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr).trim(),
        "error: invalid session: must be 1-256 bytes, got 0; use a shorter id such as a hash of it"
    );

    let mut bad_queue = homing(&url, "no spaces");
    bad_queue.args(["push", "s", "x"]);
    let out = run(bad_queue, None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("error: invalid queue name \"no spaces\""), "{}", text(&out.stderr));

    let mut away = homing("redis://127.0.0.1:1", &queue);
    away.args(["push", "s", "x"]);
    let out = run(away, None).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot connect to redis://127.0.0.1:1"), "{stderr}");
}

/// The README's first command, small: every later turn of a conversation with affinity on is
/// served warm by the worker that served its first turn. Run without REDIS_URL, so the demo
/// starts its own redis-server from PATH.
#[tokio::test]
async fn the_demo_sends_later_turns_home_and_compares_on_with_off() {
    let mut demo = Command::new(homing_bin());
    demo.env_remove("REDIS_URL").env_remove("RUST_LOG").kill_on_drop(true);
    demo.args(["demo", "--sessions", "2", "--turns", "4", "--cold", "5ms"]);
    let out = run(demo, None).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let on: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("affinity on:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(on.len(), 2, "{stdout}");
    for line in on {
        let turns: Vec<&str> = line.split_whitespace().skip(1).filter(|w| *w != "|").collect();
        let first = turns[0];
        assert_eq!(turns[1], "COLD", "{line}");
        for pair in turns[2..].chunks(2) {
            assert_eq!(pair, [first, "warm"], "{line}");
        }
    }
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("on ") || l.starts_with("off ")).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows[0].split_whitespace().nth(1) == Some("75%"), "3 of 4 turns warm with affinity on: {}", rows[0]);
}

#[tokio::test]
async fn status_and_dead_letters_list_replay_and_purge() {
    let url = redis_url();
    let queue = fresh_queue("clidead");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let mut init = homing(&url, &queue);
    init.args(["queue", "init"]);
    assert!(run(init, None).await.status.success());
    let mut c = conn(&url).await;
    let fields = |id: &'static str| {
        [
            ("reason", "fatal"),
            ("error", "bad input"),
            ("failed_at", "1"),
            ("worker", "w-1"),
            ("id", id),
            ("s", "sess"),
            ("p", "payload"),
            ("a", "2"),
            ("t", "1"),
        ]
    };
    let first: String = c.xadd(keys.dead(), "*", &fields("job-1")).await.unwrap();
    let _: String = c.xadd(keys.dead(), "*", &fields("job-2")).await.unwrap();
    let _: String = c
        .xadd(keys.dead(), "*", &[("reason", "malformed"), ("error", "envelope ..."), ("envelope", "x")])
        .await
        .unwrap();

    let mut status = homing(&url, &queue);
    status.args(["status", "--json"]);
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((s["dead"].as_u64(), s["overflow"].as_u64(), s["affinity"].as_str()), (Some(3), Some(0), Some("on")));
    assert_eq!(s["workers"].as_array().map(Vec::len), Some(0));

    let mut list = homing(&url, &queue);
    list.args(["dead", "list"]);
    let out = run(list, None).await;
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert_eq!(listed.lines().next().unwrap(), format!("{first}  job-1  sess  fatal  bad input"));

    let mut show = homing(&url, &queue);
    show.args(["dead", "show", &first]);
    let out = run(show, None).await;
    let shown = text(&out.stdout);
    assert!(shown.starts_with(&format!("entry {first}\n")), "{shown}");
    assert!(shown.contains("  reason = fatal\n") && shown.contains("  p = payload\n"), "{shown}");

    let mut replay = homing(&url, &queue);
    replay.args(["dead", "replay", &first]);
    let out = run(replay, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{first} -> job-1 new"));
    let r: redis::streams::StreamRangeReply = c.xrange_all(keys.overflow()).await.unwrap();
    assert_eq!(r.ids.len(), 1);
    assert_eq!((r.ids[0].get::<String>("id"), r.ids[0].get::<String>("a")), (Some("job-1".into()), Some("0".into())));

    let mut again = homing(&url, &queue);
    again.args(["dead", "replay", &first]);
    let out = run(again, None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with(&format!("error: no dead letter {first}")), "{}", text(&out.stderr));

    let mut all = homing(&url, &queue);
    all.args(["dead", "replay", "--all"]);
    let out = run(all, None).await;
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("-> job-2 new"));
    assert!(text(&out.stderr).contains("holds no job"), "the malformed letter is skipped: {}", text(&out.stderr));

    let mut purge = homing(&url, &queue);
    purge.args(["dead", "purge", "--all"]);
    let out = run(purge, None).await;
    assert_eq!(text(&out.stdout).trim(), "purged 1 dead letters");
    let n: u64 = c.xlen(keys.dead()).await.unwrap();
    assert_eq!(n, 0);
}

/// Starts `homing worker` with fast retries (2 attempts, 10 ms backoff) and `handler` args,
/// waits until it registers, and returns it with a producer on its queue.
pub(crate) async fn handler_worker(
    url: &str,
    queue: &str,
    handler: &[&str],
) -> (tokio::process::Child, homing_client::Producer) {
    let keys = Keys::with_default_prefix(&QueueName::new(queue).unwrap());
    let mut worker = homing(url, queue);
    worker
        .args(["worker", "--idle-block", "200ms", "--maintenance-interval", "20ms"])
        .args(["--max-attempts", "2", "--backoff-base", "10ms", "--backoff-max", "20ms"])
        .args(handler)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = worker.spawn().unwrap();
    let workers = keys.workers();
    wait_for("the worker to register", Duration::from_secs(30), || async {
        let n: u64 = conn(url).await.zcard(&workers).await.unwrap();
        (n == 1).then_some(())
    })
    .await;
    (child, homing_client::Producer::connect(url, queue).await.unwrap())
}

/// The dead letter's `<reason>: <error>` of a request that failed.
pub(crate) async fn failure(producer: &homing_client::Producer, payload: &[u8]) -> String {
    match producer.request_raw_with("s1", payload, Default::default(), Duration::from_secs(15)).await {
        Err(homing_client::Error::JobFailed { error, .. }) => error,
        other => panic!("expected a dead letter, got {other:?}"),
    }
}

pub(crate) async fn answer(producer: &homing_client::Producer, payload: &[u8]) -> Vec<u8> {
    producer.request_raw_with("s1", payload, Default::default(), Duration::from_secs(15)).await.unwrap()
}

#[tokio::test]
async fn the_exec_handler_pipes_the_payload_and_maps_exit_codes() {
    let url = redis_url();
    let queue = fresh_queue("cliexec");
    let script = r#"p=$(cat); case "$p" in fatal*) echo "no good" >&2; exit 65;; flaky*) echo "try again" >&2; exit 3;; esac; printf '%s|%s|%s' "$HOMING_SESSION" "$HOMING_ATTEMPT" "$p""#;
    let (_child, producer) = handler_worker(&url, &queue, &["exec", "--", "sh", "-c", script]).await;
    assert_eq!(answer(&producer, b"hello").await, b"s1|0|hello");
    assert_eq!(failure(&producer, b"fatal").await, "fatal: \"sh\" exited with 65: no good");
    assert_eq!(failure(&producer, b"flaky").await, "max_attempts: \"sh\" exited with 3: try again");
}

#[tokio::test]
async fn every_command_fails_with_one_clear_line_when_redis_is_unreachable() {
    let away = "redis://127.0.0.1:1";
    let cases: [(&[&str], &str); 6] = [
        (&["status"], "error: cannot connect to redis://127.0.0.1:1"),
        (&["dead", "list"], "error: cannot connect to redis://127.0.0.1:1"),
        (&["queue", "show"], "error: cannot connect to redis://127.0.0.1:1"),
        (&["forget", "w-1"], "error: cannot connect to redis://127.0.0.1:1"),
        (&["push", "s", "x"], "error: cannot connect to redis://127.0.0.1:1"),
        (&["worker", "echo"], "error: cannot start a worker on queue \"q\" at redis://127.0.0.1:1"),
    ];
    for (args, first) in cases {
        let mut cmd = homing(away, "q");
        cmd.args(args);
        let out = run(cmd, None).await;
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(first), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn bench_runs_every_workload_beside_the_bare_loop() {
    let mut bench = homing(&redis_url(), "unused");
    let small =
        ["--jobs", "300", "--sessions", "30", "--batch", "100", "--layouts", "2x4", "--rate", "200", "--seconds", "1"];
    bench.args(["bench", "--json"]).args(small);
    let out = run(bench, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["workload"].as_str().unwrap()).collect();
    assert_eq!(names, ["push only", "push ingress", "drain", "end to end", "e2e ingress", "paced p50", "paced p99"]);
    for r in &rows {
        for k in ["on", "off", "bare"] {
            assert!(r[k].as_f64().unwrap() > 0.0, "{k} of {r}");
        }
    }
    assert_eq!(rows[2]["layout"], serde_json::json!({"workers": 2, "concurrency": 4}));
    let mut table = homing(&redis_url(), "unused");
    table.args(["bench"]).args(small);
    let out = run(table, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("jobs 300  sessions 30  batch 100  payload 256 B  paced 200 jobs/s for 1 s"),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("end to end   2x4")), "{stdout}");
}

#[tokio::test]
async fn push_reads_a_file_and_honours_key_and_delay() {
    let url = redis_url();
    let queue = fresh_queue("clipush");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let mut init = homing(&url, &queue);
    init.args(["queue", "init"]);
    assert!(run(init, None).await.status.success());
    let file = std::env::temp_dir().join(format!("homing-payload-{}", std::process::id()));
    std::fs::write(&file, b"from a file").unwrap();
    let push = |args: &[&str]| {
        let mut cmd = homing(&url, &queue);
        cmd.arg("push").args(args);
        cmd
    };
    let path = file.to_str().unwrap();
    let first = text(&run(push(&["s", "--file", path, "--key", "k1"]), None).await.stdout);
    let (id, route) = first.trim().split_once(' ').unwrap();
    assert_eq!(route, "new");
    let again = text(&run(push(&["s", "--file", path, "--key", "k1"]), None).await.stdout);
    assert_eq!(again.trim(), format!("{id} duplicate"));
    let r: redis::streams::StreamRangeReply = conn(&url).await.xrange_all(keys.overflow()).await.unwrap();
    assert_eq!(r.ids.len(), 1);
    assert_eq!(r.ids[0].get::<Vec<u8>>("p").unwrap(), b"from a file");

    let later = text(&run(push(&["s", "later", "--delay", "1h"]), None).await.stdout);
    assert!(later.trim().ends_with(" delayed"), "{later}");
    let delayed: u64 = conn(&url).await.zcard(keys.delayed()).await.unwrap();
    assert_eq!(delayed, 1);
    let _ = std::fs::remove_file(&file);
}

/// `homing bench --scale-out` starts its own clusters (no REDIS_URL) and runs one partitioned
/// queue per row: one master with one and with three partitions, three masters with three, the
/// last spread so no master does all the Redis work.
#[tokio::test]
async fn bench_scale_out_runs_one_and_three_masters_with_their_partitions() {
    let mut bench = Command::new(homing_bin());
    bench.env_remove("REDIS_URL").env_remove("RUST_LOG").kill_on_drop(true);
    bench.args(["bench", "--scale-out", "1,3", "--jobs", "300", "--sessions", "30", "--layouts", "1x8", "--json"]);
    let out = run(bench, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let shape: Vec<(u64, u64)> =
        rows.iter().map(|r| (r["masters"].as_u64().unwrap(), r["partitions"].as_u64().unwrap())).collect();
    assert_eq!(shape, [(1, 1), (1, 3), (3, 3)]);
    for r in &rows {
        assert!(r["jobs_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert_eq!(rows[0]["busiest_master_share"].as_f64(), Some(1.0));
    assert!(rows[2]["busiest_master_share"].as_f64().unwrap() < 0.9, "three masters share the work: {}", rows[2]);
}

//! The `homing` binary's documented behaviours, each pinned by a test: the text status and
//! `--watch`, the `http` handler's headers, `--timeout` and a refused connection (against an
//! app written here in Rust), and the `exec` handler's `--fatal-exit-code` and `HOMING_JOB_ID`.

use crate::cli::{failure, handler_worker, homing, run, text};
use homing_client::PushOptions;
use homing_core::{scripts, Keys, QueueName, QueueSettings};
use homing_tests::{conn, create_groups, fresh_queue, redis_url};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn keys_of(queue: &str) -> Keys {
    Keys::with_default_prefix(&QueueName::new(queue).unwrap())
}

/// A queue with settings, one registered worker `w-1` (capacity 4), two overflow entries, one
/// delayed job and one dead letter.
async fn queue_with_state(queue: &str) -> Keys {
    let url = redis_url();
    let keys = keys_of(queue);
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "w-1", Duration::from_secs(60), 4).await.unwrap();
    create_groups(&mut c, &[keys.overflow(), keys.inbox("w-1")]).await;
    for id in ["j1", "j2"] {
        let _: String =
            c.xadd(keys.overflow(), "*", &[("id", id), ("s", "s"), ("p", "x"), ("a", "0"), ("t", "1")]).await.unwrap();
    }
    let _: i64 = c.zadd(keys.delayed(), b"member".as_slice(), 9_999_999_999_999u64).await.unwrap();
    let _: String = c.xadd(keys.dead(), "*", &[("reason", "fatal"), ("error", "e")]).await.unwrap();
    keys
}

/// Checks one text status: the header, the counts line, the worker table with `w-1`.
fn check_status_text(out: &str, queue: &str, overflow: u64) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], format!("queue {queue}  affinity on"));
    let counts: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        (counts[0], counts[1], counts[2], &counts[4..]),
        ("overflow", overflow.to_string().as_str(), "(lag", ["ms)", "delayed", "1", "dead", "1"].as_slice()),
        "{out}"
    );
    let lag: u64 = counts[3].parse().unwrap();
    assert!(lag < 60_000, "overflow lag {lag} ms: {out}");
    let header: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(header, ["worker", "capacity", "backlog", "heartbeat", "age", "deadline", "in"]);
    let row: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!((row[0], row[1], row[2], row[4], row[6]), ("w-1", "4", "0", "ms", "ms"), "{out}");
    let age: i64 = row[3].parse().unwrap();
    let deadline: i64 = row[5].parse().unwrap();
    assert!((0..60_000).contains(&age) && (0..=60_000).contains(&deadline), "{out}");
}

#[tokio::test]
async fn status_prints_the_queue_as_text_and_watch_prints_it_again_as_it_changes() {
    let url = redis_url();
    let queue = fresh_queue("clistatus");
    let keys = queue_with_state(&queue).await;
    let mut status = homing(&url, &queue);
    status.arg("status");
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    check_status_text(&text(&out.stdout), &queue, 2);

    let mut watch = homing(&url, &queue);
    watch.args(["status", "--watch", "200ms"]).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = watch.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = snapshot(&mut lines).await;
    check_status_text(&first, &queue, 2);
    let _: String = conn(&url)
        .await
        .xadd(keys.overflow(), "*", &[("id", "j3"), ("s", "s"), ("p", "x"), ("a", "0"), ("t", "1")])
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let next = snapshot(&mut lines).await;
        if next.lines().nth(1).is_some_and(|l| l.starts_with("  overflow 3 ")) {
            check_status_text(&next, &queue, 3);
            break;
        }
        check_status_text(&next, &queue, 2);
        assert!(started.elapsed() < Duration::from_secs(2), "--watch 200ms did not show the change");
    }
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let exit =
        tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("status --watch exits").unwrap();
    assert!(exit.success(), "ctrl-c ends --watch cleanly: {exit}");
}

/// The next four lines `status --watch` printed: one snapshot.
async fn snapshot(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    let mut s = String::new();
    for _ in 0..4 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap();
        s.push_str(&line.expect("status --watch keeps printing"));
        s.push('\n');
    }
    s
}

/// What the test app saw of each request: its x-homing-* headers, by job id.
type Seen = std::sync::Arc<std::sync::Mutex<HashMap<String, Vec<(String, String)>>>>;

/// A small HTTP app in Rust: a body `hang` is never answered; any other gets 200 with
/// `<job id>|<session>|<attempt>` from the request's headers.
async fn app() -> (u16, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let kept = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = kept.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                assert!(line.starts_with("POST /jobs HTTP/1.1"), "{line}");
                loop {
                    line.clear();
                    reader.read_line(&mut line).await.unwrap();
                    let Some((k, v)) = line.trim_end().split_once(": ") else { break };
                    headers.push((k.to_ascii_lowercase(), v.to_string()));
                }
                let header =
                    |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
                let mut body = vec![0; header("content-length").parse().unwrap()];
                reader.read_exact(&mut body).await.unwrap();
                let homing: Vec<(String, String)> =
                    headers.iter().filter(|(k, _)| k.starts_with("x-homing-")).cloned().collect();
                seen.lock().unwrap().insert(header("x-homing-job-id"), homing);
                if body == b"hang" {
                    // Hold the connection open and never answer.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                }
                let out = format!(
                    "{}|{}|{}",
                    header("x-homing-job-id"),
                    header("x-homing-session"),
                    header("x-homing-attempt")
                );
                let reply =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}", out.len());
                reader.get_mut().write_all(reply.as_bytes()).await.unwrap();
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_handler_sends_the_job_headers_retries_a_timeout_and_a_refused_connection() {
    let url = redis_url();
    let (port, seen) = app().await;
    let queue = fresh_queue("clihttpapp");
    let target = format!("http://127.0.0.1:{port}/jobs");
    let (_worker, producer) = handler_worker(&url, &queue, &["http", "--url", &target, "--timeout", "300ms"]).await;
    let options = PushOptions { id: Some("job-h1".into()), ..Default::default() };
    let reply = producer.request_raw_with("sess-1", b"hello", options, Duration::from_secs(15)).await.unwrap();
    assert_eq!(text(&reply), "job-h1|sess-1|0");
    let mut headers = seen.lock().unwrap()["job-h1"].clone();
    headers.sort();
    let expected = [("x-homing-attempt", "0"), ("x-homing-job-id", "job-h1"), ("x-homing-session", "sess-1")];
    assert_eq!(headers, expected.map(|(k, v)| (k.to_string(), v.to_string())));

    // Two attempts (handler_worker sets max_attempts 2), each given --timeout before it retries.
    let asked = Instant::now();
    assert_eq!(failure(&producer, b"hang").await, "max_attempts: no response within 300ms");
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(600), "two attempts of 300 ms took {took:?}");
    assert!(took <= Duration::from_millis(2 * 600 + 1000 + 500), "two attempts of 300 ms took {took:?}");

    // A port nobody listens on: refused, retried, dead-lettered with the reason.
    let closed = homing_tests::free_port();
    let queue = fresh_queue("clihttprefused");
    let target = format!("http://127.0.0.1:{closed}/jobs");
    let (_worker, producer) = handler_worker(&url, &queue, &["http", "--url", &target]).await;
    let error = failure(&producer, b"hello").await;
    let expected = format!("max_attempts: cannot reach {target}: Connection refused");
    assert!(error.starts_with(&expected), "{error}");
}

#[tokio::test]
async fn the_exec_handler_honours_fatal_exit_code_and_passes_the_job_id() {
    let url = redis_url();
    let queue = fresh_queue("cliexeccode");
    let script = r#"p=$(cat); case "$p" in seven) exit 7;; sixtyfive) exit 65;; esac; printf '%s' "$HOMING_JOB_ID""#;
    let (_worker, producer) =
        handler_worker(&url, &queue, &["exec", "--fatal-exit-code", "7", "--", "sh", "-c", script]).await;
    let options = PushOptions { id: Some("job-e1".into()), ..Default::default() };
    let out = producer.request_raw_with("s1", b"id", options, Duration::from_secs(15)).await.unwrap();
    assert_eq!(text(&out), "job-e1");
    assert_eq!(failure(&producer, b"seven").await, "fatal: \"sh\" exited with 7");
    assert_eq!(failure(&producer, b"sixtyfive").await, "max_attempts: \"sh\" exited with 65", "65 retries now");
}

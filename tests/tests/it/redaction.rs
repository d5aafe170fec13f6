//! No secret from a URL reaches anything Homing prints. The CLI and real worker processes run
//! with a Redis URL that carries a user and password (an ACL user on the test server), and an
//! `http` handler URL with a token, through success and failure paths; every byte of stdout,
//! stderr, the worker logs (at `debug`, text and JSON), `/metrics`, `status` and the dead
//! letters is searched for the secrets.

use crate::cli::{homing, run, text};
use homing_core::{Keys, QueueName};
use homing_tests::{conn, fresh_queue, redis_url, wait_dead_letters, wait_for};
use redis::AsyncCommands;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "homing-redaction";
const SECRET: &str = "Pa55-redaction-s3cret";
const WRONG: &str = "Wr0ng-redaction-s3cret";
const TOKEN: &str = "t0ken-redaction-s3cret";

/// Everything printed, labelled by where it came from.
#[derive(Default)]
struct Printed(Vec<(String, String)>);

impl Printed {
    fn add(&mut self, label: &str, text: String) {
        self.0.push((label.to_string(), text));
    }

    /// Runs `homing ARGS` against `url` and keeps its stdout and stderr; returns them joined.
    async fn homing(&mut self, url: &str, queue: &str, args: &[&str]) -> (bool, String) {
        let mut cmd = homing(url, queue);
        cmd.env("RUST_LOG", "debug").args(args);
        let out = run(cmd, None).await;
        let both = format!("{}{}", text(&out.stdout), text(&out.stderr));
        self.add(&format!("homing {}", args.join(" ")), both.clone());
        (out.status.success(), both)
    }

    /// Fails naming every output that holds a secret.
    fn assert_clean(&self) {
        let leaks: Vec<String> = self
            .0
            .iter()
            .filter(|(_, t)| [SECRET, WRONG, TOKEN].iter().any(|s| t.contains(s)))
            .map(|(label, t)| format!("--- {label}:\n{t}"))
            .collect();
        assert!(leaks.is_empty(), "a secret was printed:\n{}", leaks.join("\n"));
    }
}

async fn scrape(addr: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await.unwrap();
    let mut body = String::new();
    tcp.read_to_string(&mut body).await.unwrap();
    body
}

/// Starts `homing worker ARGS` with its log in a file; returns the child and the log path.
fn worker(url: &str, queue: &str, args: &[&str]) -> (tokio::process::Child, std::path::PathBuf) {
    let log = std::env::temp_dir().join(format!("{queue}-{}.log", args.join("-").replace(['/', ':', '?'], "_")));
    let mut cmd = homing(url, queue);
    cmd.env("RUST_LOG", "debug").args(args).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
    (cmd.spawn().unwrap(), log)
}

async fn registered(url: &str, keys: &Keys) {
    wait_for("the worker to register", Duration::from_secs(30), || async {
        let n: u64 = conn(url).await.zcard(keys.workers()).await.unwrap();
        (n > 0).then_some(())
    })
    .await;
}

async fn stop(mut child: tokio::process::Child) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().unwrap().to_string()).status();
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_a_url_is_printed_by_the_cli_a_worker_or_its_metrics() {
    let plain = redis_url();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(USER)
        .arg("on")
        .arg(format!(">{SECRET}"))
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query_async(&mut conn(&plain).await)
        .await
        .unwrap();
    let with = |secret: &str| plain.replacen("redis://", &format!("redis://{USER}:{secret}@"), 1);
    let (url, wrong) = (with(SECRET), with(WRONG));
    let unreachable = format!("redis://{USER}:{SECRET}@127.0.0.1:1");
    let unparsable = format!("redis://{USER}:{SECRET}@[::1");
    let queue = fresh_queue("redaction");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let mut printed = Printed::default();

    // Success: a worker (text logs at debug, metrics served) and every command.
    let metrics = format!("127.0.0.1:{}", homing_tests::free_port());
    let (w, log) = worker(&url, &queue, &["worker", "--name", "redact-w", "--metrics-addr", &metrics, "echo"]);
    registered(&plain, &keys).await;
    for args in [
        vec!["push", "s1", "hello"],
        vec!["push", "s1", "hello", "--wait", "10s"],
        vec!["push", "s1", "fatal:no good", "--wait", "10s"],
        vec!["queue", "show"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["dead", "list"],
    ] {
        printed.homing(&url, &queue, &args).await;
    }
    let (ok, status) = printed.homing(&url, &queue, &["status", "--json"]).await;
    assert!(ok && status.contains("redact-w-"), "the worker did not serve: {status}");
    printed.add("/metrics", scrape(&metrics).await);
    stop(w).await;
    printed.add("worker log", std::fs::read_to_string(&log).unwrap());
    printed.homing(&url, &queue, &["demo", "--sessions", "1", "--turns", "1"]).await;
    printed.homing(&url, &queue, &["bench", "--jobs", "20", "--sessions", "2", "--batch", "10"]).await;

    // The http handler: a token in its URL, the app unreachable, so every attempt fails and the
    // job is dead-lettered with the error text; JSON logs this time.
    let http_queue = fresh_queue("redaction-http");
    let http_keys = Keys::with_default_prefix(&QueueName::new(http_queue.as_str()).unwrap());
    let app = format!("http://127.0.0.1:{}/jobs?token={TOKEN}", homing_tests::free_port());
    let (h, log) = worker(
        &url,
        &http_queue,
        &[
            "--log-format",
            "json",
            "worker",
            "--name",
            "redact-h",
            "--max-attempts",
            "2",
            "--backoff-base",
            "10ms",
            "http",
            "--url",
            &app,
        ],
    );
    registered(&plain, &http_keys).await;
    printed.homing(&url, &http_queue, &["push", "s2", "to the app", "--wait", "15s"]).await;
    wait_dead_letters(&plain, &http_keys, 1).await;
    let (_, list) = printed.homing(&url, &http_queue, &["dead", "list"]).await;
    assert!(list.contains("token=***"), "the dead letter should name the app's URL, hidden: {list}");
    let entry = list.split_whitespace().next().unwrap().to_string();
    printed.homing(&url, &http_queue, &["dead", "show", &entry]).await;
    stop(h).await;
    printed.add("http worker log", std::fs::read_to_string(&log).unwrap());
    // Refused at start: credentials in the app's URL, or a URL that does not parse.
    for bad in [format!("http://app:{TOKEN}@127.0.0.1:1/jobs"), format!("http://app:{TOKEN}@[bad/jobs")] {
        let (ok, out) = printed.homing(&url, &http_queue, &["worker", "http", "--url", &bad]).await;
        assert!(!ok && out.contains("--url http://***@"), "{out}");
    }

    // Failure: a wrong password, an unreachable Redis, a URL that does not parse.
    for bad in [&wrong, &unreachable, &unparsable] {
        for args in [vec!["status"], vec!["push", "s3", "x"], vec!["queue", "show"], vec!["worker", "echo"]] {
            let (ok, out) = printed.homing(bad, &queue, &args).await;
            assert!(!ok, "homing {} should fail on {bad}", args.join(" "));
            assert!(out.contains("redis://***@"), "the error should name the URL, hidden: {out}");
        }
    }
    printed.assert_clean();
}

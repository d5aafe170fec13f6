//! Logs as collectors read them: `--log-format json` writes one JSON object a line carrying the
//! job span's fields; text logs carry ANSI colour codes only on a terminal, and not with
//! `NO_COLOR`.

use crate::cli::{homing, text};
use homing_core::{Keys, QueueName};
use homing_tests::{conn, fresh_queue, homing_bin, redis_url, wait_dead_letters, wait_for};
use redis::AsyncCommands;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Waits until a worker is registered on `keys`' queue.
async fn registered(url: &str, keys: &Keys) {
    wait_for("the worker to register", Duration::from_secs(30), || async {
        let n: u64 = conn(url).await.zcard(keys.workers()).await.unwrap();
        (n > 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_and_carry_the_job_spans_fields() {
    let url = redis_url();
    let queue = fresh_queue("logs-json");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let log = std::env::temp_dir().join(format!("{queue}.log"));
    let mut worker = homing(&url, &queue);
    worker
        .env("RUST_LOG", "debug")
        .args(["--log-format", "json", "worker", "--name", "json-w", "--heartbeat-interval", "100ms"])
        .args(["--liveness-ttl", "500ms", "echo"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = worker.spawn().unwrap();
    registered(&url, &keys).await;

    let mut push = homing(&url, &queue);
    push.args(["push", "json-session", "fatal:no good"]);
    let out = crate::cli::run(push, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job_id = text(&out.stdout).split(' ').next().unwrap().to_string();
    wait_dead_letters(&url, &keys, 1).await;
    // Maintenance judges other workers once this one has been connected for liveness_ttl.
    wait_for("maintenance to resume reap and reclaim", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move { text.contains("reap and reclaim resumed").then_some(()) }
    })
    .await;
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().unwrap().to_string()).status();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success());

    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect();
    assert!(lines.iter().all(|l| l.is_object() && l["level"].is_string() && l["fields"]["message"].is_string()));
    let failed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "job failed")
        .unwrap_or_else(|| panic!("no `job failed` line in\n{log}"));
    let span = &failed["span"];
    assert_eq!(span["name"], "job", "{failed}");
    assert_eq!(span["queue"], queue.as_str(), "{failed}");
    assert_eq!(span["job_id"], job_id.as_str(), "{failed}");
    assert_eq!(span["session"], "json-session", "{failed}");
    assert_eq!(span["attempt"], 0, "{failed}");
    assert_eq!(span["source"], "overflow", "{failed}");
    assert_eq!(span["route"], "new", "a first job of a session routes new: {failed}");
    assert_eq!(failed["fields"]["outcome"], "dead", "{failed}");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "worker registered"), "{log}");
    // Maintenance says when it starts and when reap and reclaim resume, once each (a line per
    // tick would flood the log; none would hide that this worker does maintenance).
    let said = |message: &str| lines.iter().filter(|l| l["fields"]["message"] == message).count();
    assert_eq!(said("running maintenance"), 1, "{log}");
    assert_eq!(said("reap and reclaim resumed"), 1, "{log}");
    assert_eq!(said("reap and reclaim held back until workers re-assert themselves"), 0, "{log}");
}

/// Reads a worker's output until its registration line (written just after it registers),
/// for up to 10 s, and returns what it read.
async fn until_registered(output: &mut (impl AsyncRead + Unpin), through: &str) -> Vec<u8> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !text(&seen).contains("worker registered") {
        assert!(std::time::Instant::now() < deadline, "no registration line {through}: {:?}", text(&seen));
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), output.read(&mut buf)).await {
            seen.extend_from_slice(&buf[..n]);
        }
    }
    seen
}

/// Starts a worker whose stderr is a terminal (a pseudo-terminal made by `script(1)`), with
/// `NO_COLOR` set to `no_color`, and returns what it printed until it registered.
async fn on_a_terminal(no_color: Option<&str>) -> String {
    let url = redis_url();
    let queue = fresh_queue("logs-tty");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let command = format!("exec {} worker --name tty-w echo", homing_bin().display());
    let mut script = tokio::process::Command::new("script");
    script
        .args(["-qefc", &command, "/dev/null"])
        .env("REDIS_URL", &url)
        .env("HOMING_QUEUE", &queue)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(v) = no_color {
        script.env("NO_COLOR", v);
    }
    let mut child = script.spawn().expect("script(1) from util-linux starts");
    registered(&url, &keys).await;
    let seen = until_registered(child.stdout.as_mut().unwrap(), "on the terminal").await;
    // Closing the terminal hangs the worker up; its queue is its own.
    drop(child);
    text(&seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_are_coloured_only_on_a_terminal_and_never_with_no_color() {
    // Through a pipe: no escape codes.
    let url = redis_url();
    let queue = fresh_queue("logs-pipe");
    let mut worker = homing(&url, &queue);
    worker.args(["worker", "--name", "pipe-w", "echo"]).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = worker.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // SIGTERM once the line is out, not once the worker is listed: it registers before it
    // installs its SIGTERM handler, and a SIGTERM between the two ends it before it writes.
    let mut piped = until_registered(&mut stderr, "through the pipe").await;
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().unwrap().to_string()).status();
    stderr.read_to_end(&mut piped).await.unwrap();
    let piped = text(&piped);
    assert!(!piped.contains('\x1b'), "colour codes through a pipe:\n{piped:?}");

    let tty = on_a_terminal(None).await;
    assert!(tty.contains("\x1b["), "no colour on a terminal:\n{tty:?}");
    let no_color = on_a_terminal(Some("1")).await;
    assert!(no_color.contains("worker registered") && !no_color.contains('\x1b'), "{no_color:?}");
    // NO_COLOR set but empty does not count (no-color.org).
    let empty = on_a_terminal(Some("")).await;
    assert!(empty.contains("\x1b["), "{empty:?}");
}

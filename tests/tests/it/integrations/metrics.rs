//! The exporter's text, checked by a real `promtool`.

use crate::cli::{homing, run, text};
use homing_core::{Keys, QueueName};
use homing_tests::{conn, fresh_queue, redis_url, wait_for};
use redis::AsyncCommands;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Reads `http://<addr>/metrics` with a bare HTTP/1.0 request (no client library needed).
async fn scrape(addr: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn the_worker_exports_prometheus_metrics_that_promtool_accepts_and_logs_json() {
    let url = redis_url();
    let queue = fresh_queue("climetrics");
    let keys = Keys::with_default_prefix(&QueueName::new(queue.as_str()).unwrap());
    let port = homing_tests::free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::env::temp_dir().join(format!("homing-metrics-{}.log", std::process::id()));
    let mut worker = homing(&url, &queue);
    worker
        .args(["--log-format", "json", "worker", "--metrics-addr", &addr, "--maintenance-interval", "20ms", "echo"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = worker.spawn().unwrap();
    let workers = keys.workers();
    wait_for("the worker to register", Duration::from_secs(30), || async {
        let n: u64 = conn(&url).await.zcard(&workers).await.unwrap();
        (n == 1).then_some(())
    })
    .await;
    let producer = homing_client::Producer::connect(&url, &queue).await.unwrap();
    for turn in ["one", "two", "three"] {
        producer.request_raw_with("s", turn.as_bytes(), Default::default(), Duration::from_secs(10)).await.unwrap();
    }
    let fatal = producer.request_raw_with("s", b"fatal:no", Default::default(), Duration::from_secs(10)).await;
    assert!(fatal.is_err());
    let scraped = wait_for("the metrics to show the jobs", Duration::from_secs(10), || {
        let addr = addr.clone();
        async move {
            let body = scrape(&addr).await;
            (homing_tests::metrics_text::Samples::parse(&body).get("homing_dead_jobs", &[]) == Some(1.0))
                .then_some(body)
        }
    })
    .await;
    let samples = homing_tests::metrics_text::Samples::parse(&scraped);
    let checks: [homing_tests::metrics_text::Expected; 8] = [
        ("homing_jobs_finished_total", &[("outcome", "ok")], 3.0),
        ("homing_jobs_finished_total", &[("outcome", "dead")], 1.0),
        ("homing_jobs_warm_total", &[], 2.0),
        ("homing_pins_stamped_total", &[], 1.0),
        ("homing_job_run_seconds_bucket", &[("le", "+Inf")], 4.0),
        ("homing_job_run_seconds_count", &[], 4.0),
        ("homing_workers", &[], 1.0),
        ("homing_overflow_backlog", &[], 0.0),
    ];
    for (name, labels, want) in checks {
        assert_eq!(samples.get(name, labels), Some(want), "{name}{labels:?} in:\n{scraped}");
    }
    let mut check = std::process::Command::new(super::tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be on PATH to check the exporter: apt-get install prometheus");
    std::io::Write::write_all(check.stdin.as_mut().unwrap(), scraped.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool: {}{}", text(&out.stdout), text(&out.stderr));

    let mut status = homing(&url, &queue);
    status.args(["status", "--json"]);
    let out = run(status, None).await;
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = &s["workers"][0];
    assert_eq!((w["capacity"].as_u64(), w["backlog"].as_u64(), s["dead"].as_u64()), (Some(8), Some(0), Some(1)), "{s}");
    assert!(w["heartbeat_age_ms"].as_i64().is_some_and(|a| a >= 0), "{s}");

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    let liveness: u64 = conn(&url).await.hlen(keys.liveness()).await.unwrap();
    assert_eq!(liveness, 0, "a leaving worker removes its liveness record");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.lines().count() >= 2, "{logs}");
    for line in logs.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}') && line.contains("\"level\":"),
            "not a JSON log line: {line}"
        );
    }
    assert!(logs.contains("worker registered") && logs.contains("worker left"), "{logs}");
}

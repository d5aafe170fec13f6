//! `rediss://` through rustls against `redis-server --tls-port` (TLS only), with a CA, server and
//! client certificates made at test time by the `openssl` CLI (hence the integrations lane):
//! worker and producer round trips with the CA file and with a client certificate, the `homing`
//! binary over TLS through its flags, and one clear line for a wrong CA, a missing client
//! certificate, a plain URL to the TLS port and a missing CA file.

use super::tool;
use crate::cli::{run, text};
use crate::config;
use homing_client::{Producer, ProducerOptions, PushOptions};
use homing_tests::{fresh_queue, homing_bin, Deliveries, RedisServer, TestWorker};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A directory of PEM files: `ca`, `server` (for 127.0.0.1 and localhost) and `client` signed
/// by the CA, and `other-ca`, a CA that signed nothing here.
struct Pki(PathBuf);

impl Pki {
    fn make() -> Self {
        let dir = std::env::temp_dir().join(format!("homing-pki-{}-{}", std::process::id(), fastrand::u32(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new(tool("openssl")).args(args).current_dir(&dir).output().expect("openssl runs");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        for ca in ["ca", "other-ca"] {
            let (key, crt, subj) = (format!("{ca}.key"), format!("{ca}.crt"), format!("/CN=homing test {ca}"));
            let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subj, "-keyout", &key, "-out", &crt];
            args.extend(ec);
            openssl(&args);
        }
        for (who, ext) in [
            ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            let (key, csr, crt, extfile) =
                (format!("{who}.key"), format!("{who}.csr"), format!("{who}.crt"), format!("{who}.ext"));
            std::fs::write(dir.join(&extfile), format!("basicConstraints=CA:FALSE\n{ext}")).unwrap();
            let subj = format!("/CN=homing test {who}");
            let mut args = vec!["req", "-subj", &subj, "-keyout", &key, "-out", &csr];
            args.extend(ec);
            openssl(&args);
            openssl(&[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                &extfile,
                "-out",
                &crt,
            ]);
        }
        Self(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn path(&self, name: &str) -> String {
        self.file(name).display().to_string()
    }

    /// A TLS-only server; with `clients_need_a_certificate` it sets `tls-auth-clients yes`.
    fn server(&self, clients_need_a_certificate: bool) -> RedisServer {
        let (crt, key, ca) = (self.path("server.crt"), self.path("server.key"), self.path("ca.crt"));
        let auth = if clients_need_a_certificate { "yes" } else { "no" };
        RedisServer::start_tls(&[
            "--tls-cert-file",
            &crt,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            auth,
        ])
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A worker on `url` with `ca`, takes pushes from a producer with the same files, and answers a
/// request: the whole path over TLS.
async fn round_trip(url: &str, ca: &Path, client: Option<(&Path, &Path)>) {
    let queue = fresh_queue("tls");
    let mut worker_config = config(url, &queue, "w").redis_ca_file(ca);
    let mut options = ProducerOptions::default().redis_ca_file(ca);
    if let Some((cert, key)) = client {
        worker_config = worker_config.redis_client_cert(cert, key);
        options = options.redis_client_cert(cert, key);
    }
    let seen = Deliveries::default();
    let worker = TestWorker::start(worker_config, seen.handler());
    let producer = Producer::connect_with(url, &queue, options).await.unwrap();
    producer.push_raw("s", b"pushed").await.unwrap();
    let reply = producer.request_raw_with("s", b"asked", PushOptions::default(), Duration::from_secs(10)).await;
    assert_eq!(reply.unwrap(), Vec::<u8>::new());
    let mut payloads: Vec<Vec<u8>> = seen.wait(2).await.into_values().map(|j| j.payload).collect();
    payloads.sort();
    assert_eq!(payloads, [b"asked".to_vec(), b"pushed".to_vec()]);
    worker.stop();
}

fn homing(url: &str, queue: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(homing_bin());
    c.env("REDIS_URL", url).env("HOMING_QUEUE", queue).env_remove("RUST_LOG").kill_on_drop(true);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_and_a_producer_round_trip_over_tls_with_the_ca_file() {
    let pki = Pki::make();
    let server = pki.server(false);
    round_trip(&server.url(), &pki.file("ca.crt"), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_a_client_certificate_gets_one_and_refuses_clearly_without() {
    let pki = Pki::make();
    let server = pki.server(true);
    let url = server.url();
    round_trip(&url, &pki.file("ca.crt"), Some((&pki.file("client.crt"), &pki.file("client.key")))).await;

    let options = ProducerOptions::default().redis_ca_file(pki.file("ca.crt"));
    let e = Producer::connect_with(&url, &fresh_queue("tls"), options).await.unwrap_err();
    let e = e.to_string();
    assert!(e.starts_with(&format!("TLS connection to {url} was closed by the server during set-up (")), "{e}");
    assert!(e.ends_with("); if it requires client certificates (tls-auth-clients yes), set --redis-client-cert and --redis-client-key"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_homing_binary_speaks_tls_through_its_flags() {
    let pki = Pki::make();
    let server = pki.server(true);
    let queue = fresh_queue("tlscli");
    let tls_flags = [
        "--redis-ca-file",
        &pki.path("ca.crt"),
        "--redis-client-cert",
        &pki.path("client.crt"),
        "--redis-client-key",
        &pki.path("client.key"),
    ];
    let mut init = homing(&server.url(), &queue);
    init.args(["queue", "init"]).args(tls_flags);
    let out = run(init, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut push = homing(&server.url(), &queue);
    push.args(["push", "s", "over tls"]).args(tls_flags);
    let out = run(push, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).trim_end().ends_with(" new"), "{}", text(&out.stdout));
    // The same files through the environment, as the chart sets them.
    let mut status = homing(&server.url(), &queue);
    status.env("HOMING_REDIS_CA_FILE", pki.file("ca.crt"));
    status
        .env("HOMING_REDIS_CLIENT_CERT", pki.file("client.crt"))
        .env("HOMING_REDIS_CLIENT_KEY", pki.file("client.key"));
    status.args(["status", "--json"]);
    let out = run(status, None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["overflow"], 1, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_one_clear_line() {
    let pki = Pki::make();
    let server = pki.server(false);
    let url = server.url();
    let expected = format!(
        "TLS handshake with {url} failed: certificate not trusted; check --redis-ca-file (HOMING_REDIS_CA_FILE)"
    );
    let options = ProducerOptions::default().redis_ca_file(pki.file("other-ca.crt"));
    let e = Producer::connect_with(&url, &fresh_queue("tls"), options).await.unwrap_err();
    assert_eq!(e.to_string(), expected);
    let worker = config(&url, &fresh_queue("tls"), "w").redis_ca_file(pki.file("other-ca.crt"));
    let e = homing_worker::Worker::new(worker, Deliveries::default().handler()).await.unwrap_err();
    assert_eq!(e.to_string(), expected);

    let mut status = homing(&url, &fresh_queue("tls"));
    status.args(["status", "--redis-ca-file", &pki.path("other-ca.crt")]);
    let out = run(status, None).await;
    assert!(!out.status.success());
    assert_eq!(text(&out.stderr), format!("error: {expected}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_url_to_the_tls_port_fails_fast_and_says_rediss() {
    let pki = Pki::make();
    let server = pki.server(false);
    let plain = server.url().replacen("rediss://", "redis://", 1);
    let started = Instant::now();
    let e = Producer::connect(&plain, &fresh_queue("tls")).await.unwrap_err();
    let took = started.elapsed();
    let e = e.to_string();
    assert!(e.starts_with(&format!("Redis at {plain} closed the connection or did not answer during set-up (")), "{e}");
    assert!(e.ends_with("); if it serves TLS only, use a rediss:// URL"), "{e}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    let mut status = homing(&plain, &fresh_queue("tls"));
    status.args(["status"]);
    let out = run(status, None).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.trim_end().ends_with("if it serves TLS only, use a rediss:// URL"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ca_file_is_named_with_its_flag() {
    let mut status = homing("rediss://127.0.0.1:1", &fresh_queue("tls"));
    status.args(["status", "--redis-ca-file", "/nonexistent/ca.crt"]);
    let out = run(status, None).await;
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        "error: cannot read --redis-ca-file (HOMING_REDIS_CA_FILE) /nonexistent/ca.crt: No such file or directory (os error 2)\n"
    );
}

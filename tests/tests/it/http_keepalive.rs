//! The `http` handler keeps its connections to the app alive: a real `homing worker http` process
//! against a hyper app written here that counts the TCP connections it accepts. Jobs share at
//! most `concurrency` connections; an app that answers `Connection: close` still gets every job;
//! an app restarted between jobs loses none and costs none an attempt.

use crate::cli::{handler_worker, text};
use homing_client::PushOptions;
use homing_tests::{redis_url, wait_for};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};

/// A hyper app on 127.0.0.1 answering every request with 200 and `<job id>|<attempt>`.
struct App {
    port: u16,
    /// TCP connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Job ids answered.
    served: Arc<Mutex<HashSet<String>>>,
    listening: JoinHandle<()>,
    connections: Arc<Mutex<JoinSet<()>>>,
}

impl App {
    /// Listens on `port` (0: any free one); `close` answers every request with
    /// `Connection: close`, as an app without keep-alive does.
    async fn start(port: u16, close: bool) -> App {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(Mutex::new(HashSet::new()));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let (count, seen, tasks) = (accepted.clone(), served.clone(), connections.clone());
        let listening = tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        body.collect().await.unwrap();
                        let header = |name: &str| parts.headers[name].to_str().unwrap().to_string();
                        let id = header("x-homing-job-id");
                        let out = format!("{id}|{}", header("x-homing-attempt"));
                        seen.lock().unwrap().insert(id);
                        let mut response = hyper::Response::builder();
                        if close {
                            response = response.header(hyper::header::CONNECTION, "close");
                        }
                        Ok::<_, Infallible>(response.body(Full::new(Bytes::from(out))).unwrap())
                    }
                });
                let connection =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
                tasks.lock().unwrap().spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        App { port, accepted, served, listening, connections }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jobs", self.port)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    async fn wait_served(&self, n: usize) {
        wait_for(&format!("the app to serve {n} jobs"), Duration::from_secs(20), || async {
            (self.served.lock().unwrap().len() >= n).then_some(())
        })
        .await;
    }

    /// Stops as a crashed app does: the listener and every open connection closed.
    async fn stop(mut self) {
        self.listening.abort();
        let _ = (&mut self.listening).await;
        let mut connections = std::mem::take(&mut *self.connections.lock().unwrap());
        connections.shutdown().await;
    }
}

/// Pushes `n` jobs at once, so the worker runs as many at a time as its concurrency allows.
async fn push(producer: &homing_client::Producer, n: usize) {
    let jobs: Vec<(String, &[u8])> = (0..n).map(|i| (format!("s{i}"), b"job".as_slice())).collect();
    for receipt in producer.push_many_raw(&jobs).await.unwrap() {
        receipt.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_handler_opens_at_most_concurrency_connections_not_one_per_job() {
    let url = redis_url();
    for concurrency in 1..=4 {
        let app = App::start(0, false).await;
        let queue = homing_tests::fresh_queue(&format!("http-keepalive-{concurrency}"));
        let c = concurrency.to_string();
        let (_worker, producer) =
            handler_worker(&url, &queue, &["--concurrency", &c, "http", "--url", &app.url()]).await;
        push(&producer, 50).await;
        app.wait_served(50).await;
        let accepted = app.accepted();
        assert!(
            (1..=concurrency).contains(&accepted),
            "50 jobs at concurrency {concurrency} opened {accepted} connections"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_closes_every_connection_still_gets_every_job() {
    let url = redis_url();
    let app = App::start(0, true).await;
    let queue = homing_tests::fresh_queue("http-close");
    let (_worker, producer) = handler_worker(&url, &queue, &["--concurrency", "2", "http", "--url", &app.url()]).await;
    push(&producer, 20).await;
    app.wait_served(20).await;
    // One connection per job, each closed after its answer and never sent a second request.
    assert_eq!(app.accepted(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_after_the_app_restarts_runs_on_a_new_connection_without_a_retry() {
    let url = redis_url();
    let first = App::start(0, false).await;
    let port = first.port;
    let queue = homing_tests::fresh_queue("http-restart");
    let (_worker, producer) =
        handler_worker(&url, &queue, &["--concurrency", "1", "http", "--url", &first.url()]).await;
    let request = |id: &str| {
        let options = PushOptions { id: Some(id.to_string()), ..Default::default() };
        let producer = producer.clone();
        async move { text(&producer.request_raw_with("s1", b"job", options, Duration::from_secs(15)).await.unwrap()) }
    };
    assert_eq!(request("before").await, "before|0");
    assert_eq!(first.accepted(), 1);
    // The worker's pooled connection now leads to an app that is gone.
    first.stop().await;
    let second = App::start(port, false).await;
    // Attempt 0: the pool dropped the closed connection (or resent the request it never wrote)
    // instead of failing the job onto a retry.
    assert_eq!(request("after").await, "after|0");
    assert_eq!(request("again").await, "again|0");
    assert_eq!(second.accepted(), 1, "the new connection is kept alive too");
}

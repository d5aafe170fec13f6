//! An app in any language can be a Homing worker through the `http` sidecar: `homing worker
//! http --url http://127.0.0.1:8080/jobs` POSTs each job's payload here with the job's id,
//! session and attempt in `x-homing-*` headers. 2xx completes the job with the response body
//! as its result, 4xx dead-letters it at once, 5xx (or no answer) retries it.
//!
//! This one, in Rust with hyper, upper-cases the payload and counts turns per session (its warm
//! state); it refuses an empty payload with 400.
//!
//! ```sh
//! cargo run -p homing-examples --example http_app -- 127.0.0.1:8080 &
//! homing worker http --url http://127.0.0.1:8080/jobs
//! homing push alice "hello"  --wait 10s     # prints: alice turn 1: HELLO
//! ```

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

type Turns = Arc<Mutex<HashMap<String, u32>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/jobs", listener.local_addr()?);
    let turns = Turns::default();
    loop {
        let (tcp, _) = listener.accept().await?;
        let turns = turns.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, turns.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

async fn handle(req: Request<Incoming>, turns: Turns) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: String| {
        Ok(Response::builder().status(status).body(Full::new(Bytes::from(body))).unwrap())
    };
    if req.method() != hyper::Method::POST || req.uri().path() != "/jobs" {
        return reply(StatusCode::NOT_FOUND, "POST /jobs\n".to_string());
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (session, job_id, attempt) =
        (header("x-homing-session"), header("x-homing-job-id"), header("x-homing-attempt"));
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        // The connection broke mid-body: a 5xx, so Homing retries the job.
        return reply(StatusCode::SERVICE_UNAVAILABLE, "could not read the body".to_string());
    };
    if body.is_empty() {
        // A 4xx tells Homing that retrying cannot help: the job is dead-lettered with this text.
        return reply(StatusCode::BAD_REQUEST, "empty payload".to_string());
    }
    let n = {
        let mut turns = turns.lock().unwrap();
        let n = turns.entry(session.clone()).or_insert(0);
        *n += 1;
        *n
    };
    eprintln!("job {job_id} attempt {attempt}: session {session} turn {n}");
    reply(StatusCode::OK, format!("{session} turn {n}: {}", String::from_utf8_lossy(&body).to_uppercase()))
}

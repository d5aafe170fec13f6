//! A typed worker: decodes each job's payload into a `Turn`, keeps a per-conversation count in
//! memory (the "warm state" Homing routes sessions back to), and answers with an `Answer`.
//! Runs until ctrl-c or SIGTERM, then drains and exits.
//!
//! ```sh
//! cargo run -p homing-examples --example worker
//! ```

#[path = "turn.rs"]
mod turn;

use homing_worker::{HandlerError, Job, Worker, WorkerConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use turn::{Answer, Turn};

#[tokio::main]
async fn main() -> Result<(), homing_worker::Error> {
    let (url, queue) = turn::from_env();
    let config = WorkerConfig::new(url, queue).name("example-worker").concurrency(4);
    // The warm state: turns seen per session. A real worker holds a cache, a model, a login.
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let worker = Worker::new(config, move |job: Job| {
        let seen = seen.clone();
        async move {
            // A payload that is not a Turn can never succeed: dead-letter it at once.
            let turn: Turn = job.decode().map_err(HandlerError::fatal)?;
            let turns_seen = {
                let mut seen = seen.lock().unwrap();
                let n = seen.entry(job.session.clone()).or_insert(0);
                *n += 1;
                *n
            };
            println!("{} {} turn {turns_seen}: {}", job.id, job.session, turn.text);
            let answer = Answer { text: format!("you said {:?}", turn.text), turns_seen };
            rmp_serde::to_vec_named(&answer).map_err(HandlerError::fatal)
        }
    })
    .await?;
    let report = worker.run(shutdown()).await?;
    eprintln!("worker left; drained: {}", report.drained());
    Ok(())
}

/// Resolves at ctrl-c or SIGTERM (what Kubernetes sends), whichever comes first.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

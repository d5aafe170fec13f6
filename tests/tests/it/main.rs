//! Every test that needs a real Redis, in one binary.

mod acl;
mod bad_input;
mod batching;
mod bells;
mod cli;
mod cluster;
mod drain;
mod examples;
mod failures;
mod faults;
mod http_keepalive;
mod ingress;
mod ingress_client;
#[cfg(feature = "integrations")]
mod integrations;
mod logs;
mod modes;
mod partitions;
mod partitions_client;
mod proofs_cli;
mod proofs_metrics;
mod proofs_recovery;
mod proofs_retries;
mod proofs_routing;
mod push_options;
mod redaction;
mod requests;
mod routing;
mod script_rules;
mod settings;

use homing_client::Producer;
use homing_tests::{fresh_queue, redis_url, Recorder};
use homing_worker::{HandlerError, Job, QueueSettings, WorkerConfig};
use std::time::Duration;

/// A worker config with timings scaled down so tests finish fast.
pub fn config(url: &str, queue: &str, name: &str) -> WorkerConfig {
    WorkerConfig {
        name: name.to_string(),
        concurrency: 2,
        heartbeat_interval: Duration::from_millis(100),
        liveness_ttl: Duration::from_millis(500),
        idle_block: Duration::from_millis(200),
        maintenance_interval: Duration::from_millis(10),
        shutdown_grace: Duration::from_secs(5),
        ..WorkerConfig::new(url, queue)
    }
}

/// Same, with queue settings.
pub fn config_with(url: &str, queue: &str, name: &str, settings: QueueSettings) -> WorkerConfig {
    WorkerConfig { queue_settings: settings, ..config(url, queue, name) }
}

/// A handler that records each call and succeeds.
pub fn recording(name: &str, rec: &Recorder) -> impl homing_worker::Handler {
    let (name, rec) = (name.to_string(), rec.clone());
    move |job: Job| {
        rec.record(&name, &job);
        async { Ok::<_, HandlerError>(()) }
    }
}

/// A fresh queue on the shared server and a producer for it.
pub async fn setup(label: &str) -> (String, String, Producer) {
    let url = redis_url();
    let queue = fresh_queue(label);
    let producer = Producer::connect(&url, &queue).await.unwrap();
    (url, queue, producer)
}

/// Waits until `rec` holds `n` runs.
pub async fn wait_runs(rec: &Recorder, n: usize) -> Vec<homing_tests::Run> {
    homing_tests::wait_for(&format!("{n} runs"), Duration::from_secs(15), || {
        let runs = rec.runs();
        async move { (runs.len() >= n).then_some(runs) }
    })
    .await
}

#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod complete;
mod config;
mod connections;
mod context;
mod error;
mod execute;
mod fetch;
mod handler;
mod health;
mod heartbeat;
mod ingress;
mod maintenance;
mod periodic;
mod renew;
mod worker;

pub use config::WorkerConfig;
pub use error::Error;
pub use handler::{Handler, HandlerError, IntoOutput};
pub use health::Health;
pub use homing_core::metrics;
pub use homing_core::{AffinityMode, Job, JobId, QueueSettings, WorkerId};
pub use worker::{ShutdownReport, Worker};

/// Registers the help text of every metric with the installed `metrics` recorder, so an
/// exporter can print `# HELP` lines. Call once after installing the recorder.
pub fn describe_metrics() {
    for (name, help) in metrics::ALL {
        if name.ends_with("_total") {
            ::metrics::describe_counter!(*name, *help);
        } else if name.ends_with("_seconds") {
            ::metrics::describe_histogram!(*name, ::metrics::Unit::Seconds, *help);
        } else {
            ::metrics::describe_gauge!(*name, *help);
        }
    }
}

#![doc = include_str!("../README.md")]

mod config;
mod connections;
mod error;
mod execute;
mod fetch;
mod handler;
mod heartbeat;
mod ingress;
mod maintenance;
pub mod metrics;
mod periodic;
mod renew;
mod worker;

pub use config::WorkerConfig;
pub use error::Error;
pub use handler::{Handler, HandlerError, IntoOutput};
pub use homing_core::{AffinityMode, Job, JobId, QueueSettings, WorkerId};
pub use worker::Worker;

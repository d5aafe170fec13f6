#![doc = include_str!("../README.md")]

pub mod error;
pub mod ids;
pub mod job;
pub mod keys;
pub mod metrics;
pub mod route;
pub mod scripts;
pub mod settings;
pub mod stream;

pub use error::{Error, Result};
pub use ids::{JobId, WorkerId};
pub use job::Job;
pub use keys::{Keys, QueueName};
pub use route::{Route, SpillReason};
pub use settings::{AffinityMode, QueueSettings, PROTOCOL_VERSION};

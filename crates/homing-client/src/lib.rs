#![doc = include_str!("../README.md")]

mod options;
mod producer;
mod replies;

pub use homing_core::{AffinityMode, Error, JobId, QueueName, Route, SpillReason};
pub use options::{ProducerOptions, PushOptions};
pub use producer::{Producer, Receipt};

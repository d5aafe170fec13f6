#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod options;
mod producer;
mod replies;

pub use homing_core::{AffinityMode, Error, JobId, QueueName, Route, SpillReason};
pub use options::{ProducerOptions, PushOptions};
pub use producer::{Producer, Receipt};

#[cfg(test)]
mod tests {
    /// Fails to compile when the producer stops being shareable across tasks and threads, as
    /// redis-rs's `ConnectionManager` and deadpool's `Pool` are.
    #[test]
    fn producer_and_its_values_are_clone_send_sync() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<crate::Producer>();
        shareable::<crate::Receipt>();
        shareable::<crate::PushOptions>();
        shareable::<crate::ProducerOptions>();
    }
}

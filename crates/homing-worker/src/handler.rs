//! What a user gives the worker: an async function from a [`Job`] to an output or a
//! [`HandlerError`] that says whether a retry can help.

use homing_core::Job;
use std::fmt;
use std::future::Future;

/// Why a handler failed, and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    message: String,
    fatal: bool,
}

impl HandlerError {
    /// A failure a later attempt may not hit (a timeout, a flaky dependency): the job is
    /// retried with backoff until the queue's `max_attempts`, then dead-lettered.
    pub fn retry(error: impl fmt::Display) -> Self {
        Self { message: error.to_string(), fatal: false }
    }

    /// A failure no retry can fix (invalid input): the job is dead-lettered at once.
    pub fn fatal(error: impl fmt::Display) -> Self {
        Self { message: error.to_string(), fatal: true }
    }

    /// True for [`HandlerError::fatal`].
    pub fn is_fatal(&self) -> bool {
        self.fatal
    }

    /// The error text, kept with a dead letter.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandlerError {}

/// A handler's successful output, stored as the job's result for a waiting producer.
pub trait IntoOutput {
    /// The output as bytes.
    fn into_output(self) -> Vec<u8>;
}

impl IntoOutput for () {
    fn into_output(self) -> Vec<u8> {
        Vec::new()
    }
}

impl IntoOutput for Vec<u8> {
    fn into_output(self) -> Vec<u8> {
        self
    }
}

impl IntoOutput for String {
    fn into_output(self) -> Vec<u8> {
        self.into_bytes()
    }
}

impl IntoOutput for &'static str {
    fn into_output(self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

/// Runs jobs. Implemented for any `Fn(Job) -> impl Future<Output = Result<O, HandlerError>>`,
/// so an async closure is a handler; implement it on a struct to hold state (a warm cache).
pub trait Handler: Send + Sync + 'static {
    /// Runs one job. A panic inside counts as a retryable failure and never kills the worker.
    fn handle(&self, job: Job) -> impl Future<Output = Result<Vec<u8>, HandlerError>> + Send;
}

impl<F, Fut, O> Handler for F
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, HandlerError>> + Send,
    O: IntoOutput,
{
    fn handle(&self, job: Job) -> impl Future<Output = Result<Vec<u8>, HandlerError>> + Send {
        let fut = self(job);
        async move { fut.await.map(IntoOutput::into_output) }
    }
}

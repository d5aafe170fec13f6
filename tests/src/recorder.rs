//! Records which worker ran which job, when, and at which attempt.

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One handler call.
#[derive(Clone, Debug)]
pub struct Run {
    /// The worker's configured name (its id starts with it).
    pub worker: String,
    /// The job id.
    pub job: String,
    /// The job's session.
    pub session: String,
    /// The attempt (0 first).
    pub attempt: u32,
    /// When the handler started.
    pub at: Instant,
}

/// A shared log of handler calls.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Run>>>);

impl Recorder {
    /// Appends a run.
    pub fn record(&self, worker: &str, job: &homing_worker::Job) {
        self.0.lock().unwrap().push(Run {
            worker: worker.to_string(),
            job: job.id.to_string(),
            session: job.session.clone(),
            attempt: job.attempt,
            at: Instant::now(),
        });
    }

    /// Every run so far.
    pub fn runs(&self) -> Vec<Run> {
        self.0.lock().unwrap().clone()
    }

    /// The runs of one job, in order.
    pub fn runs_of(&self, job: &str) -> Vec<Run> {
        self.runs().into_iter().filter(|r| r.job == job).collect()
    }
}

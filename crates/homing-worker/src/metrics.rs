//! Every metric name the worker emits, spelled once. Emitted through the `metrics` facade:
//! install any recorder (the `homing` binary installs a Prometheus exporter).

/// Jobs a worker started, by `source` (`inbox` | `overflow`).
pub const JOBS_STARTED: &str = "homing_jobs_started_total";
/// Jobs finished, by `outcome` (`ok` | `retry` | `dead` | `stale`).
pub const JOBS_FINISHED: &str = "homing_jobs_finished_total";
/// Successful jobs that ran on their session's owner (warm): divide by
/// `homing_jobs_finished_total{outcome="ok"}` for the affinity hit ratio.
pub const JOBS_WARM: &str = "homing_jobs_warm_total";
/// Sessions this worker became the owner of.
pub const PINS_STAMPED: &str = "homing_pins_stamped_total";
/// Seconds from first enqueue to start (Redis clock at enqueue, worker clock at start).
pub const JOB_WAIT_SECONDS: &str = "homing_job_wait_seconds";
/// Seconds a handler ran.
pub const JOB_RUN_SECONDS: &str = "homing_job_run_seconds";
/// Delayed jobs moved to a stream by promote.
pub const JOBS_PROMOTED: &str = "homing_jobs_promoted_total";
/// Jobs taken back from a worker, by `reason`: `dead` (reaped: no heartbeat within
/// `liveness_ttl`), `stalled` (reclaimed: no lease renewal within `visibility_timeout`),
/// `wait` (stolen: undelivered in an inbox longer than `max_wait`).
pub const JOBS_RECLAIMED: &str = "homing_jobs_reclaimed_total";
/// Dead workers whose jobs were all taken back and who were removed from `Q:workers`.
pub const WORKERS_REAPED: &str = "homing_workers_reaped_total";
/// Envelopes taken from `Q:ingress`, by `outcome` (`routed` | `duplicate` | `malformed`).
pub const INGRESS_ENVELOPES: &str = "homing_ingress_envelopes_total";
/// Errors talking to Redis, by `op`.
pub const REDIS_ERRORS: &str = "homing_redis_errors_total";

/// Every name above, for exporters and dashboard checks.
pub const ALL: &[&str] = &[
    JOBS_STARTED,
    JOBS_FINISHED,
    JOBS_WARM,
    PINS_STAMPED,
    JOB_WAIT_SECONDS,
    JOB_RUN_SECONDS,
    JOBS_PROMOTED,
    JOBS_RECLAIMED,
    WORKERS_REAPED,
    INGRESS_ENVELOPES,
    REDIS_ERRORS,
];

/// Histogram buckets for wait and run times, in seconds: 1 ms (a warm hit) to 5 min.
pub const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[cfg(test)]
mod tests {
    #[test]
    fn all_lists_every_name_once() {
        let source = include_str!("metrics.rs");
        let declared: Vec<&str> = source
            .lines()
            .filter(|l| l.starts_with("pub const ") && l.contains(": &str = \"homing_"))
            .map(|l| l.split('"').nth(1).unwrap())
            .collect();
        let mut listed = super::ALL.to_vec();
        listed.sort();
        let mut sorted = declared.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
        assert!(declared.iter().all(|n| n.starts_with("homing_")));
    }
}

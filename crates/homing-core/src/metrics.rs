//! Every metric name Homing emits, spelled once, for the producer and the worker alike. They
//! are emitted through the `metrics` facade: install any recorder (the `homing` binary installs
//! a Prometheus exporter with `--metrics-addr`).

/// Jobs pushed by a producer, by `route` (`hit` | `new` | `spill` | `off` | `shadow` |
/// `delayed` | `duplicate` | `ingress`, sent through the ingress list) and `reason` (`busy` | `dead` for spill; `hit` | `miss` for
/// shadow; empty otherwise).
pub const JOBS_PUSHED: &str = "homing_jobs_pushed_total";
/// Jobs a worker started, by `source` (`inbox` | `overflow`).
pub const JOBS_STARTED: &str = "homing_jobs_started_total";
/// Jobs finished, by `outcome` (`ok` | `retry` | `dead` | `stale`).
pub const JOBS_FINISHED: &str = "homing_jobs_finished_total";
/// Successful jobs that ran on their session's owner (warm): divide by
/// `homing_jobs_finished_total{outcome="ok"}` for the affinity hit ratio.
pub const JOBS_WARM: &str = "homing_jobs_warm_total";
/// Sessions this worker became the owner of.
pub const PINS_STAMPED: &str = "homing_pins_stamped_total";
/// Pins released, by `reason`: `dead` (the owner's deadline had passed, seen by a push) or
/// `stalled` (the owner stopped renewing a job's lease).
pub const PINS_RELEASED: &str = "homing_pins_released_total";
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
/// Entries in the overflow, undelivered or in flight (queue-wide; set by the worker holding the
/// maintenance lease; entries kept only for the group lag are not counted).
pub const OVERFLOW_BACKLOG: &str = "homing_overflow_backlog";
/// Entries in each live worker's inbox, by `worker` (set by the lease holder).
pub const INBOX_BACKLOG: &str = "homing_inbox_backlog";
/// Jobs in the delayed set (retries and scheduled pushes; set by the lease holder).
pub const DELAYED: &str = "homing_delayed_jobs";
/// Dead letters kept in `Q:dead` (set by the lease holder).
pub const DEAD: &str = "homing_dead_jobs";
/// Workers listed in `Q:workers` (set by the lease holder).
pub const WORKERS_ALIVE: &str = "homing_workers";
/// Errors talking to Redis, by `op`.
pub const REDIS_ERRORS: &str = "homing_redis_errors_total";
/// Envelopes waiting in `Q:ingress` (set by the lease holder).
pub const INGRESS_BACKLOG: &str = "homing_ingress_backlog";
/// 1 while a stored queue setting breaks its rule, by `field`; every script refuses the queue
/// until `homing queue init --update` fixes it (set by each worker that meets it).
pub const SETTINGS_INVALID: &str = "homing_settings_invalid";

/// Every name above with its one-line help text, for exporters and dashboard checks. Kinds
/// follow the names: `_total` counters, `_seconds` histograms, the rest gauges.
pub const ALL: &[(&str, &str)] = &[
    (JOBS_PUSHED, "Jobs pushed by producers, by route and reason."),
    (JOBS_STARTED, "Jobs started by workers, by source (inbox or overflow)."),
    (JOBS_FINISHED, "Jobs finished, by outcome (ok, retry, dead, stale)."),
    (JOBS_WARM, "Successful jobs that ran on their session's owner; over ok finishes, the affinity hit ratio."),
    (PINS_STAMPED, "Sessions a worker became the owner of."),
    (PINS_RELEASED, "Pins released, by reason (dead, stalled)."),
    (JOB_WAIT_SECONDS, "Seconds from first enqueue to start."),
    (JOB_RUN_SECONDS, "Seconds a handler ran."),
    (JOBS_PROMOTED, "Delayed jobs moved to a stream when due."),
    (JOBS_RECLAIMED, "Jobs taken back from a worker, by reason (dead, stalled, wait)."),
    (WORKERS_REAPED, "Dead workers removed after their jobs were taken back."),
    (INGRESS_ENVELOPES, "Envelopes taken from the ingress list, by outcome (routed, duplicate, malformed)."),
    (OVERFLOW_BACKLOG, "Entries in the overflow stream."),
    (INBOX_BACKLOG, "Entries in a live worker's inbox, by worker."),
    (DELAYED, "Jobs in the delayed set."),
    (DEAD, "Dead letters in the dead stream."),
    (WORKERS_ALIVE, "Workers listed as alive."),
    (REDIS_ERRORS, "Errors talking to Redis, by operation."),
    (INGRESS_BACKLOG, "Envelopes waiting in the ingress list."),
    (SETTINGS_INVALID, "1 while a stored queue setting breaks its rule, by field."),
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
        let mut listed: Vec<&str> = super::ALL.iter().map(|(name, _)| *name).collect();
        listed.sort();
        let mut sorted = declared.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
        assert!(declared.iter().all(|n| n.starts_with("homing_")));
    }
}

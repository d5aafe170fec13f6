//! What a probe asks of a worker: is it live (its loops still turn) and ready (connected to
//! Redis, registered, not draining). The binary serves these as `/healthz` and `/readyz`; the
//! worker's tasks only set the flags.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A cheap, cloneable view of one worker's health, for probes. Get it with
/// [`Worker::health`](crate::Worker::health) before `run`.
#[derive(Clone, Debug)]
pub struct Health(Arc<State>);

#[derive(Debug)]
struct State {
    started: Instant,
    /// Milliseconds since `started` of the heartbeat task's last attempt, failed or not.
    last_beat_attempt_ms: AtomicU64,
    /// Since when heartbeats have reached Redis without a failure (`None` while failing).
    connected_since: Mutex<Option<Instant>>,
    /// Whether a heartbeat ever failed to reach Redis.
    ever_lost: AtomicBool,
    /// The worker is in `Q:workers` (its first heartbeat succeeded) and has not left.
    registered: AtomicBool,
    draining: AtomicBool,
    /// Longest a healthy heartbeat task goes between attempts.
    stall_after: Duration,
}

impl Health {
    pub(crate) fn new(heartbeat_interval: Duration, liveness_ttl: Duration) -> Self {
        Self(Arc::new(State {
            started: Instant::now(),
            last_beat_attempt_ms: AtomicU64::new(0),
            // The worker is built on a working connection.
            connected_since: Mutex::new(Some(Instant::now())),
            ever_lost: AtomicBool::new(false),
            registered: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            // A heartbeat attempt can take up to a connection timeout (5 s) on top of its interval.
            stall_after: heartbeat_interval + liveness_ttl + Duration::from_secs(5),
        }))
    }

    /// Live while the heartbeat task keeps trying, whether Redis answers or not: restarting a
    /// worker because Redis is away would only drop its warm sessions.
    pub fn is_live(&self) -> bool {
        let last = Duration::from_millis(self.0.last_beat_attempt_ms.load(Ordering::Relaxed));
        self.0.started.elapsed().saturating_sub(last) <= self.0.stall_after
    }

    /// Ready while connected, registered and not draining: only then is work routed here.
    pub fn is_ready(&self) -> bool {
        self.0.connected_since.lock().expect("not poisoned").is_some()
            && self.0.registered.load(Ordering::Relaxed)
            && !self.0.draining.load(Ordering::Relaxed)
    }

    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn beat_attempted(&self, reached_redis: bool) {
        let now = self.0.started.elapsed().as_millis() as u64;
        self.0.last_beat_attempt_ms.store(now, Ordering::Relaxed);
        let mut since = self.0.connected_since.lock().expect("not poisoned");
        if reached_redis {
            self.0.registered.store(true, Ordering::Relaxed);
            since.get_or_insert_with(Instant::now);
        } else {
            *since = None;
            self.0.ever_lost.store(true, Ordering::Relaxed);
        }
    }

    /// How long heartbeats have reached Redis without a failure; zero while they fail.
    pub(crate) fn connected_for(&self) -> Duration {
        self.0.connected_since.lock().expect("not poisoned").map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// How long since heartbeats recovered from their last failure: `None` if none ever failed.
    pub(crate) fn recovered_for(&self) -> Option<Duration> {
        self.0.ever_lost.load(Ordering::Relaxed).then(|| self.connected_for())
    }

    pub(crate) fn set_draining(&self) {
        self.0.draining.store(true, Ordering::Relaxed);
    }

    pub(crate) fn left(&self) {
        self.0.registered.store(false, Ordering::Relaxed);
    }
}

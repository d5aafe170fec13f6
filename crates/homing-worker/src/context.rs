//! What every task of one worker in one partition shares: its id and the partition's keys,
//! config, connections, handler, and the state the tasks signal to each other (draining,
//! holding the maintenance lease, the entries in flight). A worker serving several partitions
//! has one `Ctx` per partition; they share the id, handler, connections, health and the
//! concurrency slots. The tasks themselves live in their own modules.

use crate::config::WorkerConfig;
use crate::connections::Connections;
use crate::error::Error;
use crate::health::Health;
use homing_core::{Keys, QueueSettings, WorkerId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Semaphore};

/// Where a job was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The worker's own inbox: the job was routed to it as its session's owner.
    Inbox,
    /// The shared overflow.
    Overflow,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Inbox => "inbox",
            Source::Overflow => "overflow",
        }
    }
}

/// What every task of one worker in one partition shares.
pub(crate) struct Ctx<H> {
    pub(crate) id: WorkerId,
    /// The keys of this partition.
    pub(crate) keys: Keys,
    pub(crate) inbox: String,
    pub(crate) overflow: String,
    pub(crate) config: WorkerConfig,
    /// One pool for every partition served.
    pub(crate) conns: Arc<Connections>,
    pub(crate) handler: Arc<H>,
    /// The worker's concurrency slots, one semaphore for every partition served: concurrency
    /// is what the process can run at once (its CPU, its memory, its model client), whichever
    /// partition the jobs come from. A handler holds a permit while it runs.
    pub(crate) slots: Arc<Semaphore>,
    /// How many partitions the queue has: its gauges carry a `partition` label only when more
    /// than one, so a single-partition queue's series are as they always were.
    pub(crate) partitions: u32,
    /// `partition{partition=k}` around this partition's tasks when the queue has more than one
    /// partition, else none, so the logs of a single-partition worker are as they always were.
    pub(crate) span: tracing::Span,
    /// Draining (set once shutdown began: heartbeats then report capacity 0, so nothing new is
    /// routed here), connected and registered, for probes.
    pub(crate) health: Health,
    /// The queue settings read at start (`visibility_timeout` sets the lease renewal period).
    pub(crate) settings: QueueSettings,
    /// True while this worker holds the maintenance lease (and so also routes ingress). A
    /// channel, not a flag, so that the tasks of a worker that does not hold it sleep until it
    /// does ([`Ctx::until_maintainer`]) instead of waking every tick to look.
    pub(crate) maintainer: watch::Sender<bool>,
    /// Entries this worker is running, by entry id, whose leases it renews.
    pub(crate) in_flight: Mutex<HashMap<String, Source>>,
    /// The stored queue setting that breaks its rule, if one does (see [`SettingsAlarm`]).
    pub(crate) bad_setting: SettingsAlarm,
    /// Finished jobs waiting for their (batched) completion call.
    pub(crate) completer: crate::complete::Completer,
}

/// Which stored queue setting breaks its rule, if any, so the worker says so once per change
/// (one log line and the `homing_settings_invalid{field}` gauge), however many of its tasks
/// meet the refusal.
#[derive(Default)]
pub(crate) struct SettingsAlarm(Mutex<Option<String>>);

impl SettingsAlarm {
    /// Notes `error` if it is a bad setting; true when it was one.
    pub(crate) fn seen(&self, worker: &WorkerId, error: &Error) -> bool {
        let Error::Core(homing_core::Error::BadSetting { field, message }) = error else { return false };
        let mut current = self.0.lock().expect("not poisoned");
        if current.as_deref() != Some(field.as_str()) {
            if let Some(old) = current.take() {
                metrics::gauge!(crate::metrics::SETTINGS_INVALID, "field" => old).set(0.0);
            }
            tracing::error!(worker = %worker, field = %field, "queue setting {message}; every script refuses this queue until it is fixed");
            metrics::gauge!(crate::metrics::SETTINGS_INVALID, "field" => field.clone()).set(1.0);
            *current = Some(field.clone());
        }
        true
    }

    /// A call that reads the settings went through: they are valid again.
    pub(crate) fn clear(&self, worker: &WorkerId) {
        let mut current = self.0.lock().expect("not poisoned");
        if let Some(field) = current.take() {
            tracing::info!(worker = %worker, field = %field, "queue settings valid again");
            metrics::gauge!(crate::metrics::SETTINGS_INVALID, "field" => field).set(0.0);
        }
    }
}

impl<H> Ctx<H> {
    /// The `partition` label of this partition's gauges: none when the queue has one partition.
    pub(crate) fn partition_label(&self) -> Vec<metrics::Label> {
        match self.partitions {
            0 | 1 => Vec::new(),
            _ => vec![metrics::Label::new("partition", self.keys.partition_index().to_string())],
        }
    }

    /// Whether this worker holds the maintenance lease now.
    pub(crate) fn is_maintainer(&self) -> bool {
        *self.maintainer.borrow()
    }

    /// Waits until this worker holds the maintenance lease; false once `stop` changed. The
    /// maintenance and ingress tasks of the other workers sleep here: waking every tick to
    /// find the lease elsewhere cost a thousand idle workers in one process 200,000 wake-ups a
    /// second (the 5 ms ingress tick), CPU that Redis then waited for on a shared host.
    pub(crate) async fn until_maintainer(&self, stop: &mut watch::Receiver<bool>) -> bool {
        let mut holds = self.maintainer.subscribe();
        tokio::select! {
            held = holds.wait_for(|h| *h) => held.is_ok(),
            _ = stop.changed() => false,
        }
    }

    pub(crate) fn stream(&self, source: Source) -> &str {
        match source {
            Source::Inbox => &self.inbox,
            Source::Overflow => &self.overflow,
        }
    }

    pub(crate) fn capacity(&self) -> u32 {
        if self.health.is_draining() {
            0
        } else {
            self.config.concurrency
        }
    }

    /// Creates the consumer groups of the inbox and the overflow. Groups start at `0` so jobs
    /// pushed before any worker existed are delivered too.
    pub(crate) async fn ensure_groups(&self) -> Result<(), Error> {
        let mut conn = self.conns.shared().await?;
        for stream in [&self.inbox, &self.overflow] {
            let r: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(stream)
                .arg(homing_core::keys::GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            match r {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other?,
            }
        }
        Ok(())
    }
}

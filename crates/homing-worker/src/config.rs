//! Worker configuration: every setting with its default and why. The binary maps flags and
//! environment variables onto this struct; the library never reads the environment.

use crate::error::Error;
use homing_core::{QueueSettings, RedisTarget};
use std::path::PathBuf;
use std::time::Duration;

/// How a worker connects, how much it runs at once, and its timings.
///
/// Start from [`WorkerConfig::new`] (or `Default`) and change what you need, with the
/// builder methods or by setting fields; each field's doc gives its default and why:
///
/// ```
/// use homing_worker::WorkerConfig;
/// use std::time::Duration;
///
/// let config = WorkerConfig::new("redis://127.0.0.1:6379", "chat")
///     .name("chat-worker")
///     .concurrency(32)
///     .job_timeout(Duration::from_secs(60));
/// assert_eq!(config.concurrency, 32);
/// assert_eq!(config.liveness_ttl, Duration::from_secs(3)); // the default
/// ```
///
/// Its `Debug` output hides the password in `redis_url` and `redis_password`.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Redis URL. Default `redis://127.0.0.1:6379`. With `redis_cluster`, one node of the
    /// cluster or a comma-separated list of them.
    pub redis_url: String,
    /// Connect to a Redis Cluster. Default false: one Redis, what most deployments run.
    pub redis_cluster: bool,
    /// PEM file of the CA that signed the Redis server's certificate, for a `rediss://` URL.
    /// Default none: the system's trusted roots (right for a managed Redis with a public CA).
    pub redis_ca_file: Option<PathBuf>,
    /// PEM client certificate, for a Redis started with `tls-auth-clients yes`. Default none.
    pub redis_client_cert: Option<PathBuf>,
    /// PEM private key of `redis_client_cert`. Default none.
    pub redis_client_key: Option<PathBuf>,
    /// Redis ACL user; overrides the URL's. Default none: the URL's, else `default`.
    pub redis_username: Option<String>,
    /// Redis password; overrides the URL's. Default none: the URL's.
    pub redis_password: Option<String>,
    /// Queue name. Default `default`.
    pub queue: String,
    /// Key prefix; producers must use the same. Default `homing`.
    pub prefix: String,
    /// The worker's name; its id is `<name>-<random suffix>`, new at every start. Default
    /// `worker`; the binary uses the host name (the pod name on Kubernetes).
    pub name: String,
    /// Jobs run at once. Default 8: enough to overlap I/O-bound handlers (model calls, HTTP)
    /// on a small pod; raise it when `homing_jobs_routed_total{reason="busy"}` climbs while CPU
    /// is idle, lower it for CPU-bound handlers.
    pub concurrency: u32,
    /// How often the worker renews its liveness deadline. Default 1 s: a third of
    /// `liveness_ttl`, so two heartbeats may be lost before the worker counts as dead.
    pub heartbeat_interval: Duration,
    /// How long after its last heartbeat a worker counts as dead, its pins released at the
    /// next push. Default 3 s: Temporal's sticky queues take 5–10 s to fall back, BullMQ 30–60 s;
    /// lower means faster failover but more false deaths under GC or network pauses.
    pub liveness_ttl: Duration,
    /// The longest one job may run; past it the handler is cancelled and the job retried.
    /// Default 5 min: far above a chat turn or an inference call, low enough to free a slot
    /// held by a hung dependency.
    pub job_timeout: Duration,
    /// How long an idle worker waits for a bell (`BLPOP` on its inbox's and the overflow's,
    /// with a fetch pipelined behind it) before it waits again. New jobs ring a bell and wake
    /// it at once, and shutdown drops the wait, so this only sets what an idle worker costs
    /// Redis: the wait and one empty fetch (five commands) per `idle_block`. Default 10 s: with
    /// the heartbeat, under five commands a second per idle worker, so a thousand replicas
    /// cost Redis less than 5k commands a second.
    pub idle_block: Duration,
    /// How often maintenance runs (promoting due delayed jobs). Default 100 ms: a delayed job
    /// or retry starts at most this late.
    pub maintenance_interval: Duration,
    /// How long `run` waits for in-flight jobs after shutdown before handing them back.
    /// Default 30 s: Kubernetes' default termination grace period.
    pub shutdown_grace: Duration,
    /// Settings written to `Q:meta` if the queue has none yet (first writer wins); otherwise
    /// the stored ones are used and a difference is logged.
    pub queue_settings: QueueSettings,
    /// The partitions of the queue this worker serves (registers in, fetches from, maintains).
    /// Default `None`: every partition of the queue (its `partitions` setting), what a fleet on
    /// one Redis or a small cluster wants. `Some(list)` serves only those, e.g. to pin a fleet
    /// to the partitions on one region's masters; every partition must then be served by some
    /// fleet, or its jobs wait. Concurrency is the process's, shared by the partitions served.
    pub serve_partitions: Option<Vec<u32>>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            redis_url: "redis://127.0.0.1:6379".to_string(),
            redis_cluster: false,
            redis_ca_file: None,
            redis_client_cert: None,
            redis_client_key: None,
            redis_username: None,
            redis_password: None,
            queue: "default".to_string(),
            prefix: homing_core::keys::DEFAULT_PREFIX.to_string(),
            name: "worker".to_string(),
            concurrency: 8,
            heartbeat_interval: Duration::from_secs(1),
            liveness_ttl: Duration::from_secs(3),
            job_timeout: Duration::from_secs(300),
            idle_block: Duration::from_secs(10),
            maintenance_interval: Duration::from_millis(100),
            shutdown_grace: Duration::from_secs(30),
            queue_settings: QueueSettings::default(),
            serve_partitions: None,
        }
    }
}

impl WorkerConfig {
    /// A default config for `queue` on `redis_url`.
    pub fn new(redis_url: impl Into<String>, queue: impl Into<String>) -> Self {
        Self { redis_url: redis_url.into(), queue: queue.into(), ..Self::default() }
    }

    /// Sets [`WorkerConfig::redis_cluster`].
    pub fn redis_cluster(mut self, cluster: bool) -> Self {
        self.redis_cluster = cluster;
        self
    }

    /// Sets [`WorkerConfig::redis_ca_file`].
    pub fn redis_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.redis_ca_file = Some(path.into());
        self
    }

    /// Sets [`WorkerConfig::redis_client_cert`] and [`WorkerConfig::redis_client_key`].
    pub fn redis_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.redis_client_cert = Some(cert.into());
        self.redis_client_key = Some(key.into());
        self
    }

    /// Sets [`WorkerConfig::redis_username`].
    pub fn redis_username(mut self, username: impl Into<String>) -> Self {
        self.redis_username = Some(username.into());
        self
    }

    /// Sets [`WorkerConfig::redis_password`].
    pub fn redis_password(mut self, password: impl Into<String>) -> Self {
        self.redis_password = Some(password.into());
        self
    }

    /// Where Redis is and how to reach it, as `homing_core::connect` builds clients from it.
    pub fn redis_target(&self) -> RedisTarget {
        RedisTarget {
            url: self.redis_url.clone(),
            cluster: self.redis_cluster,
            ca_file: self.redis_ca_file.clone(),
            client_cert: self.redis_client_cert.clone(),
            client_key: self.redis_client_key.clone(),
            username: self.redis_username.clone(),
            password: self.redis_password.clone(),
        }
    }

    /// Takes the URL, TLS files and user of `target`.
    pub fn with_redis_target(mut self, target: RedisTarget) -> Self {
        self.redis_url = target.url;
        self.redis_cluster = target.cluster;
        self.redis_ca_file = target.ca_file;
        self.redis_client_cert = target.client_cert;
        self.redis_client_key = target.client_key;
        self.redis_username = target.username;
        self.redis_password = target.password;
        self
    }

    /// Sets [`WorkerConfig::prefix`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`WorkerConfig::name`].
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets [`WorkerConfig::concurrency`].
    pub fn concurrency(mut self, concurrency: u32) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets [`WorkerConfig::heartbeat_interval`].
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets [`WorkerConfig::liveness_ttl`].
    pub fn liveness_ttl(mut self, ttl: Duration) -> Self {
        self.liveness_ttl = ttl;
        self
    }

    /// Sets [`WorkerConfig::job_timeout`].
    pub fn job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = timeout;
        self
    }

    /// Sets [`WorkerConfig::idle_block`].
    pub fn idle_block(mut self, block: Duration) -> Self {
        self.idle_block = block;
        self
    }

    /// Sets [`WorkerConfig::maintenance_interval`].
    pub fn maintenance_interval(mut self, interval: Duration) -> Self {
        self.maintenance_interval = interval;
        self
    }

    /// Sets [`WorkerConfig::shutdown_grace`].
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`WorkerConfig::queue_settings`].
    pub fn queue_settings(mut self, settings: QueueSettings) -> Self {
        self.queue_settings = settings;
        self
    }

    /// Sets [`WorkerConfig::serve_partitions`].
    pub fn serve_partitions(mut self, partitions: impl IntoIterator<Item = u32>) -> Self {
        self.serve_partitions = Some(partitions.into_iter().collect());
        self
    }

    /// Checks ranges and relations; the error names the setting and the fix. Whether the
    /// served partitions exist is checked by `Worker::new`, which reads the queue's count.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.concurrency == 0 || self.concurrency > 10_000 {
            return bad(format!("concurrency must be 1-10000, got {}", self.concurrency));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval * 2 > self.liveness_ttl {
            return bad(format!(
                "heartbeat_interval ({:?}) must be > 0 and at most half of liveness_ttl ({:?}), or a healthy worker looks dead",
                self.heartbeat_interval, self.liveness_ttl
            ));
        }
        if self.job_timeout.is_zero() {
            return bad("job_timeout must be > 0".to_string());
        }
        if self.idle_block < Duration::from_millis(10) || self.maintenance_interval < Duration::from_millis(10) {
            return bad("idle_block and maintenance_interval must be at least 10 ms".to_string());
        }
        if let Some(served) = &self.serve_partitions {
            if served.is_empty() {
                return bad(
                    "serve_partitions is empty: list at least one partition, or leave it unset to serve all".into()
                );
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(twice) = served.iter().find(|k| !seen.insert(**k)) {
                return bad(format!("serve_partitions lists {twice} twice: list each partition once"));
            }
        }
        self.queue_settings.validate()?;
        Ok(())
    }
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("redis_url", &self.redis_target().shown_url())
            .field("redis_cluster", &self.redis_cluster)
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_client_cert", &self.redis_client_cert)
            .field("redis_client_key", &self.redis_client_key)
            .field("redis_username", &self.redis_username)
            .field("redis_password", &self.redis_password.as_ref().map(|_| "***"))
            .field("queue", &self.queue)
            .field("prefix", &self.prefix)
            .field("name", &self.name)
            .field("concurrency", &self.concurrency)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("liveness_ttl", &self.liveness_ttl)
            .field("job_timeout", &self.job_timeout)
            .field("idle_block", &self.idle_block)
            .field("maintenance_interval", &self.maintenance_interval)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("queue_settings", &self.queue_settings)
            .field("serve_partitions", &self.serve_partitions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_redis_password() {
        let shown =
            format!("{:?}", WorkerConfig::new("redis://app:hunter2@redis:6379/0", "chat").redis_password("hunter3"));
        assert!(shown.contains(r#"redis_url: "redis://***@redis:6379/0""#), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
    }

    #[test]
    fn each_builder_method_sets_its_field() {
        let s = Duration::from_secs;
        let settings = QueueSettings { max_waiting: 3, ..Default::default() };
        let c = WorkerConfig::new("redis://r", "q")
            .prefix("p")
            .name("n")
            .concurrency(2)
            .heartbeat_interval(s(4))
            .liveness_ttl(s(5))
            .job_timeout(s(6))
            .idle_block(s(7))
            .maintenance_interval(s(8))
            .shutdown_grace(s(9))
            .queue_settings(settings.clone())
            .serve_partitions([2, 0])
            .redis_cluster(true)
            .redis_ca_file("/ca")
            .redis_client_cert("/cert", "/key")
            .redis_username("u")
            .redis_password("pw");
        let t = c.redis_target();
        assert_eq!(
            (t.ca_file, t.client_cert, t.client_key),
            (Some("/ca".into()), Some("/cert".into()), Some("/key".into()))
        );
        assert_eq!((t.username.as_deref(), t.password.as_deref()), (Some("u"), Some("pw")));
        assert!(t.cluster);
        let got = (c.prefix.as_str(), c.name.as_str(), c.concurrency, c.heartbeat_interval, c.liveness_ttl);
        assert_eq!(got, ("p", "n", 2, s(4), s(5)));
        assert_eq!((c.job_timeout, c.idle_block, c.maintenance_interval, c.shutdown_grace), (s(6), s(7), s(8), s(9)));
        assert_eq!((c.redis_url.as_str(), c.queue.as_str(), c.queue_settings), ("redis://r", "q", settings));
        assert_eq!(c.serve_partitions, Some(vec![2, 0]));
    }

    #[test]
    fn defaults_are_valid() {
        WorkerConfig::default().validate().unwrap();
    }

    #[test]
    fn heartbeat_must_fit_twice_in_liveness() {
        let c = WorkerConfig { heartbeat_interval: Duration::from_secs(2), ..Default::default() };
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid worker config: heartbeat_interval (2s) must be > 0 and at most half"),
            "{err}"
        );
        let c = WorkerConfig { concurrency: 0, ..Default::default() };
        assert_eq!(c.validate().unwrap_err().to_string(), "invalid worker config: concurrency must be 1-10000, got 0");
    }

    #[test]
    fn served_partitions_are_listed_once_each() {
        let c = WorkerConfig::default().serve_partitions([]);
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid worker config: serve_partitions is empty: list at least one partition, or leave it unset to serve all"
        );
        let c = WorkerConfig::default().serve_partitions([0, 2, 0]);
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid worker config: serve_partitions lists 0 twice: list each partition once"
        );
        WorkerConfig::default().serve_partitions([2, 0]).validate().unwrap();
    }
}

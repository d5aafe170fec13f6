//! Flags shared by several subcommands: where Redis is, which queue, and the queue settings.
//! Each flag has one environment variable; the README's config table lists them all.

use clap::Args;
use homing_core::{AffinityMode, Keys, QueueName, QueueSettings};
use std::time::Duration;

/// Flags every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Redis URL. [default: redis://127.0.0.1:6379; `demo` starts its own redis-server instead]
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// The Redis is a Redis Cluster; --redis-url names one node of it or a comma-separated list.
    #[arg(long, env = "HOMING_REDIS_CLUSTER", global = true)]
    pub redis_cluster: bool,
    /// PEM file of the CA that signed the Redis server's certificate, for a rediss:// URL.
    /// [default: the system's trusted roots]
    #[arg(long, env = "HOMING_REDIS_CA_FILE", global = true)]
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate, for a Redis started with `tls-auth-clients yes`; needs
    /// --redis-client-key.
    #[arg(long, env = "HOMING_REDIS_CLIENT_CERT", global = true)]
    pub redis_client_cert: Option<std::path::PathBuf>,
    /// PEM private key of --redis-client-cert.
    #[arg(long, env = "HOMING_REDIS_CLIENT_KEY", global = true)]
    pub redis_client_key: Option<std::path::PathBuf>,
    /// Redis ACL user; overrides the URL's. [default: the URL's, else `default`]
    #[arg(long, env = "HOMING_REDIS_USERNAME", global = true)]
    pub redis_username: Option<String>,
    /// Redis password; overrides the URL's. Prefer the environment variable (from a secret):
    /// a flag shows in the process list.
    #[arg(long, env = "HOMING_REDIS_PASSWORD", hide_env_values = true, global = true)]
    pub redis_password: Option<String>,
    /// Queue name: 1-64 of [A-Za-z0-9_.-].
    #[arg(long, env = "HOMING_QUEUE", default_value = "default", global = true)]
    pub queue: String,
    /// Key prefix; producers and workers must agree.
    #[arg(long, env = "HOMING_PREFIX", default_value = homing_core::keys::DEFAULT_PREFIX, global = true)]
    pub prefix: String,
    /// Log format on stderr: text or json (one object per line). Filter with RUST_LOG.
    /// [default: text]
    #[arg(long, env = "HOMING_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

/// How logs are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Global {
    /// The Redis URL given, or the local default.
    pub fn url(&self) -> &str {
        self.redis_url.as_deref().unwrap_or("redis://127.0.0.1:6379")
    }

    /// Where Redis is and how to reach it: the URL, the TLS files and the ACL user.
    pub fn target(&self) -> homing_core::RedisTarget {
        self.target_at(self.url())
    }

    /// `url` with the TLS files and ACL user of these flags.
    pub fn target_at(&self, url: &str) -> homing_core::RedisTarget {
        homing_core::RedisTarget {
            url: url.to_string(),
            cluster: self.redis_cluster,
            ca_file: self.redis_ca_file.clone(),
            client_cert: self.redis_client_cert.clone(),
            client_key: self.redis_client_key.clone(),
            username: self.redis_username.clone(),
            password: self.redis_password.clone(),
        }
    }

    /// The Redis URL as it may be printed: userinfo and secret parameters hidden.
    pub fn shown_url(&self) -> String {
        self.target().shown_url()
    }

    /// The queue's keys; checks the queue name and prefix before anything connects.
    pub fn keys(&self) -> Result<Keys, homing_core::Error> {
        Keys::new(&self.prefix, &QueueName::new(self.queue.as_str())?)
    }
}

/// Queue settings (`Q:meta`). Unset flags keep the default (on a new queue) or the stored
/// value (with `queue init --update`).
#[derive(Args, Debug, Clone, Default)]
pub struct SettingsArgs {
    /// Affinity mode: on, off (everything through the overflow) or shadow (off, but counting
    /// would-be hits). [default: on]
    #[arg(long, env = "HOMING_AFFINITY")]
    pub affinity: Option<AffinityMode>,
    /// Jobs that may wait behind a busy owner before the next one spills (when no more wait in
    /// the overflow). [default: 32]
    #[arg(long, env = "HOMING_MAX_WAITING")]
    pub max_waiting: Option<u32>,
    /// How long a pin lives without a job refreshing it. [default: 30m]
    #[arg(long, env = "HOMING_PIN_TTL", value_parser = humantime::parse_duration)]
    pub pin_ttl: Option<Duration>,
    /// Attempts before a failing job is dead-lettered. [default: 5]
    #[arg(long, env = "HOMING_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// Largest payload in bytes. [default: 1048576]
    #[arg(long, env = "HOMING_MAX_PAYLOAD")]
    pub max_payload: Option<usize>,
    /// First retry's backoff; it doubles per attempt. [default: 1s]
    #[arg(long, env = "HOMING_BACKOFF_BASE", value_parser = humantime::parse_duration)]
    pub backoff_base: Option<Duration>,
    /// Cap on the retry backoff. [default: 5m]
    #[arg(long, env = "HOMING_BACKOFF_MAX", value_parser = humantime::parse_duration)]
    pub backoff_max: Option<Duration>,
    /// Longest a job waits undelivered in its owner's inbox before another worker may take it. [default: 2s]
    #[arg(long, env = "HOMING_MAX_WAIT", value_parser = humantime::parse_duration)]
    pub max_wait: Option<Duration>,
    /// How long a running job may go without its worker renewing its lease before it is
    /// reclaimed. [default: 30s]
    #[arg(long, env = "HOMING_VISIBILITY_TIMEOUT", value_parser = humantime::parse_duration)]
    pub visibility_timeout: Option<Duration>,
    /// Key sets the queue is split into, one Redis Cluster hash tag each (a session's jobs stay
    /// in one); fixed when the queue is created. [default: 1]
    #[arg(long, env = "HOMING_PARTITIONS")]
    pub partitions: Option<u32>,
}

impl SettingsArgs {
    /// `base` with every flag that was given applied on top.
    pub fn apply(&self, base: QueueSettings) -> QueueSettings {
        QueueSettings {
            affinity: self.affinity.unwrap_or(base.affinity),
            max_waiting: self.max_waiting.unwrap_or(base.max_waiting),
            pin_ttl: self.pin_ttl.unwrap_or(base.pin_ttl),
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            max_payload: self.max_payload.unwrap_or(base.max_payload),
            backoff_base: self.backoff_base.unwrap_or(base.backoff_base),
            backoff_max: self.backoff_max.unwrap_or(base.backoff_max),
            max_wait: self.max_wait.unwrap_or(base.max_wait),
            visibility_timeout: self.visibility_timeout.unwrap_or(base.visibility_timeout),
            partitions: self.partitions.unwrap_or(base.partitions),
        }
    }
}

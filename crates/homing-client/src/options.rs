//! Options for connecting a producer and for one push, each default with its reason.

use homing_core::RedisTarget;
use std::path::PathBuf;
use std::time::Duration;

/// How a [`crate::Producer`] connects. Start from `ProducerOptions::default()`; each field's
/// doc gives its default and why.
///
/// ```
/// use homing_client::ProducerOptions;
/// use std::time::Duration;
///
/// let options = ProducerOptions::default().prefix("staging").response_timeout(Duration::from_secs(5));
/// assert_eq!((options.prefix.as_str(), options.response_timeout), ("staging", Duration::from_secs(5)));
/// ```
/// Its `Debug` output hides `redis_password`.
#[derive(Clone)]
pub struct ProducerOptions {
    /// Key prefix; must match the workers'. Default `homing`.
    pub prefix: String,
    /// How long one Redis call may take before it fails with a retryable error. Default 2 s:
    /// well above a push's sub-millisecond cost, short enough that a caller stuck behind a dead
    /// Redis hears about it quickly (redis-rs's own 500 ms default trips on a busy server).
    pub response_timeout: Duration,
    /// Connect to a Redis Cluster; the URL names one node of it or a comma-separated list.
    /// Default false: one Redis, what most deployments run.
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
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self {
            prefix: homing_core::keys::DEFAULT_PREFIX.to_string(),
            response_timeout: Duration::from_secs(2),
            redis_cluster: false,
            redis_ca_file: None,
            redis_client_cert: None,
            redis_client_key: None,
            redis_username: None,
            redis_password: None,
        }
    }
}

impl std::fmt::Debug for ProducerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerOptions")
            .field("prefix", &self.prefix)
            .field("response_timeout", &self.response_timeout)
            .field("redis_cluster", &self.redis_cluster)
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_client_cert", &self.redis_client_cert)
            .field("redis_client_key", &self.redis_client_key)
            .field("redis_username", &self.redis_username)
            .field("redis_password", &self.redis_password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl ProducerOptions {
    /// Sets [`ProducerOptions::prefix`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`ProducerOptions::response_timeout`].
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets [`ProducerOptions::redis_cluster`].
    pub fn redis_cluster(mut self, cluster: bool) -> Self {
        self.redis_cluster = cluster;
        self
    }

    /// Sets [`ProducerOptions::redis_ca_file`].
    pub fn redis_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.redis_ca_file = Some(path.into());
        self
    }

    /// Sets [`ProducerOptions::redis_client_cert`] and [`ProducerOptions::redis_client_key`].
    pub fn redis_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.redis_client_cert = Some(cert.into());
        self.redis_client_key = Some(key.into());
        self
    }

    /// Sets [`ProducerOptions::redis_username`].
    pub fn redis_username(mut self, username: impl Into<String>) -> Self {
        self.redis_username = Some(username.into());
        self
    }

    /// Sets [`ProducerOptions::redis_password`].
    pub fn redis_password(mut self, password: impl Into<String>) -> Self {
        self.redis_password = Some(password.into());
        self
    }

    /// Takes the cluster mode, TLS files and user of `target` (its URL is given to
    /// `connect_with`).
    pub fn with_redis_target(mut self, target: &RedisTarget) -> Self {
        self.redis_cluster = target.cluster;
        self.redis_ca_file = target.ca_file.clone();
        self.redis_client_cert = target.client_cert.clone();
        self.redis_client_key = target.client_key.clone();
        self.redis_username = target.username.clone();
        self.redis_password = target.password.clone();
        self
    }

    /// `url` with these options' cluster mode, TLS files and user, as `homing_core::connect`
    /// builds clients.
    pub fn redis_target(&self, url: &str) -> RedisTarget {
        RedisTarget {
            url: url.to_string(),
            cluster: self.redis_cluster,
            ca_file: self.redis_ca_file.clone(),
            client_cert: self.redis_client_cert.clone(),
            client_key: self.redis_client_key.clone(),
            username: self.redis_username.clone(),
            password: self.redis_password.clone(),
        }
    }
}

/// Options for one push. `PushOptions::default()` routes at once with no key.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Run no earlier than this from now. Default none.
    pub delay: Option<Duration>,
    /// Idempotency key: a second push with the same key within `key_ttl` enqueues nothing and
    /// returns the first job's id. Default none.
    pub key: Option<String>,
    /// How long an idempotency key is remembered. Default (when `None`) 24 h: longer than any
    /// producer's retry loop, short enough that keys do not pile up in Redis.
    pub key_ttl: Option<Duration>,
    /// Attempts before this job is dead-lettered, overriding the queue's `max_attempts`; the
    /// queue setting's rule applies (1-1000, `homing_core::settings::SETTING_RULES`).
    pub max_attempts: Option<u32>,
    /// A job id chosen by the caller (1–64 bytes) instead of a generated one.
    pub id: Option<String>,
}

impl PushOptions {
    /// The idempotency key's default lifetime.
    pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

    /// Delays the job by `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sets the idempotency key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Overrides the queue's `max_attempts` for this job.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Sets how long the idempotency key is remembered.
    pub fn key_ttl(mut self, ttl: Duration) -> Self {
        self.key_ttl = Some(ttl);
        self
    }

    /// Uses `id` as the job id instead of a generated one.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_builder_method_sets_its_field() {
        let p = ProducerOptions::default()
            .prefix("p")
            .response_timeout(Duration::from_secs(9))
            .redis_ca_file("/ca")
            .redis_client_cert("/cert", "/key")
            .redis_username("u")
            .redis_password("hunter2");
        assert_eq!((p.prefix.as_str(), p.response_timeout), ("p", Duration::from_secs(9)));
        let t = p.redis_target("rediss://r");
        assert_eq!(
            (t.url.as_str(), t.ca_file, t.client_cert, t.client_key),
            ("rediss://r", Some("/ca".into()), Some("/cert".into()), Some("/key".into()))
        );
        assert_eq!((t.username.as_deref(), t.password.as_deref()), (Some("u"), Some("hunter2")));
        assert!(!format!("{p:?}").contains("hunter2"));
        let o = PushOptions::default()
            .delay(Duration::from_secs(1))
            .key("k")
            .key_ttl(Duration::from_secs(2))
            .max_attempts(3)
            .id("i");
        assert_eq!(
            (o.delay, o.key.as_deref(), o.key_ttl),
            (Some(Duration::from_secs(1)), Some("k"), Some(Duration::from_secs(2)))
        );
        assert_eq!((o.max_attempts, o.id.as_deref()), (Some(3), Some("i")));
    }
}

//! Options for connecting a producer and for one push, each default with its reason.

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
#[derive(Clone, Debug)]
pub struct ProducerOptions {
    /// Key prefix; must match the workers'. Default `homing`.
    pub prefix: String,
    /// How long one Redis call may take before it fails with a retryable error. Default 2 s:
    /// well above a push's sub-millisecond cost, short enough that a caller stuck behind a dead
    /// Redis hears about it quickly (redis-rs's own 500 ms default trips on a busy server).
    pub response_timeout: Duration,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self { prefix: homing_core::keys::DEFAULT_PREFIX.to_string(), response_timeout: Duration::from_secs(2) }
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
        let p = ProducerOptions::default().prefix("p").response_timeout(Duration::from_secs(9));
        assert_eq!((p.prefix.as_str(), p.response_timeout), ("p", Duration::from_secs(9)));
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

//! Queue settings kept in `Q:meta`, which the scripts read so every producer and worker agrees.
//! The first worker (or `homing queue init`) writes them; later ones use what is stored.

use crate::error::{malformed, Error};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// The wire and key-layout version this build speaks. Scripts refuse a queue stamped with
/// another version, so a mixed deployment fails loudly instead of corrupting state.
pub const PROTOCOL_VERSION: u32 = 1;

/// Whether pins steer jobs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AffinityMode {
    /// Jobs go to their session's owner when it is alive and has room.
    #[default]
    On,
    /// Every job goes to the overflow: the baseline every benchmark compares with.
    Off,
    /// Every job goes to the overflow, but receipts and metrics report would-be hits, so the
    /// gain can be measured before turning affinity on.
    Shadow,
}

impl AffinityMode {
    /// The word stored in `Q:meta`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AffinityMode::On => "on",
            AffinityMode::Off => "off",
            AffinityMode::Shadow => "shadow",
        }
    }
}

impl fmt::Display for AffinityMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AffinityMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "on" => Ok(AffinityMode::On),
            "off" => Ok(AffinityMode::Off),
            "shadow" => Ok(AffinityMode::Shadow),
            other => Err(Error::InvalidArgument(format!("affinity must be on, off or shadow, got {other:?}"))),
        }
    }
}

/// The settings every script of a queue reads from `Q:meta`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// Whether pins steer jobs. Default `on`.
    pub affinity: AffinityMode,
    /// Jobs that may queue behind a busy owner before the next one spills. Default 1: a bounded
    /// queue of depth one on the warm worker, so a warm job waits at most about one job's run
    /// time; raise it when `homing_jobs_routed_total{reason="busy"}` is high and warm runs are
    /// much cheaper than cold ones.
    pub max_waiting: u32,
    /// How long a pin lives without a job refreshing it. Default 30 min: the life of a typical
    /// warm cache (conversation context, logged-in session); match it to your cache's idle TTL.
    pub pin_ttl: Duration,
    /// Attempts before a failing job is dead-lettered. Default 5: transient faults (a flaky
    /// dependency, a deploy) get four retries over about 15 s of backoff; a job that fails five
    /// times is likely broken and belongs in `Q:dead` for a human.
    pub max_attempts: u32,
    /// The largest payload accepted, in bytes. Default 1 MiB: Redis keeps every queued byte in
    /// memory; larger data belongs in object storage with a reference in the payload.
    pub max_payload: usize,
    /// The first retry's backoff. Default 1 s: long enough for a restarted dependency to come
    /// back, short enough that a user-facing turn is retried while the user still waits.
    pub backoff_base: Duration,
    /// The cap on the exponential backoff. Default 5 min.
    pub backoff_max: Duration,
    /// The longest a job waits undelivered in its owner's inbox before it moves to the
    /// overflow (route `spill:wait`). Default 2 s: a healthy owner starts a queued job within
    /// about one run (the inbox holds at most `capacity + max_waiting`), so this only fires for
    /// a slow or stuck owner, and past 2 s a cold run elsewhere (45 ms to about a second for a
    /// conversation cache) is cheaper than waiting on. Lower it when
    /// `homing_job_wait_seconds` for inbox jobs has a long tail.
    pub max_wait: Duration,
    /// How long a delivered job may go without its worker renewing its lease before it is
    /// reclaimed and its session unpinned. Default 30 s: workers renew every third of it, so
    /// only a worker stopped for 30 s (a frozen process, a partition) loses its jobs, never one
    /// in a GC pause; a reclaimed job runs again, so keep it well above such pauses.
    pub visibility_timeout: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            affinity: AffinityMode::On,
            max_waiting: 1,
            pin_ttl: Duration::from_secs(30 * 60),
            max_attempts: 5,
            max_payload: 1024 * 1024,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            max_wait: Duration::from_secs(2),
            visibility_timeout: Duration::from_secs(30),
        }
    }
}

impl QueueSettings {
    /// Checks ranges before anything is written; the error names the setting and the fix.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        if self.pin_ttl.is_zero() {
            return bad("pin_ttl must be > 0");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be >= 1");
        }
        if self.max_payload == 0 || self.max_payload > 512 * 1024 * 1024 {
            return bad("max_payload must be 1 byte to 512 MiB (Redis's string limit)");
        }
        if self.backoff_base.is_zero() || self.backoff_max < self.backoff_base {
            return bad("backoff_base must be > 0 and backoff_max >= backoff_base");
        }
        if self.max_wait.is_zero() {
            return bad("max_wait must be > 0");
        }
        if self.visibility_timeout < Duration::from_millis(300) {
            return bad("visibility_timeout must be at least 300 ms (workers renew leases every third of it)");
        }
        Ok(())
    }

    /// The settings as `Q:meta` fields (without `version`).
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("affinity", self.affinity.as_str().to_string()),
            ("max_waiting", self.max_waiting.to_string()),
            ("pin_ttl_ms", self.pin_ttl.as_millis().to_string()),
            ("max_attempts", self.max_attempts.to_string()),
            ("max_payload", self.max_payload.to_string()),
            ("backoff_base_ms", self.backoff_base.as_millis().to_string()),
            ("backoff_max_ms", self.backoff_max.as_millis().to_string()),
            ("max_wait_ms", self.max_wait.as_millis().to_string()),
            ("visibility_timeout_ms", self.visibility_timeout.as_millis().to_string()),
        ]
    }

    /// Parses the fields of `Q:meta`, checking the protocol version first.
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Self, Error> {
        let version = fields.get("version").ok_or_else(|| malformed("Q:meta has no version"))?;
        if version != &PROTOCOL_VERSION.to_string() {
            return Err(Error::ProtocolMismatch(format!(
                "queue speaks protocol {version}, this build speaks {PROTOCOL_VERSION}: upgrade the older side"
            )));
        }
        fn num<T: std::str::FromStr>(f: &HashMap<String, String>, name: &str) -> Result<T, Error> {
            let raw = f.get(name).ok_or_else(|| malformed(format!("Q:meta has no {name}")))?;
            raw.parse().map_err(|_| malformed(format!("Q:meta {name} is not a number: {raw:?}")))
        }
        let ms = |name: &str| num::<u64>(fields, name).map(Duration::from_millis);
        let affinity = fields.get("affinity").ok_or_else(|| malformed("Q:meta has no affinity"))?;
        Ok(Self {
            affinity: affinity.parse()?,
            max_waiting: num(fields, "max_waiting")?,
            pin_ttl: ms("pin_ttl_ms")?,
            max_attempts: num(fields, "max_attempts")?,
            max_payload: num(fields, "max_payload")?,
            backoff_base: ms("backoff_base_ms")?,
            backoff_max: ms("backoff_max_ms")?,
            max_wait: ms("max_wait_ms")?,
            visibility_timeout: ms("visibility_timeout_ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_meta_fields() {
        let s = QueueSettings { affinity: AffinityMode::Shadow, max_waiting: 3, ..Default::default() };
        let mut fields: HashMap<String, String> = s.to_fields().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        fields.insert("version".into(), "1".into());
        assert_eq!(QueueSettings::from_fields(&fields).unwrap(), s);
        fields.insert("version".into(), "2".into());
        assert!(matches!(QueueSettings::from_fields(&fields), Err(Error::ProtocolMismatch(_))));
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let s = QueueSettings { max_attempts: 0, ..Default::default() };
        assert_eq!(s.validate().unwrap_err().to_string(), "invalid argument: max_attempts must be >= 1");
        assert!(QueueSettings::default().validate().is_ok());
        assert!("sideways".parse::<AffinityMode>().is_err());
    }
}

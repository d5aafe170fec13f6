//! Job, worker and producer ids. A worker id names one process incarnation: `<name>-<suffix>`,
//! new at every start, so a restarted pod never inherits the pins or inbox of its former self.

use crate::error::Error;
use crate::keys::check_name;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A job id: 12 hex digits of milliseconds then 16 random hex digits, so ids sort roughly by
/// creation time and collide with negligible probability.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// A fresh, unique id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Self(format!("{:012x}{:016x}", ms & 0xffff_ffff_ffff, fastrand::u64(..)))
    }

    /// An id given by the caller or read from Redis; must be 1–64 bytes.
    pub fn parse(id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        if id.is_empty() || id.len() > 64 {
            return Err(Error::InvalidArgument(format!("job id must be 1-64 bytes, got {}", id.len())));
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One worker process incarnation: `<name>-<8 random hex digits>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    /// The longest worker name (a Kubernetes pod name is at most 63 bytes).
    pub const MAX_NAME_LEN: usize = 63;

    /// A new incarnation of the worker called `name` (1–63 of `[A-Za-z0-9_.-]`).
    pub fn generate(name: &str) -> Result<Self, Error> {
        check_name("worker name", name, Self::MAX_NAME_LEN)?;
        Ok(Self(format!("{name}-{:08x}", fastrand::u32(..))))
    }

    /// An existing worker id, as listed in `Q:workers`.
    pub fn parse(id: &str) -> Result<Self, Error> {
        check_name("worker id", id, Self::MAX_NAME_LEN + 9)?;
        Ok(Self(id.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_unique_and_sized() {
        let a = JobId::new();
        let b = JobId::new();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 28);
        assert!(JobId::parse("").is_err());
        assert!(JobId::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn worker_ids_carry_name_and_suffix() {
        let w = WorkerId::generate("pod-7").unwrap();
        assert!(w.as_str().starts_with("pod-7-"));
        assert_eq!(w.as_str().len(), "pod-7-".len() + 8);
        assert_ne!(w, WorkerId::generate("pod-7").unwrap());
        assert!(WorkerId::generate("a b").is_err());
    }
}

//! A job as a worker sees it, decoded from a stream entry (wire format v1, `lua/README.md`),
//! and the limits a producer's input must keep.

use crate::error::{malformed, Error};
use crate::ids::JobId;
use crate::settings::SettingRule;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The longest session, in bytes.
pub const MAX_SESSION_LEN: usize = 256;

/// Checks the 1–256 byte rule for sessions.
pub fn check_session(session: &str) -> Result<(), Error> {
    if session.is_empty() || session.len() > MAX_SESSION_LEN {
        return Err(Error::InvalidSession { len: session.len() });
    }
    Ok(())
}

/// Encodes a typed payload with MessagePack (named fields, so other languages can read it).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(rmp_serde::to_vec_named(value)?)
}

/// Decodes a MessagePack payload into `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    Ok(rmp_serde::from_slice(bytes)?)
}

/// One unit of work handed to a handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The job's id, stable across retries.
    pub id: JobId,
    /// The affinity key.
    pub session: String,
    /// Opaque payload bytes (MessagePack when pushed as a typed value).
    pub payload: Vec<u8>,
    /// 0 on the first run, +1 per retry or reclaim.
    pub attempt: u32,
    /// When the job was first enqueued (ms since the epoch, Redis clock).
    pub enqueued_at_ms: u64,
    /// The producer waiting for this job's result, if any.
    pub reply_to: Option<String>,
    /// The idempotency key it was pushed with, if any.
    pub key: Option<String>,
    /// A per-job override of the queue's `max_attempts`.
    pub max_attempts: Option<u32>,
    /// The route that queued the entry the job was read from (`hit`, `new`, `spill:busy`,
    /// `spill:dead`, `spill:wait`, `off`, `shadow:hit`, `shadow:miss`); `None` for an entry
    /// written without one (by an older version).
    pub route: Option<String>,
}

impl Job {
    /// Decodes the payload as MessagePack into `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        decode(&self.payload)
    }

    /// Builds a job from a stream entry's fields; any missing or ill-typed field is
    /// [`Error::Malformed`] naming the field.
    pub fn from_fields(fields: &[(String, Vec<u8>)]) -> Result<Self, Error> {
        let get = |name: &str| fields.iter().find(|(f, _)| f == name).map(|(_, v)| v.as_slice());
        let text = |name: &str| -> Result<Option<String>, Error> {
            get(name)
                .map(|v| String::from_utf8(v.to_vec()).map_err(|_| malformed(format!("field {name} is not UTF-8"))))
                .transpose()
        };
        let need = |name: &str| text(name)?.ok_or_else(|| malformed(format!("missing field {name}")));
        let number = |name: &str| -> Result<Option<u64>, Error> {
            text(name)?
                .map(|v| v.parse::<u64>().map_err(|_| malformed(format!("field {name} is not a whole number: {v:?}"))))
                .transpose()
        };
        // Checked in wire order (id, s, p, a, t) so the error names the first bad field.
        let id = JobId::parse(need("id")?).map_err(|e| malformed(format!("field id: {e}")))?;
        let session = need("s")?;
        check_session(&session).map_err(|e| malformed(format!("field s: {e}")))?;
        let payload = get("p").ok_or_else(|| malformed("missing field p"))?.to_vec();
        let attempt = number("a")?.ok_or_else(|| malformed("missing field a"))?;
        Ok(Self {
            id,
            session,
            payload,
            attempt: u32::try_from(attempt).map_err(|_| malformed("field a is too large"))?,
            enqueued_at_ms: number("t")?.ok_or_else(|| malformed("missing field t"))?,
            reply_to: text("r")?,
            key: text("k")?,
            max_attempts: text("m")?
                // A per-job max_attempts keeps the queue setting's rule.
                .map(|m| SettingRule::max_attempts().parse(Some(&m)).map(|n| n as u32))
                .transpose()
                .map_err(|problem| malformed(format!("field m: {problem}")))?,
            route: text("route")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        pairs.iter().map(|(f, v)| (f.to_string(), v.to_vec())).collect()
    }

    #[test]
    fn decodes_a_full_entry() {
        let job = Job::from_fields(&fields(&[
            ("id", b"j1"),
            ("s", b"sess"),
            ("p", b"\x01\x02"),
            ("a", b"2"),
            ("t", b"17"),
            ("r", b"prod-1"),
            ("k", b"key"),
            ("m", b"9"),
            ("route", b"spill:busy"),
        ]))
        .unwrap();
        assert_eq!(job.id.as_str(), "j1");
        assert_eq!(job.route.as_deref(), Some("spill:busy"));
        assert_eq!(job.payload, vec![1, 2]);
        assert_eq!((job.attempt, job.enqueued_at_ms, job.max_attempts), (2, 17, Some(9)));
        assert_eq!(job.reply_to.as_deref(), Some("prod-1"));
    }

    #[test]
    fn malformed_entries_name_the_field() {
        let err = Job::from_fields(&fields(&[("id", b"j1"), ("s", b"x"), ("a", b"0"), ("t", b"1")])).unwrap_err();
        assert_eq!(err.to_string(), "malformed entry: missing field p");
        let err = Job::from_fields(&fields(&[("id", b"j1"), ("s", b"x"), ("p", b""), ("a", b"zero"), ("t", b"1")]))
            .unwrap_err();
        assert_eq!(err.to_string(), "malformed entry: field a is not a whole number: \"zero\"");
        let err =
            Job::from_fields(&fields(&[("id", b"j1"), ("s", b""), ("p", b""), ("a", b"0"), ("t", b"1")])).unwrap_err();
        assert!(err.to_string().starts_with("malformed entry: field s: invalid session"));
        let err = Job::from_fields(&fields(&[
            ("id", b"j1"),
            ("s", b"x"),
            ("p", b""),
            ("a", b"0"),
            ("t", b"1"),
            ("m", b"1e+300"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed entry: field m: max_attempts is \"1e+300\": must be a whole number from 1 to 1000"
        );
    }

    #[test]
    fn typed_payloads_round_trip() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Turn {
            text: String,
        }
        let bytes = encode(&Turn { text: "hi".into() }).unwrap();
        assert_eq!(decode::<Turn>(&bytes).unwrap(), Turn { text: "hi".into() });
        assert!(check_session(&"s".repeat(257)).is_err());
        assert!(check_session("s").is_ok());
    }
}

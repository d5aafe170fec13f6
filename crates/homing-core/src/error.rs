//! The one error type of the contract layer, with predicates so callers need not match variants.

use std::fmt;

/// An error from Homing's contract layer: bad input, a queue that is not set up, a script
/// refusal, or Redis itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A queue name, key prefix or worker name broke the naming rule.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        /// What kind of name it was.
        what: &'static str,
        /// The name given.
        name: String,
        /// The rule it broke.
        reason: String,
    },
    /// A session outside 1–256 bytes.
    #[error("invalid session: must be 1-256 bytes, got {len}; use a shorter id such as a hash of it")]
    InvalidSession {
        /// Its length in bytes.
        len: usize,
    },
    /// A payload over the queue's `max_payload`.
    #[error("payload is {size} bytes, over the queue's max_payload of {max}: store large data elsewhere and push a reference, or raise max_payload with `homing queue init --update`")]
    PayloadTooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The queue's limit.
        max: usize,
    },
    /// A script or local check refused an argument (`HOMING_BAD_ARG`); the text names it.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The queue has no settings yet (`HOMING_NO_QUEUE`).
    #[error("{0}")]
    QueueNotInitialised(String),
    /// A stored queue setting breaks its rule (`HOMING_BAD_SETTING`): every script refuses the
    /// queue, before writing anything, until `homing queue init --update` replaces the value.
    /// `message` names the field, the value, the rule and the command that fixes it.
    #[error("queue setting {message}")]
    BadSetting {
        /// The `Q:meta` field, e.g. `max_waiting`.
        field: String,
        /// `max_waiting is "abc": must be a whole number from 0 to 10000; fix it with ...`.
        message: String,
    },
    /// The queue speaks another protocol version (`HOMING_PROTOCOL`).
    #[error("protocol mismatch: {0}")]
    ProtocolMismatch(String),
    /// A stream entry, delayed job or reply that cannot be decoded.
    #[error("malformed entry: {0}")]
    Malformed(String),
    /// A typed payload could not be encoded with MessagePack.
    #[error("cannot encode payload as MessagePack: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// A payload could not be decoded into the requested type.
    #[error("cannot decode payload from MessagePack: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The thing named does not exist (`HOMING_NOT_FOUND`), e.g. a dead letter to replay.
    #[error("{0}")]
    NotFound(String),
    /// `forget` was asked for a worker that is not in `Q:workers` (`HOMING_UNKNOWN_WORKER`).
    #[error("{0}")]
    UnknownWorker(String),
    /// `forget` without force was asked for a worker that is alive (`HOMING_ALIVE`).
    #[error("{0}")]
    WorkerAlive(String),
    /// A requested job was dead-lettered; `error` is its reason and the handler's error text.
    #[error("job {id} failed: {error}")]
    JobFailed {
        /// The job's id.
        id: String,
        /// `<reason>: <error text>`, as kept with the dead letter.
        error: String,
    },
    /// No reply came within the request's timeout. The job was not cancelled: it may still
    /// run and complete; push it again only if running it twice is harmless.
    #[error("no reply for job {id} within {timeout:?}; the job is still queued or running")]
    RequestTimeout {
        /// The job's id.
        id: String,
        /// The timeout that passed.
        timeout: std::time::Duration,
    },
    /// The connection to Redis cannot be set up as configured: a bad URL, a TLS file that
    /// cannot be read, a certificate not trusted, a refused password. The text names the
    /// setting to fix; retrying unchanged does not help.
    #[error("{0}")]
    Connect(String),
    /// Redis failed or could not be reached.
    #[error("redis: {0}")]
    Redis(redis::RedisError),
}

impl Error {
    /// True when the same call may succeed later: Redis unreachable, timed out, loading or
    /// failing over, or a queue whose first worker has not started yet.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || matches!(
                        e.kind(),
                        redis::ErrorKind::Server(
                            redis::ServerErrorKind::BusyLoading
                                | redis::ServerErrorKind::TryAgain
                                | redis::ServerErrorKind::MasterDown
                                | redis::ServerErrorKind::ClusterDown
                                | redis::ServerErrorKind::ReadOnly
                        )
                    )
            }
            Error::QueueNotInitialised(_) => true,
            _ => false,
        }
    }

    /// True when the caller's input was at fault and retrying it unchanged cannot help.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidName { .. }
                | Error::InvalidSession { .. }
                | Error::PayloadTooLarge { .. }
                | Error::InvalidArgument(_)
                | Error::Encode(_)
                | Error::Decode(_)
        )
    }

    /// True when a stored queue setting breaks its rule ([`Error::BadSetting`]): no call on
    /// the queue can succeed until an operator fixes it, and no connection is at fault.
    pub fn is_bad_setting(&self) -> bool {
        matches!(self, Error::BadSetting { .. })
    }

    /// True when the Redis connection that produced this error should be replaced.
    pub fn is_connection_error(&self) -> bool {
        matches!(self, Error::Redis(e) if e.is_unrecoverable_error() || e.is_io_error() || e.is_timeout())
    }
}

impl From<redis::RedisError> for Error {
    /// Script refusals arrive as coded error replies; each code maps to one variant.
    fn from(e: redis::RedisError) -> Self {
        // Errors raised with error({err = ...}) carry " script: <sha>, on @user_script:<line>."
        // after the message: the user needs the message, not the script's line.
        let detail = || {
            let d = e.detail().unwrap_or_default();
            d.split(" script: ").next().unwrap_or(d).trim_end().to_string()
        };
        match e.code() {
            Some("HOMING_BAD_ARG") => Error::InvalidArgument(detail()),
            Some("HOMING_NO_QUEUE") => Error::QueueNotInitialised(detail()),
            Some("HOMING_PROTOCOL") => Error::ProtocolMismatch(detail()),
            Some("HOMING_BAD_SETTING") => {
                let message = detail();
                Error::BadSetting { field: message.split(' ').next().unwrap_or_default().to_string(), message }
            }
            Some("HOMING_UNKNOWN_WORKER") => Error::UnknownWorker(detail()),
            Some("HOMING_ALIVE") => Error::WorkerAlive(detail()),
            Some("HOMING_NOT_FOUND") => Error::NotFound(detail()),
            _ => Error::Redis(e),
        }
    }
}

/// Builds an [`Error::Malformed`] from anything printable.
pub(crate) fn malformed(what: impl fmt::Display) -> Error {
    Error::Malformed(what.to_string())
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

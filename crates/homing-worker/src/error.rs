//! The worker's error: bad configuration, an unusable Redis, or a contract-layer error.

/// An error that stops a worker from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range; the text names it and the fix.
    #[error("invalid worker config: {0}")]
    Config(String),
    /// No connection could be taken from the pool.
    #[error("redis connection pool: {0}")]
    Pool(String),
    /// From the contract layer (names, settings, scripts, Redis).
    #[error(transparent)]
    Core(#[from] homing_core::Error),
}

impl Error {
    /// True when retrying later may succeed (Redis away, queue not ready).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Pool(_) => true,
            Error::Core(e) => e.is_retryable() || e.is_connection_error(),
            Error::Config(_) => false,
        }
    }
}

impl Error {
    /// True when a stored queue setting breaks its rule: every script refuses the queue until
    /// `homing queue init --update` fixes it; the text names the setting and the fix.
    pub fn is_bad_setting(&self) -> bool {
        matches!(self, Error::Core(e) if e.is_bad_setting())
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Core(e.into())
    }
}

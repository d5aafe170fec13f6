//! The route word a push (or re-route) reports: where the job went and why.

use crate::error::{malformed, Error};
use std::fmt;

/// Why a job went to the overflow although its session has an owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpillReason {
    /// The owner's inbox held `capacity + max_waiting` jobs (or the owner is draining).
    Busy,
    /// The owner's liveness deadline had passed; its pin was released.
    Dead,
    /// The job waited longer than `max_wait` in the owner's inbox.
    Wait,
}

/// Where one job was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// To the inbox of the worker that holds the session warm.
    Hit,
    /// To the overflow: the session has no owner yet.
    New,
    /// To the overflow although the session has an owner.
    Spill(SpillReason),
    /// To the overflow: affinity is `off` for this queue.
    Off,
    /// To the overflow: affinity is `shadow`; `would_hit` tells what `on` would have done.
    Shadow {
        /// True when affinity `on` would have routed this job to its owner.
        would_hit: bool,
    },
    /// Into the delayed set: it is routed when due.
    Delayed,
    /// Nothing was enqueued: the idempotency key was seen, the receipt holds the first id.
    Duplicate,
}

impl Route {
    /// The route word on the wire and in metrics: `hit`, `new`, `spill:busy`, ...
    pub fn as_str(&self) -> &'static str {
        match self {
            Route::Hit => "hit",
            Route::New => "new",
            Route::Spill(SpillReason::Busy) => "spill:busy",
            Route::Spill(SpillReason::Dead) => "spill:dead",
            Route::Spill(SpillReason::Wait) => "spill:wait",
            Route::Off => "off",
            Route::Shadow { would_hit: true } => "shadow:hit",
            Route::Shadow { would_hit: false } => "shadow:miss",
            Route::Delayed => "delayed",
            Route::Duplicate => "duplicate",
        }
    }

    /// The `route` metric label: the word before the colon.
    pub fn label(&self) -> &'static str {
        self.as_str().split(':').next().unwrap_or_default()
    }

    /// The `reason` metric label: the word after the colon, or empty.
    pub fn reason(&self) -> &'static str {
        self.as_str().split_once(':').map_or("", |(_, r)| r)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Route {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "hit" => Route::Hit,
            "new" => Route::New,
            "spill:busy" => Route::Spill(SpillReason::Busy),
            "spill:dead" => Route::Spill(SpillReason::Dead),
            "spill:wait" => Route::Spill(SpillReason::Wait),
            "off" => Route::Off,
            "shadow:hit" => Route::Shadow { would_hit: true },
            "shadow:miss" => Route::Shadow { would_hit: false },
            "delayed" => Route::Delayed,
            "duplicate" => Route::Duplicate,
            other => return Err(malformed(format!("unknown route {other:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_words_round_trip() {
        for word in [
            "hit",
            "new",
            "spill:busy",
            "spill:dead",
            "spill:wait",
            "off",
            "shadow:hit",
            "shadow:miss",
            "delayed",
            "duplicate",
        ] {
            let route: Route = word.parse().unwrap();
            assert_eq!(route.as_str(), word);
        }
        assert_eq!(Route::Spill(SpillReason::Busy).label(), "spill");
        assert_eq!(Route::Spill(SpillReason::Busy).reason(), "busy");
        assert_eq!(Route::Hit.reason(), "");
        assert!("elsewhere".parse::<Route>().is_err());
    }
}

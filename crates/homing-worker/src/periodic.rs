//! What every periodic task of a worker shares: a tick that skips missed beats, its own
//! dedicated connection (so a blocked read or a burst of completions never delays it), and one
//! log line per change between failing and working.

use crate::connections::Dedicated;
use crate::context::Ctx;
use crate::error::Error;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};
use tracing::{info, warn};

pub(crate) struct Periodic {
    op: &'static str,
    tick: Interval,
    conn: Option<Dedicated>,
    healthy: bool,
}

impl Periodic {
    /// A task called `op` (the `op` label of `homing_redis_errors_total`) running `every`.
    pub(crate) fn new(op: &'static str, every: Duration) -> Self {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { op, tick, conn: None, healthy: true }
    }

    /// Same, with the first tick `first_after` from now instead of at once.
    pub(crate) fn starting_after(op: &'static str, every: Duration, first_after: Duration) -> Self {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first_after, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { op, tick, conn: None, healthy: true }
    }

    /// Waits for the next tick; false once `stop` changed.
    pub(crate) async fn next(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = self.tick.tick() => true,
            _ = stop.changed() => false,
        }
    }

    /// The task's connection, taken from the pool after a failure dropped it.
    pub(crate) async fn conn<H>(&mut self, ctx: &Ctx<H>) -> Result<&mut Dedicated, Error> {
        if self.conn.is_none() {
            self.conn = Some(ctx.conns.dedicated().await?);
        }
        Ok(self.conn.as_mut().expect("just set"))
    }

    /// Logs a change between failing and working, counts errors and drops the connection after
    /// one; returns the pass's value when it worked.
    pub(crate) fn outcome<H, T>(&mut self, ctx: &Ctx<H>, result: Result<T, Error>) -> Option<T> {
        match result {
            Ok(v) => {
                if !self.healthy {
                    info!(worker = %ctx.id, op = self.op, "working again");
                    self.healthy = true;
                }
                Some(v)
            }
            Err(e) => {
                metrics::counter!(crate::metrics::REDIS_ERRORS, "op" => self.op).increment(1);
                self.conn = None;
                if ctx.bad_setting.seen(&ctx.id, &e) {
                    self.healthy = false;
                    return None;
                }
                if self.healthy {
                    warn!(worker = %ctx.id, op = self.op, error = %e, "failed; retrying every tick");
                    self.healthy = false;
                }
                None
            }
        }
    }
}

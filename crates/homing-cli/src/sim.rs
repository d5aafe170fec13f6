//! The `sim` handler: a warm-cache simulation, so affinity is visible without a real model.
//! A job whose session is in this worker's cache costs `warm`; any other costs `cold` and
//! loads the session. The cache forgets a session after `idle_ttl` and holds at most
//! `capacity` sessions (least recently used goes first).

use clap::Args;
use homing_worker::{Handler, HandlerError, Job};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The simulation's costs and cache bounds.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Cost of a job whose session is not cached here (the measured case: 45 ms).
    #[arg(long, env = "HOMING_SIM_COLD", default_value = "45ms", value_parser = humantime::parse_duration)]
    pub cold: Duration,
    /// Cost of a job whose session is cached here (the measured case: 1 ms).
    #[arg(long, env = "HOMING_SIM_WARM", default_value = "1ms", value_parser = humantime::parse_duration)]
    pub warm: Duration,
    /// A cached session is forgotten after this long unused.
    #[arg(long, env = "HOMING_SIM_IDLE_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub idle_ttl: Duration,
    /// Sessions the cache holds at most.
    #[arg(long, env = "HOMING_SIM_CAPACITY", default_value_t = 1000)]
    pub capacity: usize,
}

/// Whether a simulated job found its session cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temperature {
    /// The session was cached: the job cost `warm`.
    Warm,
    /// The session was loaded: the job cost `cold`.
    Cold,
}

impl Temperature {
    pub fn as_str(self) -> &'static str {
        match self {
            Temperature::Warm => "warm",
            Temperature::Cold => "cold",
        }
    }
}

/// One worker's simulated session cache.
#[derive(Debug)]
pub struct Sim {
    args: SimArgs,
    cache: Mutex<HashMap<String, Instant>>,
}

impl Sim {
    pub fn new(args: SimArgs) -> Self {
        Self { args, cache: Mutex::new(HashMap::new()) }
    }

    /// Runs one simulated job for `session`: sleeps its cost and leaves the session cached.
    pub async fn serve(&self, session: &str) -> Temperature {
        let temperature = self.touch(session, Instant::now());
        let cost = match temperature {
            Temperature::Warm => self.args.warm,
            Temperature::Cold => self.args.cold,
        };
        tokio::time::sleep(cost).await;
        temperature
    }

    /// Looks `session` up and marks it used at `now`, evicting expired and surplus sessions.
    fn touch(&self, session: &str, now: Instant) -> Temperature {
        let mut cache = self.cache.lock().expect("the cache lock is never held across a panic");
        let ttl = self.args.idle_ttl;
        let warm = cache.get(session).is_some_and(|used| now.duration_since(*used) < ttl);
        cache.insert(session.to_string(), now);
        if cache.len() > self.args.capacity {
            cache.retain(|_, used| now.duration_since(*used) < ttl);
            while cache.len() > self.args.capacity {
                let oldest = cache.iter().min_by_key(|(_, used)| **used).map(|(s, _)| s.clone());
                match oldest {
                    Some(s) => cache.remove(&s),
                    None => break,
                };
            }
        }
        if warm {
            Temperature::Warm
        } else {
            Temperature::Cold
        }
    }
}

impl Handler for Sim {
    async fn handle(&self, job: Job) -> Result<Vec<u8>, HandlerError> {
        Ok(self.serve(&job.session).await.as_str().as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(capacity: usize) -> Sim {
        Sim::new(SimArgs { cold: Duration::ZERO, warm: Duration::ZERO, idle_ttl: Duration::from_secs(10), capacity })
    }

    #[test]
    fn a_session_is_cold_once_then_warm_until_idle_ttl() {
        let s = sim(10);
        let t0 = Instant::now();
        assert_eq!(s.touch("a", t0), Temperature::Cold);
        assert_eq!(s.touch("a", t0 + Duration::from_secs(9)), Temperature::Warm);
        assert_eq!(s.touch("a", t0 + Duration::from_secs(20)), Temperature::Cold);
    }

    #[test]
    fn the_least_recently_used_session_is_evicted_past_capacity() {
        let s = sim(2);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        s.touch("a", at(0));
        s.touch("b", at(1));
        s.touch("a", at(2));
        s.touch("c", at(3));
        assert_eq!(s.touch("a", at(4)), Temperature::Warm);
        assert_eq!(s.touch("b", at(5)), Temperature::Cold);
    }
}

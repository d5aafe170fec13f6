//! The producer: validates input, pushes jobs through the `push` script, reports routes.
//! It reconnects on its own (redis-rs `ConnectionManager`, or the cluster client, which also
//! follows a failover); a push during an outage returns a retryable error, never a silent drop.

use crate::options::{ProducerOptions, PushOptions};
use crate::replies::Replies;
use homing_core::job::{check_session, encode};
use homing_core::scripts::{self, PushArgs, Pushed};
use homing_core::{partition_of, Error, JobId, Keys, QueueName, QueueSettings, RedisConnection, Route, Timeouts};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What a push did: the job's id and where it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The job id; for [`Route::Duplicate`], the id first pushed under the key.
    pub id: JobId,
    /// `hit`, `new`, `spill` with its reason, `off`, `shadow`, `delayed` or `duplicate`.
    pub route: Route,
}

impl From<Pushed> for Receipt {
    fn from(p: Pushed) -> Self {
        let (route, reason) = p.route.as_str().split_once(':').unwrap_or((p.route.as_str(), ""));
        metrics::counter!(homing_core::metrics::JOBS_PUSHED, "route" => route, "reason" => reason).increment(1);
        if p.route == Route::Spill(homing_core::SpillReason::Dead) {
            metrics::counter!(homing_core::metrics::PINS_RELEASED, "reason" => "dead").increment(1);
        }
        Self { id: p.id, route: p.route }
    }
}

/// Pushes jobs to one queue. `Clone + Send + Sync` and cheap to clone (a few reference counts):
/// clones share one multiplexed connection, which reconnects on its own, and one reply reader
/// per partition, so hand a clone to each task rather than putting the producer behind a lock.
///
/// On a partitioned queue each session's jobs go to its partition, [`partition_of`] the session
/// (CRC16 modulo `partitions`); every script call and pipeline holds one partition's keys, so it
/// stays in one Redis Cluster slot.
#[derive(Clone)]
pub struct Producer {
    conn: RedisConnection<ConnectionManager>,
    /// Partition 0's keys: its `Q:meta` holds the queue's settings.
    keys: Arc<Keys>,
    queue: Arc<OnceLock<Settled>>,
    replies: Arc<Replies>,
}

/// What the producer keeps from the queue's settings, read once: `partitions` is fixed when the
/// queue is created, so the partition keys cannot go stale.
struct Settled {
    settings: QueueSettings,
    /// Each partition's keys, partition 0 first.
    partitions: Vec<Keys>,
}

impl Settled {
    fn new(keys: &Keys, settings: QueueSettings) -> Self {
        Self { partitions: keys.partitions(settings.partitions), settings }
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("queue", self.keys.queue()).finish()
    }
}

impl Producer {
    /// Envelopes per `LPUSH` in [`Producer::ingress_many_raw`].
    pub const INGRESS_BATCH: usize = 1000;

    /// Connects to `url` for `queue` with default options.
    pub async fn connect(url: &str, queue: &str) -> Result<Self, Error> {
        Self::connect_with(url, queue, ProducerOptions::default()).await
    }

    /// Connects with explicit options. Fails on a protocol mismatch; a queue whose first
    /// worker has not started yet is fine (pushes then fail retryably until it has), and so is
    /// one with a bad stored setting (pushes then fail with [`Error::BadSetting`]).
    ///
    /// Reads the queue's `partitions` setting here, once: it is fixed when the queue is
    /// created, so it cannot go stale. A queue with no settings yet (or a bad one) counts as
    /// one partition, and pushes fail as on any queue without settings; the first push that
    /// finds the settings reads the count then, so a producer started before the queue's
    /// first worker routes by partition as soon as the queue exists.
    pub async fn connect_with(url: &str, queue: &str, options: ProducerOptions) -> Result<Self, Error> {
        let keys = Keys::new(&options.prefix, &QueueName::new(queue)?)?;
        let target = options.redis_target(url);
        let producer = format!("p{:016x}", fastrand::u64(..));
        let replies = Arc::new(Replies::new(target.clone(), producer));
        let mut conn = if target.cluster {
            let timeouts = Timeouts { connection: options.response_timeout, response: Some(options.response_timeout) };
            let conn = target.cluster_client()?.get_async_connection_with_config(timeouts.cluster()).await;
            RedisConnection::Cluster(conn.map_err(|e| target.explain(e))?)
        } else {
            let config = ConnectionManagerConfig::new()
                .set_response_timeout(Some(options.response_timeout))
                .set_connection_timeout(Some(options.response_timeout))
                .set_number_of_retries(2);
            let conn = ConnectionManager::new_with_config(target.client()?, config).await;
            RedisConnection::Single(conn.map_err(|e| target.explain(e))?)
        };
        let queue = Arc::new(OnceLock::new());
        match scripts::load_settings(&mut conn, &keys).await {
            Ok(Some(s)) => {
                let _ = queue.set(Settled::new(&keys, s));
            }
            // Like a queue without settings, a bad setting refuses pushes, not the connection:
            // each push names the field and the fix until an operator repairs it.
            Ok(None) => {}
            Err(e) if e.is_bad_setting() => {}
            Err(e) => return Err(target.explain(e)),
        }
        Ok(Self { conn, keys: Arc::new(keys), queue, replies })
    }

    /// The keys of the queue's partition 0, the queue's only partition unless `partitions` is
    /// above 1 (for inspection and tests); [`Producer::keys_for`] gives a session's.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// How many partitions the producer routes over: the queue's `partitions` setting, or 1
    /// while the queue has no settings.
    pub fn partitions(&self) -> u32 {
        self.all_keys().len() as u32
    }

    /// The keys of `session`'s partition, where its jobs are pushed.
    pub fn keys_for(&self, session: &str) -> &Keys {
        let all = self.all_keys();
        &all[partition_of(session, all.len() as u32) as usize]
    }

    /// Every partition's keys, partition 0 first; partition 0 alone until the settings are read.
    fn all_keys(&self) -> &[Keys] {
        match self.queue.get() {
            Some(q) => &q.partitions,
            None => std::slice::from_ref(&*self.keys),
        }
    }

    /// Pushes a typed payload, encoded with MessagePack.
    pub async fn push<T: Serialize + ?Sized>(&self, session: &str, payload: &T) -> Result<Receipt, Error> {
        self.push_raw_with(session, &encode(payload)?, PushOptions::default()).await
    }

    /// Pushes a typed payload with options (delay, idempotency key, max attempts).
    pub async fn push_with<T: Serialize + ?Sized>(
        &self,
        session: &str,
        payload: &T,
        options: PushOptions,
    ) -> Result<Receipt, Error> {
        self.push_raw_with(session, &encode(payload)?, options).await
    }

    /// Pushes raw payload bytes.
    pub async fn push_raw(&self, session: &str, payload: &[u8]) -> Result<Receipt, Error> {
        self.push_raw_with(session, payload, PushOptions::default()).await
    }

    /// Pushes raw payload bytes with options.
    pub async fn push_raw_with(&self, session: &str, payload: &[u8], options: PushOptions) -> Result<Receipt, Error> {
        let id = job_id(&options)?;
        self.check(session, payload).await?;
        let args = args(&id, session, payload, &options);
        let mut conn = self.conn.clone();
        Ok(scripts::push(&mut conn, self.keys_for(session), &args).await?.into())
    }

    /// Pushes a typed payload and waits up to `timeout` for the handler's output. A dead-lettered
    /// job is [`Error::JobFailed`] with its reason and error text; no reply in time is
    /// [`Error::RequestTimeout`], and the job still runs.
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        session: &str,
        payload: &T,
        timeout: Duration,
    ) -> Result<Vec<u8>, Error> {
        self.request_raw_with(session, &encode(payload)?, PushOptions::default(), timeout).await
    }

    /// [`Producer::request`] with raw payload bytes and push options. An idempotency key that
    /// was already used is refused: the first job's result goes to the call that pushed it.
    pub async fn request_raw_with(
        &self,
        session: &str,
        payload: &[u8],
        options: PushOptions,
        timeout: Duration,
    ) -> Result<Vec<u8>, Error> {
        let id = job_id(&options)?;
        self.check(session, payload).await?;
        let keys = self.keys_for(session);
        // Registered before the push: a fast worker's reply cannot arrive before anyone waits.
        // The reply comes on the job's partition's reply stream.
        let waiter = self.replies.expect(&id, keys);
        let mut args = args(&id, session, payload, &options);
        args.reply_to = Some(&self.replies.producer);
        let mut conn = self.conn.clone();
        let pushed = Receipt::from(scripts::push(&mut conn, keys, &args).await?);
        if pushed.id != id {
            // A duplicate key: the first job was pushed by another call and answers its own
            // producer, so this call cannot wait for it.
            return Err(Error::InvalidArgument(format!(
                "idempotency key {:?} was already used by job {}; its result goes to the producer that pushed it",
                options.key.unwrap_or_default(),
                pushed.id
            )));
        }
        waiter.wait(timeout).await
    }

    /// Pushes many typed jobs, up to 1,000 per `push_many` script call (one round trip each), each
    /// exactly as [`Producer::push`] would, in order within each partition (one partition's jobs
    /// per call). The outer error is a failed round trip (nothing can be assumed pushed); each
    /// inner result is that job's own outcome, in the order of `jobs`.
    pub async fn push_many<S: AsRef<str>, T: Serialize>(
        &self,
        jobs: &[(S, T)],
    ) -> Result<Vec<Result<Receipt, Error>>, Error> {
        let encoded: Vec<(&str, Vec<u8>)> =
            jobs.iter().map(|(s, p)| Ok((s.as_ref(), encode(p)?))).collect::<Result<_, Error>>()?;
        self.push_many_raw(&encoded).await
    }

    /// Pushes many raw jobs; see [`Producer::push_many`].
    pub async fn push_many_raw<S: AsRef<str>, P: AsRef<[u8]>>(
        &self,
        jobs: &[(S, P)],
    ) -> Result<Vec<Result<Receipt, Error>>, Error> {
        let options = PushOptions::default();
        let ids: Vec<JobId> = jobs.iter().map(|_| JobId::new()).collect();
        let mut out: Vec<Option<Result<Receipt, Error>>> = Vec::with_capacity(jobs.len());
        for (session, payload) in jobs {
            out.push(self.check(session.as_ref(), payload.as_ref()).await.err().map(Err));
        }
        // Each partition's jobs with their places in `jobs`: a script call holds one partition.
        let all = self.all_keys();
        let mut batches: Vec<(Vec<usize>, Vec<PushArgs<'_>>)> = all.iter().map(|_| Default::default()).collect();
        for (i, ((session, payload), id)) in jobs.iter().zip(&ids).enumerate().filter(|(i, _)| out[*i].is_none()) {
            let (places, batch) = &mut batches[partition_of(session.as_ref(), all.len() as u32) as usize];
            places.push(i);
            batch.push(args(id, session.as_ref(), payload.as_ref(), &options));
        }
        let mut conn = self.conn.clone();
        for (keys, (places, batch)) in all.iter().zip(batches).filter(|(_, (places, _))| !places.is_empty()) {
            let pushed = scripts::push_many(&mut conn, keys, &batch).await?;
            for (i, result) in places.into_iter().zip(pushed) {
                out[i] = Some(result.map(Receipt::from));
            }
        }
        Ok(out.into_iter().map(|slot| slot.expect("one reply per job")).collect())
    }

    /// Sends one typed job through the ingress list (`LPUSH Q:ingress`); see
    /// [`Producer::ingress_many_raw`].
    pub async fn ingress<T: Serialize + ?Sized>(&self, session: &str, payload: &T) -> Result<JobId, Error> {
        let mut ids = self.ingress_many_raw(&[(session, encode(payload)?)]).await?;
        Ok(ids.pop().expect("one id per job"))
    }

    /// Sends raw jobs through the ingress list of each job's partition, up to
    /// [`Producer::INGRESS_BATCH`] envelopes per `LPUSH`, one round trip per partition (all in
    /// one on a queue of one partition). The fast path: no script runs until the worker holding
    /// the maintenance lease moves them (in order, batches of hundreds per script call), so
    /// there is no route receipt and no idempotency key; a job that breaks a rule the queue
    /// checks is dead-lettered with reason `malformed` by the mover. Sessions and payload sizes
    /// are checked here first, so a bad job fails the call before anything is sent. Returns
    /// each job's id, in order.
    pub async fn ingress_many_raw<S: AsRef<str>, P: AsRef<[u8]>>(&self, jobs: &[(S, P)]) -> Result<Vec<JobId>, Error> {
        for (session, payload) in jobs {
            self.check(session.as_ref(), payload.as_ref()).await?;
        }
        let all = self.all_keys();
        let mut ids = Vec::with_capacity(jobs.len());
        let mut envelopes: Vec<Vec<Vec<u8>>> = vec![Vec::new(); all.len()];
        for (session, payload) in jobs {
            let id = JobId::new();
            let envelope = homing_core::envelope::envelope(&id, session.as_ref(), payload.as_ref())?;
            envelopes[partition_of(session.as_ref(), all.len() as u32) as usize].push(envelope);
            ids.push(id);
        }
        let mut conn = self.conn.clone();
        // A pipeline per partition: on a cluster each partition is its own slot.
        for (keys, envelopes) in all.iter().zip(envelopes).filter(|(_, e)| !e.is_empty()) {
            let mut pipe = redis::pipe();
            for chunk in envelopes.chunks(Self::INGRESS_BATCH) {
                pipe.cmd("LPUSH").arg(keys.ingress()).arg(chunk).ignore();
            }
            let () = pipe.query_async(&mut conn).await?;
            metrics::counter!(homing_core::metrics::JOBS_PUSHED, "route" => "ingress", "reason" => "")
                .increment(envelopes.len() as u64);
        }
        Ok(ids)
    }

    /// Local checks that give a typed error before a round trip; the script checks again for
    /// producers in other languages.
    async fn check(&self, session: &str, payload: &[u8]) -> Result<(), Error> {
        check_session(session)?;
        let max = match self.queue.get() {
            Some(q) => q.settings.max_payload,
            None => {
                let mut conn = self.conn.clone();
                match scripts::load_settings(&mut conn, &self.keys).await? {
                    Some(s) => self.queue.get_or_init(|| Settled::new(&self.keys, s)).settings.max_payload,
                    None => QueueSettings::default().max_payload,
                }
            }
        };
        if payload.len() > max {
            return Err(Error::PayloadTooLarge { size: payload.len(), max });
        }
        Ok(())
    }
}

/// The job's id, after the options' local checks (the script checks again).
fn job_id(options: &PushOptions) -> Result<JobId, Error> {
    if let Some(n) = options.max_attempts {
        homing_core::settings::check_max_attempts(n)?;
    }
    match &options.id {
        Some(id) => JobId::parse(id.clone()),
        None => Ok(JobId::new()),
    }
}

fn args<'a>(id: &'a JobId, session: &'a str, payload: &'a [u8], o: &'a PushOptions) -> PushArgs<'a> {
    PushArgs {
        id,
        session,
        payload,
        delay: o.delay.unwrap_or_default(),
        key: o.key.as_deref(),
        key_ttl: o.key_ttl.unwrap_or(PushOptions::DEFAULT_KEY_TTL),
        reply_to: None,
        max_attempts: o.max_attempts,
    }
}

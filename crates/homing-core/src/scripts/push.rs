//! `push`: enqueue one job (idempotency key, delay, or route); `push_many`: many in one call.

use super::{items, script_spec, Lua, ScriptSpec};
use crate::error::{malformed, Error};
use crate::ids::JobId;
use crate::keys::Keys;
use crate::route::Route;
use crate::stream::text;
use redis::aio::ConnectionLike;
use redis::Value;
use std::time::Duration;

pub(super) static SPEC: ScriptSpec = script_spec!("push",
    includes: ["settings", "bell", "route", "push"],
    keys: ["meta"],
    argv: ["id", "session", "payload", "delay_ms", "key", "key_ttl_ms", "reply_to", "max_attempts"]);
static LUA: Lua = Lua::new(&SPEC);

pub(super) static MANY_SPEC: ScriptSpec = script_spec!("push_many",
    includes: ["settings", "bell", "route", "push"],
    keys: ["meta"],
    argv: ["jobs"]);
static MANY: Lua = Lua::new(&MANY_SPEC);

/// The most jobs one `push_many` script call carries; [`push_many`] splits longer lists.
pub const MAX_BATCH: usize = 1000;

/// One job to push, already validated by the caller (the script checks again).
#[derive(Clone, Debug)]
pub struct PushArgs<'a> {
    /// The new job's id.
    pub id: &'a JobId,
    /// The affinity key.
    pub session: &'a str,
    /// The payload bytes.
    pub payload: &'a [u8],
    /// Run no earlier than this from now (zero: route now).
    pub delay: Duration,
    /// Idempotency key, remembered for `key_ttl`.
    pub key: Option<&'a str>,
    /// How long the idempotency key is remembered.
    pub key_ttl: Duration,
    /// The producer waiting for the result.
    pub reply_to: Option<&'a str>,
    /// Per-job override of the queue's max_attempts.
    pub max_attempts: Option<u32>,
}

impl<'a> PushArgs<'a> {
    /// A job routed now, with no idempotency key, no waiting producer and the queue's
    /// max_attempts; set the other fields with struct update syntax.
    pub fn now(id: &'a JobId, session: &'a str, payload: &'a [u8]) -> Self {
        Self {
            id,
            session,
            payload,
            delay: Duration::ZERO,
            key: None,
            key_ttl: Duration::from_secs(60),
            reply_to: None,
            max_attempts: None,
        }
    }
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The job id; for a duplicate, the id first pushed under the key.
    pub id: JobId,
    /// Where the job went.
    pub route: Route,
}

struct Encoded {
    delay_ms: String,
    key_ttl_ms: String,
    max_attempts: String,
}

fn encode(a: &PushArgs<'_>) -> Encoded {
    Encoded {
        delay_ms: a.delay.as_millis().to_string(),
        key_ttl_ms: a.key_ttl.as_millis().to_string(),
        max_attempts: a.max_attempts.unwrap_or(0).to_string(),
    }
}

fn argv<'a>(a: &'a PushArgs<'a>, e: &'a Encoded) -> [&'a [u8]; 8] {
    [
        a.id.as_str().as_bytes(),
        a.session.as_bytes(),
        a.payload,
        e.delay_ms.as_bytes(),
        a.key.unwrap_or("").as_bytes(),
        e.key_ttl_ms.as_bytes(),
        a.reply_to.unwrap_or("").as_bytes(),
        e.max_attempts.as_bytes(),
    ]
}

fn parse(v: Value) -> Result<Pushed, Error> {
    let mut it = items("push", v, 2)?.into_iter();
    let id = JobId::parse(text(it.next().unwrap_or(Value::Nil))?).map_err(|e| malformed(e.to_string()))?;
    let route = text(it.next().unwrap_or(Value::Nil))?.parse()?;
    Ok(Pushed { id, route })
}

/// Pushes one job: returns its id and route.
pub async fn push<C: ConnectionLike>(conn: &mut C, keys: &Keys, args: &PushArgs<'_>) -> Result<Pushed, Error> {
    let e = encode(args);
    parse(LUA.run(conn, &[&keys.meta()], &argv(args, &e)).await?)
}

/// Pushes many jobs, [`PUSH_MAX_BATCH`](crate::scripts::PUSH_MAX_BATCH) per `push_many` script
/// call (one round trip each): each is enqueued exactly as [`push`] would, in order. Each job
/// gets its own result, so one refused job does not fail the others; the outer error is a
/// failed call (the jobs of earlier calls were pushed, nothing can be assumed of the rest).
pub async fn push_many<C: ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    jobs: &[PushArgs<'_>],
) -> Result<Vec<Result<Pushed, Error>>, Error> {
    let meta = keys.meta();
    let mut out = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(MAX_BATCH) {
        let encoded = encode_many(chunk)?;
        let v = MANY.run(conn, &[&meta], &[&encoded]).await?;
        let Value::Array(items) = v else { return Err(malformed(format!("push_many: expected a list, got {v:?}"))) };
        if items.len() != 2 * chunk.len() {
            return Err(malformed(format!("push_many: {} values for {} jobs", items.len(), chunk.len())));
        }
        let mut it = items.into_iter();
        while let (Some(id), Some(route)) = (it.next(), it.next()) {
            let (id, route) = (text(id)?, text(route)?);
            out.push(match route.strip_prefix("HOMING_BAD_ARG ") {
                Some(problem) if id.is_empty() => Err(Error::InvalidArgument(problem.to_string())),
                _ => Ok(Pushed { id: JobId::parse(id).map_err(|e| malformed(e.to_string()))?, route: route.parse()? }),
            });
        }
    }
    Ok(out)
}

/// The jobs as push_many's MessagePack list of push's eight arguments, each a `str` (which
/// Redis 7.0's cmsgpack reads as raw bytes; it cannot read `bin`).
fn encode_many(jobs: &[PushArgs<'_>]) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::with_capacity(jobs.iter().map(|a| 96 + a.session.len() + a.payload.len()).sum());
    let w = |e: rmp::encode::ValueWriteError| malformed(format!("push_many: cannot encode the jobs: {e}"));
    rmp::encode::write_array_len(&mut buf, jobs.len() as u32).map_err(w)?;
    for a in jobs {
        let e = encode(a);
        rmp::encode::write_array_len(&mut buf, 8).map_err(w)?;
        for bytes in argv(a, &e) {
            let len = u32::try_from(bytes.len())
                .map_err(|_| Error::InvalidArgument("a push argument is over 4 GiB".into()))?;
            rmp::encode::write_str_len(&mut buf, len).map_err(w)?;
            buf.extend_from_slice(bytes);
        }
    }
    Ok(buf)
}

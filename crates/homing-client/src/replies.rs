//! Request/reply: a background reader follows the producer's reply stream
//! (`Q:reply:<producer>`) and hands each result to the request waiting for that job id.
//! `complete` writes the reply under the job's own partition, so there is one reader per
//! partition the producer has sent a request to: on a Redis Cluster an `XREAD` of streams in
//! several slots is refused, so the streams cannot share one read. A reader starts with its
//! partition's first request and ends within one blocking read after the last clone of the
//! producer is dropped.

use homing_core::stream::parse_read_reply;
use homing_core::{Error, JobId, Keys};
use homing_core::{RedisTarget, Timeouts};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long one read of the reply stream blocks. Short enough that a dropped producer's reader
/// ends quickly, long enough that an idle reader costs Redis almost nothing.
const READ_BLOCK: Duration = Duration::from_secs(1);

/// What a job's reply said.
pub(crate) type Reply = Result<Vec<u8>, Error>;

/// The requests of one producer that wait for a reply, and its reader.
pub(crate) struct Replies {
    /// The producer id: the `r` field of its jobs and the suffix of its reply stream.
    pub(crate) producer: String,
    target: RedisTarget,
    waiting: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    /// The partitions whose reply stream has a reader.
    readers: Mutex<HashSet<u32>>,
}

impl Replies {
    pub(crate) fn new(target: RedisTarget, producer: String) -> Self {
        Self { producer, target, waiting: Mutex::new(HashMap::new()), readers: Mutex::new(HashSet::new()) }
    }

    /// Registers interest in `id`'s reply (before the push, so no reply can be missed) and
    /// starts the reader of `keys`' partition, the job's, if it is not running.
    pub(crate) fn expect(self: &Arc<Self>, id: &JobId, keys: &Keys) -> Waiter {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("not poisoned").insert(id.to_string(), tx);
        if self.readers.lock().expect("not poisoned").insert(keys.partition_index()) {
            tokio::spawn(read(Arc::downgrade(self), keys.reply(&self.producer)));
        }
        Waiter { replies: self.clone(), id: id.to_string(), rx }
    }

    fn deliver(&self, id: &str, reply: Reply) {
        if let Some(tx) = self.waiting.lock().expect("not poisoned").remove(id) {
            let _ = tx.send(reply);
        }
    }
}

/// One request's wait; dropping it (a timeout) forgets the request, and a late reply is
/// discarded by the reader.
pub(crate) struct Waiter {
    replies: Arc<Replies>,
    id: String,
    rx: oneshot::Receiver<Reply>,
}

impl Waiter {
    pub(crate) async fn wait(mut self, timeout: Duration) -> Reply {
        match tokio::time::timeout(timeout, &mut self.rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(Error::Malformed("the reply reader stopped".to_string())),
            Err(_) => Err(Error::RequestTimeout { id: self.id.clone(), timeout }),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.replies.waiting.lock().expect("not poisoned").remove(&self.id);
    }
}

/// The reader loop of one reply `stream`: `XREAD BLOCK` on its own connection (a blocking read
/// on the producer's shared connection would stall its pushes), deliver, then `XDEL` what was
/// read.
async fn read(replies: Weak<Replies>, stream: String) {
    let Some(target) = replies.upgrade().map(|r| r.target.clone()) else { return };
    let timeouts = Timeouts { connection: Duration::from_secs(5), response: Some(READ_BLOCK + Duration::from_secs(5)) };
    let mut conn = None;
    let mut last = "0-0".to_string();
    let mut delay = Duration::from_millis(50);
    while replies.strong_count() > 0 {
        let result = async {
            if conn.is_none() {
                conn = Some(target.connect(timeouts).await?);
            }
            let c = conn.as_mut().expect("just set");
            let reply: redis::Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(100)
                .arg("BLOCK")
                .arg(READ_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&stream)
                .arg(&last)
                .query_async(c)
                .await?;
            let entries: Vec<_> = parse_read_reply(reply)?.into_iter().flat_map(|(_, e)| e).collect();
            if let Some(e) = entries.last() {
                last = e.id.clone();
                let mut del = redis::cmd("XDEL");
                del.arg(&stream);
                for e in &entries {
                    del.arg(&e.id);
                }
                let _: i64 = del.query_async(c).await?;
            }
            Ok::<_, Error>(entries)
        }
        .await;
        match result {
            Ok(entries) => {
                delay = Duration::from_millis(50);
                let Some(r) = replies.upgrade() else { return };
                for entry in entries {
                    if let Some((id, reply)) = decode(&entry.fields) {
                        r.deliver(&id, reply);
                    }
                }
            }
            Err(_) => {
                // The producer's own calls report Redis being away; the reader just retries.
                conn = None;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// A reply entry: `id`, `status` (`ok` | `dead`), then `out` or `error`.
fn decode(fields: &[(String, Vec<u8>)]) -> Option<(String, Reply)> {
    let get = |name: &str| fields.iter().find(|(f, _)| f == name).map(|(_, v)| v.clone());
    let id = String::from_utf8(get("id")?).ok()?;
    let reply = match get("status").as_deref() {
        Some(b"ok") => Ok(get("out").unwrap_or_default()),
        _ => Err(Error::JobFailed {
            id: id.clone(),
            error: String::from_utf8_lossy(&get("error").unwrap_or_default()).into_owned(),
        }),
    };
    Some((id, reply))
}

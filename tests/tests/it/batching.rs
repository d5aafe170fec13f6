//! Batched completion: one `complete` call for many finished jobs stamps, replies and acks
//! exactly as one call per job did, in order: a later job of the same session sees the stamp
//! an earlier one in the batch made.

use homing_core::scripts::{self, Completion, Finished, PushArgs};
use homing_core::{JobId, Keys, QueueName, QueueSettings};
use homing_tests::{conn, create_groups, fresh_queue, redis_url};
use redis::AsyncCommands;
use std::time::Duration;

/// What the queue holds after the completions: pins, reply entries, and stream lengths.
#[derive(Debug, PartialEq, Eq)]
struct State {
    pins: Vec<Option<String>>,
    replies: Vec<(String, String, Vec<u8>)>,
    overflow_pending: u64,
    overflow_len: u64,
    inbox_len: u64,
}

async fn push(url: &str, keys: &Keys, id: &JobId, session: &str, reply_to: Option<&str>) -> String {
    let args = PushArgs {
        id,
        session,
        payload: b"x",
        delay: Duration::ZERO,
        key: None,
        key_ttl: Duration::from_secs(60),
        reply_to,
        max_attempts: None,
    };
    scripts::push(&mut conn(url).await, keys, &args).await.unwrap().route.to_string()
}

/// Pushes six jobs, has `wa` fetch five (four from the overflow, one from its inbox) and `wb`
/// one, sets pins, then completes all six as `wa`, one call per job or all in one.
async fn scenario(batched: bool) -> (Vec<Completion>, State) {
    let url = redis_url();
    let keys = Keys::new("homing", &QueueName::new(fresh_queue("batch")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    for w in ["wa", "wb", "wz"] {
        scripts::heartbeat(&mut c, &keys, w, Duration::from_secs(60), 4).await.unwrap();
    }
    create_groups(&mut c, &[keys.overflow(), keys.inbox("wa"), keys.inbox("wb"), keys.inbox("wz")]).await;
    let push = |id, session, reply_to| push(&url, &keys, id, session, reply_to);
    let ids: Vec<JobId> = (0..6).map(|_| JobId::new()).collect();
    // new1 twice (the first stamps, the second then runs on the owner), mine, other, and one
    // that `wb` takes (stale for `wa`).
    assert_eq!(push(&ids[0], "new1", Some("p1")).await, "new");
    assert_eq!(push(&ids[1], "new1", Some("p1")).await, "new");
    assert_eq!(push(&ids[2], "mine", None).await, "new");
    assert_eq!(push(&ids[3], "other", Some("p2")).await, "new");
    let taken = scripts::fetch(&mut c, &keys, "wa", 4).await.unwrap().overflow;
    assert_eq!(push(&ids[4], "elsewhere", None).await, "new");
    let stolen = scripts::fetch(&mut c, &keys, "wb", 1).await.unwrap().overflow.remove(0);
    let _: () = c.set(keys.pin("mine"), "wa").await.unwrap();
    let _: () = c.set(keys.pin("other"), "wz").await.unwrap();
    assert_eq!(push(&ids[5], "mine", Some("p1")).await, "hit");
    let inbox_entry = scripts::fetch(&mut c, &keys, "wa", 1).await.unwrap().inbox.remove(0);

    let (overflow, inbox) = (keys.overflow(), keys.inbox("wa"));
    let finished = |stream: &'static str, entry_id: &str, n: usize, session: &'static str, reply_to| {
        let stream = if stream == "inbox" { inbox.clone() } else { overflow.clone() };
        (stream, entry_id.to_string(), ids[n].to_string(), session, reply_to)
    };
    let jobs = [
        finished("overflow", &taken[0].id, 0, "new1", Some("p1")),
        finished("overflow", &taken[1].id, 1, "new1", Some("p1")),
        finished("overflow", &taken[2].id, 2, "mine", None),
        finished("overflow", &taken[3].id, 3, "other", Some("p2")),
        finished("overflow", &stolen.id, 4, "elsewhere", None),
        finished("inbox", &inbox_entry.id, 5, "mine", Some("p1")),
        // Listed twice: acked the first time, so stale the second.
        finished("overflow", &taken[0].id, 0, "new1", Some("p1")),
    ];
    let outputs: Vec<Vec<u8>> = (0..7).map(|n| vec![b'o', n as u8, 0xff]).collect();
    let list: Vec<(Finished<'_>, &[u8])> = jobs
        .iter()
        .zip(&outputs)
        .map(|((stream, entry_id, job_id, session, reply_to), out)| {
            (Finished { stream, entry_id, job_id, session, reply_to: *reply_to }, out.as_slice())
        })
        .collect();
    let done = if batched {
        scripts::complete_many(&mut c, &keys, &inbox, "wa", &list).await.unwrap()
    } else {
        let mut done = Vec::new();
        for (f, out) in &list {
            done.push(scripts::complete(&mut c, &keys, f, "wa", out).await.unwrap());
        }
        done
    };

    let mut pins = Vec::new();
    for s in ["new1", "mine", "other", "elsewhere"] {
        pins.push(c.get(keys.pin(s)).await.unwrap());
    }
    let mut replies = Vec::new();
    for p in ["p1", "p2"] {
        let r: redis::streams::StreamRangeReply = c.xrange_all(keys.reply(p)).await.unwrap();
        for e in r.ids {
            let id: String = e.get("id").unwrap();
            let n = ids.iter().position(|i| i.as_str() == id).unwrap();
            replies.push((p.to_string(), format!("job{n}"), e.get::<Vec<u8>>("out").unwrap()));
        }
    }
    let pending: redis::streams::StreamPendingReply = c.xpending(&overflow, "homing").await.unwrap();
    let inbox_len: u64 = c.xlen(&inbox).await.unwrap();
    let overflow_len: u64 = c.xlen(&overflow).await.unwrap();
    (done, State { pins, replies, overflow_pending: pending.count() as u64, overflow_len, inbox_len })
}

#[tokio::test]
async fn one_call_for_many_jobs_stamps_replies_and_acks_exactly_as_one_call_per_job() {
    let (single, single_state) = scenario(false).await;
    let (batched, batched_state) = scenario(true).await;
    let c = |stale, stamped, on_owner| Completion { stale, stamped, on_owner };
    let expected = vec![
        c(false, true, false),  // new1's first job stamps wa
        c(false, false, true),  // new1's second job sees that stamp: warm
        c(false, false, true),  // mine is pinned to wa
        c(false, false, false), // other is pinned to wz, alive: kept
        c(true, false, false),  // pending to wb: stale, nothing written
        c(false, false, true),  // the inbox entry of mine
        c(true, false, false),  // taken[0] again: already acked, stale
    ];
    assert_eq!(single, expected, "one call per job");
    assert_eq!(batched, expected, "one call for all");
    let state = State {
        pins: vec![Some("wa".into()), Some("wa".into()), Some("wz".into()), None],
        replies: vec![
            ("p1".into(), "job0".into(), vec![b'o', 0, 0xff]),
            ("p1".into(), "job1".into(), vec![b'o', 1, 0xff]),
            ("p1".into(), "job5".into(), vec![b'o', 5, 0xff]),
            ("p2".into(), "job3".into(), vec![b'o', 3, 0xff]),
        ],
        overflow_pending: 1,
        overflow_len: 1,
        inbox_len: 0,
    };
    assert_eq!(single_state, state, "one call per job");
    assert_eq!(batched_state, state, "one call for all");
}

#[tokio::test]
async fn a_malformed_batch_is_refused_before_anything_is_written() {
    let url = redis_url();
    let keys = Keys::new("homing", &QueueName::new(fresh_queue("batchbad")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    let inbox = keys.inbox("wa");
    let f = Finished { stream: "elsewhere", entry_id: "1-0", job_id: "j", session: "s", reply_to: None };
    let e = scripts::complete_many(&mut c, &keys, &inbox, "wa", &[(f, b"".as_slice())]).await.unwrap_err();
    assert_eq!(e.to_string(), format!("invalid argument: complete: elsewhere is neither {inbox} nor the overflow"));
    // A list the script cannot read (here: no jobs) names the shape and writes nothing.
    let raw: redis::RedisResult<redis::Value> = redis::cmd("EVAL")
        .arg(scripts::all().iter().find(|s| s.name == "complete").unwrap().source)
        .arg(3)
        .arg(keys.meta())
        .arg(&inbox)
        .arg(keys.overflow())
        .arg("wa")
        .arg(b"\x90".as_slice())
        .query_async(&mut c)
        .await;
    let e = raw.unwrap_err();
    assert_eq!(e.code(), Some("HOMING_BAD_ARG"), "{e}");
    assert!(e.to_string().contains("jobs must be a MessagePack array of 1-1000 jobs"), "{e}");
}

#[tokio::test]
async fn a_batch_finds_its_entries_pending_among_more_than_a_thousand() {
    // complete asks Redis which listed entries are still pending in pages of 1,000: an entry
    // past the first page is asked about on its own, not taken for stale.
    let url = redis_url();
    let keys = Keys::new("homing", &QueueName::new(fresh_queue("batchpel")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "wa", Duration::from_secs(60), 2000).await.unwrap();
    let inbox = keys.inbox("wa");
    create_groups(&mut c, &[keys.overflow(), inbox.clone()]).await;
    let mut pipe = redis::pipe();
    for n in 0..1001 {
        pipe.cmd("XADD").arg(&inbox).arg("*").arg(&[("id", format!("j{n}")), ("s", "s".into())]).ignore();
    }
    let () = pipe.query_async(&mut c).await.unwrap();
    let read: redis::streams::StreamReadReply = c
        .xread_options(
            &[&inbox],
            &[">"],
            &redis::streams::StreamReadOptions::default().group("homing", "wa").count(1001),
        )
        .await
        .unwrap();
    let entries: Vec<String> = read.keys[0].ids.iter().map(|e| e.id.clone()).collect();
    assert_eq!(entries.len(), 1001);
    // Out of id order: the range asked for runs from the lowest listed id to the highest.
    let list: Vec<(Finished<'_>, &[u8])> = [&entries[1000], &entries[0], &entries[500]]
        .iter()
        .map(|id| {
            (Finished { stream: &inbox, entry_id: id, job_id: "j", session: "s", reply_to: None }, b"".as_slice())
        })
        .collect();
    let done = scripts::complete_many(&mut c, &keys, &inbox, "wa", &list).await.unwrap();
    let ok = Completion { stale: false, stamped: false, on_owner: false };
    let warm = Completion { on_owner: true, ..ok };
    assert_eq!(done, vec![Completion { stamped: true, ..ok }, warm, warm]);
    let left: u64 = c.xlen(&inbox).await.unwrap();
    assert_eq!(left, 998);
}

#[tokio::test]
async fn a_batch_orders_ids_by_number_when_their_parts_differ_in_length() {
    // complete asks XPENDING for the range from the lowest listed id to the highest. Ids of the
    // same length compare as text only when their '-' is at the same place: 9-1000 comes before
    // 10-100 (as text it would come after, and the range would be empty), 99-1 before 100-1.
    let url = redis_url();
    let keys = Keys::new("homing", &QueueName::new(fresh_queue("batchids")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "wa", Duration::from_secs(60), 2000).await.unwrap();
    let inbox = keys.inbox("wa");
    create_groups(&mut c, &[keys.overflow(), inbox.clone()]).await;
    let ids = ["9-1000", "10-100", "99-1", "100-1"];
    for id in ids {
        let _: String = c.xadd(&inbox, id, &[("id", "j"), ("s", "s")]).await.unwrap();
    }
    let read: redis::streams::StreamReadReply = c
        .xread_options(&[&inbox], &[">"], &redis::streams::StreamReadOptions::default().group("homing", "wa").count(4))
        .await
        .unwrap();
    assert_eq!(read.keys[0].ids.len(), 4);
    for pair in [["10-100", "9-1000"], ["100-1", "99-1"]] {
        let list: Vec<(Finished<'_>, &[u8])> = pair
            .iter()
            .map(|id| {
                (Finished { stream: &inbox, entry_id: id, job_id: "j", session: "s", reply_to: None }, b"".as_slice())
            })
            .collect();
        let done = scripts::complete_many(&mut c, &keys, &inbox, "wa", &list).await.unwrap();
        assert!(done.iter().all(|d| !d.stale), "{pair:?} were taken for stale: {done:?}");
    }
    let left: u64 = c.xlen(&inbox).await.unwrap();
    assert_eq!(left, 0);
}

/// `list` pushed in one push_many call, or one push per job.
async fn push_each_or_many(
    c: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    list: &[PushArgs<'_>],
    batched: bool,
) -> Vec<Result<scripts::Pushed, homing_core::Error>> {
    if batched {
        return scripts::push_many(c, keys, list).await.unwrap();
    }
    let mut out = Vec::new();
    for a in list {
        out.push(scripts::push(c, keys, a).await);
    }
    out
}

/// What push and push_many return for the same list, and the queue each leaves behind.
async fn pushed(batched: bool) -> (Vec<Result<(String, String), String>>, Vec<(String, String)>, u64) {
    let url = redis_url();
    let keys = Keys::new("homing", &QueueName::new(fresh_queue("pushmany")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "wa", Duration::from_secs(60), 4).await.unwrap();
    create_groups(&mut c, &[keys.overflow(), keys.inbox("wa")]).await;
    let _: () = c.set(keys.pin("warm"), "wa").await.unwrap();
    let ids: Vec<JobId> = ["j0", "j1", "j2", "j3", "j4"].into_iter().map(|i| JobId::parse(i).unwrap()).collect();
    let args = |n: usize, session: &'static str, key: Option<&'static str>, delay_ms: u64| PushArgs {
        id: &ids[n],
        session,
        payload: b"\x00\xff",
        delay: Duration::from_millis(delay_ms),
        key,
        key_ttl: Duration::from_secs(60),
        reply_to: None,
        max_attempts: None,
    };
    let list = [
        args(0, "warm", Some("k"), 0), // hit: the pin is wa's
        args(1, "cold", Some("k"), 0), // the key j0 just wrote: a duplicate of j0
        args(2, "", None, 0),          // refused: an empty session
        args(3, "cold", None, 60_000), // delayed
        args(4, "cold", None, 0),      // new
    ];
    let results = push_each_or_many(&mut c, &keys, &list, batched).await;
    let results = results
        .into_iter()
        .map(|r| r.map(|p| (p.id.to_string(), p.route.to_string())).map_err(|e| e.to_string()))
        .collect();
    let mut queued = Vec::new();
    for stream in [keys.inbox("wa"), keys.overflow()] {
        let r: redis::streams::StreamRangeReply = c.xrange_all(&stream).await.unwrap();
        for e in r.ids {
            queued.push((stream.rsplit(':').next().unwrap().to_string(), e.get::<String>("id").unwrap()));
        }
    }
    let delayed: u64 = c.zcard(keys.delayed()).await.unwrap();
    (results, queued, delayed)
}

#[tokio::test]
async fn push_many_enqueues_each_job_exactly_as_push_in_order() {
    let expected_results = vec![
        Ok(("j0".to_string(), "hit".to_string())),
        Ok(("j0".to_string(), "duplicate".to_string())),
        Err("invalid argument: session must be 1-256 bytes, got 0".to_string()),
        Ok(("j3".to_string(), "delayed".to_string())),
        Ok(("j4".to_string(), "new".to_string())),
    ];
    let expected_queue = vec![("wa".to_string(), "j0".to_string()), ("overflow".to_string(), "j4".to_string())];
    assert_eq!(pushed(false).await, (expected_results.clone(), expected_queue.clone(), 1), "one push per job");
    assert_eq!(pushed(true).await, (expected_results, expected_queue, 1), "one push_many");
}

/// The routes of `sessions` pushed one by one or in one push_many call, on a queue where `wa`
/// is alive with one slot (max_waiting 1) and owns `a1` and `a2`, and `wd` is dead and owns
/// `d1` and `d2`; then whether `wa` is in the waiting index and the dead pins are gone.
async fn routes_to_owners(batched: bool, sessions: &[&'static str]) -> (Vec<String>, bool, usize) {
    let url = redis_url();
    let keys = Keys::new("homing", &QueueName::new(fresh_queue("owners")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    let settings = QueueSettings { max_waiting: 1, ..QueueSettings::default() };
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &settings).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "wa", Duration::from_secs(60), 1).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "wd", Duration::from_secs(60), 1).await.unwrap();
    let _: () = c.zadd(keys.workers(), "wd", 1).await.unwrap();
    create_groups(&mut c, &[keys.overflow(), keys.inbox("wa"), keys.inbox("wd")]).await;
    for (session, owner) in [("a1", "wa"), ("a2", "wa"), ("d1", "wd"), ("d2", "wd")] {
        let _: () = c.set(keys.pin(session), owner).await.unwrap();
    }
    let ids: Vec<JobId> = sessions.iter().map(|_| JobId::new()).collect();
    let list: Vec<PushArgs> = sessions.iter().zip(&ids).map(|(session, id)| PushArgs::now(id, session, b"x")).collect();
    let results = push_each_or_many(&mut c, &keys, &list, batched).await;
    let routes = results.into_iter().map(|r| r.unwrap().route.to_string()).collect();
    let waiting: Option<f64> = c.zscore(keys.waiting(), "wa").await.unwrap();
    let dead_pins: usize = c.exists(&[keys.pin("d1"), keys.pin("d2")]).await.unwrap();
    (routes, waiting.is_some(), dead_pins)
}

/// push_many asks each owner's liveness, capacity and waiting entry once per call: the routes
/// of many jobs to the same owners are still exactly those of one push per job.
#[tokio::test]
async fn push_many_routes_many_jobs_to_the_same_owners_exactly_as_push() {
    let sessions = ["a1", "a1", "d1", "a2", "d2", "a1"];
    // a1 twice fits wa's slot and line; d1 finds wd dead; a2 has a line of 1 behind wa and no
    // longer overflow; d2's owner is still dead; a1 finds the overflow longer than wa's line.
    let want: Vec<String> =
        ["hit", "hit", "spill:dead", "spill:busy", "spill:dead", "hit"].into_iter().map(String::from).collect();
    assert_eq!(routes_to_owners(false, &sessions).await, (want.clone(), true, 0), "one push per job");
    assert_eq!(routes_to_owners(true, &sessions).await, (want, true, 0), "one push_many");
}

/// The route words of four jobs of a session whose owner `wa` (capacity 1) has three jobs in
/// its inbox, with affinity shadow and max_waiting 1: each job goes to the overflow, so its line
/// grows by one per job while the owner's stays two behind.
async fn shadow_routes_behind_a_full_inbox(batched: bool) -> Vec<String> {
    let url = redis_url();
    let keys = Keys::new("homing", &QueueName::new(fresh_queue("shadowline")).unwrap()).unwrap();
    let mut c = conn(&url).await;
    let settings =
        QueueSettings { affinity: homing_core::AffinityMode::Shadow, max_waiting: 1, ..QueueSettings::default() };
    scripts::init(&mut c, &keys, scripts::InitMode::Create, &settings).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "wa", Duration::from_secs(60), 1).await.unwrap();
    create_groups(&mut c, &[keys.overflow(), keys.inbox("wa")]).await;
    let _: () = c.set(keys.pin("s"), "wa").await.unwrap();
    for _ in 0..3 {
        let _: String = c.xadd(keys.inbox("wa"), "*", &[("id", "queued")]).await.unwrap();
    }
    let ids: Vec<JobId> = (0..4).map(|_| JobId::new()).collect();
    let list: Vec<PushArgs> = ids.iter().map(|id| PushArgs::now(id, "s", b"x")).collect();
    let results = push_each_or_many(&mut c, &keys, &list, batched).await;
    results.into_iter().map(|r| r.unwrap().route.to_string()).collect()
}

/// In a call of many routes the overflow's length is counted, not asked again: a shadow route
/// adds to the overflow too, and the fourth job finds the overflow (3) longer than the owner's
/// line (2), a would-be hit, in push_many as with one push per job.
#[tokio::test]
async fn push_many_counts_the_overflow_a_shadow_route_adds_to() {
    let want: Vec<String> =
        ["shadow:miss", "shadow:miss", "shadow:miss", "shadow:hit"].into_iter().map(String::from).collect();
    assert_eq!(shadow_routes_behind_a_full_inbox(false).await, want, "one push per job");
    assert_eq!(shadow_routes_behind_a_full_inbox(true).await, want, "one push_many");
}

/// A busy worker claims a job for every free slot in one fetch: eight queued jobs and
/// concurrency 8 take one fetch call of two stream reads (its empty inbox, read first on the
/// first fetch, then the overflow for all eight), not one fetch per job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_worker_claims_a_job_for_every_free_slot_in_one_fetch() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A server of its own: its command counts are this worker's alone.
    let server = homing_tests::RedisServer::start(&[]);
    let url = server.url();
    let queue = fresh_queue("claimall");
    let keys = Keys::with_default_prefix(&QueueName::new(&queue).unwrap());
    let mut c = conn(&url).await;
    scripts::init_partitions(&mut c, &keys, scripts::InitMode::Create, &QueueSettings::default()).await.unwrap();
    let producer = homing_client::Producer::connect(&url, &queue).await.unwrap();
    for i in 0..8 {
        producer.push(&format!("s{i}"), "x").await.unwrap();
    }
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut c).await.unwrap();
    let (gate, started) = (Arc::new(tokio::sync::Semaphore::new(0)), Arc::new(AtomicUsize::new(0)));
    let (g, s) = (gate.clone(), started.clone());
    let handler = move |_job: homing_worker::Job| {
        let (g, s) = (g.clone(), s.clone());
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            let _ = g.acquire().await;
            Ok::<_, homing_worker::HandlerError>(())
        }
    };
    let w = homing_tests::TestWorker::start(crate::config(&url, &queue, "a").concurrency(8), handler);
    homing_tests::wait_for("all eight jobs to start", Duration::from_secs(10), || {
        let n = started.load(Ordering::SeqCst);
        async move { (n == 8).then_some(()) }
    })
    .await;
    // Every slot is busy: the loop waits for one before it reads again.
    let read = homing_tests::command_calls(&mut c, "xreadgroup").await;
    gate.add_permits(8);
    w.stop();
    assert_eq!(read, 2, "stream reads for eight jobs at concurrency 8");
}

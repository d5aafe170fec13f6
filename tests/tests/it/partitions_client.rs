//! The producer on a partitioned queue: every push path sends a session's jobs to the
//! partition `partition_of(session, partitions)` names, and nowhere else; a request's reply
//! comes back from the partition its job ran in.

use homing_client::Producer;
use homing_core::scripts::{self, Finished, InitMode};
use homing_core::{partition_of, Job, Keys, QueueName, QueueSettings};
use homing_tests::{conn, create_groups, fresh_queue, redis_url, wait_for};
use redis::streams::StreamRangeReply;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::time::Duration;

const PARTITIONS: u32 = 3;

/// A fresh queue created with three partitions, and a producer for it.
async fn partitioned(label: &str) -> (String, Keys, Producer) {
    let url = redis_url();
    let queue = fresh_queue(label);
    let keys = Keys::new("homing", &QueueName::new(&queue).unwrap()).unwrap();
    let settings = QueueSettings { partitions: PARTITIONS, ..Default::default() };
    scripts::init_partitions(&mut conn(&url).await, &keys, InitMode::Create, &settings).await.unwrap();
    let producer = Producer::connect(&url, &queue).await.unwrap();
    (url, keys, producer)
}

/// Each partition's overflow entries as (job id, session, payload), in stream order.
async fn overflows(url: &str, keys: &Keys) -> Vec<Vec<(String, String, Vec<u8>)>> {
    let mut c = conn(url).await;
    let mut out = Vec::new();
    for k in 0..PARTITIONS {
        let r: StreamRangeReply = c.xrange_all(keys.partition(k).overflow()).await.unwrap();
        out.push(
            r.ids.iter().map(|e| (e.get("id").unwrap(), e.get("s").unwrap(), e.get("p").unwrap())).collect::<Vec<_>>(),
        );
    }
    out
}

/// Sessions spread over the partitions: 24 names, at least one in each partition.
fn sessions() -> Vec<String> {
    let all: Vec<String> = (0..24).map(|i| format!("conversation-{i}")).collect();
    for k in 0..PARTITIONS {
        assert!(all.iter().any(|s| partition_of(s, PARTITIONS) == k), "no session in partition {k}");
    }
    all
}

#[tokio::test]
async fn each_push_lands_in_its_sessions_partition_only() {
    let (url, keys, producer) = partitioned("ppush").await;
    let mut want: Vec<Vec<(String, String, Vec<u8>)>> = vec![Vec::new(); PARTITIONS as usize];
    for s in sessions() {
        let payload = format!("for {s}").into_bytes();
        let receipt = producer.push_raw(&s, &payload).await.unwrap();
        want[partition_of(&s, PARTITIONS) as usize].push((receipt.id.to_string(), s, payload));
    }
    assert_eq!(overflows(&url, &keys).await, want);
}

#[tokio::test]
async fn push_many_returns_receipts_in_the_callers_order_from_every_partition() {
    let (url, keys, producer) = partitioned("ppushmany").await;
    // Sessions of all partitions interleaved, an invalid one among them.
    let mut jobs: Vec<(String, Vec<u8>)> = sessions().into_iter().map(|s| (s.clone(), s.into_bytes())).collect();
    jobs.insert(5, (String::new(), b"no session".to_vec()));
    let results = producer.push_many_raw(&jobs).await.unwrap();
    assert_eq!(results.len(), jobs.len());
    let stored = overflows(&url, &keys).await;
    for (i, ((session, payload), result)) in jobs.iter().zip(&results).enumerate() {
        if i == 5 {
            assert!(matches!(result, Err(homing_core::Error::InvalidSession { len: 0 })), "{result:?}");
            continue;
        }
        let id = result.as_ref().unwrap().id.to_string();
        let k = partition_of(session, PARTITIONS) as usize;
        assert!(
            stored[k].contains(&(id.clone(), session.clone(), payload.clone())),
            "job {i} ({session}) in partition {k}"
        );
    }
    assert_eq!(stored.iter().map(Vec::len).sum::<usize>(), jobs.len() - 1, "no job twice, none elsewhere");
}

/// An ingress envelope's id and session (its payload left unread).
#[derive(serde::Deserialize)]
struct Envelope {
    id: String,
    session: String,
}

#[tokio::test]
async fn ingress_lpushes_each_envelope_to_its_sessions_partition() {
    let (url, keys, producer) = partitioned("pingress").await;
    let jobs: Vec<(String, Vec<u8>)> = sessions().into_iter().map(|s| (s.clone(), s.into_bytes())).collect();
    let mut ids = producer.ingress_many_raw(&jobs).await.unwrap();
    let mut sent: Vec<&str> = jobs.iter().map(|(s, _)| s.as_str()).collect();
    // One session, again and again, through both calls: always its one partition.
    for _ in 0..4 {
        ids.push(producer.ingress("conversation-7", "typed").await.unwrap());
        sent.push("conversation-7");
    }
    ids.extend(producer.ingress_many_raw(&[("conversation-7", b"raw")]).await.unwrap());
    sent.push("conversation-7");

    let mut c = conn(&url).await;
    let mut found: HashMap<String, (u32, String)> = HashMap::new();
    for k in 0..PARTITIONS {
        let list: Vec<Vec<u8>> = c.lrange(keys.partition(k).ingress(), 0, -1).await.unwrap();
        for envelope in list {
            let e: Envelope = rmp_serde::from_slice(&envelope).unwrap();
            assert!(found.insert(e.id, (k, e.session)).is_none(), "an id sent twice");
        }
    }
    assert_eq!(found.len(), ids.len());
    for (id, session) in ids.iter().zip(&sent) {
        assert_eq!(found[id.as_str()], (partition_of(session, PARTITIONS), session.to_string()), "job {id}");
    }
}

/// Does what a worker `w` does for the one job waiting in partition `k`: fetch it, then
/// complete it with its payload reversed as output.
async fn answer(url: &str, keys: &Keys, k: u32) -> String {
    let keys = keys.partition(k);
    let mut c = conn(url).await;
    scripts::heartbeat(&mut c, &keys, "w", Duration::from_secs(60), 4).await.unwrap();
    create_groups(&mut c, &[keys.overflow(), keys.inbox("w")]).await;
    let entry = wait_for("a job in the partition", Duration::from_secs(10), || {
        let keys = keys.clone();
        async move { scripts::fetch(&mut conn(url).await, &keys, "w", 1).await.unwrap().overflow.pop() }
    })
    .await;
    let job = Job::from_fields(&entry.fields).unwrap();
    let output: Vec<u8> = job.payload.iter().rev().copied().collect();
    let overflow = keys.overflow();
    let finished = Finished {
        stream: &overflow,
        entry_id: &entry.id,
        job_id: job.id.as_str(),
        session: &job.session,
        reply_to: job.reply_to.as_deref(),
    };
    scripts::complete(&mut c, &keys, &finished, "w", &output).await.unwrap();
    job.session
}

#[tokio::test]
async fn requests_in_two_partitions_each_get_their_own_reply() {
    let (url, keys, producer) = partitioned("preq").await;
    let all = sessions();
    let a = all.iter().find(|s| partition_of(s, PARTITIONS) == 1).unwrap().clone();
    let b = all.iter().find(|s| partition_of(s, PARTITIONS) == 2).unwrap().clone();
    let ask = |session: String| {
        let producer = producer.clone();
        tokio::spawn(async move {
            producer.request_raw_with(&session, session.as_bytes(), Default::default(), Duration::from_secs(10)).await
        })
    };
    let (ra, rb) = (ask(a.clone()), ask(b.clone()));
    assert_eq!(answer(&url, &keys, 2).await, b);
    assert_eq!(answer(&url, &keys, 1).await, a);
    let reversed = |s: &str| s.bytes().rev().collect::<Vec<u8>>();
    assert_eq!(rb.await.unwrap().unwrap(), reversed(&b));
    assert_eq!(ra.await.unwrap().unwrap(), reversed(&a));
}

#[tokio::test]
async fn a_producer_reads_the_partition_count_from_the_queue() {
    let url = redis_url();
    let queue = fresh_queue("pcount");
    let keys = Keys::new("homing", &QueueName::new(&queue).unwrap()).unwrap();
    // No settings yet: one partition, every session's keys partition 0's.
    let early = Producer::connect(&url, &queue).await.unwrap();
    assert_eq!(early.partitions(), 1);
    let s = sessions().into_iter().find(|s| partition_of(s, PARTITIONS) == 2).unwrap();
    assert_eq!(early.keys_for(&s), &keys);
    let settings = QueueSettings { partitions: PARTITIONS, ..Default::default() };
    scripts::init_partitions(&mut conn(&url).await, &keys, InitMode::Create, &settings).await.unwrap();

    let late = Producer::connect(&url, &queue).await.unwrap();
    assert_eq!(late.partitions(), PARTITIONS);
    assert_eq!(late.keys(), &keys, "keys() stays partition 0's");
    assert_eq!(late.keys_for(&s), &keys.partition(2));
    // The early producer reads the count with the settings its first push finds.
    let receipt = early.push_raw(&s, b"x").await.unwrap();
    assert_eq!(early.partitions(), PARTITIONS);
    let stored = overflows(&url, &keys).await;
    assert_eq!(stored[2].iter().map(|(id, _, _)| id.as_str()).collect::<Vec<_>>(), [receipt.id.as_str()]);
}

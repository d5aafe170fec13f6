//! LPUSH ingress: envelopes from producers that have only a Redis client.

use crate::{config, recording, setup, wait_runs};
use homing_tests::{conn, wait_dead_letters, Recorder, TestWorker};
use redis::AsyncCommands;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Envelope<'a> {
    session: &'a str,
    payload: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
}

#[tokio::test]
async fn msgpack_and_json_envelopes_are_routed_and_bad_ones_dead_lettered() {
    let (url, queue, producer) = setup("ingress").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let mut c = conn(&url).await;
    let packed =
        rmp_serde::to_vec_named(&Envelope { session: "s1", payload: "packed", id: Some("mp-1"), key: None }).unwrap();
    let json = r#"{"session":"s2","payload":{"turn":1},"id":"js-1","key":"k-1"}"#;
    let again = r#"{"session":"s2","payload":"again","key":"k-1"}"#;
    let envelopes: Vec<Vec<u8>> =
        vec![packed, json.into(), again.into(), b"not an envelope".to_vec(), br#"{"payload":"no session"}"#.to_vec()];
    for e in &envelopes {
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
    }
    let runs = wait_runs(&rec, 2).await;
    let by_id: HashMap<&str, &str> = runs.iter().map(|r| (r.job.as_str(), r.session.as_str())).collect();
    assert_eq!(by_id, HashMap::from([("mp-1", "s1"), ("js-1", "s2")]));
    let dead = wait_dead_letters(&url, &keys, 2).await;
    let errors: Vec<(&str, &str)> = dead.iter().map(|d| (d["reason"].as_str(), d["error"].as_str())).collect();
    assert_eq!(
        errors,
        [
            ("malformed", "envelope is neither a MessagePack nor a JSON map"),
            ("malformed", "envelope field session must be a string of 1-256 bytes"),
        ]
    );
    assert_eq!(dead[0]["envelope"], "not an envelope", "the raw envelope is kept");
    let left: u64 = c.llen(keys.ingress()).await.unwrap();
    assert_eq!(left, 0);
    assert_eq!(rec.runs().len(), 2, "the duplicate key enqueued nothing");
    w.stop();
}

#[tokio::test]
async fn ingress_latency_from_lpush_to_handler_start() {
    let (url, queue, producer) = setup("ingresslat").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let mut c = conn(&url).await;
    let mut sent = HashMap::new();
    for i in 0..200 {
        let id = format!("lat-{i}");
        let e = rmp_serde::to_vec_named(&Envelope { session: "s", payload: "x", id: Some(&id), key: None }).unwrap();
        sent.insert(id, Instant::now());
        let _: i64 = c.lpush(keys.ingress(), e).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let runs = wait_runs(&rec, 200).await;
    let mut lat: Vec<Duration> = runs.iter().map(|r| r.at - sent[&r.job]).collect();
    lat.sort();
    assert_eq!(lat.len(), 200);
    eprintln!("ingress LPUSH -> handler start: p50 {:?}, p99 {:?}, max {:?}", lat[99], lat[197], lat[199]);
    w.stop();
}

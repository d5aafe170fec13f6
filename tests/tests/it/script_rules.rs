//! Rules of the scripts checked by calling them directly, where a worker's other paths would
//! mask their removal (a heartbeat also writes capacity 0, a blocking read also takes overflow
//! jobs): each test pins one rule of `lua/`, found by the mutation runner.

use homing_client::{Route, SpillReason};
use homing_core::scripts::{self, HandBackPhase, InitMode};
use homing_core::{Keys, QueueSettings};
use homing_tests::{conn, create_groups, dead_letters};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use std::time::Duration;

/// A fresh queue with `settings` written, a live worker `w-1` of `capacity`, and its groups.
async fn queue(
    label: &str,
    settings: QueueSettings,
    capacity: u32,
) -> (homing_client::Producer, Keys, MultiplexedConnection) {
    let (producer, keys, c, _url) = queue_at(label, settings, capacity).await;
    (producer, keys, c)
}

/// Same, with the Redis URL.
async fn queue_at(
    label: &str,
    settings: QueueSettings,
    capacity: u32,
) -> (homing_client::Producer, Keys, MultiplexedConnection, String) {
    let (url, _queue, producer) = crate::setup(label).await;
    let keys = producer.keys().clone();
    let mut c = conn(&url).await;
    scripts::init(&mut c, &keys, InitMode::Create, &settings).await.unwrap();
    scripts::heartbeat(&mut c, &keys, "w-1", Duration::from_secs(60), capacity).await.unwrap();
    create_groups(&mut c, &[keys.inbox("w-1"), keys.overflow()]).await;
    (producer, keys, c, url)
}

#[tokio::test]
async fn a_push_for_a_draining_owner_spills_busy_even_with_its_inbox_empty() {
    let (producer, keys, mut c) = queue("rdrain", QueueSettings::default(), 0).await;
    let _: () = c.set(keys.pin("s"), "w-1").await.unwrap();
    let receipt = producer.push_raw("s", b"x").await.unwrap();
    assert_eq!(receipt.route, Route::Spill(SpillReason::Busy));
    let inbox: u64 = c.xlen(keys.inbox("w-1")).await.unwrap();
    assert_eq!(inbox, 0, "nothing is routed to a worker with capacity 0");
}

#[tokio::test]
async fn a_hit_refreshes_the_pins_ttl_at_push_time() {
    let settings = QueueSettings { pin_ttl: Duration::from_secs(600), ..Default::default() };
    let (producer, keys, mut c) = queue("rhitttl", settings, 4).await;
    let _: () = redis::cmd("SET").arg(keys.pin("s")).arg("w-1").arg("PX").arg(1000).query_async(&mut c).await.unwrap();
    let receipt = producer.push_raw("s", b"x").await.unwrap();
    assert_eq!(receipt.route, Route::Hit);
    let ttl: i64 = c.pttl(keys.pin("s")).await.unwrap();
    assert!(ttl > 590_000, "the hit set the pin's TTL back to pin_ttl: {ttl} ms left");
}

#[tokio::test]
async fn hand_back_drain_sets_capacity_0_at_once() {
    let (_producer, keys, mut c) = queue("rcap0", QueueSettings::default(), 8).await;
    scripts::hand_back(&mut c, &keys, "w-1", HandBackPhase::Drain).await.unwrap();
    let capacity: String = c.hget(keys.capacity(), "w-1").await.unwrap();
    assert_eq!(capacity, "0");
}

#[tokio::test]
async fn fetch_takes_up_to_count_overflow_entries_in_one_call() {
    let (producer, keys, mut c) = queue("rfetch", QueueSettings::default(), 4).await;
    for i in 0..5 {
        producer.push_raw(&format!("s{i}"), b"x").await.unwrap();
    }
    let got = scripts::fetch(&mut c, &keys, "w-1", 3).await.unwrap();
    assert_eq!((got.inbox.len(), got.overflow.len()), (0, 3));
}

#[tokio::test]
async fn a_stalled_job_on_its_last_attempt_is_dead_lettered_stalled() {
    let settings =
        QueueSettings { max_attempts: 1, visibility_timeout: Duration::from_millis(300), ..Default::default() };
    let (producer, keys, mut c, url) = queue_at("rstalled", settings, 4).await;
    let id = producer.push_raw("s", b"x").await.unwrap().id.to_string();
    let got = scripts::fetch(&mut c, &keys, "w-1", 1).await.unwrap();
    assert_eq!(got.overflow.len(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reclaimed = scripts::reclaim(&mut c, &keys, &[keys.overflow()], 100).await.unwrap();
    assert_eq!(reclaimed[0].moved, 1);
    let dead = dead_letters(&url, &keys).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0]["id"].as_str(), dead[0]["reason"].as_str()), (id.as_str(), "stalled"));
}

#[tokio::test]
async fn each_entry_records_the_route_that_queued_it() {
    let settings = QueueSettings { max_wait: Duration::from_millis(50), ..Default::default() };
    let (producer, keys, mut c) = queue("rroute", settings, 4).await;
    let route_of = |got: &[homing_core::stream::StreamEntry]| -> Vec<Option<String>> {
        got.iter().map(|e| homing_core::Job::from_fields(&e.fields).unwrap().route).collect()
    };
    producer.push_raw("fresh", b"x").await.unwrap();
    let _: () = c.set(keys.pin("warm"), "w-1").await.unwrap();
    producer.push_raw("warm", b"x").await.unwrap();
    let got = scripts::fetch(&mut c, &keys, "w-1", 10).await.unwrap();
    assert_eq!(route_of(&got.inbox), [Some("hit".to_string())]);
    assert_eq!(route_of(&got.overflow), [Some("new".to_string())]);
    // A hit that waits past max_wait is stolen: its copy in the overflow says so.
    producer.push_raw("warm", b"x").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(scripts::steal(&mut c, &keys, 100).await.unwrap().moved, 1);
    create_groups(&mut c, &[keys.inbox("w-2")]).await;
    let got = scripts::fetch(&mut c, &keys, "w-2", 10).await.unwrap();
    assert_eq!(route_of(&got.overflow), [Some("spill:wait".to_string())]);
}

/// The fetch script reads the stream it is told to first, for half the slots, and fills the
/// rest from the other.
#[tokio::test]
async fn fetch_reads_the_stream_named_first_for_half_the_slots() {
    let settings = QueueSettings { max_waiting: 100, ..Default::default() };
    let (producer, keys, mut c) = queue("rfair", settings, 4).await;
    let _: () = c.set(keys.pin("warm"), "w-1").await.unwrap();
    for i in 0..4 {
        assert_eq!(producer.push_raw("warm", b"x").await.unwrap().route, Route::Hit);
        producer.push_raw(&format!("new{i}"), b"x").await.unwrap();
    }
    let sizes = |f: &scripts::Fetched| (f.inbox.len(), f.overflow.len());
    let got = scripts::fetch_with(&mut c, &keys, "w-1", 1, scripts::FetchFirst::Overflow).await.unwrap();
    assert_eq!(sizes(&got), (0, 1));
    let got = scripts::fetch_with(&mut c, &keys, "w-1", 1, scripts::FetchFirst::Inbox).await.unwrap();
    assert_eq!(sizes(&got), (1, 0));
    let got = scripts::fetch_with(&mut c, &keys, "w-1", 3, scripts::FetchFirst::Overflow).await.unwrap();
    assert_eq!(sizes(&got), (1, 2));
    // One overflow entry is left: the other stream fills the rest.
    let got = scripts::fetch_with(&mut c, &keys, "w-1", 3, scripts::FetchFirst::Overflow).await.unwrap();
    assert_eq!(sizes(&got), (2, 1));
    // The overflow is empty: the stream read first fills the slots the other left.
    for _ in 0..3 {
        producer.push_raw("warm", b"x").await.unwrap();
    }
    let got = scripts::fetch_with(&mut c, &keys, "w-1", 3, scripts::FetchFirst::Inbox).await.unwrap();
    assert_eq!(sizes(&got), (3, 0));
}

/// The spill rule: a live owner's job spills `busy` only when `max_waiting` jobs wait behind
/// the owner (absolute) and no more wait in the overflow (relative); else it goes home.
#[tokio::test]
async fn a_busy_owner_spills_only_when_the_overflow_is_no_longer_than_its_line() {
    let settings = QueueSettings { max_waiting: 1, ..Default::default() };
    let (producer, keys, mut c) = queue("rspill", settings, 1).await;
    let _: () = c.set(keys.pin("s"), "w-1").await.unwrap();
    let push = |session: &'static str| {
        let p = producer.clone();
        async move { p.push_raw(session, b"x").await.unwrap().route }
    };
    let busy = Route::Spill(SpillReason::Busy);
    // Capacity 1: the first fills the slot, the second waits (1 behind = max_waiting), then
    // the overflow is empty, so the third spills.
    assert_eq!([push("s").await, push("s").await, push("s").await], [Route::Hit, Route::Hit, busy]);
    // The overflow now holds 1 + 3 = 4: the owner's line (1, then 2, 3) is shorter, so jobs
    // stay home until 4 wait behind it.
    for s in ["a", "b", "c"] {
        assert_eq!(push(s).await, Route::New);
    }
    let routes = [push("s").await, push("s").await, push("s").await, push("s").await];
    assert_eq!(routes, [Route::Hit, Route::Hit, Route::Hit, busy]);
    let inbox: u64 = c.xlen(keys.inbox("w-1")).await.unwrap();
    assert_eq!(inbox, 5, "1 slot + 4 behind");
}

//! Affinity `off` and `shadow`: everything through the overflow; shadow reports would-be hits.

use crate::{config_with, recording, setup, wait_runs};
use homing_client::Route;
use homing_core::metrics::JOBS_PUSHED;
use homing_core::{scripts, AffinityMode, Keys, QueueSettings};
use homing_tests::metrics_text::Captured;
use homing_tests::{conn, create_groups, wait_for, Recorder, TestWorker};
use redis::AsyncCommands;
use std::time::Duration;

/// Registers `owner` as a live worker with an empty inbox and pins `session` to it: a push of
/// that session would be a `hit` with affinity on.
async fn live_owner(url: &str, keys: &Keys, owner: &str, session: &str) {
    let mut c = conn(url).await;
    scripts::heartbeat(&mut c, keys, owner, Duration::from_secs(60), 4).await.unwrap();
    create_groups(&mut c, &[keys.inbox(owner)]).await;
    let _: () = c.set(keys.pin(session), owner).await.unwrap();
}

/// The job ids in a stream, oldest first.
async fn ids_in(url: &str, stream: &str) -> Vec<String> {
    let r: redis::streams::StreamRangeReply = conn(url).await.xrange_all(stream).await.unwrap();
    r.ids.iter().map(|e| e.get::<String>("id").unwrap()).collect()
}

#[tokio::test]
async fn affinity_off_routes_everything_through_the_overflow() {
    let (url, queue, producer) = setup("off").await;
    let keys = producer.keys().clone();
    let settings = QueueSettings { affinity: AffinityMode::Off, ..Default::default() };
    // Before any worker runs: a live owner's pinned session still goes to the overflow.
    scripts::init(&mut conn(&url).await, &keys, scripts::InitMode::Create, &settings).await.unwrap();
    live_owner(&url, &keys, "owner-1", "pinned").await;
    let pinned = producer.push("pinned", "x").await.unwrap();
    assert_eq!(pinned.route, Route::Off);
    assert_eq!(ids_in(&url, &keys.overflow()).await, [pinned.id.to_string()]);
    assert_eq!(ids_in(&url, &keys.inbox("owner-1")).await, Vec::<String>::new(), "not the owner's inbox");

    let rec = Recorder::default();
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), recording("a", &rec));
    for turn in 0..3 {
        assert_eq!(producer.push("s", &turn).await.unwrap().route, Route::Off);
        wait_runs(&rec, turn + 2).await;
    }
    let mut c = conn(&url).await;
    let pin: Option<String> = c.get(keys.pin("s")).await.unwrap();
    assert_eq!(pin, None, "off never stamps");
    let pin: Option<String> = c.get(keys.pin("pinned")).await.unwrap();
    assert_eq!(pin.as_deref(), Some("owner-1"), "nor overwrites a pin");
    w.stop();
}

#[tokio::test]
async fn shadow_routes_through_the_overflow_but_reports_would_be_hits() {
    let metrics = Captured::default();
    let _local = metrics.install();
    let (url, queue, producer) = setup("shadow").await;
    let keys = producer.keys().clone();
    let settings = QueueSettings { affinity: AffinityMode::Shadow, ..Default::default() };
    // A would-be hit, before any worker runs: the overflow gets it, the owner's inbox does not.
    scripts::init(&mut conn(&url).await, &keys, scripts::InitMode::Create, &settings).await.unwrap();
    live_owner(&url, &keys, "owner-1", "pinned").await;
    let would_hit = producer.push("pinned", "x").await.unwrap();
    assert_eq!(would_hit.route, Route::Shadow { would_hit: true });
    assert_eq!(ids_in(&url, &keys.overflow()).await, [would_hit.id.to_string()]);
    assert_eq!(ids_in(&url, &keys.inbox("owner-1")).await, Vec::<String>::new(), "not the owner's inbox");

    let rec = Recorder::default();
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), recording("a", &rec));
    assert_eq!(producer.push("s", "first").await.unwrap().route, Route::Shadow { would_hit: false });
    wait_runs(&rec, 2).await;
    let pin = wait_for("the shadow pin", Duration::from_secs(5), || async {
        conn(&url).await.get::<_, Option<String>>(keys.pin("s")).await.unwrap()
    })
    .await;
    assert_eq!(pin, w.id.as_str(), "shadow stamps, so it can tell what would hit");
    assert_eq!(producer.push("s", "second").await.unwrap().route, Route::Shadow { would_hit: true });
    assert_eq!(producer.push("other", "x").await.unwrap().route, Route::Shadow { would_hit: false });
    wait_runs(&rec, 4).await;
    // The would-be-hit metric: two would-be hits, two misses, nothing else.
    let pushed = metrics.named(JOBS_PUSHED);
    let by_labels: Vec<(String, String, u64)> =
        pushed.into_iter().map(|(l, n)| (l["route"].clone(), l["reason"].clone(), n)).collect();
    assert_eq!(by_labels, [("shadow".into(), "hit".into(), 2), ("shadow".into(), "miss".into(), 2)]);
    w.stop();
}

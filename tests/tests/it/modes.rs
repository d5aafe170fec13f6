//! Affinity `off` and `shadow`: everything through the overflow; shadow reports would-be hits.

use crate::{config_with, recording, setup, wait_runs};
use homing_client::Route;
use homing_core::{AffinityMode, QueueSettings};
use homing_tests::{conn, wait_for, Recorder, TestWorker};
use redis::AsyncCommands;
use std::time::Duration;

#[tokio::test]
async fn affinity_off_routes_everything_through_the_overflow() {
    let (url, queue, producer) = setup("off").await;
    let rec = Recorder::default();
    let settings = QueueSettings { affinity: AffinityMode::Off, ..Default::default() };
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), recording("a", &rec));
    for turn in 0..3 {
        assert_eq!(producer.push("s", &turn).await.unwrap().route, Route::Off);
        wait_runs(&rec, turn + 1).await;
    }
    let mut c = conn(&url).await;
    let pin: Option<String> = c.get(producer.keys().pin("s")).await.unwrap();
    assert_eq!(pin, None, "off never stamps");
    let inbox_len: u64 = c.xlen(producer.keys().inbox(w.id.as_str())).await.unwrap();
    assert_eq!(inbox_len, 0);
    w.stop();
}

#[tokio::test]
async fn shadow_routes_through_the_overflow_but_reports_would_be_hits() {
    let (url, queue, producer) = setup("shadow").await;
    let rec = Recorder::default();
    let settings = QueueSettings { affinity: AffinityMode::Shadow, ..Default::default() };
    let w = TestWorker::start(config_with(&url, &queue, "a", settings), recording("a", &rec));
    assert_eq!(producer.push("s", "first").await.unwrap().route, Route::Shadow { would_hit: false });
    wait_runs(&rec, 1).await;
    let keys = producer.keys().clone();
    let pin = wait_for("the shadow pin", Duration::from_secs(5), || async {
        conn(&url).await.get::<_, Option<String>>(keys.pin("s")).await.unwrap()
    })
    .await;
    assert_eq!(pin, w.id.as_str(), "shadow stamps, so it can tell what would hit");
    assert_eq!(producer.push("s", "second").await.unwrap().route, Route::Shadow { would_hit: true });
    assert_eq!(producer.push("other", "x").await.unwrap().route, Route::Shadow { would_hit: false });
    wait_runs(&rec, 3).await;
    let inbox_len: u64 = conn(&url).await.xlen(keys.inbox(w.id.as_str())).await.unwrap();
    assert_eq!(inbox_len, 0, "nothing went to the inbox");
    w.stop();
}

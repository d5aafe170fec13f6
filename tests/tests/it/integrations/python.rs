//! Producers in Python: envelopes LPUSHed with the `redis` client complete on a Rust worker.

use crate::{config, recording, setup, wait_runs};
use homing_tests::{wait_for, Recorder, TestWorker};
use std::time::Duration;

#[tokio::test]
async fn a_python_producer_lpushes_and_a_rust_worker_completes() {
    let (url, queue, producer) = setup("pyingress").await;
    let keys = producer.keys().clone();
    let rec = Recorder::default();
    let w = TestWorker::start(config(&url, &queue, "a"), recording("a", &rec));
    let script = format!(
        "import json, redis\nr = redis.Redis.from_url({url:?})\nr.lpush({key:?}, json.dumps({{'session': 'py-session', 'payload': 'hello from python', 'id': 'py-1'}}))\n",
        key = keys.ingress()
    );
    let out = std::process::Command::new(super::python()).arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let runs = wait_runs(&rec, 1).await;
    assert_eq!((runs[0].job.as_str(), runs[0].session.as_str()), ("py-1", "py-session"));
    wait_for("the job to complete", Duration::from_secs(10), || async {
        homing_tests::invariants::is_drained(&url, &keys).await.then_some(())
    })
    .await;
    w.stop();
}

//! The client crate's ingress path: `Producer::ingress_many_raw` LPUSHes envelopes that the
//! mover routes, payload bytes exact and in order; bad input fails before anything is sent.

use crate::{config, setup};
use homing_core::Error;
use homing_tests::{conn, Deliveries, TestWorker};
use redis::AsyncCommands;

#[tokio::test]
async fn jobs_sent_through_ingress_arrive_whole_with_the_returned_ids() {
    let (url, queue, producer) = setup("ingcli").await;
    let got = Deliveries::default();
    let w = TestWorker::start(config(&url, &queue, "a"), got.handler());
    // Every byte value, and more envelopes than one LPUSH carries.
    let jobs: Vec<(String, Vec<u8>)> =
        (0..1500u32).map(|i| (format!("s{}", i % 7), vec![(i % 256) as u8, 0x00, 0xff, 0xc4])).collect();
    let ids = producer.ingress_many_raw(&jobs).await.unwrap();
    assert_eq!(ids.len(), 1500);
    let single = producer.ingress("solo", "typed").await.unwrap();
    let delivered = got.wait(1501).await;
    for (id, (session, payload)) in ids.iter().zip(&jobs) {
        let job = &delivered[id.as_str()];
        assert_eq!((&job.session, &job.payload), (session, payload), "job {id}");
    }
    let typed: String = rmp_serde::from_slice(&delivered[single.as_str()].payload).unwrap();
    assert_eq!(typed, "typed");
    let left: u64 = conn(&url).await.llen(producer.keys().ingress()).await.unwrap();
    assert_eq!(left, 0);
    w.stop();
}

#[tokio::test]
async fn a_bad_job_fails_the_call_before_any_envelope_is_sent() {
    let (url, queue, producer) = setup("ingbad").await;
    let w = TestWorker::start(config(&url, &queue, "a"), Deliveries::default().handler());
    let max = homing_core::QueueSettings::default().max_payload;
    let empty_session = [("ok", vec![1u8]), ("", vec![2u8])];
    let e = producer.ingress_many_raw(&empty_session).await.unwrap_err();
    assert!(matches!(e, Error::InvalidSession { len: 0 }), "{e}");
    let too_big = [("ok", vec![1u8]), ("s", vec![0u8; max + 1])];
    let e = producer.ingress_many_raw(&too_big).await.unwrap_err();
    assert!(matches!(e, Error::PayloadTooLarge { size, .. } if size == max + 1), "{e}");
    let sent: u64 = conn(&url).await.llen(producer.keys().ingress()).await.unwrap();
    assert_eq!(sent, 0, "nothing reached the ingress list");
    w.stop();
}

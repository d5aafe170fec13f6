//! Envelopes from the default MessagePack encoders of Python (`msgpack`) and Node
//! (`@msgpack/msgpack`), LPUSHed with each language's `redis` client, reach a Rust worker's
//! handler byte for byte: bytes as `bin`, text as `str`, keys in any order, `max_attempts` in
//! whatever int width the encoder picks.

use crate::{config, setup};
use homing_tests::{wait_dead_letters, Deliveries, TestWorker};
use std::collections::HashMap;

/// Pushes shuffled-key envelopes with Python's defaults (`use_bin_type=True`: bytes are bin).
const PYTHON: &str = r#"
import random, sys, msgpack, redis
r = redis.Redis.from_url(sys.argv[1])
big = bytes(range(256)) * 300
envelopes = [
    {'session': 'py-1', 'payload': b'\x00\xff\xfe', 'id': 'py-bytes', 'max_attempts': 5},
    {'session': 'py-2', 'payload': 'h\u00e9llo', 'id': 'py-str'},
    {'session': 'py-3', 'payload': bytes(range(256)), 'id': 'py-bin16', 'max_attempts': 200},
    {'session': 'py-4', 'payload': big, 'id': 'py-bin32', 'max_attempts': 1000},
    {'session': 'py-5', 'payload': b'', 'id': 'py-empty', 'max_attempts': 3.0},
    {'session': b'py-6', 'payload': b'x', 'id': 'py-bin-session', 'extra': {'nested': [None, True, 1.5, -7]}},
    {'session': 'py-bad', 'payload': b'x', 'max_attempts': -1},
    {'session': 'py-bad', 'payload': b'x', 'max_attempts': 2 ** 40},
]
for e in envelopes:
    items = list(e.items())
    random.shuffle(items)
    r.lpush(sys.argv[2], msgpack.packb(dict(items)))
"#;

/// The same with Node's defaults (Uint8Array is bin, strings are str).
const NODE: &str = r#"
const { encode } = require('@msgpack/msgpack');
const { createClient } = require('redis');
const shuffled = (e) => Object.fromEntries(Object.entries(e).sort(() => Math.random() - 0.5));
(async () => {
  const client = createClient({ url: process.argv[1] });
  await client.connect();
  const big = Uint8Array.from({ length: 70000 }, (_, i) => (i * 7) % 256);
  const envelopes = [
    { session: 'js-1', payload: new Uint8Array([0, 255, 254]), id: 'js-bytes', max_attempts: 4 },
    { session: 'js-2', payload: 'h\u00e9llo', id: 'js-str' },
    { session: 'js-3', payload: big, id: 'js-bin32', max_attempts: 300 },
    { session: 'js-4', payload: new Uint8Array(0), id: 'js-empty', max_attempts: 127 },
    { session: 'js-5', payload: 'x', id: 'js-extra', extra: { nested: [null, true, 1.5, -7] } },
    { session: 'js-bad', payload: 'x', max_attempts: 2.5 },
  ];
  for (const e of envelopes) await client.lPush(process.argv[2], Buffer.from(encode(shuffled(e))));
  await client.quit();
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// (job id, session, payload, max_attempts) each envelope must deliver.
type Expected = (&'static str, &'static str, Vec<u8>, Option<u32>);

/// Runs `program` with the queue's URL and ingress key, starts a worker, and checks that each
/// expected job arrives exactly as sent and that `refused` envelopes are dead-lettered.
async fn deliver(label: &str, program: std::process::Command, expected: Vec<Expected>, refused: usize) {
    let (url, queue, producer) = setup(label).await;
    let keys = producer.keys().clone();
    let jobs = Deliveries::default();
    let w = TestWorker::start(config(&url, &queue, "a"), jobs.handler());
    let mut program = program;
    let out = program.arg(&url).arg(keys.ingress()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = jobs.wait(expected.len()).await;
    for (id, session, payload, max_attempts) in &expected {
        let job = got.get(*id).unwrap_or_else(|| panic!("{id} was not delivered: {:?}", got.keys()));
        assert_eq!(job.session, *session, "{id}");
        assert!(job.payload == *payload, "{id}: {} bytes arrived, {} sent", job.payload.len(), payload.len());
        assert_eq!(job.max_attempts, *max_attempts, "{id}");
    }
    assert_eq!(got.len(), expected.len());
    let dead = wait_dead_letters(&url, &keys, refused).await;
    let errors: HashMap<&str, usize> = dead.iter().fold(HashMap::new(), |mut m, d| {
        *m.entry(d["error"].as_str()).or_default() += 1;
        m
    });
    assert_eq!(errors, HashMap::from([("envelope field max_attempts must be a whole number from 1 to 1000", refused)]));
    w.stop();
}

#[tokio::test]
async fn python_msgpack_defaults_deliver_exact_bytes() {
    let big: Vec<u8> = (0..300).flat_map(|_| 0..=255u8).collect();
    let expected: Vec<Expected> = vec![
        ("py-bytes", "py-1", b"\x00\xff\xfe".to_vec(), Some(5)),
        ("py-str", "py-2", "héllo".as_bytes().to_vec(), None),
        ("py-bin16", "py-3", (0..=255u8).collect(), Some(200)),
        ("py-bin32", "py-4", big, Some(1000)),
        ("py-empty", "py-5", Vec::new(), Some(3)),
        ("py-bin-session", "py-6", b"x".to_vec(), None),
    ];
    let mut python = std::process::Command::new(super::python());
    python.arg("-c").arg(PYTHON);
    deliver("pymsgpack", python, expected, 2).await;
}

#[tokio::test]
async fn node_msgpack_defaults_deliver_exact_bytes() {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let expected: Vec<Expected> = vec![
        ("js-bytes", "js-1", b"\x00\xff\xfe".to_vec(), Some(4)),
        ("js-str", "js-2", "héllo".as_bytes().to_vec(), None),
        ("js-bin32", "js-3", big, Some(300)),
        ("js-empty", "js-4", Vec::new(), Some(127)),
        ("js-extra", "js-5", b"x".to_vec(), None),
    ];
    let mut node = std::process::Command::new(super::node());
    node.arg("-e").arg(NODE);
    deliver("nodemsgpack", node, expected, 1).await;
}

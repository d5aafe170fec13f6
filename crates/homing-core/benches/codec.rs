//! Criterion benches of the per-job work Homing does in Rust: reading a job from its stream
//! entry, encoding an ingress envelope and a batch of completions, and reading the route word a
//! push returns. The route decision itself runs in Lua inside Redis; `homing bench` measures it
//! (push only, and Redis CPU per job).
//!
//! `cargo bench -p homing-core --bench codec`

#![allow(missing_docs)] // criterion_group! defines an undocumented function.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use homing_core::scripts::Finished;
use homing_core::{JobId, Route};
use std::hint::black_box;

fn entry_fields(payload: usize) -> Vec<(String, Vec<u8>)> {
    [
        ("id", b"0190f3a1b2c3d4e5f6a7b8c9".to_vec()),
        ("s", b"session-42".to_vec()),
        ("p", vec![b'x'; payload]),
        ("a", b"0".to_vec()),
        ("t", b"1764158400000".to_vec()),
        ("route", b"hit".to_vec()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn codec(c: &mut Criterion) {
    for payload in [256, 65536] {
        let fields = entry_fields(payload);
        c.bench_function(&format!("job from entry fields, {payload} B"), |b| {
            b.iter_batched(
                || fields.clone(),
                |f| homing_core::Job::from_fields(black_box(&f)).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    let id = JobId::new();
    let payload = vec![b'x'; 256];
    c.bench_function("ingress envelope, 256 B", |b| {
        b.iter(|| {
            homing_core::envelope::envelope(black_box(&id), black_box("session-42"), black_box(&payload)).unwrap()
        })
    });
    let words = ["hit", "new", "spill:busy", "spill:dead", "off", "shadow:hit", "delayed", "duplicate"];
    c.bench_function("route word parse", |b| {
        b.iter(|| words.iter().filter(|w| black_box(w).parse::<Route>().is_ok()).count())
    });
    let ids: Vec<String> = (0..64).map(|i| format!("1764158400000-{i}")).collect();
    let out = vec![b'o'; 64];
    let jobs: Vec<(Finished<'_>, &[u8])> = ids
        .iter()
        .map(|e| {
            (
                Finished { stream: "homing:{q}:overflow", entry_id: e, job_id: e, session: "s", reply_to: None },
                out.as_slice(),
            )
        })
        .collect();
    c.bench_function("complete batch of 64 encoded", |b| {
        b.iter(|| {
            homing_core::scripts::encode_completions(black_box(&jobs), "homing:{q}:inbox:w", "homing:{q}:overflow")
                .unwrap()
        })
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);

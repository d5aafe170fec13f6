//! `homing bench --sizing`: Redis memory per pinned session, per queued job (256 B and 64 KiB
//! payloads), per registered worker and per dead letter, each measured as the `used_memory`
//! delta of creating many of them through the same scripts and keys a real queue uses, on a
//! Redis of its own (or `--redis-url`; use an empty one).

use homing_client::{Producer, ProducerOptions};
use homing_core::scripts::{self, InitMode};
use homing_core::{QueueSettings, RedisTarget};
use std::time::Duration;

async fn used_memory(c: &mut homing_core::RedisConnection) -> anyhow::Result<f64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(c).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("INFO memory has no used_memory"))
}

pub async fn run(target: &RedisTarget) -> anyhow::Result<()> {
    let mut c = crate::connect::connect_to(target).await?;
    let queue = format!("sizing-{:06x}", fastrand::u32(..0xff_ffff));
    let options = ProducerOptions::default().with_redis_target(target);
    let producer = Producer::connect_with(&target.url, &queue, options).await?;
    let keys = producer.keys().clone();
    let settings = QueueSettings { max_payload: 1 << 20, ..Default::default() };
    scripts::init(&mut c, &keys, InitMode::Create, &settings).await?;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.overflow())
        .arg("homing")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await?;
    let mut rows = Vec::new();

    for (label, size, n) in
        [("queued job, 256 B payload", 256, 20_000usize), ("queued job, 64 KiB payload", 64 << 10, 2_000)]
    {
        let payload = vec![b'x'; size];
        let before = used_memory(&mut c).await?;
        let jobs: Vec<(String, &[u8])> =
            (0..n).map(|i| (format!("conversation-{}", i % 1000), payload.as_slice())).collect();
        for chunk in jobs.chunks(500) {
            for r in producer.push_many_raw(chunk).await? {
                r?;
            }
        }
        rows.push((label, (used_memory(&mut c).await? - before) / n as f64));
        let _: () = redis::cmd("XTRIM").arg(keys.overflow()).arg("MAXLEN").arg(0).query_async(&mut c).await?;
    }

    // A pin is what `complete` writes: the session's key, the owner's id, a TTL.
    let n = 20_000;
    let before = used_memory(&mut c).await?;
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET")
            .arg(keys.pin(&format!("conversation-{i}")))
            .arg("worker-6c1f0a9e")
            .arg("PX")
            .arg(1_800_000)
            .ignore();
    }
    let _: () = pipe.query_async(&mut c).await?;
    rows.push(("pinned session", (used_memory(&mut c).await? - before) / n as f64));

    // A worker: its registration (heartbeat), its inbox stream with its group, its consumer.
    let n = 1_000;
    let before = used_memory(&mut c).await?;
    for i in 0..n {
        let id = format!("worker-{i:08x}");
        scripts::heartbeat(&mut c, &keys, &id, Duration::from_secs(3), 8).await?;
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(keys.inbox(&id))
            .arg("homing")
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut c)
            .await?;
        let _: () = redis::cmd("XGROUP")
            .arg("CREATECONSUMER")
            .arg(keys.overflow())
            .arg("homing")
            .arg(&id)
            .query_async(&mut c)
            .await?;
    }
    rows.push(("registered worker", (used_memory(&mut c).await? - before) / n as f64));

    // Dead letters of 256 B jobs, written by `fail` as a worker would.
    let n = 5_000;
    let payload = vec![b'x'; 256];
    let jobs: Vec<(String, &[u8])> = (0..n).map(|i| (format!("conversation-{i}"), payload.as_slice())).collect();
    let before = used_memory(&mut c).await?;
    for chunk in jobs.chunks(500) {
        for r in producer.push_many_raw(chunk).await? {
            r?;
        }
    }
    let fetched = scripts::fetch(&mut c, &keys, "worker-00000000", n as u32).await?;
    for e in &fetched.overflow {
        let error = "the model server answered 422: the prompt is longer than the context window";
        scripts::fail(&mut c, &keys, &keys.overflow(), &e.id, "worker-00000000", 0.5, Some("fatal"), error).await?;
    }
    rows.push(("dead letter (256 B job, 75 B error)", (used_memory(&mut c).await? - before) / n as f64));
    crate::local_redis::remove_queue(target, &keys).await;

    println!("sizing: Redis memory per item (used_memory delta over many, this Redis's encoding)");
    for (what, bytes) in rows {
        println!("{what:>38} {bytes:>10.0} B");
    }
    Ok(())
}

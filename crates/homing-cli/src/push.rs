//! `homing push`: one job from an argument, a file or stdin; prints `<id> <route>`, or with
//! `--wait` the job's result.

use crate::args::Global;
use anyhow::Context;
use clap::Args;
use homing_client::{Producer, ProducerOptions, PushOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Push one job.
#[derive(Args, Debug)]
pub struct PushCmd {
    /// The session (affinity key), 1-256 bytes.
    pub session: String,
    /// The payload, sent as raw bytes. Without it and without --file, stdin is read.
    #[arg(conflicts_with = "file")]
    pub data: Option<String>,
    /// Read the payload from this file.
    #[arg(long, short)]
    pub file: Option<PathBuf>,
    /// Run no earlier than this from now (e.g. 30s, 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub delay: Option<Duration>,
    /// Idempotency key: a second push with it within 24 h returns the first job's id.
    #[arg(long)]
    pub key: Option<String>,
    /// Attempts before this job is dead-lettered (overrides the queue's max_attempts).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Wait up to this long for the job's result and print it instead of `<id> <route>`; a
    /// dead-lettered job prints its error and exits nonzero.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait: Option<Duration>,
}

pub async fn run(global: &Global, cmd: PushCmd) -> anyhow::Result<()> {
    global.keys()?;
    let payload = match (&cmd.data, &cmd.file) {
        (Some(data), _) => data.clone().into_bytes(),
        (None, Some(path)) => {
            std::fs::read(path).with_context(|| format!("cannot read payload file {}", path.display()))?
        }
        (None, None) => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("cannot read the payload from stdin")?;
            buf
        }
    };
    let options =
        ProducerOptions { prefix: global.prefix.clone(), ..Default::default() }.with_redis_target(&global.target());
    let producer = Producer::connect_with(global.url(), &global.queue, options)
        .await
        .map_err(|e| crate::connect::explain(e, global))?;
    let push = PushOptions { delay: cmd.delay, key: cmd.key, max_attempts: cmd.max_attempts, ..Default::default() };
    if let Some(timeout) = cmd.wait {
        let output = producer.request_raw_with(&cmd.session, &payload, push, timeout).await?;
        std::io::stdout().write_all(&output).context("cannot write the result to stdout")?;
        return Ok(());
    }
    let receipt = producer.push_raw_with(&cmd.session, &payload, push).await?;
    println!("{} {}", receipt.id, receipt.route.as_str());
    Ok(())
}

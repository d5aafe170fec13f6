//! `homing forget WORKER`: release a worker's sessions and hand its jobs to others now, instead
//! of waiting for `liveness_ttl`. Refused for a worker that heartbeated recently, unless forced.

use crate::args::Global;
use clap::Args;
use homing_core::scripts;

/// Forget one worker.
#[derive(Args, Debug)]
pub struct ForgetCmd {
    /// The worker id as listed in Q:workers (`<name>-<suffix>`).
    pub worker: String,
    /// Forget it even though it heartbeated within liveness_ttl (it may still be running: its
    /// late completions are then stale, and it registers again at its next heartbeat).
    #[arg(long)]
    pub force: bool,
}

/// Entries moved per script call.
const LIMIT: u32 = 1000;

pub async fn run(global: &Global, cmd: ForgetCmd) -> anyhow::Result<()> {
    let keys = global.keys()?;
    let mut conn = crate::connect::connect(global).await?;
    let partitions = scripts::partition_count(&mut conn, &keys).await?;
    let mut moved = 0;
    let mut listed = 0;
    // A worker registers in each partition it serves: forget it in every one that lists it.
    for part in keys.partitions(partitions) {
        loop {
            let r = match scripts::forget(&mut conn, &part, &cmd.worker, cmd.force, LIMIT).await {
                Err(homing_core::Error::UnknownWorker(_)) if partitions > 1 => break,
                other => other?,
            };
            moved += r.moved;
            if r.done {
                listed += 1;
                break;
            }
        }
    }
    anyhow::ensure!(
        listed > 0,
        "worker {} is not registered in any of queue {:?}'s {partitions} partitions (see `homing status`)",
        cmd.worker,
        global.queue
    );
    println!("forgot {}: {moved} jobs handed to other workers", cmd.worker);
    Ok(())
}

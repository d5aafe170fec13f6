//! In-process workers, each on its own Tokio runtime and thread, so a test can stop one
//! gracefully or crash it: dropping the runtime kills its heartbeat, fetch and job tasks at
//! once without any hand-back, as a killed process would.

use homing_worker::{Handler, Worker, WorkerConfig, WorkerId};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// A worker running on its own thread.
pub struct TestWorker {
    /// The worker's id.
    pub id: WorkerId,
    stop: Option<oneshot::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl TestWorker {
    /// Builds and starts a worker; returns once it is registered with Redis.
    pub fn start<H: Handler>(config: WorkerConfig, handler: H) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let keys = homing_core::Keys::new(&config.prefix, &config.queue.parse().unwrap()).unwrap();
        let target = config.redis_target();
        let (stop_tx, stop_rx) = oneshot::channel::<bool>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            // On a crash the graceful sender comes back out and lives until the runtime is gone:
            // dropped earlier, it would end the worker's shutdown future and start a drain
            // (capacity 0, hand-back) racing the crash.
            let crashed = rt.block_on(async move {
                let worker = Worker::new(config, handler).await.expect("worker starts");
                let (graceful_tx, graceful_rx) = oneshot::channel::<()>();
                let id = worker.id().clone();
                // Registered in every partition it serves: each partition's loop registers on its own.
                let served = worker.partitions();
                let run = tokio::spawn(worker.run(async move {
                    let _ = graceful_rx.await;
                }));
                for k in served {
                    wait_registered(&target, &keys.partition(k), &id).await;
                }
                ready_tx.send(id).unwrap();
                let crash = stop_rx.await.unwrap_or(true);
                if crash {
                    return Some(graceful_tx);
                }
                let _ = graceful_tx.send(());
                run.await.expect("run does not panic").expect("run ends cleanly");
                None
            });
            if let Some(graceful_tx) = crashed {
                rt.shutdown_background();
                drop(graceful_tx);
            }
        });
        let id = ready_rx.recv().expect("worker started");
        Self { id, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// Graceful shutdown through `run(shutdown)`; returns when `run` has returned.
    pub fn stop(mut self) {
        self.finish(false);
    }

    /// Kills the worker's runtime: no hand-back, no deregistration, heartbeats just stop.
    pub fn crash(mut self) {
        self.finish(true);
    }

    fn finish(&mut self, crash: bool) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(crash);
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// Waits until the worker is in `Q:workers` and both of its streams exist (groups created).
async fn wait_registered(target: &homing_core::RedisTarget, keys: &homing_core::Keys, id: &WorkerId) {
    let mut conn = crate::any_conn(target).await;
    crate::wait_for("the worker to register", std::time::Duration::from_secs(10), || {
        let mut conn = conn.clone();
        async move {
            let (score, streams): (Option<f64>, u32) = redis::pipe()
                .zscore(keys.workers(), id.as_str())
                .exists(&[keys.inbox(id.as_str()), keys.overflow()])
                .query_async(&mut conn)
                .await
                .ok()?;
            (score.is_some() && streams == 2).then_some(())
        }
    })
    .await;
    let _ = &mut conn;
}

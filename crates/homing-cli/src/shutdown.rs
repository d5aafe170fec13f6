//! The shutdown signal of the binary: SIGTERM (Kubernetes stopping a pod) or ctrl-c.

use std::future::Future;

/// Listens for SIGTERM and ctrl-c from this call on; the future resolves at the first. Call it
/// before the worker registers: until a SIGTERM listener exists the signal takes its default
/// action and ends the process at once (exit 143, no hand-back, its registration left for reap).
/// A signal that arrives before the future is first awaited is kept, and the future resolves
/// at once.
#[cfg(unix)]
pub fn listen() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (term, interrupt) {
            (Ok(mut term), Ok(mut interrupt)) => tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = interrupt.recv() => tracing::info!("ctrl-c received"),
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM and SIGINT; only ctrl-c stops this worker");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Resolves at the first ctrl-c.
#[cfg(not(unix))]
pub fn listen() -> impl Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

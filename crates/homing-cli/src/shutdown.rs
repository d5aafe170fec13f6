//! The shutdown signal of the binary: SIGTERM (Kubernetes stopping a pod) or ctrl-c.

/// Resolves at the first SIGTERM or ctrl-c.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("ctrl-c received"),
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; only ctrl-c stops this worker"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

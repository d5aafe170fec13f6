//! The worker's HTTP endpoints on `--metrics-addr`: `/metrics` (Prometheus text), `/healthz`
//! (200 while the worker's loops turn) and `/readyz` (200 while connected, registered and not
//! draining; 503 otherwise), for Kubernetes probes and scrapes.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::time::Duration;

/// Installs the Prometheus recorder and serves the endpoints on `addr` until the process ends.
/// Probes answer 503 until `health` is set (the worker exists).
pub async fn serve(
    addr: SocketAddr,
    health: tokio::sync::watch::Receiver<Option<homing_worker::Health>>,
) -> anyhow::Result<()> {
    // Gauges not set for 5 minutes are dropped: a reaped worker's inbox backlog, or the queue
    // gauges of a worker that no longer holds the maintenance lease.
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(homing_core::metrics::SECONDS_BUCKETS)
        .context("invalid histogram buckets")?
        .idle_timeout(metrics_util::MetricKindMask::GAUGE, Some(Duration::from_secs(300)))
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    homing_worker::describe_metrics();
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot serve metrics on {addr}"))?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    let upkeep = handle.clone();
    tokio::spawn(async move {
        // Histograms are summarised lazily; upkeep keeps their memory bounded between scrapes.
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (handle, health) = (handle.clone(), health.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let reply = respond(&req, &handle, health.borrow().as_ref());
                    async move { Ok::<_, std::convert::Infallible>(reply) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(())
}

fn respond(
    req: &Request<hyper::body::Incoming>,
    metrics: &PrometheusHandle,
    health: Option<&homing_worker::Health>,
) -> Response<Full<Bytes>> {
    let (status, body) = match req.uri().path() {
        "/metrics" => (StatusCode::OK, metrics.render()),
        "/healthz" => match health {
            Some(h) if !h.is_live() => (StatusCode::SERVICE_UNAVAILABLE, "heartbeats stalled\n".to_string()),
            _ => (StatusCode::OK, "ok\n".to_string()),
        },
        "/readyz" => match health {
            Some(h) if h.is_ready() => (StatusCode::OK, "ready\n".to_string()),
            Some(h) if h.is_draining() => (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_string()),
            Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "not connected to Redis\n".to_string()),
            None => (StatusCode::SERVICE_UNAVAILABLE, "starting\n".to_string()),
        },
        _ => (StatusCode::NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n".to_string()),
    };
    let content_type = if req.uri().path() == "/metrics" { "text/plain; version=0.0.4" } else { "text/plain" };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a static response is valid")
}

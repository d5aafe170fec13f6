//! The `http` handler, the sidecar mode for apps in any language: each job is POSTed to an app
//! in the same pod. 2xx completes the job with the response body as its result; 4xx
//! dead-letters it at once (the app refused the input); 5xx, a refused connection and a timeout
//! retry it.

use bytes::Bytes;
use clap::Args;
use homing_worker::{Handler, HandlerError, Job};
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// Where to POST jobs.
#[derive(Args, Debug, Clone)]
pub struct HttpArgs {
    /// The app's URL, plain HTTP (e.g. http://127.0.0.1:8080/jobs).
    #[arg(long, env = "HOMING_HTTP_URL")]
    pub url: String,
    /// How long one call may take before the job is retried.
    #[arg(long, env = "HOMING_HTTP_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// POSTs every job to one URL.
pub struct Http {
    args: HttpArgs,
    url: Uri,
    authority: String,
    /// The URL as logs and job errors show it: a token in its query hidden.
    shown: String,
}

/// At most this much of an error response body is kept as the error text.
const MAX_ERROR: usize = 4096;

impl Http {
    /// Checks the URL: plain `http://` with a host and no `user:password@`, since the app runs
    /// beside the worker (a token may travel in the query, which every message hides).
    pub fn new(args: HttpArgs) -> anyhow::Result<Self> {
        // Parsed here, not by clap, whose error would echo the URL with its secrets.
        let shown = homing_core::redact_url(&args.url);
        let url: Uri = args.url.parse().map_err(|e| anyhow::anyhow!("--url {shown} is not a URL: {e}"))?;
        anyhow::ensure!(
            url.scheme_str() == Some("http"),
            "--url must be a plain http:// URL of an app beside the worker, got {shown}"
        );
        let authority = url.authority().ok_or_else(|| anyhow::anyhow!("--url {shown} has no host"))?;
        anyhow::ensure!(
            !authority.as_str().contains('@'),
            "--url {shown} carries credentials, which the http handler does not send; pass a token in the query instead"
        );
        let authority = authority.to_string();
        let authority = if authority.contains(':') { authority } else { format!("{authority}:80") };
        Ok(Self { args, url, authority, shown })
    }

    async fn call(&self, job: &Job) -> Result<(u16, Bytes), String> {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.shown))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        let path = self.url.path_and_query().map_or("/", |p| p.as_str());
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
            .header("x-homing-job-id", job.id.as_str())
            .header("x-homing-session", &job.session)
            .header("x-homing-attempt", job.attempt.to_string())
            .body(Full::new(Bytes::from(job.payload.clone())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("POST {}: {e}", self.shown))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| format!("reading the response: {e}"))?.to_bytes();
        Ok((status, body))
    }
}

impl Handler for Http {
    async fn handle(&self, job: Job) -> Result<Vec<u8>, HandlerError> {
        let (status, body) = match tokio::time::timeout(self.args.timeout, self.call(&job)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(HandlerError::retry(e)),
            Err(_) => return Err(HandlerError::retry(format!("no response within {:?}", self.args.timeout))),
        };
        if (200..300).contains(&status) {
            return Ok(body.to_vec());
        }
        let mut text = String::from_utf8_lossy(&body).trim().to_string();
        text.truncate(MAX_ERROR);
        let error = format!("HTTP {status}: {text}");
        if (400..500).contains(&status) {
            Err(HandlerError::fatal(error))
        } else {
            Err(HandlerError::retry(error))
        }
    }
}

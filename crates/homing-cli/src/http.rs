//! The `http` handler, the sidecar mode for apps in any language: each job is POSTed to an app
//! in the same pod. 2xx completes the job with the response body as its result; 4xx
//! dead-letters it at once (the app refused the input); 5xx, a refused connection and a timeout
//! retry it.
//!
//! Calls reuse HTTP/1.1 keep-alive connections from a small pool, so a worker holds at most one
//! connection per job in flight instead of opening (and leaving in TIME_WAIT) one per job.

use bytes::Bytes;
use clap::Args;
use homing_worker::{Handler, HandlerError, Job};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// The request target: the URL's path and query.
    path: Uri,
    /// `host:port`, to connect to and to send as `Host`.
    authority: String,
    host: HeaderValue,
    pool: Pool,
    /// The URL as logs and job errors show it: a token in its query hidden.
    shown: String,
}

/// At most this much of an error response body is kept as the error text.
const MAX_ERROR: usize = 4096;

/// The error a non-2xx answer becomes: the status and the body's first `MAX_ERROR` bytes, cut
/// at a character boundary (`truncate` inside a multi-byte character would panic).
fn error_text(status: u16, body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(body).trim().to_string();
    let mut cut = MAX_ERROR.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    format!("HTTP {status}: {text}")
}

/// How long a connection may sit idle in the pool and still be reused. A busy worker reuses its
/// connections at once, so this only matters after a lull; it stays below the keep-alive
/// timeouts of common app servers (gunicorn 2 s, uvicorn and Node 5 s, nginx 75 s), so the
/// worker never sends a job down a connection at the moment the app closes it for idleness.
const POOL_IDLE: Duration = Duration::from_secs(1);

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// The app's idle keep-alive connections. A job takes one (or opens one) for its call and puts
/// it back once the response is read, so a worker holds at most `concurrency` connections.
#[derive(Default)]
struct Pool {
    /// In the order they were put back: the most recently used last.
    idle: Mutex<Vec<(Sender, Instant)>>,
}

impl Pool {
    /// The most recently used idle connection that is still open, if any.
    fn take(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap();
        while let Some((sender, since)) = idle.pop() {
            if since.elapsed() > POOL_IDLE {
                // Every connection below it has been idle longer still: close them all.
                idle.clear();
                return None;
            }
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put(&self, sender: Sender) {
        self.idle.lock().unwrap().push((sender, Instant::now()));
    }
}

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
        let bad = |e: &dyn std::fmt::Display| anyhow::anyhow!("--url {shown} is not a URL: {e}");
        let path = url.path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|e| bad(&e))?;
        let host = HeaderValue::from_str(&authority).map_err(|e| bad(&e))?;
        Ok(Self { args, path, authority, host, shown, pool: Pool::default() })
    }

    async fn connect(&self) -> Result<Sender, String> {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.shown))?;
        // A request is written at once; Nagle's algorithm would hold a reused connection's next
        // request until the app acknowledged the last one.
        tcp.set_nodelay(true).map_err(|e| format!("cannot reach {}: {e}", self.shown))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        // Ends when the app or the pool closes the connection.
        tokio::spawn(conn);
        Ok(sender)
    }

    async fn call(&self, job: Job) -> Result<(u16, Bytes), String> {
        let mut request = hyper::Request::post(self.path.clone())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
            .header("x-homing-job-id", job.id.as_str())
            .header("x-homing-session", &job.session)
            .header("x-homing-attempt", job.attempt)
            .body(Full::new(Bytes::from(job.payload)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        // Bounded: each pass either takes a connection out of the pool or opens a fresh one,
        // and a fresh one never loops.
        loop {
            let (mut sender, reused) = match self.pool.take() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            let response = match sender.try_send_request(request).await {
                Ok(response) => response,
                Err(mut e) => match e.take_message() {
                    // Never written: the app closed this pooled connection while it sat idle.
                    Some(unsent) if reused => {
                        request = unsent;
                        continue;
                    }
                    _ => return Err(format!("POST {}: {}", self.shown, e.into_error())),
                },
            };
            let status = response.status().as_u16();
            let body =
                response.into_body().collect().await.map_err(|e| format!("reading the response: {e}"))?.to_bytes();
            // Back to the pool once it can carry the next request; an app that answered with
            // `Connection: close` closes it instead, and it is dropped.
            if sender.ready().await.is_ok() {
                self.pool.put(sender);
            }
            return Ok((status, body));
        }
    }
}

impl Handler for Http {
    async fn handle(&self, job: Job) -> Result<Vec<u8>, HandlerError> {
        let (status, body) = match tokio::time::timeout(self.args.timeout, self.call(job)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(HandlerError::retry(e)),
            Err(_) => return Err(HandlerError::retry(format!("no response within {:?}", self.args.timeout))),
        };
        if (200..300).contains(&status) {
            return Ok(body.to_vec());
        }
        let error = error_text(status, &body);
        if (400..500).contains(&status) {
            Err(HandlerError::fatal(error))
        } else {
            Err(HandlerError::retry(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_is_cut_at_a_character_boundary() {
        // 4,095 ASCII bytes, then a two-byte character across the 4,096-byte limit.
        let body = format!("{}é and more", "a".repeat(MAX_ERROR - 1));
        assert_eq!(error_text(500, body.as_bytes()), format!("HTTP 500: {}", "a".repeat(MAX_ERROR - 1)));
        assert_eq!(error_text(400, b"  empty payload \n"), "HTTP 400: empty payload");
    }
}

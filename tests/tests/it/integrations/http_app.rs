//! The `http` handler against an app in another language (Python's http.server).

use crate::cli::{answer, failure, handler_worker, homing, run, text};
use homing_tests::{fresh_queue, redis_url, wait_for};
use std::time::Duration;
use tokio::process::Command;

/// A tiny app in another language (Python's http.server) beside the worker.
const APP: &str = r#"
import http.server, sys
class App(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        if body == b'bad':
            code, out = 422, b'unprocessable'
        elif body == b'flaky':
            code, out = 503, b'later'
        else:
            code, out = 200, (self.headers['X-Homing-Session'] + '|' + body.decode()).upper().encode()
        self.send_response(code)
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), App).serve_forever()
"#;

#[tokio::test]
async fn the_http_handler_posts_to_an_app_in_another_language() {
    let url = redis_url();
    let queue = fresh_queue("clihttp");
    let port = homing_tests::free_port();
    let _app =
        Command::new(super::python()).arg("-c").arg(APP).arg(port.to_string()).kill_on_drop(true).spawn().unwrap();
    wait_for("the app to listen", Duration::from_secs(10), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await;

    let mut bad_url = homing(&url, &queue);
    bad_url.args(["worker", "http", "--url", "https://example.com/jobs"]);
    let out = run(bad_url, None).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("error: --url must be a plain http:// URL"), "{}", text(&out.stderr));

    let app = format!("http://127.0.0.1:{port}/jobs");
    let (_child, producer) = handler_worker(&url, &queue, &["http", "--url", &app]).await;
    assert_eq!(answer(&producer, b"hello").await, b"S1|HELLO");
    assert_eq!(failure(&producer, b"bad").await, "fatal: HTTP 422: unprocessable");
    assert_eq!(failure(&producer, b"flaky").await, "max_attempts: HTTP 503: later");
}

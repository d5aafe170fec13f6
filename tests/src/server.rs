//! Real `redis-server` processes. The shared one lives for the whole test run; each is started
//! through `sh` with a pipe on stdin, so it is killed when the test process exits however it
//! exits (the pipe closes, the shell's `read` returns, the shell kills the server).

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The URL of the Redis every test shares: `REDIS_URL` when set, else a `redis-server` from
/// PATH started on a free port for this run.
pub fn redis_url() -> String {
    static SHARED: OnceLock<(String, Option<RedisServer>)> = OnceLock::new();
    let (url, _) = SHARED.get_or_init(|| match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let server = RedisServer::start(&[]);
            (server.url(), Some(server))
        }
    });
    url.clone()
}

/// A private `redis-server` on a free port, in its own temporary directory.
pub struct RedisServer {
    port: u16,
    tls: bool,
    dir: std::path::PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts a server with extra config `args` (e.g. `["--appendonly", "yes"]`).
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(false, args)
    }

    /// Starts a server that speaks TLS only (`--port 0 --tls-port <port>`); `args` name its
    /// certificate, key and CA files (`--tls-cert-file ...`).
    pub fn start_tls(args: &[&str]) -> Self {
        Self::start_with(true, args)
    }

    fn start_with(tls: bool, args: &[&str]) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("homing-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self { port, tls, dir, args: args.iter().map(|s| s.to_string()).collect(), child: None };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        // A TLS server listens on its port with TLS and on no plain port.
        let port_flags: &[&str] = if self.tls { &["--port", "0", "--tls-port"] } else { &["--port"] };
        let mut cmd = vec!["redis-server".to_string()];
        cmd.extend(port_flags.iter().map(|f| f.to_string()));
        cmd.extend([
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "''".into(),
            "--dir".into(),
            self.dir.display().to_string(),
        ]);
        cmd.extend(self.args.iter().cloned());
        let script = format!("{} >/dev/null 2>&1 & pid=$!; read _; kill $pid; wait $pid", cmd.join(" "));
        let child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect(
            "redis-server must be on PATH: install it with `apt-get install redis-server` or `brew install redis`",
        );
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "rediss" } else { "redis" }, self.port)
    }

    /// Stops the server and waits until it has exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(stdin) = child.stdin.as_mut() {
                let _ = stdin.write_all(b"\n");
            }
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    /// Stops and starts the server on the same port and directory (AOF survives).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

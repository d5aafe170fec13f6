//! Which Redis the tests use, and the servers the harness starts itself: the one every test of a
//! run shares, and private ones for tests that stop or restart Redis.
//!
//! The order, unless `HOMING_TEST_REDIS` forces one backend: `REDIS_URL`; else `redis-server`
//! from PATH; else a container through testcontainers (feature `containers`) when a
//! Docker-compatible engine answers at `DOCKER_HOST` or the default socket; else one line
//! saying how to get one. A binary server is started through `sh` with a pipe on stdin, so it
//! is killed when the test process exits however it exits (the pipe closes, the shell's `read`
//! returns, the shell kills the server); a container has a reaper doing the same
//! (`container.rs`).

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The variable that forces a backend: `url`, `binary` or `container`.
pub const BACKEND_VAR: &str = "HOMING_TEST_REDIS";

/// Where a test's Redis comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `REDIS_URL`, run by someone else: used for the shared server only.
    Url,
    /// `redis-server` from PATH, started by the harness.
    Binary,
    /// A `redis-server` container started through testcontainers.
    Container,
}

/// The URL of the Redis every test shares, from the backend [`shared_backend`] picks: started
/// once per run on a free port, or `REDIS_URL`.
pub fn redis_url() -> String {
    static SHARED: OnceLock<(String, Option<RedisServer>)> = OnceLock::new();
    let (url, _) = SHARED.get_or_init(|| match shared_backend() {
        Backend::Url => (std::env::var("REDIS_URL").unwrap_or_default(), None),
        backend => {
            let server = RedisServer::start_on(backend, &[]);
            (server.url(), Some(server))
        }
    });
    url.clone()
}

/// The shared server's backend: the override, else `REDIS_URL`, `redis-server` on PATH, a
/// container engine, in that order. Panics with one line naming the fix when none is there.
pub fn shared_backend() -> Backend {
    match forced() {
        Some(Backend::Url) if redis_url_set() => Backend::Url,
        Some(Backend::Url) => {
            panic!("{BACKEND_VAR}=url but REDIS_URL is not set: set it to the Redis the tests may use")
        }
        Some(backend) => require(backend),
        None if redis_url_set() => Backend::Url,
        None => local_backend(),
    }
}

/// The backend of private servers (tests that stop, restart or reconfigure Redis need one of
/// their own, so never `REDIS_URL`): the override when it is `binary` or `container`, else
/// `redis-server` on PATH, else a container engine.
pub fn private_backend() -> Backend {
    match forced() {
        Some(backend @ (Backend::Binary | Backend::Container)) => require(backend),
        _ => local_backend(),
    }
}

fn forced() -> Option<Backend> {
    match std::env::var(BACKEND_VAR).unwrap_or_default().as_str() {
        "" => None,
        "url" => Some(Backend::Url),
        "binary" => Some(Backend::Binary),
        "container" => Some(Backend::Container),
        other => panic!("{BACKEND_VAR}={other:?} is not a backend: use url, binary or container, or unset it"),
    }
}

fn redis_url_set() -> bool {
    std::env::var("REDIS_URL").is_ok_and(|u| !u.is_empty())
}

pub(crate) fn binary_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file()))
}

/// Whether this build can start containers; the `containers` feature brings testcontainers.
const CONTAINERS: bool = cfg!(feature = "containers");

fn local_backend() -> Backend {
    if binary_on_path() {
        Backend::Binary
    } else if CONTAINERS && crate::engine::answers() {
        Backend::Container
    } else {
        let engine = crate::engine::address();
        let containers = if !CONTAINERS && crate::engine::answers() {
            format!("or rerun with `--features containers` to use the container engine that answers at {engine}")
        } else if CONTAINERS {
            format!("or run a Docker-compatible engine (none answers at {engine}; set DOCKER_HOST)")
        } else {
            "or run a Docker-compatible engine (DOCKER_HOST) and rerun with `--features containers`".to_string()
        };
        panic!(
            "no Redis for the tests: install redis-server (Debian/Ubuntu: `apt-get install redis-server`, macOS: \
             `brew install redis`), or set REDIS_URL, {containers}"
        )
    }
}

fn require(backend: Backend) -> Backend {
    match backend {
        Backend::Binary if !binary_on_path() => {
            panic!("{BACKEND_VAR}=binary but redis-server is not on PATH: install it (`apt-get install redis-server`)")
        }
        Backend::Container if !CONTAINERS => panic!(
            "{BACKEND_VAR}=container but homing-tests was built without its `containers` feature: \
             rerun with `--features containers`"
        ),
        Backend::Container if !crate::engine::answers() => panic!(
            "{BACKEND_VAR}=container but no container engine answers at {}: start one (Docker, or \
             `podman system service`) and point DOCKER_HOST at it",
            crate::engine::address()
        ),
        backend => backend,
    }
}

/// A private `redis-server` on a free loopback port, from [`private_backend`].
pub struct RedisServer {
    port: u16,
    tls: bool,
    process: Process,
}

enum Process {
    Binary(BinaryServer),
    #[cfg(feature = "containers")]
    Container(Box<crate::container::ContainerServer>),
}

/// A port free now, drawn below Linux's ephemeral range (32768 and up): a port the kernel
/// handed out for `bind(0)` can be taken again by any outgoing connection before the server
/// binds it, which with many tests at once left a cluster node unable to start.
pub fn free_port() -> u16 {
    loop {
        let port = fastrand::u16(20000..32000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl RedisServer {
    /// Starts a server with extra config `args` (e.g. `["--appendonly", "yes"]`).
    pub fn start(args: &[&str]) -> Self {
        Self::start_on(private_backend(), args)
    }

    /// A `redis-server` process from PATH whatever the backend, for a test whose assertions
    /// need a restart as fast as a process's (tens of ms): a container engine's stop and start
    /// take a second or more. Panics, naming `why`, when redis-server is not on PATH.
    pub fn start_process(args: &[&str], why: &str) -> Self {
        assert!(
            binary_on_path(),
            "this test needs redis-server on PATH whatever {BACKEND_VAR} says ({why}): install it \
             (`apt-get install redis-server`)"
        );
        Self::start_on(Backend::Binary, args)
    }

    /// A `redis-server` process that speaks TLS only (`--port 0 --tls-port <port>`); `args`
    /// name its certificate, key and CA files (`--tls-cert-file ...`). The TLS tests run in the
    /// integrations lane, which has redis-server.
    pub fn start_tls(args: &[&str]) -> Self {
        assert!(binary_on_path(), "a TLS test needs redis-server on PATH: install it (`apt-get install redis-server`)");
        let port = free_port();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let server = Self { port, tls: true, process: Process::Binary(BinaryServer::start(port, true, args)) };
        server.wait_ready();
        server
    }

    fn start_on(backend: Backend, args: &[&str]) -> Self {
        let port = free_port();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let process = match backend {
            #[cfg(feature = "containers")]
            Backend::Container => Process::Container(Box::new(crate::container::ContainerServer::start(port, &args))),
            _ => Process::Binary(BinaryServer::start(port, false, args)),
        };
        let server = Self { port, tls: false, process };
        server.wait_ready();
        server
    }

    /// Waits until the server answers PING: a container's published port accepts connections
    /// before Redis inside listens.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        // A TLS server cannot answer a plain PING: its port accepting is enough.
        let ready =
            |port| if self.tls { std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() } else { pong(port) };
        while !ready(self.port) {
            assert!(Instant::now() < deadline, "redis-server did not answer PING on port {} within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "rediss" } else { "redis" }, self.port)
    }

    /// Stops the server and waits until it has exited.
    pub fn stop(&mut self) {
        match &mut self.process {
            Process::Binary(b) => b.stop(),
            #[cfg(feature = "containers")]
            Process::Container(c) => c.stop(),
        }
    }

    /// Stops and starts the server on the same port and directory (AOF survives).
    pub fn restart(&mut self) {
        self.stop();
        match &mut self.process {
            Process::Binary(b) => b.spawn(),
            #[cfg(feature = "containers")]
            Process::Container(c) => c.start_again(),
        }
        self.wait_ready();
    }
}

fn pong(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// A `redis-server` from PATH in its own temporary directory.
pub(crate) struct BinaryServer {
    port: u16,
    tls: bool,
    dir: std::path::PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl BinaryServer {
    pub(crate) fn start(port: u16, tls: bool, args: Vec<String>) -> Self {
        let dir = std::env::temp_dir().join(format!("homing-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self { port, tls, dir, args, child: None };
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
        let child = Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect("sh runs");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(stdin) = child.stdin.as_mut() {
                let _ = stdin.write_all(b"\n");
            }
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

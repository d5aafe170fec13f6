//! The container engine's address and the two plain HTTP calls the harness makes to it without
//! a client library: "does an engine answer?" (before choosing the container backend, and to
//! say so when the `containers` feature is off) and "remove this container" (the reaper's one
//! call). Starting and stopping containers is left to testcontainers (`container.rs`).

use std::io::{Read, Write};
use std::time::Duration;

/// Where the engine listens: `DOCKER_HOST` (`unix://` or `tcp://`), else the default socket.
pub fn address() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host,
        _ => "unix:///var/run/docker.sock".to_string(),
    }
}

/// True when the engine at [`address`] answers `GET /_ping` with 200.
pub fn answers() -> bool {
    request("GET", "/_ping").is_some_and(|status| status == 200)
}

/// Removes a container and its anonymous volumes, running or not; false when the engine did
/// not answer or refused (a container already gone answers 404, which counts as removed).
pub fn remove(id: &str) -> bool {
    request("DELETE", &format!("/containers/{id}?force=true&v=true")).is_some_and(|s| s == 204 || s == 404)
}

/// One HTTP/1.0 request with no body; the response's status code, or `None` when the engine
/// cannot be reached (or speaks something else, e.g. TLS on a `tcp://` address).
fn request(method: &str, path: &str) -> Option<u16> {
    let head = format!("{method} {path} HTTP/1.0\r\nHost: engine\r\n\r\n");
    // Bounded: a socket that accepts and never answers must not hang the test run.
    let limit = Some(Duration::from_secs(10));
    let address = address();
    let mut reply = Vec::new();
    if let Some(socket) = address.strip_prefix("unix://") {
        let mut s = std::os::unix::net::UnixStream::connect(socket).ok()?;
        s.set_read_timeout(limit).ok()?;
        s.set_write_timeout(limit).ok()?;
        s.write_all(head.as_bytes()).ok()?;
        s.read_to_end(&mut reply).ok()?;
    } else if let Some(host) = address.strip_prefix("tcp://") {
        let mut s = std::net::TcpStream::connect(host.trim_end_matches('/')).ok()?;
        s.set_read_timeout(limit).ok()?;
        s.set_write_timeout(limit).ok()?;
        s.write_all(head.as_bytes()).ok()?;
        s.read_to_end(&mut reply).ok()?;
    } else {
        return None;
    }
    // "HTTP/1.1 200 OK\r\n..."
    let line = String::from_utf8_lossy(&reply);
    line.split_whitespace().nth(1)?.parse().ok()
}

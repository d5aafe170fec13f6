//! The container backend: one `redis-server` in a container started through testcontainers,
//! published on a loopback port chosen here, stopped and started in place (AOF survives), and
//! removed by a reaper process when the test run ends however it ends.
//!
//! Two engine quirks shape it. podman 4.3 reports a wildcard port binding with an empty
//! `HostIp`, which testcontainers skips (`PortNotExposed`), so the port is bound explicitly to
//! 127.0.0.1 in the host config and the harness connects there, never to `get_host()`. And an
//! engine-chosen host port may change when a container is started again, so the host port is
//! picked here, like the binary backend's, and stays fixed across `restart`.

use std::collections::HashMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// The image when `HOMING_TEST_REDIS_IMAGE` is unset: the oldest Redis Homing supports. It must
/// run `redis-server` from PATH with the arguments given (the official image does; so does the
/// one `.ci/integrations/check-15-testcontainers.sh` builds from the host's binary).
pub const DEFAULT_IMAGE: &str = "redis:7.0";

/// A `redis-server` container listening on `127.0.0.1:port` of the host.
pub struct ContainerServer {
    container: Option<ContainerAsync<GenericImage>>,
    reaper: Option<Child>,
}

/// The runtime every engine call runs on. The tests call the harness from inside their own
/// runtimes, where blocking on another is refused, so each call blocks a scoped thread
/// instead; and one runtime for the whole run, because the engine client's connections are
/// tied to the runtime that opened them.
fn block_on<T: Send>(work: impl Future<Output = T> + Send) -> T {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a tokio runtime")
    });
    std::thread::scope(|s| s.spawn(|| runtime.block_on(work)).join().expect("the engine call panicked"))
}

fn image() -> (String, String) {
    let image = std::env::var("HOMING_TEST_REDIS_IMAGE").ok().filter(|i| !i.is_empty());
    let image = image.unwrap_or_else(|| DEFAULT_IMAGE.to_string());
    // The tag follows the last ':' unless that ':' belongs to a registry's port.
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image, "latest".to_string()),
    }
}

impl ContainerServer {
    /// Starts `redis-server <args>` in a container published on `127.0.0.1:port`.
    pub fn start(port: u16, args: &[String]) -> Self {
        let (name, tag) = image();
        // `--protected-mode no`: inside the container every client comes from outside its
        // loopback; the host side is published on 127.0.0.1 only.
        let mut cmd = vec!["redis-server", "--port", "6379", "--protected-mode", "no", "--save", "", "--dir", "/tmp"];
        cmd.extend(args.iter().map(String::as_str));
        let cmd: Vec<String> = cmd.into_iter().map(String::from).collect();
        let request = GenericImage::new(name.clone(), tag.clone())
            .with_exposed_port(6379.tcp())
            .with_cmd(cmd)
            .with_label("org.homing.tests.pid", std::process::id().to_string())
            .with_host_config_modifier(move |host: &mut HostConfig| {
                let binding = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(port.to_string()) };
                host.port_bindings = Some(HashMap::from([("6379/tcp".to_string(), Some(vec![binding]))]));
                host.publish_all_ports = Some(false);
            });
        let container = block_on(request.start()).unwrap_or_else(|e| {
            panic!(
                "could not start a {name}:{tag} container at {}: {e}. Set HOMING_TEST_REDIS_IMAGE to an image \
                 that runs redis-server, or build one (.ci/integrations/check-15-testcontainers.sh)",
                crate::engine::address()
            )
        });
        let reaper = spawn_reaper(container.id());
        Self { container: Some(container), reaper: Some(reaper) }
    }

    /// Stops the container (SIGTERM, then SIGKILL after 10 s) and waits until it has stopped.
    pub fn stop(&mut self) {
        if let Some(c) = &self.container {
            block_on(c.stop_with_timeout(Some(10))).expect("stopping the redis container");
        }
    }

    /// Starts the stopped container again: same port, same filesystem (AOF survives).
    pub fn start_again(&mut self) {
        if let Some(c) = &self.container {
            block_on(c.start()).expect("starting the redis container again");
        }
    }
}

/// The reaper binary sits beside the `homing` binary; see `reaper.rs`.
fn spawn_reaper(id: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let path = crate::bin::target_dir().join("homing-test-reaper");
    Command::new(&path)
        .arg(id)
        .stdin(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e} (it is built with --features containers)", path.display()))
}

impl Drop for ContainerServer {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            let _ = block_on(c.rm());
        }
        // The container is gone; the reaper's own removal then finds nothing, and it exits.
        if let Some(mut reaper) = self.reaper.take() {
            drop(reaper.stdin.take());
            let _ = reaper.wait();
        }
    }
}

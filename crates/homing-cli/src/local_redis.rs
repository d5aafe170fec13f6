//! Throwaway Redis for `demo` and `bench`: a `redis-server` started from PATH on a free
//! loopback port in a temporary directory, persisting nothing, killed when dropped; and the
//! removal of their throwaway queues from a Redis the user gave.

use anyhow::{bail, Context};
use homing_core::RedisTarget;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private redis-server.
pub struct LocalRedis {
    child: Child,
    dir: PathBuf,
    /// Its URL, `redis://127.0.0.1:<port>`.
    pub url: String,
}

impl LocalRedis {
    /// The Redis the user gave (`--redis-url` / `REDIS_URL`), else a fresh local one, which
    /// lives as long as the returned `LocalRedis`.
    pub async fn unless_given(global: &crate::args::Global) -> anyhow::Result<(Option<Self>, RedisTarget)> {
        match &global.redis_url {
            Some(_) => Ok((None, global.target())),
            None => {
                let local = Self::start().await?;
                let target = RedisTarget::new(local.url.clone());
                Ok((Some(local), target))
            }
        }
    }

    /// Starts `redis-server` from PATH and waits until it answers PING.
    pub async fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!("homing-demo-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "redis-server is not on PATH. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`, \
                 macOS: `brew install redis`) or point the demo at a running Redis with REDIS_URL=redis://host:port"
            ),
            Err(e) => return Err(e).context("cannot start redis-server"),
        };
        let server = Self { child, dir, url: format!("redis://127.0.0.1:{port}") };
        let client = RedisTarget::new(server.url.as_str()).client()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<String>(&mut c).await.is_ok() {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                bail!("redis-server on port {port} did not answer PING within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Deletes a throwaway queue's keys, so a demo or bench run against a shared Redis leaves
/// nothing behind.
pub(crate) async fn remove_queue(target: &RedisTarget, keys: &homing_core::Keys) {
    let Ok(mut c) = crate::connect::connect_to(target).await else { return };
    let found: redis::RedisResult<Vec<String>> = async {
        let mut iter = redis::AsyncCommands::scan_match::<_, String>(&mut c, keys.pattern()).await?;
        let mut found = Vec::new();
        while let Some(k) = redis::AsyncIter::next_item(&mut iter).await {
            found.push(k?);
        }
        Ok(found)
    }
    .await;
    if let Ok(found) = found {
        if !found.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(found).query_async(&mut c).await;
        }
    }
}

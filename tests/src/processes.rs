//! Real `homing worker` processes running the `record` handler, for fault tests: each appends a
//! line per finished job to a shared file, and can be killed, frozen, resumed or stopped.

use crate::homing_bin;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One `homing worker ... record` process.
pub struct WorkerProcess {
    /// The name given with `--name` (its id is `<name>-<suffix>`).
    pub name: String,
    child: Child,
    /// Where its stderr (its log) goes.
    pub log: PathBuf,
}

impl WorkerProcess {
    /// Starts a worker called `name` on `queue`, recording into `record`, with extra worker
    /// flags `args` (placed before the handler).
    pub fn start(url: &str, queue: &str, name: &str, record: &Path, args: &[&str]) -> Self {
        let log = record.with_file_name(format!("{name}-{}.log", fastrand_suffix()));
        let child = Command::new(homing_bin())
            .env("REDIS_URL", url)
            .env("HOMING_QUEUE", queue)
            .env("RUST_LOG", "info")
            .args(["worker", "--name", name])
            .args(args)
            .arg("record")
            .arg("--file")
            .arg(record)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the homing binary starts");
        Self { name: name.to_string(), child, log }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap();
        assert!(ok.success(), "kill -{signal} {}", self.pid());
    }

    /// `kill -9` and reap the process.
    pub fn kill(mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// Waits for the process to exit; true when it exited with success.
    pub fn wait(mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    /// Waits up to `limit` for the process to exit; its exit code (`None` if a signal ended it).
    /// Panics if it is still running then.
    pub fn wait_code(&mut self, limit: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(std::time::Instant::now() < deadline, "worker {} still running after {limit:?}", self.name);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The log written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fastrand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    std::process::id() * 1000 + N.fetch_add(1, Ordering::Relaxed)
}

/// One line of a record file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The job id.
    pub job: String,
    /// The session.
    pub session: String,
    /// The attempt it ran as.
    pub attempt: u32,
    /// The name of the worker that ran it.
    pub worker: String,
}

/// Every job finished so far, by job id (a job run twice has two entries).
pub fn read_record(path: &Path) -> HashMap<String, Vec<Finished>> {
    read_lines(path)
}

/// Every job started so far, by job id (`<record>.starts`; a job started twice has two entries).
pub fn read_starts(record: &Path) -> HashMap<String, Vec<Finished>> {
    let mut starts = record.as_os_str().to_owned();
    starts.push(".starts");
    read_lines(Path::new(&starts))
}

fn read_lines(path: &Path) -> HashMap<String, Vec<Finished>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: HashMap<String, Vec<Finished>> = HashMap::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        if let [job, session, attempt, worker] = parts[..] {
            let f = Finished {
                job: job.into(),
                session: session.into(),
                attempt: attempt.parse().unwrap(),
                worker: worker.into(),
            };
            out.entry(job.to_string()).or_default().push(f);
        }
    }
    out
}

/// A fresh record file path in a temporary directory of this test.
pub fn record_file(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("homing-test-{label}-{}", fastrand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("record")
}

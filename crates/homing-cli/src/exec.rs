//! The `exec` handler: runs a command per job, the payload on its stdin, its stdout the result.
//! Exit 0 completes the job; `--fatal-exit-code` dead-letters it at once; any other exit (or a
//! signal) retries it, with the command's stderr as the error text.

use clap::Args;
use homing_worker::{Handler, HandlerError, Job};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The command and how its exit codes map to outcomes.
#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// The exit code meaning "do not retry": the job is dead-lettered at once.
    #[arg(long, env = "HOMING_EXEC_FATAL_EXIT_CODE", default_value_t = 65)]
    pub fatal_exit_code: i32,
    /// The command and its arguments, after `--`. It also gets HOMING_JOB_ID, HOMING_SESSION
    /// and HOMING_ATTEMPT in its environment.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// Runs `command` for every job.
pub struct Exec(pub ExecArgs);

/// At most this much of stderr is kept as the error text.
const MAX_ERROR: usize = 4096;

impl Handler for Exec {
    async fn handle(&self, job: Job) -> Result<Vec<u8>, HandlerError> {
        let (program, args) = self.0.command.split_first().expect("clap requires a command");
        let mut child = Command::new(program)
            .args(args)
            .env("HOMING_JOB_ID", job.id.as_str())
            .env("HOMING_SESSION", &job.session)
            .env("HOMING_ATTEMPT", job.attempt.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HandlerError::retry(format!("cannot start {program:?}: {e}")))?;
        let mut stdin = child.stdin.take().expect("piped");
        // A command that exits without reading its stdin closes the pipe: not an error.
        let _ = stdin.write_all(&job.payload).await;
        drop(stdin);
        let out = child.wait_with_output().await.map_err(|e| HandlerError::retry(format!("{program:?}: {e}")))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        stderr.truncate(MAX_ERROR);
        let what = match out.status.code() {
            Some(code) => format!("{program:?} exited with {code}"),
            None => format!("{program:?} was killed by a signal"),
        };
        let text = if stderr.is_empty() { what } else { format!("{what}: {stderr}") };
        if out.status.code() == Some(self.0.fatal_exit_code) {
            Err(HandlerError::fatal(text))
        } else {
            Err(HandlerError::retry(text))
        }
    }
}

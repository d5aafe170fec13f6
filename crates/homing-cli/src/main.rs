//! `homing`: the command line. It only parses flags (each with an environment variable) into
//! the library's config structs and calls the library; every behaviour lives in the crates.

mod args;
mod baseline;
mod bench;
mod bench_http;
mod connect;
mod dead;
mod demo;
mod endpoints;
mod exec;
mod fleet;
mod forget;
mod http;
mod local_redis;
mod multiturn;
mod push;
mod queue;
mod scaleout;
mod shutdown;
mod sim;
mod sizing;
mod status;
mod throughput;
mod worker;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Homing: a job queue on Redis Streams that sends each session's jobs to the worker that
/// already holds it warm, and spills them to any free worker when that one is busy or gone.
#[derive(Parser, Debug)]
#[command(name = "homing", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: args::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a worker with a built-in handler until SIGTERM or ctrl-c.
    Worker(Box<worker::WorkerCmd>),
    /// Push one job; prints its id and route.
    Push(push::PushCmd),
    /// Write or show a queue's settings (`Q:meta`).
    #[command(subcommand)]
    Queue(queue::QueueCmd),
    /// A producer and two `sim` workers on a local redis-server, printing which worker served
    /// each session's turns, with affinity on and then off.
    Demo(demo::DemoCmd),
    /// Workers, backlogs, overflow lag, delayed and dead counts.
    Status(status::StatusCmd),
    /// Inspect, replay or purge dead letters.
    #[command(subcommand)]
    Dead(dead::DeadCmd),
    /// Release a worker's sessions and hand its jobs to other workers now.
    Forget(forget::ForgetCmd),
    /// Raw throughput: pipelined pushes, then workers with a no-op handler draining them.
    Bench(bench::BenchCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter(&cli.command).into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour());
    match cli.global.log_format.unwrap_or(args::LogFormat::Text) {
        args::LogFormat::Text => logs.init(),
        // One object a line; each carries the fields of the span it was logged in (the job's
        // queue, job_id, session, attempt and source) under "span", and every enclosing span
        // under "spans".
        args::LogFormat::Json => logs.json().with_current_span(true).with_span_list(true).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Worker(cmd) => worker::run(&cli.global, *cmd).await,
            Command::Push(cmd) => push::run(&cli.global, cmd).await,
            Command::Queue(cmd) => queue::run(&cli.global, cmd).await,
            Command::Demo(cmd) => demo::run(&cli.global, cmd).await,
            Command::Bench(cmd) => bench::run(&cli.global, cmd).await,
            Command::Forget(cmd) => forget::run(&cli.global, cmd).await,
            Command::Status(cmd) => status::run(&cli.global, cmd).await,
            Command::Dead(cmd) => dead::run(&cli.global, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<worker::CutShort>() => ExitCode::from(worker::CUT_SHORT_EXIT),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Colour codes only for a person at a terminal: never through a pipe (`kubectl logs`, a log
/// collector), and never when `NO_COLOR` is set to anything but the empty string (no-color.org).
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Workers log their lifecycle; one-shot commands and the demo print their own output.
fn default_filter(command: &Command) -> &'static str {
    match command {
        Command::Worker(_) => "info",
        _ => "warn",
    }
}

//! Request/reply: pushes a turn and waits for the worker's typed answer (one background reader
//! per producer delivers replies). A dead-lettered job comes back as `Error::JobFailed`; no reply
//! in time is `Error::RequestTimeout`, and the job still runs.
//!
//! ```sh
//! cargo run -p homing-examples --example request_reply
//! ```

#[path = "turn.rs"]
mod turn;

use homing_client::Producer;
use std::time::Duration;
use turn::{Answer, Turn};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, queue) = turn::from_env();
    let producer = Producer::connect(&url, &queue).await?;
    for text in ["what is Homing?", "and why?"] {
        let output = producer.request("dave", &Turn { text: text.to_string() }, Duration::from_secs(10)).await?;
        let answer: Answer = rmp_serde::from_slice(&output)?;
        println!("dave turn {}: {}", answer.turns_seen, answer.text);
    }
    // Clones share one connection and one reply reader: hand them to tasks freely.
    let tasks: Vec<_> = ["erin", "frank"]
        .into_iter()
        .map(|session| {
            let producer = producer.clone();
            tokio::spawn(async move {
                let turn = Turn { text: format!("hi from {session}") };
                producer.request(session, &turn, Duration::from_secs(10)).await
            })
        })
        .collect();
    for task in tasks {
        let answer: Answer = rmp_serde::from_slice(&task.await??)?;
        println!("{}", answer.text);
    }
    // A payload the worker cannot decode is dead-lettered at once (`fatal`).
    match producer.request("dave", &"not a turn", Duration::from_secs(10)).await {
        Err(homing_client::Error::JobFailed { error, .. }) => println!("dead-lettered: {error}"),
        other => return Err(format!("expected a dead letter, got {other:?}").into()),
    }
    Ok(())
}

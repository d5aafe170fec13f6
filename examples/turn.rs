#![allow(dead_code)] // each example uses the part it needs
//! The payload and answer types the typed examples share. Payloads are MessagePack
//! (`rmp_serde::to_vec_named`, a map keyed by field name), which any language's encoder writes.

use serde::{Deserialize, Serialize};

/// One turn of a conversation: the job's payload.
#[derive(Serialize, Deserialize, Debug)]
pub struct Turn {
    /// What the user said.
    pub text: String,
}

/// What the worker answers: the job's output.
#[derive(Serialize, Deserialize, Debug)]
pub struct Answer {
    /// The reply.
    pub text: String,
    /// How many turns of this conversation the serving worker has seen, this one included:
    /// it counts on from the last turn when the job came home to the warm worker.
    pub turns_seen: u32,
}

/// `REDIS_URL` and `HOMING_QUEUE`, with the defaults the examples' README names. (Examples
/// read the environment; the libraries never do.)
pub fn from_env() -> (String, String) {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let queue = std::env::var("HOMING_QUEUE").unwrap_or_else(|_| "chat".to_string());
    (url, queue)
}

//! The invariant checker every fault test uses: each pushed job id is in exactly one place
//! (the delayed set, one inbox, the overflow, the dead stream) or completed, and once the queue
//! is settled nothing is left queued or pending.

use crate::conn;
use homing_core::Keys;
use redis::AsyncCommands;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// Where each job id currently is, by id: `delayed`, `overflow`, `inbox:<worker>`, `dead`.
pub async fn locate(url: &str, keys: &Keys) -> HashMap<String, Vec<String>> {
    let mut c = conn(url).await;
    let mut places: HashMap<String, Vec<String>> = HashMap::new();
    let mut streams = vec![(keys.overflow(), "overflow".to_string()), (keys.dead(), "dead".to_string())];
    // Every inbox key, including those of workers no longer listed (an orphan would be a leak).
    let prefix = keys.inbox("");
    let inboxes: Vec<String> = c.keys(format!("{prefix}*")).await.unwrap();
    for key in inboxes {
        let name = format!("inbox:{}", &key[prefix.len()..]);
        streams.push((key, name));
    }
    for (key, place) in streams {
        let r: redis::streams::StreamRangeReply = c.xrange_all(&key).await.unwrap();
        for e in r.ids {
            let id: String = e.get("id").unwrap_or_default();
            places.entry(id).or_default().push(place.clone());
        }
    }
    #[derive(Deserialize)]
    struct Delayed {
        id: String,
    }
    let members: Vec<Vec<u8>> = c.zrange(keys.delayed(), 0, -1).await.unwrap();
    for m in members {
        let d: Delayed = rmp_serde::from_slice(&m).expect("a delayed member is a MessagePack map with id");
        places.entry(d.id).or_default().push("delayed".into());
    }
    places
}

/// Asserts that every id of `pushed` is completed (in `completed`) or dead-lettered, that
/// nothing else is queued or pending, and that no id is in two places.
pub async fn assert_settled(url: &str, keys: &Keys, pushed: &[String], completed: &HashSet<String>) {
    let places = locate(url, keys).await;
    for (id, at) in &places {
        assert_eq!(at.len(), 1, "job {id} is in {at:?}");
        assert_eq!(at[0], "dead", "job {id} is still queued in {}", at[0]);
    }
    let lost: Vec<&String> = pushed.iter().filter(|id| !completed.contains(*id) && !places.contains_key(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} jobs neither completed nor dead-lettered, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let mut c = conn(url).await;
    let pending: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg(keys.overflow())
        .arg("homing")
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    assert!(pending.is_empty(), "overflow entries still pending: {pending:?}");
}

/// Whether the queue holds nothing queued: no inbox or overflow entry, nothing delayed.
pub async fn is_drained(url: &str, keys: &Keys) -> bool {
    locate(url, keys).await.values().all(|at| at.iter().all(|p| p == "dead"))
}

//! A typed producer: pushes two turns for each of three conversations and prints each job's id
//! and route (`new` for a session no worker owns yet, `hit` once its owner is stamped).
//!
//! ```sh
//! cargo run -p homing-examples --example producer
//! ```

#[path = "turn.rs"]
mod turn;

use homing_client::{Producer, PushOptions};
use turn::Turn;

#[tokio::main]
async fn main() -> Result<(), homing_client::Error> {
    let (url, queue) = turn::from_env();
    let producer = Producer::connect(&url, &queue).await?;
    for round in 1..=2 {
        for conversation in ["alice", "bob", "carol"] {
            let turn = Turn { text: format!("hello {round} from {conversation}") };
            // An idempotency key makes a retried push (after a timeout, say) enqueue nothing new.
            let options = PushOptions::default().key(format!("{conversation}-{round}"));
            let receipt = producer.push_with(conversation, &turn, options).await?;
            println!("{} {} {}", receipt.id, conversation, receipt.route);
        }
        // Let the first turns finish, so their workers own the sessions before the next round.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Ok(())
}

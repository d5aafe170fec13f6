#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod connect;
pub mod connection;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod job;
pub mod keys;
pub mod metrics;
mod redact;
pub mod route;
pub mod scripts;
pub mod settings;
pub mod stream;

pub use connect::RedisTarget;
pub use connection::{RedisConnection, Timeouts};
pub use error::{Error, Result};
pub use ids::{JobId, WorkerId};
pub use job::Job;
pub use keys::{partition_of, Keys, QueueName, MAX_PARTITIONS};
pub use redact::redact_url;
pub use route::{Route, SpillReason};
pub use settings::{AffinityMode, QueueSettings, PROTOCOL_VERSION};

#[cfg(test)]
mod tests {
    /// In the workspace, the crate's `lua` is a link to the top-level `lua/` (DESIGN §8), so an
    /// edit there (or the mutation runner's) changes what this crate compiles; a copy would
    /// silently keep the old scripts. In a published crate `lua` is a real directory and there is
    /// no workspace `lua/` to compare with.
    #[test]
    fn the_scripts_compiled_in_are_the_workspace_lua_directory() {
        let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let Ok(workspace) = crate_dir.join("../../lua").canonicalize() else { return };
        assert_eq!(
            crate_dir.join("lua").canonicalize().unwrap(),
            workspace,
            "crates/homing-core/lua must link to lua/"
        );
    }
}

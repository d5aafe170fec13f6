//! Tests that need a tool beyond Rust and `redis-server` (promtool, Python, Node, openssl). They build
//! only with `--features integrations` and run in the integrations lane
//! (`just check-integrations`), which installs the tools and exports where they are.

mod http_app;
mod metrics;
mod msgpack;
mod python;
mod tls;

/// The lane's Python (`HOMING_PYTHON`, a venv with the packages the lane installs).
pub fn python() -> String {
    lane_var("HOMING_PYTHON")
}

/// The lane's Node.js (`HOMING_NODE`; `NODE_PATH` points at the lane's packages).
#[allow(dead_code)]
pub fn node() -> String {
    lane_var("HOMING_NODE")
}

/// A tool the lane put on PATH, checked to be there.
pub fn tool(name: &str) -> String {
    let found = std::process::Command::new("sh").arg("-c").arg(format!("command -v {name}")).output();
    match found {
        Ok(out) if out.status.success() => name.to_string(),
        _ => panic!("{name} is not on PATH: run these tests through `just check-integrations`, which installs it"),
    }
}

fn lane_var(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run these tests through `just check-integrations`, which sets it")
    })
}

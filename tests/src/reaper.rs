//! `homing-test-reaper CONTAINER_ID`: waits until its stdin closes, then removes the container.
//! The harness starts one per container with a pipe on stdin, so no container outlives its test
//! run however the run ends: the shared container sits in a static that is never dropped, and a
//! killed run drops nothing. It runs in a process group of its own, so the Ctrl-C that stops
//! the run does not stop it first.

fn main() {
    let Some(id) = std::env::args().nth(1) else {
        eprintln!("usage: homing-test-reaper CONTAINER_ID (stdin: a pipe that closes when the test run ends)");
        std::process::exit(2);
    };
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    if !homing_tests::engine::remove(&id) {
        eprintln!("homing-test-reaper: could not remove container {id} at {}", homing_tests::engine::address());
        std::process::exit(1);
    }
}

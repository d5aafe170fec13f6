//! The `homing` binary and the examples, for tests that drive real processes: built once per
//! test run with the same cargo and profile as the tests, so they are never stale.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The path of a freshly built `homing` binary.
pub fn homing_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = cargo_build(&["-p", "homing-cli", "--bin", "homing"]).status().expect("cargo runs");
        assert!(status.success(), "building the homing binary failed");
        let bin = target_dir().join("homing");
        assert!(bin.exists(), "no homing binary at {}", bin.display());
        bin
    })
    .clone()
}

/// `cargo build -q <args>` with the tests' cargo and profile, run from this package.
pub fn cargo_build(args: &[&str]) -> std::process::Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "-q"]).args(args);
    // Cargo sets these for this test process, not for the `cargo test` that built it; a
    // build script that tracks them (ring's) would see them change and rebuild half the
    // tree at every run, here and again in the next `cargo test`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let per_test = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE"]
            .iter()
            .any(|p| name.starts_with(p));
        if per_test || name == "CARGO_TARGET_TMPDIR" || name == "CARGO_RUSTC_CURRENT_DIR" {
            build.env_remove(name.as_ref());
        }
    }
    if target_dir().file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    build.current_dir(env!("CARGO_MANIFEST_DIR"));
    build
}

/// `target/<profile>`, where cargo puts the workspace's binaries: the test binary lives in
/// `target/<profile>/deps`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent().and_then(|d| d.parent()).expect("target/<profile>").to_path_buf()
}

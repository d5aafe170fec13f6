//! The `homing` binary, for tests that drive real processes: built once per test run with the
//! same cargo and profile as the tests, so it is never stale.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The path of a freshly built `homing` binary.
pub fn homing_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = target_dir();
        let release = dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-q", "-p", "homing-cli", "--bin", "homing"]);
        if release {
            build.arg("--release");
        }
        let status = build.current_dir(env!("CARGO_MANIFEST_DIR")).status().expect("cargo runs");
        assert!(status.success(), "building the homing binary failed");
        let bin = dir.join("homing");
        assert!(bin.exists(), "no homing binary at {}", bin.display());
        bin
    })
    .clone()
}

/// `target/<profile>`, where cargo puts the workspace's binaries: the test binary lives in
/// `target/<profile>/deps`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent().and_then(|d| d.parent()).expect("target/<profile>").to_path_buf()
}

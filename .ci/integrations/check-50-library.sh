# The crates as a Rust user gets them: every publishable crate packaged and built from its
# package alone (`cargo publish --dry-run`: homing-core must carry lua/, through the
# crates/homing-core/lua link) and rustdoc clean with -D warnings (each library's root denies
# `missing_docs`, so the main lane already fails on an undocumented public item). The examples
# (Rust in the main lane, Python and Node here) run against a real Redis in
# tests/tests/it/examples.rs.
source "$(dirname "$0")/tools.sh"
need_apt redis-server redis-server
need_python redis msgpack
need_node redis @msgpack/msgpack
cd "$ROOT"
fail() { echo "check-50-library: $*" >&2; exit 1; }

# --allow-dirty: the check is what the package holds and whether it builds, not the git state.
cargo publish --dry-run --locked --allow-dirty --workspace --exclude homing-tests --exclude homing-examples \
  || fail "a crate does not package or does not build from its package"
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps --workspace --locked || fail "rustdoc warns"
cargo test -q --locked -p homing-tests --features integrations,containers -- examples::other_languages:: \
  || fail "the Python or Node example producer failed"

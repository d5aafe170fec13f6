# The Redis tests that need tools beyond Rust and redis-server: promtool, Python, Node, openssl.
source "$(dirname "$0")/tools.sh"
need_apt redis-server redis-server
# The TLS tests make their CA and certificates with the openssl CLI and start a TLS-only
# redis-server; Debian's is built with TLS (it links libssl).
need_apt openssl openssl
ldd "$(command -v redis-server)" 2>/dev/null | grep -q libssl \
  || missing "redis-server with TLS" "the redis-server on PATH does not link libssl; install Debian's redis-server"
need_apt promtool prometheus
need_python redis msgpack
need_node redis @msgpack/msgpack
cd "$ROOT"
# Both features, as check-15 and check-50 ask: the test binary is built once for the lane (the
# harness still picks redis-server first; the container backend only compiles here).
cargo test -p homing-tests --features integrations,containers --locked -- integrations::

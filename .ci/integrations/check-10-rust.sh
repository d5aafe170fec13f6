# The Redis tests that need tools beyond Rust and redis-server: promtool, Python, Node.
source "$(dirname "$0")/tools.sh"
need_apt redis-server redis-server
need_apt promtool prometheus
need_python redis msgpack
need_node redis @msgpack/msgpack
cd "$ROOT"
cargo test -p homing-tests --features integrations --locked -- integrations::

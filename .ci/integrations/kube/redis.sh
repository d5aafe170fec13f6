# Sourced by checks that need their own redis-server: start_redis starts one on a free loopback
# port in a temporary directory and exports REDIS_URL; it is stopped when the check exits.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_redis() {
  need_apt redis-server redis-server
  REDIS_DIR="$(mktemp -d)"
  REDIS_PORT="$(free_port)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" "$@" >/dev/null
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || missing redis-server "it did not start: $(tail -3 "$REDIS_DIR/redis.log")"
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
}
stop_redis() {
  [ -n "${REDIS_DIR:-}" ] && [ -f "$REDIS_DIR/redis.pid" ] && kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
}

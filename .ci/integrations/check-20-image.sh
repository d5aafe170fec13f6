# The image: the Containerfile built with podman from a base made here (FROM scratch plus the
# binary's ldd libraries and loader; no registry), `homing --version` in it, a containerised
# worker (host network) serving jobs pushed from the host, and SIGTERM to the container giving
# exit 0 with nothing lost: jobs it had in flight finish, unstarted ones are handed back and a
# host worker finishes them; every pushed id is recorded exactly once.
source "$(dirname "$0")/tools.sh"
source "$(dirname "$0")/kube-tools.sh"
source "$(dirname "$0")/kube/redis.sh"
need_podman
cd "$ROOT"
fail() { echo "check-20-image: $*" >&2; exit 1; }
cargo build -q -p homing-cli --locked || fail "cargo build -p homing-cli failed"
BIN="$ROOT/target/debug/homing"
WORK="$LANE/image"
rm -rf "$WORK" && mkdir -p "$WORK/base" "$WORK/context" "$WORK/rec"
NAME="homing-ci-worker-$$"
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  [ -n "${HOST_WORKER:-}" ] && kill "$HOST_WORKER" 2>/dev/null || true
  stop_redis
}
trap cleanup EXIT

# The base: the loader and the libraries `ldd` names, nothing else (no shell, no registry).
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$WORK/base$(dirname "$lib")"
  cp -L "$lib" "$WORK/base$lib"
done
mkdir -p "$WORK/base/tmp" && chmod 1777 "$WORK/base/tmp"
tar -C "$WORK/base" -cf "$WORK/base.tar" .
podman import -q "$WORK/base.tar" localhost/homing-ci-base:latest >/dev/null || fail "podman import of the base failed"

cp "$BIN" "$WORK/context/homing"
start=$(date +%s)
podman build -q --pull=never -f Containerfile -t localhost/homing:ci \
  --build-arg BASE=localhost/homing-ci-base:latest --build-arg RUST=localhost/homing-ci-base:latest \
  --build-arg BINARY=prebuilt --build-arg HOMING_BIN=homing "$WORK/context" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log"; fail "podman build failed"; }
echo "check-20-image: image built in $(( $(date +%s) - start )) s"

version=$(podman run --rm localhost/homing:ci --version) || fail "homing --version failed in the image"
[ "$version" = "$("$BIN" --version)" ] || fail "image says '$version', the binary '$("$BIN" --version)'"
user=$(podman image inspect localhost/homing:ci --format '{{.Config.User}} {{json .Config.Entrypoint}}')
[ "$user" = '65532:65532 ["homing"]' ] || fail "image user and entrypoint are '$user', want 65532:65532 [\"homing\"]"
echo "check-20-image: $version, user 65532, entrypoint homing"

start_redis
QUEUE="image-$$"
export HOMING_QUEUE="$QUEUE"
chmod 0777 "$WORK/rec"
"$BIN" queue init --max-wait 60s >/dev/null || fail "queue init failed"
# Jobs sleep 1.5 s (record handler), four at a time: SIGTERM lands with jobs in flight and more
# still waiting in the overflow.
podman run -d --name "$NAME" --network host --read-only --cap-drop ALL --security-opt no-new-privileges \
  -e REDIS_URL="$REDIS_URL" -e HOMING_QUEUE="$QUEUE" -e HOMING_WORKER_NAME=container \
  -v "$WORK/rec:/rec" localhost/homing:ci \
  worker --concurrency 4 --shutdown-grace 20s record --file /rec/container.txt --sleep 1500ms >/dev/null \
  || fail "podman run of the worker failed"
for _ in $(seq 100); do
  [ "$(redis-cli -u "$REDIS_URL" zcard "homing:{$QUEUE}:workers")" = 1 ] && break
  sleep 0.1
done
[ "$(redis-cli -u "$REDIS_URL" zcard "homing:{$QUEUE}:workers")" = 1 ] || { podman logs "$NAME"; fail "the containerised worker did not register"; }

"$BIN" push warm sleep:10 --wait 20s >/dev/null || { podman logs "$NAME"; fail "a job pushed from the host was not served by the container"; }
: >"$WORK/pushed.txt"
"$BIN" push warm sleep:10 | cut -d' ' -f1 >>"$WORK/pushed.txt"
for i in $(seq 1 16); do "$BIN" push "s$i" "job$i" | cut -d' ' -f1 >>"$WORK/pushed.txt"; done
# Wait until the container has jobs in flight, then SIGTERM it.
for _ in $(seq 100); do
  [ "$(wc -l <"$WORK/rec/container.txt" 2>/dev/null || echo 0)" -ge 2 ] && break
  sleep 0.1
done
podman kill --signal TERM "$NAME" >/dev/null
code=$(timeout 60 podman wait "$NAME") || { podman logs "$NAME" | tail -5; fail "the container did not exit within 60 s of SIGTERM"; }
podman logs "$NAME" >"$WORK/container.log" 2>&1
[ "$code" = 0 ] || { tail -20 "$WORK/container.log"; fail "the container exited $code after SIGTERM, want 0"; }
[ "$(redis-cli -u "$REDIS_URL" zcard "homing:{$QUEUE}:workers")" = 0 ] || fail "the container's worker is still listed after it exited"
served=$(wc -l <"$WORK/rec/container.txt")
echo "check-20-image: container served $served jobs, exited 0 on SIGTERM"

# A host worker finishes what was handed back; then every pushed id is recorded exactly once.
"$BIN" worker --concurrency 8 record --file "$WORK/rec/host.txt" >"$WORK/host.log" 2>&1 &
HOST_WORKER=$!
for _ in $(seq 300); do
  done_ids=$(cat "$WORK/rec/"*.txt | wc -l)
  [ "$done_ids" -ge 18 ] && break
  sleep 0.1
done
kill -TERM "$HOST_WORKER"; wait "$HOST_WORKER" || true; HOST_WORKER=""
sort "$WORK/pushed.txt" >"$WORK/want"
cut -d' ' -f1 "$WORK/rec/"*.txt | sort >"$WORK/got.all"
# The first --wait job is recorded too: drop ids not pushed by this loop, then compare.
grep -xF -f "$WORK/want" "$WORK/got.all" >"$WORK/got"
diff "$WORK/want" "$WORK/got" >"$WORK/diff" || { cat "$WORK/diff"; fail "jobs lost or run twice across the SIGTERM (diff want/got above)"; }
[ "$(wc -l <"$WORK/got.all")" = 18 ] || fail "$(wc -l <"$WORK/got.all") jobs recorded, want 18"
status=$("$BIN" status --json)
echo "$status" | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if (s["overflow"], s["delayed"], s["dead"]) == (0, 0, 0) else 1)' \
  || fail "queue not settled: $status"
echo "check-20-image: 17 jobs pushed around the SIGTERM, each run exactly once ($served in the container); queue settled"

# The test harness's container backend, exercised rather than only compiled: podman serves a
# Docker-compatible socket, a local redis:7.0 image is built FROM scratch from the host's
# redis-server (no registry is reachable; testcontainers creates before it pulls, so a local tag
# is never pulled), and the Redis test suite runs once with HOMING_TEST_REDIS=container: the
# shared server and every private one (AOF restarts, outages) are containers. Then it checks
# that containers were really created and that none outlived the run.
source "$(dirname "$0")/tools.sh"
source "$(dirname "$0")/kube-tools.sh"
need_apt redis-server redis-server
need_podman
cd "$ROOT"
fail() { echo "check-15-testcontainers: $*" >&2; exit 1; }
trap stop_podman_service EXIT
start_podman_service
# Left by an earlier run of this check that was killed before its reapers ran (the lane's own
# storage holds no one else's containers).
stale=$(podman ps -a -q --filter label=org.homing.tests.pid)
[ -z "$stale" ] || podman rm -f $stale >/dev/null

IMAGE=localhost/redis:7.0
WORK="$LANE/testcontainers"
rm -rf "$WORK" && mkdir -p "$WORK/root/usr/local/bin"
ldd_root "$(command -v redis-server)" "$WORK/root"
cp -L "$(command -v redis-server)" "$WORK/root/usr/local/bin/redis-server"
tar -C "$WORK/root" -cf "$WORK/root.tar" .
# Like the official image: redis-server on PATH, the command replaced by the harness's.
podman import -q --change 'ENV PATH=/usr/local/bin' --change 'EXPOSE 6379' \
  --change 'CMD ["redis-server", "--protected-mode", "no"]' "$WORK/root.tar" "$IMAGE" >/dev/null \
  || fail "podman import of $IMAGE failed"
echo "check-15-testcontainers: $IMAGE built from $(redis-server --version | cut -d' ' -f3)"

since=$(date +%s)
# The default lane's suite: the features are check-10's (one build for the lane), so the tests
# that need Python, Node or promtool are skipped here; check-10 and check-50 run them.
HOMING_TEST_REDIS=container HOMING_TEST_REDIS_IMAGE="$IMAGE" \
  RUST_TEST_THREADS=2 cargo test -p homing-tests --features integrations,containers --locked --test it -- --skip integrations:: --skip examples::other_languages:: 2>&1 | tee "$WORK/test.log" | grep -E '^test result|FAILED|panicked' \
  || true
grep -q '^test result: ok' "$WORK/test.log" || { tail -40 "$WORK/test.log"; fail "the Redis test suite failed on the container backend"; }

# podman 4.3's events take no label filter: count creations of the image instead. Want the
# shared server and the private ones (drain outage, restart with AOF, ingress out of memory).
created=$(podman events --stream=false --since "$since" --filter event=create --format '{{.Image}}' | grep -cxF "$IMAGE" || true)
[ "$created" -ge 4 ] || fail "$created $IMAGE containers created during the run, want at least 4 (the shared server and 3 private ones)"
left=$(podman ps -a -q --filter label=org.homing.tests.pid | wc -l)
[ "$left" = 0 ] || fail "$left test containers outlived the run (the reaper should remove them)"
echo "check-15-testcontainers: suite passed on the container backend; $created containers created, none left"

# KEDA's trigger against a real queue: the ScaledObject's stream and group, driven through load,
# steal, hand-back, reclaim, dead letters and replay by real workers; XINFO GROUPS lag sampled
# all along must be an integer equal to the undelivered overflow entries (kube/keda-lag.py says
# why Homing keeps the last-delivered overflow entry: Redis 7.0's nil-lag rule).
source "$(dirname "$0")/tools.sh"
source "$(dirname "$0")/kube-tools.sh"
source "$(dirname "$0")/kube/redis.sh"
need_helm
need_python pyyaml redis
cd "$ROOT"
fail() { echo "check-35-keda: $*" >&2; exit 1; }
OUT="$LANE/keda"
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build -q -p homing-cli --locked || fail "cargo build -p homing-cli failed"
start_redis
trap stop_redis EXIT
"$HOMING_PYTHON" .ci/integrations/kube/keda-lag.py "$ROOT" "$HELM" "$OUT"

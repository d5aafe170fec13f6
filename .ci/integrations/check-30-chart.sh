# The Helm chart with the real tools: helm 4 lint/template/install --dry-run=client for every
# combination, the schema rejecting bad values, kubernetes-validate --strict (1.29 and newest),
# the CRD objects against @kubernetes-models, values <-> env one to one, and the generated values
# table and dashboard not drifted.
source "$(dirname "$0")/tools.sh"
source "$(dirname "$0")/kube-tools.sh"
need_helm
need_python kubernetes-validate pyyaml
need_node @kubernetes-models/keda @kubernetes-models/prometheus-operator yaml
cd "$ROOT"
CHART=charts/homing
OUT="$LANE/chart"
rm -rf "$OUT" && mkdir -p "$OUT"
fail() { echo "check-30-chart: $*" >&2; exit 1; }
APIS=(--api-versions keda.sh/v1alpha1 --api-versions monitoring.coreos.com/v1)

"$HOMING_PYTHON" $CHART/scripts/values-table.py --check || fail "values table drifted"
"$HOMING_PYTHON" $CHART/scripts/gen-dashboard.py --check || fail "dashboard drifted from its generator"

# Every combination: mode x embedded Redis x KEDA x monitoring.
n=0
for mode in http exec sim; do
  for redis in on off; do
    for keda in on off; do
      for mon in on off; do
        args=(--set mode=$mode --set keda.enabled=$([ $keda = on ] && echo true || echo false))
        case $mode in
          http) args+=(--set app.image.repository=example/app --set app.port=8080) ;;
          exec) args+=(--set exec.image.repository=example/tool --set 'exec.command={python3,/app/job.py}') ;;
        esac
        if [ $redis = on ]; then args+=(--set redis.enabled=true); else args+=(--set redis.url=redis://:s3cret@redis:6379/0); fi
        if [ $mon = on ]; then
          args+=(--set serviceMonitor.enabled=true --set podMonitor.enabled=true --set prometheusRule.enabled=true --set dashboards.enabled=true)
        fi
        name="$mode-redis_$redis-keda_$keda-mon_$mon"
        helm lint --strict --quiet $CHART "${args[@]}" >"$OUT/$name.lint" 2>&1 || { cat "$OUT/$name.lint"; fail "helm lint --strict failed for $name"; }
        helm template homing $CHART --namespace jobs "${APIS[@]}" "${args[@]}" >"$OUT/$name.yaml" 2>"$OUT/$name.err" \
          || { cat "$OUT/$name.err"; fail "helm template failed for $name"; }
        expect=()
        [ $keda = on ] && expect+=(ScaledObject TriggerAuthentication)
        [ $mon = on ] && expect+=(ServiceMonitor PodMonitor PrometheusRule)
        node .ci/integrations/kube/validate-crds.js --expect "$(IFS=,; echo "${expect[*]}")" "$OUT/$name.yaml" \
          || fail "CRD objects invalid in $name"
        grep -q '^kind: StatefulSet' "$OUT/$name.yaml" && [ $redis = off ] && fail "$name: embedded Redis rendered though redis.enabled=false"
        grep -q '^kind: ScaledObject' "$OUT/$name.yaml" || [ $keda = off ] || fail "$name: no ScaledObject"
        grep -q '^kind: ScaledObject' "$OUT/$name.yaml" && [ $keda = off ] && fail "$name: ScaledObject though keda.enabled=false"
        n=$((n + 1))
      done
    done
  done
done
echo "check-30-chart: $n combinations lint, render and validate"

# Partitions: HOMING_PARTITIONS in the worker and the hook Job, HOMING_SERVE_PARTITIONS in the
# worker only when set, and one KEDA trigger per served partition on that partition's overflow
# (partition 0's stream name unchanged). The renders stay in $OUT for the checks below.
part() {
  local name="$1"; shift
  helm template homing $CHART --namespace jobs "${APIS[@]}" --set redis.url=redis://:s3cret@redis:6379/0 \
    --set keda.enabled=true "$@" >"$OUT/$name.yaml" 2>"$OUT/$name.err" || { cat "$OUT/$name.err"; fail "helm template failed for $name"; }
  node .ci/integrations/kube/validate-crds.js --expect ScaledObject "$OUT/$name.yaml" >/dev/null || fail "CRD objects invalid in $name"
}
part partitions-1
part partitions-3 --set settings.partitions=3
part partitions-3-cluster --set settings.partitions=3 --set redis.cluster=true
part partitions-3-serve-0_2 --set settings.partitions=3 --set 'worker.servePartitions=0\,2'
part partitions-3-serve-2_0_2 --set settings.partitions=3 --set 'worker.servePartitions=2\,0\,2'
"$HOMING_PYTHON" - "$OUT" <<'PY' || fail "partitions render wrong"
import pathlib, sys, yaml
out = pathlib.Path(sys.argv[1])
def check(name, partitions, serve, streams, trigger="redis-streams"):
    docs = [d for d in yaml.safe_load_all((out / f"{name}.yaml").read_text()) if d]
    [so] = [d for d in docs if d["kind"] == "ScaledObject"]
    triggers = so["spec"]["triggers"]
    got = [t["metadata"]["stream"] for t in triggers]
    assert got == streams, f"{name}: trigger streams {got}, want {streams}"
    for t in triggers:
        assert t["type"] == trigger, f"{name}: trigger type {t['type']}, want {trigger}"
        m = t["metadata"]
        assert (m["consumerGroup"], m["lagCount"], m["activationLagCount"]) == ("homing", "10", "0"), f"{name}: trigger {m}"
        assert t["authenticationRef"] == {"name": "homing"}, f"{name}: {t['authenticationRef']}"
    for kind, container, want_serve in (("Deployment", "worker", serve), ("Job", "queue-init", None)):
        [d] = [d for d in docs if d["kind"] == kind]
        [c] = [c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == container]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env.get("HOMING_PARTITIONS") == partitions, f"{name}: {kind} HOMING_PARTITIONS={env.get('HOMING_PARTITIONS')!r}, want {partitions!r}"
        assert env.get("HOMING_SERVE_PARTITIONS") == want_serve, f"{name}: {kind} HOMING_SERVE_PARTITIONS={env.get('HOMING_SERVE_PARTITIONS')!r}, want {want_serve!r}"
try:
    check("partitions-1", "1", None, ["homing:{default}:overflow"])
    check("partitions-3", "3", None, ["homing:{default}:overflow", "homing:{default#1}:overflow", "homing:{default#2}:overflow"])
    check("partitions-3-cluster", "3", None, ["homing:{default}:overflow", "homing:{default#1}:overflow", "homing:{default#2}:overflow"], "redis-cluster-streams")
    check("partitions-3-serve-0_2", "3", "0,2", ["homing:{default}:overflow", "homing:{default#2}:overflow"])
    check("partitions-3-serve-2_0_2", "3", "2,0,2", ["homing:{default#2}:overflow", "homing:{default}:overflow"])
except AssertionError as e:
    sys.exit(f"check-30-chart: {e}")
PY
echo "check-30-chart: partitions: one trigger per served partition, HOMING_PARTITIONS and HOMING_SERVE_PARTITIONS set"

# Without the CRD APIs the CRD objects are left out, and the install notes say so.
helm install homing $CHART --dry-run=client --set redis.url=redis://redis:6379 --set keda.enabled=true \
  --set prometheusRule.enabled=true >"$OUT/dry-run.txt" 2>&1 || { cat "$OUT/dry-run.txt"; fail "helm install --dry-run=client failed"; }
grep -q '^kind: ScaledObject' "$OUT/dry-run.txt" && fail "ScaledObject rendered without the keda.sh/v1alpha1 API"
grep -q 'no keda.sh/v1alpha1 API' "$OUT/dry-run.txt" || fail "NOTES do not warn about the missing KEDA API"
grep -q 'homing status' "$OUT/dry-run.txt" || fail "NOTES do not show homing status"

# Core objects against the Kubernetes schemas (CRD kinds are checked above).
"$HOMING_PYTHON" - "$OUT" <<'PY' || fail "could not split the rendered objects"
import pathlib, sys, yaml
out = pathlib.Path(sys.argv[1])
docs = [d for f in sorted(out.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
core = [d for d in docs if "." not in d["apiVersion"].split("/")[0] or d["apiVersion"].startswith(("apps/", "batch/", "policy/"))]
(out / "core.yaml.all").write_text(yaml.safe_dump_all(core))
PY
newest=$("$HOMING_PYTHON" -c 'import kubernetes_validate.utils as u; print(u.latest_version())')
for version in 1.29.0 "$newest"; do
  kubernetes-validate --strict --quiet -k "$version" "$OUT/core.yaml.all" || fail "kubernetes-validate --strict -k $version failed"
done
echo "check-30-chart: core objects valid for Kubernetes 1.29.0 and $newest (strict)"

"$HOMING_PYTHON" .ci/integrations/kube/env-mapping.py "$ROOT" "$OUT"/*.yaml || fail "values and environment variables do not map one to one"

# Bad values must fail: the schema (helm template and helm lint alike), or the templates' own
# checks (`fail`, which helm lint deliberately ignores: helm template must refuse them).
bad() {
  local why="$1"; shift
  if helm template homing $CHART --set redis.url=redis://redis:6379 "$@" >/dev/null 2>"$OUT/bad.err"; then
    fail "accepted $* ($why)"
  fi
}
bad_schema() {
  bad "$@"
  local why="$1"; shift
  if helm lint --strict --quiet $CHART --set redis.url=redis://redis:6379 "$@" >/dev/null 2>&1; then
    fail "helm lint accepted $* ($why)"
  fi
}
bad_schema "concurrency 0" --set worker.concurrency=0
bad_schema "unknown mode" --set mode=grpc
bad_schema "affinity mode" --set settings.affinity=sometimes
bad_schema "duration with words" --set worker.shutdownGrace=30seconds
bad_schema "queue name" --set 'queue=bad name'
bad_schema "misspelt key" --set worker.concurency=4
bad_schema "not a Redis URL" --set redis.url=http://redis:6379
bad_schema "negative replicas" --set keda.minReplicaCount=-1
bad_schema "hit ratio above 1" --set prometheusRule.hitRatioBelow=2
bad_schema "no partitions" --set settings.partitions=0
bad_schema "more than 1024 partitions" --set settings.partitions=1025
bad_schema "served partitions not a list" --set 'worker.servePartitions=0\,\,2'
bad "grace below shutdownGrace + margin" --set terminationGracePeriodSeconds=35
bad "http without an app" --set mode=http
bad "exec without a command" --set mode=exec --set exec.image.repository=x
bad "serving a partition the queue lacks" --set settings.partitions=3 --set 'worker.servePartitions=0\,3'
grep -q "worker.servePartitions names partition 3, but settings.partitions is 3" "$OUT/bad.err" || fail "served partition out of range: unclear error: $(cat "$OUT/bad.err")"
if helm template homing $CHART >/dev/null 2>"$OUT/bad.err"; then fail "rendered without any Redis"; fi
grep -q "set redis.url, redis.existingSecret or redis.enabled" "$OUT/bad.err" || fail "no Redis: unclear error: $(cat "$OUT/bad.err")"
echo "check-30-chart: the schema and templates reject 17 kinds of bad values"

# terminationGracePeriodSeconds follows shutdownGrace.
tg=$(helm template homing $CHART --set redis.url=redis://r:6379 --set worker.shutdownGrace=1m30s | grep terminationGracePeriodSeconds)
[ "$(echo $tg | awk '{print $2}')" = 100 ] || fail "shutdownGrace 1m30s should give terminationGracePeriodSeconds 100, got: $tg"
echo "check-30-chart: ok"

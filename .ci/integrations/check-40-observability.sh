# Observability with the real tools: the chart's PrometheusRule rendered by helm, checked by
# `promtool check rules` and fired alert by alert by `promtool test rules`; every metric name in
# the dashboard and rules declared in homing-core; the dashboard's structure (uid, variables,
# units, descriptions, $__rate_interval); and a real Prometheus scraping two real workers under
# load, where every dashboard query and recording rule returns data.
source "$(dirname "$0")/tools.sh"
source "$(dirname "$0")/kube-tools.sh"
source "$(dirname "$0")/kube/redis.sh"
need_apt promtool prometheus
need_helm
need_python pyyaml redis
cd "$ROOT"
fail() { echo "check-40-observability: $*" >&2; exit 1; }
OUT="$LANE/observability"
rm -rf "$OUT" && mkdir -p "$OUT"

helm template homing charts/homing --set redis.url=redis://r:6379 --set prometheusRule.enabled=true \
  --api-versions monitoring.coreos.com/v1 --show-only templates/prometheusrule.yaml >"$OUT/prometheusrule.yaml" \
  || fail "helm template of the PrometheusRule failed"
"$HOMING_PYTHON" -c 'import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
yaml.safe_dump({"groups": d["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)' \
  "$OUT/prometheusrule.yaml" "$OUT/rules.yaml"
promtool check rules "$OUT/rules.yaml" || fail "promtool check rules failed"
cp charts/homing/tests/rules/homing-alerts.test.yaml "$OUT/"
promtool test rules "$OUT/homing-alerts.test.yaml" || fail "promtool test rules failed"
alerts=$(grep -c '^ *- alert:' "$OUT/rules.yaml")
tested=$(grep -o 'alertname: Homing[A-Za-z]*' "$OUT/homing-alerts.test.yaml" | sort -u | wc -l)
[ "$alerts" = "$tested" ] || fail "$alerts alerts but unit tests for $tested"
echo "check-40-observability: promtool: $alerts alerts each fired by a unit test"

"$HOMING_PYTHON" .ci/integrations/kube/metric-names.py "$ROOT" "$OUT/rules.yaml" || fail "undeclared or unshown metric names"
"$HOMING_PYTHON" .ci/integrations/kube/dashboard-lint.py charts/homing/dashboards/homing.json || fail "dashboard structure"

cargo build -q -p homing-cli --locked || fail "cargo build -p homing-cli failed"
start_redis
trap stop_redis EXIT
"$HOMING_PYTHON" .ci/integrations/kube/prometheus-load.py "$ROOT" "$OUT/rules.yaml" "$OUT" || fail "Prometheus scrape check failed"
